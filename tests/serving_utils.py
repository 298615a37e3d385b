"""Test harness for the model servers: in-process apps (no sockets) and real server processes.

In-process: `client_for(model, ...)` registers loaded models on our kserve ModelServer and returns
a starlette TestClient over the app it serves (kserve's v1/v2 endpoints, /metrics, our exception
handlers). The connection limits (body size, deadlines) live in the HTTP protocol: test them on
a real process.

Real process: `served("guard", [...flags])` starts `python -m serving.guard ...` on a free port
with `serving.launch.Servers` (what `make serve` uses), waits until it is ready, stops it on exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from starlette.testclient import TestClient

from serving import common, launch

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- in-process
def client_for(*models: Any) -> TestClient:
    """A TestClient over the serving app with `models` registered (loaded first if needed).

    Server exceptions come back as 500 responses (not raised), as a real client would see them.
    """
    for model in models:
        if not model.ready:
            model.load()
    return TestClient(common.ModelServer(models).app(), raise_server_exceptions=False)


class Gate:
    """Holds a model's inference (in its worker thread) until the test releases it: `hold()`
    inside infer/predict_proba sets `entered` and waits for `release`."""

    def __init__(self, timeout_s: float = 30.0):
        self.entered, self.release, self.timeout_s = threading.Event(), threading.Event(), timeout_s

    def hold(self) -> None:
        self.entered.set()
        self.release.wait(self.timeout_s)


def ready_during_inference(app: Any, model: str, gate: Gate) -> tuple[int, bool, int]:
    """Probe `model`'s readiness while a v1 prediction is held inside its inference by `gate`.

    Ordering, no clock: the probe is sent once the inference has started and the inference is
    released only after the probe has answered, so a probe that needs the event loop the
    inference runs on cannot answer first (it answers after `gate`'s timeout, and the prediction
    is done by then).

    Returns:
        The probe's status code, whether the prediction was still running when the probe
        answered, and the prediction's status code.
    """
    async def scenario() -> tuple[int, bool, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            predict = asyncio.create_task(
                c.post(f"/v1/models/{model}:predict", json={"instances": ["slow"]}))
            await asyncio.to_thread(gate.entered.wait, gate.timeout_s)
            ready = await c.get(f"/v2/models/{model}/ready")
            still_running = not predict.done()
            gate.release.set()
            return ready.status_code, still_running, (await predict).status_code

    return asyncio.run(scenario())


class LengthModel(common.ServingModel):
    """A tiny server: text in, its length out (FP32); counts its loads, optionally held by a
    Gate while it infers."""

    INPUTS = (common.TensorSpec("text", "BYTES"),)
    OUTPUTS = (common.TensorSpec("length", "FP32"),)

    def __init__(self, name: str = "length", limits: common.RequestLimits | None = None,
                 gate: Gate | None = None, auto_load: bool = True):
        super().__init__(name, limits)
        self.gate, self.auto_load, self.loads = gate, auto_load, 0

    def load(self) -> bool:
        self.loads += 1
        self.ready = self.auto_load
        return self.ready

    def parse_v1(self, payload: Any) -> list[str]:
        return common.parse_text_instances(payload, self.limits)

    def parse_v2(self, request: Any) -> list[str]:
        return common.parse_text_tensor(request, "text", self.limits)

    def infer(self, items: list[str]) -> list[int]:
        if self.gate is not None:
            self.gate.hold()
        return [len(t) for t in items]

    def v1_prediction(self, result: int) -> dict[str, int]:
        return {"length": result}

    def v2_outputs(self, results: list[int]) -> list[Any]:
        return [common.fp32_output("length", np.array(results))]


class KeywordPredictor:
    """A fake classifier (labels + predict_proba, like components.core.predict's predictors) whose
    probabilities `row(text)` picks from keywords; it records every text it is asked (`seen`)."""

    labels: list[str] = []

    def __init__(self) -> None:
        self.seen: list[str] = []

    def row(self, text: str) -> list[float]:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str]) -> Any:
        self.seen.extend(texts)
        return np.array([self.row(text) for text in texts], dtype=np.float32)


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


@contextlib.contextmanager
def served(module: str, args: Sequence[str], name: str | None = None,
           **servers: Any) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m serving.<module> ARGS` on a free 127.0.0.1 port, started and stopped by the
    launcher `make serve` uses. Yields (base URL, process)."""
    spec = launch.ServerSpec(name or module, f"serving.{module}", free_port(), tuple(args))
    with launch.Servers([spec], log_stream=None, **servers) as running:
        yield spec.url(), running.procs[spec.name]


@contextlib.contextmanager
def make_serve(args: Sequence[str], ready_timeout_s: float = 180) -> Iterator[
        tuple[subprocess.Popen, list[str]]]:
    """`python -m serving.launch ARGS` (what `make serve` runs), its output collected line by
    line; yields (process, lines) once it prints that its servers are ready, and kills it on
    exit if it is still running. `"".join(lines)` is its whole output after the block."""
    proc = subprocess.Popen([sys.executable, "-m", "serving.launch", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops them" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(ready_timeout_s), "".join(lines[-40:])
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=5)


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of the TCP sockets process `pid` listens on."""
    import psutil

    process = psutil.Process(pid)
    connections = getattr(process, "net_connections", None) or process.connections  # psutil<6
    return {(c.laddr.ip, c.laddr.port) for c in connections("tcp")
            if c.status == psutil.CONN_LISTEN}


# --------------------------------------------------------------------------- imports
# Read, cleaned (a homoglyph folded), and unreadable (another script): every text path.
ONNX_PROBE_TEXTS = ("how do I bake bread?", "how do I b\u0430ke bread?", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440")
_ONNX_SERVING = """
import json, sys
import kserve, kserve.model_server, kserve.protocol.rest.server
kserve_modules = {m.split(".")[0] for m in sys.modules}
from serving import classifier, common, guard
from serving_utils import client_for, v1, v2
model_dir, texts = sys.argv[1], sys.argv[2:]
lora = classifier.make_model("lora", common.parse_args(classifier.build_parser("lora"),
                                                       ["--model_dir", model_dir]))
backend = guard.make_backend(common.parse_args(guard.build_parser(),
                                               ["--classifier_dir", model_dir]))
with client_for(lora, guard.GuardModel("guard", backend)) as client:
    answers = [v1(client, "lora", texts).status_code, v1(client, "guard", texts).status_code,
               v2(client, "lora", {"text": texts}).status_code]
    engines = [client.get(f"/v2/models/{name}/info").json()["engine"] for name in ("lora", "guard")]
print(json.dumps({"answers": answers, "engines": engines,
                  "modules": sorted({m.split(".")[0] for m in sys.modules}),
                  "kserve_modules": sorted(kserve_modules)}))
"""


@functools.lru_cache(maxsize=2)
def onnx_serving_modules(model_dir: Path) -> dict[str, Any]:
    """What a fresh interpreter loads to serve `model_dir` on the ONNX engine with the lora
    server and the guard's offline backend (in-process apps, v1 and v2 requests):
    {"answers": status codes, "engines": per server, "modules": top-level module names,
    "kserve_modules": those loaded by importing kserve's server alone, before our code}."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    res = subprocess.run([sys.executable, "-c", _ONNX_SERVING, str(model_dir), *ONNX_PROBE_TEXTS],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    if res.returncode != 0:
        raise AssertionError(f"the ONNX serving probe failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])
