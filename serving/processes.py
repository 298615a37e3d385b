"""Model server processes, started together and stopped together (`make serve`, the tests, the
benchmarks): ports, readiness, prefixed logs, graceful stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from serving import common
from serving.launch_plan import ROOT, LaunchError, ServerSpec

log = logging.getLogger("serving.launch")

STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = common.GRACE_PERIOD_S + 5
LOG_TAIL_LINES = 40  # lines of a server's log kept to report why it exited


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now.

    Binds like the servers do (uvicorn/asyncio set SO_REUSEADDR), so the TIME_WAIT connections a
    stopped server leaves behind do not count as "in use"; a listening socket does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _pump(stream: IO[bytes], prefix: str, out: IO[str] | None, tail: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        tail.append(line)
        if out is not None:
            out.write(f"{prefix} | {line}\n")
            out.flush()
    stream.close()


def exit_text(code: int) -> str:
    if code < 0:  # uvicorn re-raises the signal it handled after its graceful shutdown
        return f"stopped by {signal.Signals(-code).name}"
    return f"exit {code}"


def _read_progress(path: str) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Servers:
    """Model server processes, started together and stopped together (`make serve`, the tests,
    the benchmarks).

    Args:
        specs: the servers.
        bind_address: interface they listen on.
        log_stream: where their prefixed log lines go (None: only kept, for `log_tail`).
        env: extra environment variables.
        verify: CA bundle for the readiness probes of https servers.
    """

    def __init__(self, specs: Sequence[ServerSpec], bind_address: str = common.DEFAULT_BIND_ADDRESS,
                 log_stream: IO[str] | None = sys.stdout, env: dict[str, str] | None = None,
                 verify: str | bool = True):
        self.specs = list(specs)
        self.bind_address = bind_address
        self.log_stream = log_stream
        self.verify = verify
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        names = [s.name for s in self.specs]
        # A label per server: its name, or name:port when several serve the same model name.
        self.labels = {s: s.name if names.count(s.name) == 1 else f"{s.name}:{s.port}"
                       for s in self.specs}
        self.procs: dict[str, subprocess.Popen] = {}  # label -> process
        self.tails: dict[str, deque[str]] = {}  # label -> last lines of its log
        self._pumps: dict[str, threading.Thread] = {}  # label -> its log pump

    def start(self, timeout: float = STARTUP_TIMEOUT_S,
              stop_event: threading.Event | None = None,
              only: Sequence[ServerSpec] | None = None,
              on_ready: Callable[[ServerSpec], None] | None = None) -> None:
        """Start the servers (those in `only`, default all not started yet) and wait until each
        model is ready.

        Args:
            timeout: seconds to wait for readiness.
            stop_event: when set, stop waiting (KeyboardInterrupt).
            only: start just these specs (e.g. the console first, the models later).
            on_ready: called with each spec as it becomes ready.

        Raises:
            LaunchError: a port is taken, a server exited, or not ready within `timeout`
                (every server started so far is stopped).
        """
        todo = [s for s in (self.specs if only is None else only)
                if self.labels[s] not in self.procs]
        host = "127.0.0.1" if self.bind_address in ("0.0.0.0", "") else self.bind_address
        taken = [f"{s.name} ({s.port})" for s in todo if not port_free(s.port, host)]
        if taken:
            self.stop()
            raise LaunchError(f"port already in use: {', '.join(taken)}; stop what listens "
                              "there (an earlier `make serve`?) or choose other ports")
        try:
            for spec in todo:
                label = self.labels[spec]
                self.procs[label] = proc = subprocess.Popen(
                    spec.command(self.bind_address), cwd=ROOT, env=self.env,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
                self._pump(label, proc)
            self._wait_ready(timeout, stop_event, todo, on_ready)
        except BaseException:
            self.stop()
            raise

    def _pump(self, label: str, proc: subprocess.Popen) -> threading.Thread:
        width = max(len(x) for x in [*self.labels.values(), label])
        self.tails[label] = deque(maxlen=LOG_TAIL_LINES)
        pump = threading.Thread(target=_pump, daemon=True, args=(
            proc.stdout, label.ljust(width), self.log_stream, self.tails[label]))
        pump.start()
        self._pumps[label] = pump
        return pump

    def prepare(self, spec: ServerSpec, stop_event: threading.Event | None = None,
                on_progress: Callable[[dict[str, Any]], None] | None = None,
                poll_s: float = 0.5) -> None:
        """Run `spec.prepare` (e.g. build the quick guard) to completion, its log prefixed with
        `<name>-prepare`, passing its progress file's content to `on_progress` as it changes.

        Raises:
            LaunchError: it failed (with the end of its log).
            KeyboardInterrupt: `stop_event` was set (the command is terminated).
        """
        if not spec.prepare:
            return
        label = f"{self.labels[spec]}-prepare"
        proc = subprocess.Popen(list(spec.prepare), cwd=ROOT, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        pump = self._pump(label, proc)
        seen = None
        try:
            while proc.poll() is None:
                if stop_event is not None and stop_event.wait(poll_s):
                    raise KeyboardInterrupt
                progress = _read_progress(spec.prepare_progress) if spec.prepare_progress else None
                if progress is not None and progress != seen and on_progress is not None:
                    seen = progress
                    on_progress(progress)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            pump.join(timeout=2)
        if proc.returncode != 0:
            raise LaunchError(f"{label} failed ({exit_text(proc.returncode)}); its log ends:\n"
                              f"{self.log_tail(label)}")

    def url(self, spec: ServerSpec) -> str:
        return spec.url(self.bind_address)

    def log_tail(self, label: str) -> str:
        """The last lines a server printed."""
        return "\n".join(self.tails.get(label, ()))

    def _wait_ready(self, timeout: float, stop_event: threading.Event | None,
                    specs: Sequence[ServerSpec] | None = None,
                    on_ready: Callable[[ServerSpec], None] | None = None) -> None:
        import httpx

        specs = self.specs if specs is None else specs
        by_label = {self.labels[s]: s for s in specs}
        pending = {self.labels[s]: self.url(s) + (s.ready_path or f"/v2/models/{s.name}/ready")
                   for s in specs}
        deadline = time.monotonic() + timeout
        while pending:
            if stop_event is not None and stop_event.is_set():
                raise KeyboardInterrupt
            for label, url in list(pending.items()):
                code = self.procs[label].poll()
                if code is not None:
                    self._pumps[label].join(timeout=2)  # its last lines
                    raise LaunchError(f"{label} server exited ({exit_text(code)}) while "
                                      f"starting; its log ends:\n{self.log_tail(label)}")
                try:
                    if httpx.get(url, timeout=2, verify=self.verify).status_code == 200:
                        del pending[label]
                        if on_ready is not None:
                            on_ready(by_label[label])
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise LaunchError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            if pending:
                time.sleep(0.3)

    def exited(self) -> dict[str, int]:
        """label -> exit code of the servers that have exited."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def wait(self, stop_event: threading.Event, poll_s: float = 0.5) -> dict[str, int]:
        """Block until `stop_event` is set ({}) or a server exits (label -> exit code)."""
        while not stop_event.wait(poll_s):
            if died := self.exited():
                return died
        return {}

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, int]:
        """SIGTERM every server, wait for all, SIGKILL those still running after `timeout`.

        Returns:
            label (the name, or name:port when names repeat) -> exit code.
        """
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", name, timeout)
                proc.kill()
                codes[name] = proc.wait(timeout=10)
        for pump in self._pumps.values():
            pump.join(timeout=2)
        return codes

    def __enter__(self) -> Servers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def threads_env(specs: Sequence[ServerSpec]) -> dict[str, str]:
    """TORCH_NUM_THREADS and ORT_NUM_THREADS for servers sharing this machine: its CPUs split
    between the servers that run torch or ONNX Runtime (lora, guard, caption), unless the
    environment sets them."""
    from components.core.predict import ORT_THREADS_ENV, TORCH_THREADS_ENV, cpu_count

    engine_servers = sum(s.module != "serving.lstm" for s in specs)
    if not engine_servers:
        return {}
    share = str(max(1, cpu_count() // engine_servers))
    return {name: share for name in (TORCH_THREADS_ENV, ORT_THREADS_ENV)
            if not os.environ.get(name)}


