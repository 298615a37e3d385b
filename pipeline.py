"""The toxic-prompt pipeline: KFP components (thin wrappers), the pipeline, and its CLI.

    python pipeline.py run --data PATH_OR_URL [--pipeline-root DIR] [--<param> VALUE ...]
    python pipeline.py compile --output pipeline.yaml
    python pipeline.py submit --host URL [--experiment NAME] [--<param> VALUE ...]

Each component imports the `components` package INSIDE its body: KFP ships only the function
source to the container, where the project image has the package installed (locally, the dev
venv has it through `pip install -e .`).
"""


import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from components import images

PIPELINE_NAME = "toxic-filter"
LOCAL_PIPELINE_ROOT = "local_outputs"
SAMPLE_DATA = "data/sample_toxic_prompts.csv"

log = logging.getLogger("pipeline")


# --------------------------------------------------------------------------- components
@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def preprocess(
    data: str,
    train_data: Output[Dataset],
    val_data: Output[Dataset],
    test_data: Output[Dataset],
    label_map: Output[Artifact],
    length_stats: Output[Artifact],
    eda_report: Output[HTML],
    metrics: Output[Metrics],
    text_columns: str = "query,image descriptions",
    label_column: str = "Toxic Category",
    min_class_count: int = 20,
    val_size: float = 0.15,
    test_size: float = 0.15,
    seed: int = 42,
    length_percentile: float = 95.0,
    drop_invalid_rows: bool = False,
    encoding: str = "utf-8-sig",
):
    """Validate, de-duplicate, merge sparse classes, clean, label-encode and split the dataset.

    Args:
        data: CSV/Parquet path or URI (http(s)://, s3://, gs://) with the text and label columns.
        text_columns: comma-separated columns joined into the `text` field.
        label_column: the target column.
        min_class_count: classes with fewer rows after de-duplication merge into "other".
        val_size: validation fraction.
        test_size: test fraction.
        seed: split seed.
        length_percentile: percentile of training lengths used as sequence length.
        drop_invalid_rows: drop rows without text or label instead of failing.
        encoding: text encoding of a CSV dataset.
    """
    import logging
    import shutil
    import tempfile

    from components.preprocess import preprocess as run

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        res = run(data, f"{tmp}/out", text_columns=text_columns, label_column=label_column,
                  min_class_count=min_class_count, val_size=val_size, test_size=test_size,
                  seed=seed, length_percentile=length_percentile,
                  drop_invalid_rows=drop_invalid_rows, encoding=encoding)
        for name, art in [("train", train_data), ("val", val_data), ("test", test_data),
                          ("label_map", label_map), ("length_stats", length_stats),
                          ("report", eda_report)]:
            shutil.copyfile(res.path(name), art.path)
    for name in ("train", "val", "test"):
        {"train": train_data, "val": val_data, "test": test_data}[name].metadata["rows"] = (
            res.stats["split_sizes"][name])
    label_map.metadata["labels"] = list(res.stats["class_counts_after_merge"])
    for key in ("rows_raw", "duplicates_dropped", "rows", "num_classes", "lstm_seq_len"):
        metrics.log_metric(key, res.stats[key])


@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def augment(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    test_data: Input[Dataset],
    label_map: Input[Artifact],
    augmented_data: Output[Dataset],
    augment_report: Output[HTML],
    metrics: Output[Metrics],
    alpha_sr: float = 0.1,
    alpha_ri: float = 0.1,
    alpha_rs: float = 0.1,
    alpha_rd: float = 0.1,
    balance_ratio: float = 0.5,
    max_aug_per_row: int = 4,
    seed: int = 42,
):
    """Easy Data Augmentation of the training split, topping minority classes up.

    Args:
        alpha_sr: synonym replacement strength (fraction of words).
        alpha_ri: random insertion strength.
        alpha_rs: random swap strength.
        alpha_rd: random deletion probability.
        balance_ratio: minority classes grow toward this fraction of the largest class.
        max_aug_per_row: cap on augmented rows per original row.
        seed: augmentation seed.
    """
    import json
    import logging
    import shutil
    import tempfile

    from components.augment import augment as run

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with open(label_map.path) as f:
        settings = json.load(f)["text_settings"]
    with tempfile.TemporaryDirectory() as tmp:
        res = run(train_data.path, f"{tmp}/out", exclude_paths=[val_data.path, test_data.path],
                  alpha_sr=alpha_sr, alpha_ri=alpha_ri, alpha_rs=alpha_rs, alpha_rd=alpha_rd,
                  balance_ratio=balance_ratio, max_aug_per_row=max_aug_per_row, seed=seed,
                  text_settings=settings)
        shutil.copyfile(res.path("train"), augmented_data.path)
        shutil.copyfile(res.path("report"), augment_report.path)
    augmented_data.metadata["rows"] = res.stats["rows_after"]
    metrics.log_metric("rows_before", res.stats["rows_before"])
    metrics.log_metric("rows_after", res.stats["rows_after"])
    metrics.log_metric("augmented_rows", res.stats["augmented_rows"])


# --------------------------------------------------------------------------- pipeline
@dsl.pipeline(name=PIPELINE_NAME,
              description="Toxic-prompt classification: preprocess -> augment.")
def toxic_pipeline(
    data: str,
    text_columns: str = "query,image descriptions",
    label_column: str = "Toxic Category",
    min_class_count: int = 20,
    val_size: float = 0.15,
    test_size: float = 0.15,
    seed: int = 42,
    length_percentile: float = 95.0,
    drop_invalid_rows: bool = False,
    encoding: str = "utf-8-sig",
    alpha_sr: float = 0.1,
    alpha_ri: float = 0.1,
    alpha_rs: float = 0.1,
    alpha_rd: float = 0.1,
    balance_ratio: float = 0.5,
    max_aug_per_row: int = 4,
) -> Dataset:
    pre = preprocess(
        data=data, text_columns=text_columns, label_column=label_column,
        min_class_count=min_class_count, val_size=val_size, test_size=test_size, seed=seed,
        length_percentile=length_percentile, drop_invalid_rows=drop_invalid_rows,
        encoding=encoding,
    ).set_display_name("preprocess")
    aug = augment(
        train_data=pre.outputs["train_data"], val_data=pre.outputs["val_data"],
        test_data=pre.outputs["test_data"], label_map=pre.outputs["label_map"],
        alpha_sr=alpha_sr, alpha_ri=alpha_ri, alpha_rs=alpha_rs, alpha_rd=alpha_rd,
        balance_ratio=balance_ratio, max_aug_per_row=max_aug_per_row, seed=seed,
    ).set_display_name("augment")
    return aug.outputs["augmented_data"]


# --------------------------------------------------------------------------- CLI
_KFP_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}


def pipeline_parameters() -> dict[str, tuple[type, Any]]:
    """name -> (python type, default; None when required), from the pipeline's component spec."""
    return {name: (_KFP_TYPES[spec.type], spec.default)
            for name, spec in toxic_pipeline.component_spec.inputs.items()}


def _bool(s: str) -> bool:
    if s.lower() in {"1", "true", "yes", "y", "on"}:
        return True
    if s.lower() in {"0", "false", "no", "n", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _add_param_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pipeline parameters (defaults from the pipeline)")
    for name, (typ, default) in pipeline_parameters().items():
        if name == "data":
            continue
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"param_{name}",
                           type=_bool if typ is bool else typ, default=None, metavar=typ.__name__.upper(),
                           help=f"default: {default!r}")


def _collect_params(args: argparse.Namespace) -> dict[str, Any]:
    return {k.removeprefix("param_"): v for k, v in vars(args).items()
            if k.startswith("param_") and v is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on this machine (kfp.local)")
    run.add_argument("--data", default=SAMPLE_DATA,
                     help="CSV/Parquet path or http(s)/s3/gs URI (default: %(default)s)")
    run.add_argument("--pipeline-root", default=LOCAL_PIPELINE_ROOT,
                     help="where runs write their outputs (default: %(default)s)")
    run.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks")
    _add_param_flags(run)

    comp = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML")
    comp.add_argument("--output", default="pipeline.yaml", help="default: %(default)s")

    sbm = sub.add_parser("submit", help="submit a run to a Kubeflow Pipelines endpoint")
    sbm.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    sbm.add_argument("--data", required=True, help="dataset URI readable from the cluster (s3/gs/https)")
    sbm.add_argument("--experiment", default="toxic-filter", help="default: %(default)s")
    sbm.add_argument("--run-name", default=None, help="default: toxic-filter-<timestamp>")
    sbm.add_argument("--namespace", default=None, help="Kubeflow profile namespace (multi-user)")
    sbm.add_argument("--no-cache", action="store_true", help="disable KFP caching for this run")
    _add_param_flags(sbm)
    return parser


def cmd_compile(output: str) -> Path:
    from kfp import compiler

    compiler.Compiler().compile(toxic_pipeline, package_path=output)
    return Path(output)


def _latest_run_dir(root: Path, before: set[Path]) -> Path | None:
    runs = [p for p in root.glob(f"{PIPELINE_NAME}-*") if p.is_dir() and p not in before]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def cmd_run(args: argparse.Namespace) -> int:
    from kfp import local

    from components.data import is_remote, parse_columns
    from components.errors import DatasetError
    from components.preprocess import load_dataset

    params = _collect_params(args)
    defaults = {k: d for k, (_, d) in pipeline_parameters().items()}
    data = args.data if is_remote(args.data) else str(Path(args.data).resolve())
    p = {**defaults, **params}
    try:  # fail fast, before any output exists, with preprocess's own checks
        load_dataset(data, parse_columns(p["text_columns"]), p["label_column"],
                     p["min_class_count"], p["val_size"], p["test_size"],
                     encoding=p["encoding"], drop_invalid_rows=p["drop_invalid_rows"])
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    root = Path(args.pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.glob(f"{PIPELINE_NAME}-*"))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               enable_caching=args.cache)
    start = time.perf_counter()
    try:
        toxic_pipeline(data=data, **params)
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        print(f"error: pipeline failed: {exc}. The task's log above says why.", file=sys.stderr)
        return 1
    wall = time.perf_counter() - start
    run_dir = _latest_run_dir(root, before)
    print(f"\npipeline finished in {wall:.1f} s; outputs under {run_dir}")
    if run_dir:
        for rel in ("preprocess/eda_report", "augment/augment_report",
                    "augment/augmented_data"):
            if (run_dir / rel).exists():
                print(f"  {rel}: {run_dir / rel}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    import kfp

    from components.data import is_remote

    if not is_remote(args.data):
        log.warning("--data %r is not a URI: the pipeline's pods must be able to read this path",
                    args.data)
    with_tmp = Path(f".{PIPELINE_NAME}-submit.yaml")
    cmd_compile(str(with_tmp))
    try:
        client = kfp.Client(host=args.host, namespace=args.namespace)
        result = client.create_run_from_pipeline_package(
            str(with_tmp), arguments={"data": args.data, **_collect_params(args)},
            run_name=args.run_name or f"{PIPELINE_NAME}-{time.strftime('%Y%m%d-%H%M%S')}",
            experiment_name=args.experiment, namespace=args.namespace,
            enable_caching=False if args.no_cache else None)
    finally:
        with_tmp.unlink(missing_ok=True)
    print(json.dumps({"run_id": result.run_id, "host": args.host,
                      "run_url": f"{args.host.rstrip('/')}/#/runs/details/{result.run_id}"}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "compile":
        print(f"compiled: {cmd_compile(args.output)}")
        return 0
    if args.command == "run":
        return cmd_run(args)
    return cmd_submit(args)


if __name__ == "__main__":
    sys.exit(main())
