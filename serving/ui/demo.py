"""`make demo`: the model servers (`python -m serving.launch`, as `make serve`) and the console.

    python -m serving.ui.demo [--ui_port 8501] [launch flags: --models_dir DIR, --port lstm=9001...]

Starts `python -m serving.launch` with the given flags and `streamlit run serving/ui/app.py` on
127.0.0.1, points the console at the launcher's ports, prints the console's URL once the
servers and the app are ready, and on Ctrl-C / SIGTERM stops both (the launcher stops its
servers). If either exits, the other is stopped too.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from serving import common
from serving.launch import SERVERS

log = logging.getLogger("serving.ui.demo")

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "app.py"
UI_PORT = 8501
UI_ADDRESS = "127.0.0.1"
READY_LINE = "Model servers ready:"  # what serving.launch prints once every model is ready
STARTUP_TIMEOUT_S = 240.0
# Streamlit refuses larger uploads outright; the app's own limits (serving.ui.moderation) are
# lower and answered with a message: 5 MB per image, 20 MB per CSV.
MAX_UPLOAD_MB = 25
STOP_TIMEOUT_S = 45.0


def streamlit_flags(port: int = UI_PORT, address: str = UI_ADDRESS) -> list[str]:
    """`streamlit run` options of the console, here and in its container: headless, no usage
    statistics (no network), no error details on the page, no file watcher, upload cap."""
    return ["--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.showErrorDetails", "none", "--client.toolbarMode", "minimal",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB)]


def streamlit_command(port: int, address: str = UI_ADDRESS) -> list[str]:
    """`python -m streamlit run serving/ui/app.py` with `streamlit_flags`."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), *streamlit_flags(port, address)]


def service_env(launch_args: Sequence[str], base: dict[str, str] | None = None) -> dict[str, str]:
    """The console's TOXIC_FILTER_<NAME>_URL for the ports the launcher will use."""
    ports = dict(common.PORTS)
    args = list(launch_args)
    for i, arg in enumerate(args):
        value = None
        if arg == "--port" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--port="):
            value = arg.split("=", 1)[1]
        if value:
            name, _, port = value.partition("=")
            if name in ports and port.isdigit():
                ports[name] = int(port)
    env = dict(os.environ if base is None else base)
    for name in SERVERS:
        env[f"TOXIC_FILTER_{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    return env


def _pump(stream: IO[bytes], out: IO[str], ready: threading.Event) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line.startswith(READY_LINE):
            ready.set()
        out.write(line + "\n")
        out.flush()
    stream.close()


def _ui_ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(procs: dict[str, subprocess.Popen], timeout: float = STOP_TIMEOUT_S) -> dict[str, int]:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", name, timeout)
            proc.kill()
            codes[name] = proc.wait(timeout=10)
    return codes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.ui.demo", description=__doc__.split("\n")[0],
        epilog="Other flags go to `python -m serving.launch` (see its --help).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ui_port", type=int, default=UI_PORT, help="the console's port")
    parser.add_argument("--ui_address", default=UI_ADDRESS, help="the console's interface")
    parser.add_argument("--startup_timeout", type=float, default=STARTUP_TIMEOUT_S,
                        help="seconds to wait for the servers and the console")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the servers and the console until Ctrl-C/SIGTERM or until one of them exits.

    Returns:
        0 after a requested stop, else the exit code of the part that failed (2: the
        servers could not start, e.g. no models yet).
    """
    args, launch_args = build_parser().parse_known_args(argv)
    common.configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness probe
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s received: stopping the console and the servers",
                 signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(args, launch_args, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(args: argparse.Namespace, launch_args: list[str], stop: threading.Event) -> int:
    env = {**service_env(launch_args), "PYTHONUNBUFFERED": "1"}
    url = f"http://{args.ui_address}:{args.ui_port}"
    servers_ready = threading.Event()
    # Own sessions: Ctrl-C reaches only this process, which stops both in order.
    procs = {"servers": subprocess.Popen(
        [sys.executable, "-m", "serving.launch", *launch_args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)}
    pump = threading.Thread(target=_pump, daemon=True,
                            args=(procs["servers"].stdout, sys.stdout, servers_ready))
    pump.start()
    procs["console"] = subprocess.Popen(
        streamlit_command(args.ui_port, args.ui_address), cwd=ROOT, env=env,
        start_new_session=True)
    deadline = time.monotonic() + args.startup_timeout
    announced = False
    code = 0
    while not stop.wait(0.5):
        exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if exited:
            name, code = next(iter(exited.items()))
            log.error("%s exited (code %s): stopping the rest", name, code)
            code = code if code > 0 else 1
            break
        if not announced and servers_ready.is_set() and _ui_ready(url):
            print(f"\nModeration console: {url}\nCtrl-C stops the console and the servers.\n",
                  flush=True)
            announced = True
        if not announced and time.monotonic() > deadline:
            log.error("not ready after %.0f s: %s", args.startup_timeout,
                      "the servers" if not servers_ready.is_set() else "the console")
            code = 1
            break
    codes = _stop(procs)
    pump.join(timeout=5)
    log.info("stopped: %s", ", ".join(f"{n} (exit {c})" for n, c in codes.items()))
    return code


if __name__ == "__main__":
    sys.exit(main())
