"""`make serve`: start the model servers as processes on their fixed local ports, stop them on Ctrl-C.

    python -m serving.launch                          # latest run under local_outputs/ with both models
    python -m serving.launch --models_dir local_outputs/toxic-filter-<timestamp>
    python -m serving.launch --lstm_model_dir DIR --lora_model_dir DIR
    python -m serving.launch --guard_model DIR_OR_HUB_ID --blip_model DIR_OR_HUB_ID

Each server is `python -m serving.<module> ... --http_port <port> --bind_address 127.0.0.1` in its
own process (lstm 8001, lora 8002, guard 8003, caption 8004: serving.common.PORTS). The guard
runs Llama Guard when `--guard_model` (env GUARD_MODEL) is given, else its offline backend on the
prompt-only model of the latest `make run-guard` run (or `--guard_classifier_dir`); caption starts only when `--blip_model` (env BLIP_MODEL) is given. The launcher waits until every model
answers `/v2/models/<name>/ready`, prints the URLs, prefixes each server's log lines with its
name, and on Ctrl-C / SIGTERM sends SIGTERM to every server and waits for them to finish their
in-flight requests (SIGKILL after a grace period).

A server that exits on its own is reported at once (with the end of its log), the others are
stopped and the launcher exits 1. It does not restart it: in a cluster the kubelet restarts a
crashed container (with backoff and a visible restart count); locally a crash is a bug to see,
and a restart loop would hide it behind a server that works some of the time.

"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from components.model_info import MODEL_INFO
from serving import common

log = logging.getLogger("serving.launch")

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ROOT = ROOT / "local_outputs"
RUN_PREFIX = "toxic-filter-"  # kfp.local run directories: <pipeline-name>-<timestamp>
GUARD_RUN_PREFIX = "toxic-guard-"  # runs of the prompt-guard pipeline (`make run-guard`)
# Where the pipeline writes each model inside a run: <run>/<task>/<output>.
MODEL_SUBDIRS = {"lstm": Path("lstm-train") / "model", "lora": Path("lora-train") / "model"}
SERVERS = ("lstm", "lora", "guard", "caption")
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = common.GRACE_PERIOD_S + 5
LOG_TAIL_LINES = 40  # lines of a server's log kept to report why it exited


class LaunchError(RuntimeError):
    """The servers cannot be started (no models, port taken, a server died while starting)."""


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """One model server process.

    Attributes:
        name: model name (URL path) and log prefix.
        module: the module run with `python -m` (e.g. serving.lstm).
        port: HTTP port.
        args: further command-line flags (e.g. --model_dir DIR).
        source: what it serves, for the printed summary.
        scheme: http, or https for a server started with --ssl_certfile/--ssl_keyfile.
        command_line: the whole command, for a process that is not a model server (the
            console); then `ready_path` says where it answers when ready.
        ready_path: readiness URL path (default: /v2/models/<name>/ready).
    """

    name: str
    module: str
    port: int
    args: tuple[str, ...] = ()
    source: str = ""
    scheme: str = "http"
    command_line: tuple[str, ...] = ()
    ready_path: str = ""

    def command(self, bind_address: str = common.DEFAULT_BIND_ADDRESS) -> list[str]:
        if self.command_line:
            return list(self.command_line)
        return [sys.executable, "-m", self.module, *self.args,
                "--model_name", self.name, "--http_port", str(self.port),
                "--bind_address", bind_address]

    def url(self, bind_address: str = common.DEFAULT_BIND_ADDRESS) -> str:
        host = "127.0.0.1" if bind_address in ("0.0.0.0", "") else bind_address
        return f"{self.scheme}://{host}:{self.port}"


# --------------------------------------------------------------------------- model dirs
def is_model_dir(path: Path) -> bool:
    return (path / MODEL_INFO).is_file()


def run_models(run_dir: Path, names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> dict[str, Path]:
    """The model directories among `names` that a pipeline run (or a folder with `<name>/`) holds."""
    found = {}
    for name in names:
        for candidate in (run_dir / MODEL_SUBDIRS[name], run_dir / name):
            if is_model_dir(candidate):
                found[name] = candidate
                break
    return found


def latest_run(pipeline_root: Path = PIPELINE_ROOT,
               names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> Path | None:
    """The newest `toxic-filter-<timestamp>` run under pipeline_root holding every model in names."""
    if not pipeline_root.is_dir():
        return None
    runs = sorted((p for p in pipeline_root.iterdir() if p.name.startswith(RUN_PREFIX)),
                  key=lambda p: p.name, reverse=True)  # timestamps sort as text
    return next((run for run in runs if len(run_models(run, names)) == len(names)), None)


def latest_guard_classifier(pipeline_root: Path = PIPELINE_ROOT) -> Path | None:
    """The lora model of the newest complete prompt-guard run (`toxic-guard-<timestamp>`)."""
    if not pipeline_root.is_dir():
        return None
    runs = sorted((p for p in pipeline_root.iterdir() if p.name.startswith(GUARD_RUN_PREFIX)),
                  key=lambda p: p.name, reverse=True)
    for run in runs:
        model = run / MODEL_SUBDIRS["lora"]
        if is_model_dir(model) and (run / "evaluate").is_dir():  # a finished run
            return model
    return None


def resolve_model_dirs(models_dir: str | None = None, overrides: dict[str, str | None] | None = None,
                       pipeline_root: Path = PIPELINE_ROOT,
                       names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> dict[str, Path]:
    """Model directory per server: explicit directories, else MODELS_DIR, else the latest run.

    Args:
        models_dir: a pipeline run directory (or a folder with `lstm/` and `lora/`).
        overrides: name -> model directory given explicitly (None: not given).
        pipeline_root: where local runs live.
        names: servers wanted.

    Raises:
        LaunchError: a directory is not a model directory, or no run has the models.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    dirs: dict[str, Path] = {}
    for name, path in overrides.items():
        if not is_model_dir(Path(path)):
            raise LaunchError(f"{name}: {path} is not a model directory ({MODEL_INFO} not found)")
        dirs[name] = Path(path)
    missing = [n for n in names if n not in dirs]
    if not missing:
        return dirs
    if models_dir:
        found = run_models(Path(models_dir), missing)
        absent = [n for n in missing if n not in found]
        if absent:
            raise LaunchError(
                f"{models_dir} does not hold the {' and '.join(absent)} model (expected "
                + " or ".join(f"{MODEL_SUBDIRS[n]}/{MODEL_INFO}" for n in absent) + ")")
        return {**dirs, **found}
    run = latest_run(pipeline_root, missing)
    if run is None:
        raise LaunchError(
            f"no pipeline run under {pipeline_root} holds the {' and '.join(missing)} models: "
            "run `make run-full` first (or `make run` for quick models on the sample), or pass "
            "MODELS_DIR=<run dir> / LSTM_MODEL_DIR=<dir> / LORA_MODEL_DIR=<dir>")
    return {**dirs, **run_models(run, missing)}


def server_specs(model_dirs: dict[str, Path], ports: dict[str, int] | None = None,
                 extra_args: dict[str, Sequence[str]] | None = None) -> list[ServerSpec]:
    """The classifier servers for the given model directories, on their fixed ports."""
    ports = {**common.PORTS, **(ports or {})}
    extra_args = extra_args or {}
    return [ServerSpec(name, f"serving.{name}", ports[name],
                       ("--model_dir", str(path), *extra_args.get(name, ())), str(path))
            for name, path in model_dirs.items()]


def guard_spec(port: int, guard_model: str | None, lora_dir: Path | None) -> ServerSpec:
    """The guard: Llama Guard when a model is given, else the offline lora-classifier backend."""
    if guard_model:
        return ServerSpec("guard", "serving.guard", port, ("--model_dir", guard_model),
                          f"llama-guard backend: {guard_model}")
    if lora_dir is None:
        raise LaunchError("the guard needs GUARD_MODEL=<Llama Guard dir or hub id> or a lora model")
    return ServerSpec("guard", "serving.guard", port, ("--classifier_dir", str(lora_dir)),
                      f"lora-classifier backend: {lora_dir}")


def plan(names: Sequence[str], models_dir: str | None, overrides: dict[str, str | None],
         pipeline_root: Path, ports: dict[str, int] | None = None, guard_model: str | None = None,
         blip_model: str | None = None,
         guard_classifier_dir: str | None = None) -> tuple[list[ServerSpec], list[str]]:
    """The servers to start for `names`, and notes on the ones that cannot start.

    The guard's offline backend runs on `guard_classifier_dir`, else on the prompt-only model of
    the latest `make run-guard` run, else (with a warning) on the lora classifier.

    Raises:
        LaunchError: a needed model directory is missing.
    """
    ports = {**common.PORTS, **(ports or {})}
    needed = [n for n in MODEL_SUBDIRS if n in names]
    notes = []
    guard_dir: Path | None = None
    if "guard" in names and not guard_model:
        if guard_classifier_dir:
            guard_dir = Path(guard_classifier_dir)
            if not is_model_dir(guard_dir):
                raise LaunchError(f"guard: {guard_dir} is not a model directory "
                                  f"({MODEL_INFO} not found)")
        else:
            guard_dir = latest_guard_classifier(pipeline_root)
        if guard_dir is None:
            notes.append("guard: no prompt-guard run found (make run-guard); its offline backend "
                         "runs on the seed lora classifier, which reads prompts poorly")
            if "lora" not in needed:
                needed.append("lora")
    dirs = resolve_model_dirs(models_dir, overrides, pipeline_root, needed) if needed else {}
    specs = server_specs({n: d for n, d in dirs.items() if n in names}, ports)
    if "guard" in names:
        specs.append(guard_spec(ports["guard"], guard_model, guard_dir or dirs.get("lora")))
    if "caption" in names:
        if blip_model:
            specs.append(ServerSpec("caption", "serving.caption", ports["caption"],
                                    ("--model_dir", blip_model), blip_model))
        else:
            notes.append("caption not started: no BLIP model configured (BLIP_MODEL=<local "
                         "directory or hub id, e.g. Salesforce/blip-image-captioning-base>)")
    return specs, notes


# --------------------------------------------------------------------------- processes
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


def _exit_text(code: int) -> str:
    if code < 0:  # uvicorn re-raises the signal it handled after its graceful shutdown
        return f"stopped by {signal.Signals(-code).name}"
    return f"exit {code}"


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
        self._pumps: list[threading.Thread] = []

    def start(self, timeout: float = STARTUP_TIMEOUT_S,
              stop_event: threading.Event | None = None) -> None:
        """Start every server and wait until each model is ready.

        Raises:
            LaunchError: a port is taken, a server exited, or not ready within `timeout`
                (the servers started so far are stopped).
        """
        host = "127.0.0.1" if self.bind_address in ("0.0.0.0", "") else self.bind_address
        taken = [f"{s.name} ({s.port})" for s in self.specs if not port_free(s.port, host)]
        if taken:
            raise LaunchError(f"port already in use: {', '.join(taken)}; stop what listens "
                              "there (an earlier `make serve`?) or choose other ports")
        try:
            width = max(len(label) for label in self.labels.values())
            for spec in self.specs:
                label = self.labels[spec]
                self.procs[label] = proc = subprocess.Popen(
                    spec.command(self.bind_address), cwd=ROOT, env=self.env,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
                self.tails[label] = deque(maxlen=LOG_TAIL_LINES)
                pump = threading.Thread(target=_pump, daemon=True, args=(
                    proc.stdout, label.ljust(width), self.log_stream, self.tails[label]))
                pump.start()
                self._pumps.append(pump)
            self._wait_ready(timeout, stop_event)
        except BaseException:
            self.stop()
            raise

    def url(self, spec: ServerSpec) -> str:
        return spec.url(self.bind_address)

    def log_tail(self, label: str) -> str:
        """The last lines a server printed."""
        return "\n".join(self.tails.get(label, ()))

    def _wait_ready(self, timeout: float, stop_event: threading.Event | None) -> None:
        import httpx

        pending = {self.labels[s]: self.url(s) + (s.ready_path or f"/v2/models/{s.name}/ready")
                   for s in self.specs}
        deadline = time.monotonic() + timeout
        while pending:
            if stop_event is not None and stop_event.is_set():
                raise KeyboardInterrupt
            for label, url in list(pending.items()):
                code = self.procs[label].poll()
                if code is not None:
                    self._pumps[list(self.procs).index(label)].join(timeout=2)  # its last lines
                    raise LaunchError(f"{label} server exited ({_exit_text(code)}) while "
                                      f"starting; its log ends:\n{self.log_tail(label)}")
                try:
                    if httpx.get(url, timeout=2, verify=self.verify).status_code == 200:
                        del pending[label]
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
        for pump in self._pumps:
            pump.join(timeout=2)
        return codes

    def __enter__(self) -> Servers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def torch_threads_env(specs: Sequence[ServerSpec]) -> dict[str, str]:
    """TORCH_NUM_THREADS for servers sharing this machine: its CPUs split between the torch
    servers (lora, guard, caption), unless the environment sets it."""
    from components.predict import TORCH_THREADS_ENV, cpu_count

    torch_servers = sum(s.module != "serving.lstm" for s in specs)
    if os.environ.get(TORCH_THREADS_ENV) or not torch_servers:
        return {}
    return {TORCH_THREADS_ENV: str(max(1, cpu_count() // torch_servers))}


# --------------------------------------------------------------------------- CLI
def _port_override(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT (e.g. lstm=9001), got {text!r}")
    return name, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.launch", description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models_dir", default=os.environ.get("MODELS_DIR") or None,
                        help="a pipeline run directory (local_outputs/toxic-filter-<timestamp>) or "
                             "a folder with lstm/ and lora/; default: the latest run with both "
                             "models (env MODELS_DIR)")
    for name in MODEL_SUBDIRS:
        env = f"{name.upper()}_MODEL_DIR"
        parser.add_argument(f"--{name}_model_dir", default=os.environ.get(env) or None,
                            help=f"the {name} model directory (env {env}); overrides --models_dir")
    parser.add_argument("--guard_model", default=os.environ.get("GUARD_MODEL") or None,
                        help="Llama Guard directory or hub id (env GUARD_MODEL); default: the "
                             "guard's offline backend on the lora classifier")
    parser.add_argument("--guard_classifier_dir", default=os.environ.get("GUARD_CLASSIFIER_DIR")
                        or None, help="the guard's offline model directory (env "
                        "GUARD_CLASSIFIER_DIR); default: the latest `make run-guard` run's "
                        "lora model, else the lora classifier")
    parser.add_argument("--blip_model", default=os.environ.get("BLIP_MODEL") or None,
                        help="BLIP captioning directory or hub id (env BLIP_MODEL); caption is "
                             "not started without one")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated servers to start")
    parser.add_argument("--pipeline_root", default=str(PIPELINE_ROOT),
                        help="where local pipeline runs are")
    parser.add_argument("--bind_address", default=common.DEFAULT_BIND_ADDRESS,
                        help="interface the servers listen on")
    parser.add_argument("--port", type=_port_override, action="append", default=[],
                        metavar="NAME=PORT", help="another port for a server (repeatable)")
    parser.add_argument("--startup_timeout", type=float, default=STARTUP_TIMEOUT_S,
                        help="seconds to wait for every model to be ready")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`make serve`: see `run`."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace, extra: Sequence[ServerSpec] = (),
        env: dict[str, str] | None = None) -> int:
    """Start the servers (and `extra` processes, e.g. the console), print their URLs, run until
    Ctrl-C/SIGTERM or until one exits.

    Returns:
        0 after a requested stop, 1 when a process exited on its own, 2 when they could not be
        started.
    """
    common.configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness probe
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown or not names:
        log.error("unknown server %s: choose among %s", unknown, ", ".join(SERVERS))
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(args, names, stop, list(extra), env or {})
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(args: argparse.Namespace, names: list[str], stop: threading.Event,
         extra: list[ServerSpec], env: dict[str, str]) -> int:
    try:
        overrides = {n: getattr(args, f"{n}_model_dir") for n in MODEL_SUBDIRS}
        specs, notes = plan(names, args.models_dir, overrides, Path(args.pipeline_root),
                            dict(args.port), args.guard_model, args.blip_model,
                            args.guard_classifier_dir)
        for note in notes:
            log.warning("%s", note)
        if not specs:
            raise LaunchError("no server to start")
        servers = Servers(specs + extra, args.bind_address,
                          env={**torch_threads_env(specs), **env})
        log.info("starting %s", ", ".join(f"{s.name} on port {s.port}" for s in specs + extra))
        servers.start(args.startup_timeout, stop_event=stop)
    except LaunchError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting: Servers.start stopped them
        return 0
    width = max(len(s.name) for s in specs)
    lines = [f"  {s.name.ljust(width)}  {s.url(args.bind_address)}   "
             f"v1: POST /v1/models/{s.name}:predict   v2: POST /v2/models/{s.name}/infer   "
             f"({s.source})" for s in specs]
    lines += [f"\n{s.source}: {s.url(args.bind_address)}" for s in extra]
    print("\nModel servers ready:\n" + "\n".join(lines) + "\nCtrl-C stops them.\n", flush=True)
    died = servers.wait(stop)
    for label, code in died.items():
        log.error("%s exited (%s); its log ends:\n%s\nstopping the others", label,
                  _exit_text(code), servers.log_tail(label))
    codes = servers.stop()
    log.info("stopped: %s", ", ".join(f"{n} ({_exit_text(c)})" for n, c in codes.items()))
    return 1 if died else 0


if __name__ == "__main__":
    sys.exit(main())
