"""Where a pipeline step ran: the id of the container it ran in, or the host's name."""

from __future__ import annotations

import re
import socket
from pathlib import Path

# A container id as Docker, Podman and containerd write it (64 hex digits), in the paths the
# engine mounts into the container (/var/lib/docker/containers/<id>/hostname, ...) or in the
# container's cgroup (cgroup v1: /docker/<id>, docker-<id>.scope, kubepods/.../<id>).
_ID_IN_MOUNTS = re.compile(r"containers/([0-9a-f]{64})/")
_ID_IN_CGROUP = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$", re.MULTILINE)


def container_id(proc: Path = Path("/proc/self")) -> str | None:
    """The id of the container this process runs in, or None outside a container."""
    for name, pattern in (("mountinfo", _ID_IN_MOUNTS), ("cgroup", _ID_IN_CGROUP)):
        try:
            text = (proc / name).read_text()
        except OSError:
            continue
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def where_running() -> str:
    """"container:<id>" inside a container, else "host:<hostname>" (recorded in step outputs;
    with host networking a container shares the host's name, so the name alone cannot tell)."""
    cid = container_id()
    return f"container:{cid}" if cid else f"host:{socket.gethostname()}"
