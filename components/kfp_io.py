"""What every KFP step of pipeline.py does around its logic, written once: logging, and publishing
the step's files, metrics and metadata to its output artifacts.

The components in pipeline.py import this inside their bodies (KFP ships a component's source
to its container, where the project is installed), so each one is its own logic's call and a
list of what it publishes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def start_step() -> None:
    """The step's log lines at INFO, in one format for every step."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def publish_files(files: Mapping[str, str | Path], artifacts: Mapping[str, Any]) -> None:
    """Copy each named file to its output artifact's path.

    Args:
        files: output name -> the file the step wrote (a StepOutputs' `path(name)`, or a path).
        artifacts: output name -> the KFP output artifact (anything with `.path`).

    Raises:
        KeyError: an artifact without a file of that name (the step did not write it).
    """
    for name, artifact in artifacts.items():
        shutil.copyfile(files[name], artifact.path)


def files_of(result: Any, names: Iterable[str]) -> dict[str, Path]:
    """name -> path for a step result with `path(name)` (components.data.StepOutputs)."""
    return {name: result.path(name) for name in names}


def log_metrics(metrics: Any, values: Mapping[str, Any], keys: Iterable[str] | None = None,
                prefix: str = "") -> None:
    """Log `values[key]` (every key when `keys` is None) as `prefix + key` on a KFP Metrics
    output; None values (a figure a split could not give) are left out."""
    for key in (values if keys is None else keys):
        if values[key] is not None:
            metrics.log_metric(f"{prefix}{key}", values[key])


def record_container(artifact: Any) -> None:
    """The container the step ran in (image, digest where known), in the artifact's metadata."""
    from components.provenance import where_running

    artifact.metadata["ran_in"] = where_running()
