"""The launcher's status file: what `make serve` / `make demo` is doing, for the console."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_ENV = "TOXIC_FILTER_LAUNCH_STATUS"  # the console reads the launcher's status file here
# Service states in the status file.
STARTING, READY, NOT_STARTED, EXITED, STOPPED = (
    "starting", "ready", "not started", "exited", "stopped")


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


