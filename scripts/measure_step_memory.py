"""Peak resident memory (RSS) of every pipeline step of a local run, sampled with psutil.

    .venv/bin/python scripts/measure_step_memory.py [--interval 0.2] [--json OUT] -- run --data ../shared/data/toxic_data.csv

Runs `pipeline.py <args>` (kfp.local SubprocessRunner: one Python process per step) and samples
the process tree every `--interval` seconds; a step's memory is the summed RSS of its
`kfp.dsl.executor_main` process and that process's children, and its peak is the largest sample.
The manifests' and pipeline's resource requests (pipeline.STEP_RESOURCES) are sized from these
figures (docs/cluster.md, "Resources").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _step_of(proc: psutil.Process) -> str | None:
    """The component function a kfp.local step process runs (`--function_to_execute NAME`)."""
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if "--function_to_execute" in cmd:
        i = cmd.index("--function_to_execute")
        return cmd[i + 1] if i + 1 < len(cmd) else None
    return None


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            total += p.memory_info().rss
    return total


def measure(pipeline_args: list[str], interval: float) -> dict:
    """Run `pipeline.py` with `pipeline_args`; return per-step peak RSS (MiB) and wall times."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "pipeline.py", *pipeline_args], cwd=ROOT)
    root = psutil.Process(child.pid)
    peaks: dict[str, int] = {}
    first_seen: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    driver_peak = 0
    while child.poll() is None:
        try:
            driver_peak = max(driver_peak, root.memory_info().rss)
            descendants = root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        now = time.perf_counter() - start
        for p in descendants:
            step = _step_of(p)
            if step is None:
                continue
            try:
                rss = _tree_rss(p)
            except psutil.NoSuchProcess:
                continue
            peaks[step] = max(peaks.get(step, 0), rss)
            first_seen.setdefault(step, now)
            last_seen[step] = now
        time.sleep(interval)
    rc = child.wait()
    mib = 1024 * 1024
    return {
        "returncode": rc,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "interval_seconds": interval,
        "driver_peak_rss_mib": round(driver_peak / mib),
        "steps": {s: {"peak_rss_mib": round(peaks[s] / mib),
                      "seconds": round(last_seen[s] - first_seen[s], 1)} for s in peaks},
        "pipeline_args": pipeline_args,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("pipeline_args", nargs=argparse.REMAINDER,
                        help="arguments of pipeline.py after `--`")
    args = parser.parse_args(argv)
    pipeline_args = [a for a in args.pipeline_args if a != "--"] or ["run"]
    result = measure(pipeline_args, args.interval)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
