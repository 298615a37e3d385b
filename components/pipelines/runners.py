"""Running a pipeline on this machine with kfp.local: every step in this venv (SubprocessRunner)
or each in its own container from the project's images (DockerRunner)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from components.deploy import images

# The images the steps run in (`pipeline.py run --runner docker`); environment variables passed
# into their containers when set here (nothing may come from a model hub in the tests).
DOCKER_STEP_IMAGES = ("data", "trainer-tf", "trainer-gpu", "serving")
DOCKER_PASS_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TF_CPP_MIN_LOG_LEVEL")


def docker_runner(arguments: dict[str, Any]):
    """kfp.local.DockerRunner on the project's images: every step in its own container, as the
    invoking user (outputs stay writable and owned by them), on the host network, with each
    local path among `arguments` (the dataset, a local base model, the sources) mounted
    read-only at the same path.

    Raises:
        images.EngineUnavailable: no Docker engine answers.
        LookupError: an image is missing from the engine.
    """
    import os

    from docker.types import Mount
    from kfp import local

    missing = images.missing_images(images.engine(), DOCKER_STEP_IMAGES)
    if missing:
        raise LookupError(f"image(s) {', '.join(missing)} not found in the Docker engine: "
                          f"build them with `make images` (same REGISTRY/TAG)")
    paths = {str(Path(v)) for v in arguments.values()
             if isinstance(v, str) and Path(v).is_absolute() and Path(v).exists()}
    mounts = [Mount(target=p, source=p, type="bind", read_only=True) for p in sorted(paths)]
    env = {"HOME": "/tmp"} | {k: os.environ[k] for k in DOCKER_PASS_ENV if k in os.environ}
    return local.DockerRunner(network_mode="host", user=f"{os.getuid()}:{os.getgid()}",
                              environment=env, mounts=mounts)


def run_local(pipeline_fn: Any, arguments: dict[str, Any], args: argparse.Namespace, data: str,
               show: tuple[str, ...]) -> int:
    """Run a pipeline with kfp.local, print its comparison table and where its outputs are."""
    from kfp import local

    from components.core.files import read_json, write_json
    from components.evaluation.evaluate import comparison_table

    root = Path(args.pipeline_root).resolve()
    if getattr(args, "runner", "subprocess") == "docker":
        try:
            runner = docker_runner(arguments)
        except (images.EngineUnavailable, LookupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        runner = local.SubprocessRunner(use_venv=False)
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=runner, pipeline_root=str(root), enable_caching=args.cache)
    start = time.perf_counter()
    try:
        summary_artifact = pipeline_fn(**arguments)  # a PipelineTask
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        print(f"error: pipeline failed: {exc}. The task's log above says why.", file=sys.stderr)
        return 1
    wall = time.perf_counter() - start
    summary_path = Path(summary_artifact.output.path)
    summary = read_json(summary_path)
    summary["wall_seconds"] = round(wall, 1)
    summary["data"] = data
    run_dir = summary_path.parents[1]  # <pipeline_root>/<run>/evaluate/summary
    print(f"\n{comparison_table(summary)}\n")
    print(f"pipeline finished in {wall:.1f} s; outputs under {run_dir}")
    for rel in show:
        if (run_dir / rel).exists():
            print(f"  {rel}: {run_dir / rel}")
    if args.summary:
        write_json(args.summary, summary)
        print(f"summary: {args.summary}")
    return 0
