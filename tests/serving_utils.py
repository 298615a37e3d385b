"""Test harness for the model servers: in-process apps (no sockets) and real server processes.

In-process: `client_for(model, ...)` registers loaded models on a kserve ModelServer and returns
a starlette TestClient over the same FastAPI app `serving.common.serve()` runs (kserve's v1/v2
endpoints, exception handlers, /metrics, our body-size limit).

Real process: `ServerProcess("guard", [...flags], model_name="guard")` starts
`python -m serving.guard ... --http_port <free port> --bind_address 127.0.0.1`, waits for
`/v2/models/<name>/ready`, and stops it with SIGTERM (then SIGKILL) on exit.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from serving import common

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- in-process
def client_for(*models: Any, max_body_bytes: int = common.MAX_BODY_BYTES) -> TestClient:
    """A TestClient over the serving app with `models` registered (loaded first if needed).

    Server exceptions come back as 500 responses (not raised), as a real client would see them.
    """
    for model in models:
        if not model.ready:
            model.load()
    server = common.model_server(list(models))
    app = common.build_app(server, max_body_bytes=max_body_bytes)
    return TestClient(app, raise_server_exceptions=False)


def v1(client: Any, model: str, instances: Any) -> httpx.Response:
    """POST /v1/models/<model>:predict with {"instances": instances}."""
    return client.post(f"/v1/models/{model}:predict", json={"instances": instances})


def v2_request(inputs: Mapping[str, Sequence[Any]], datatype: str = "BYTES",
               **extra: Any) -> dict[str, Any]:
    """A v2 JSON request body with one [N] tensor per entry of `inputs`."""
    return {"inputs": [{"name": name, "shape": [len(values)], "datatype": datatype,
                        "data": list(values)} for name, values in inputs.items()], **extra}


def v2(client: Any, model: str, inputs: Mapping[str, Sequence[Any]],
       **extra: Any) -> httpx.Response:
    """POST /v2/models/<model>/infer with BYTES tensors."""
    return client.post(f"/v2/models/{model}/infer", json=v2_request(inputs, **extra))


def v2_outputs(response: httpx.Response) -> dict[str, list[Any]]:
    """name -> data of the outputs of a successful v2 JSON response."""
    assert response.status_code == 200, response.text
    return {out["name"]: out["data"] for out in response.json()["outputs"]}


def b64(data: bytes) -> str:
    """Base64 text of bytes."""
    return base64.b64encode(data).decode("ascii")


def assert_rejected(response: httpx.Response, *fragments: str,
                    status: int | Iterable[int] = 400) -> str:
    """Assert a 4xx answer (default 400) whose error message contains every fragment.

    Returns:
        The error message.
    """
    allowed = {status} if isinstance(status, int) else set(status)
    assert response.status_code in allowed, (response.status_code, response.text)
    body = response.json()
    message = str(body.get("error", body.get("detail", body)))
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    return message


# --------------------------------------------------------------------------- real process
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m serving.<module> ...` as a subprocess on a free 127.0.0.1 port.

    Use as a context manager; `url` is the base URL; `log()` returns what it printed.
    """

    def __init__(self, module: str, args: Sequence[str], model_name: str,
                 startup_timeout: float = 90.0, env: Mapping[str, str] | None = None):
        self.module = module
        self.args = list(args)
        self.model_name = model_name
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix=f"serving-{module}-"))
        self.log_path = self._log_dir / "server.log"

    def command(self) -> list[str]:
        return [sys.executable, "-m", f"serving.{self.module}", *self.args,
                "--http_port", str(self.port), "--bind_address", "127.0.0.1"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> ServerProcess:
        with self.log_path.open("wb") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        ready = f"{self.url}/v2/models/{self.model_name}/ready"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} server exited with {self.proc.returncode}:\n"
                                   f"{self.log()[-4000:]}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{self.module} server not ready after {self.startup_timeout} s:\n"
                           f"{self.log()[-4000:]}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        shutil.rmtree(self._log_dir, ignore_errors=True)


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of the TCP sockets process `pid` listens on."""
    import psutil

    process = psutil.Process(pid)
    connections = getattr(process, "net_connections", None) or process.connections  # psutil<6
    return {(c.laddr.ip, c.laddr.port) for c in connections("tcp")
            if c.status == psutil.CONN_LISTEN}
