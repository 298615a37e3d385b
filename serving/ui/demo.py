"""`make demo`: the model servers (as `make serve`) and the moderation console, started together.

    python -m serving.ui.demo [--ui_port 8501] [make serve flags: --models_dir DIR, --port lstm=9001...]

The console (`streamlit run serving/ui/app.py` on 127.0.0.1) is one more process of
`serving.launch.run`, pointed at the servers' ports. It starts first, so that the page shows the
services starting (and the quick guard's build, when there is no guard run yet); its URL is
printed then, and again once every server is ready. The launcher hands it its warnings and the
state of each service through a status file (`serving.launch.LaunchStatus`, path in
TOXIC_FILTER_LAUNCH_STATUS). Ctrl-C / SIGTERM stops all; if one exits, the others are stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from serving import common, launch

APP = Path(__file__).resolve().parent / "app.py"
UI_PORT = 8501
UI_ADDRESS = "127.0.0.1"
# Streamlit refuses larger uploads outright; the app's own limits (serving.ui.moderation) are
# lower and answered with a message: 5 MB per image, 20 MB per CSV.
MAX_UPLOAD_MB = 25


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


def service_env(ports: Mapping[str, int], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The console's TOXIC_FILTER_<NAME>_URL for the servers' ports."""
    env = dict(os.environ if base is None else base)
    for name in launch.SERVERS:
        env[f"TOXIC_FILTER_{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    return env


def build_parser() -> argparse.ArgumentParser:
    parser = launch.build_parser()
    parser.prog, parser.description = "python -m serving.ui.demo", __doc__.split("\n")[0]
    parser.add_argument("--ui_port", type=int, default=UI_PORT, help="the console's port")
    parser.add_argument("--ui_address", default=UI_ADDRESS, help="the console's interface")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the servers and the console until Ctrl-C/SIGTERM or until one of them exits.

    Returns:
        0 after a requested stop, 1 when a process exited, 2 when the servers cannot start
        (e.g. no models yet).
    """
    args = build_parser().parse_args(argv)
    console = launch.ServerSpec(
        "console", "streamlit", args.ui_port, source="Moderation console",
        command_line=tuple(streamlit_command(args.ui_port, args.ui_address)),
        ready_path="/_stcore/health")
    with tempfile.TemporaryDirectory(prefix="toxic-filter-demo-") as tmp:
        if not args.status_file:
            args.status_file = os.path.join(tmp, "launch-status.json")
        env = service_env({**common.PORTS, **dict(args.port)})
        env[launch.STATUS_ENV] = os.path.abspath(args.status_file)
        return launch.run(args, extra=[console], env=env)


if __name__ == "__main__":
    sys.exit(main())
