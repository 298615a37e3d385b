"""`make bench-engines`: torch fp32 against ONNX int8 on one lora model directory, in process.

    python -m benchmarks.bench_engines [MODEL_DIR] [--seconds 3] [--rounds 3] [--no_doc]

What issue 20's table measured, on the model that serves and its fp32 weights, in one run:
- throughput at batch 1 (`predict_proba([text])` back to back) and batch 32 (`predict_proba` of
  32 texts, run as the lora server runs a merged batch: torch in length-sorted sub-batches of
  `serving.classifier.SUB_BATCH_SIZE`, ONNX sorting by token count itself), one engine thread
  each, in `rounds` rounds that alternate the engines; texts per CPU second of this process
  (on a machine shared with other work, CPU time is what their load does not change; a low
  priority run is starved for wall seconds at random) and per wall second;
- cold start: a fresh interpreter importing `components.core.predict`, loading the directory with
  the engine and answering one text (median of COLD_STARTS alternating starts): its CPU
  seconds (user + system) and wall seconds, and whether that process imported torch;
- size on disk: the merged fp32 weights (model.safetensors) against the int8 ONNX file;
- quality: argmax agreement with fp32 and, for a guard (a Safe class), guard decisions flipped,
  each engine at its own calibration, on every row of the run's splits (train, val, test:
  the issue's 2,027 rows for the seed run); test accuracy, macro-F1, unsafe recall and
  false-flag rate of each engine.
MODEL_DIR defaults to the latest local run's lora-train/model. Results: a table on stdout, JSON
+ Markdown in bench_results/, and the block between the bench-engines markers in docs/serving.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_serve import RESULTS_DIR, ROOT, commit, machine, update_doc
from components.core.calibration import safe_index
from components.core.model_info import load_model_info
from components.core.predict import ONNX_ENGINE, TORCH_ENGINE, load_predictor

log = logging.getLogger("benchmarks.bench_engines")

ENGINES = (TORCH_ENGINE, ONNX_ENGINE)
BATCHES = (1, 32)
SECONDS = 3.0  # measured CPU seconds per engine, batch size and round
ROUNDS = 3
COLD_STARTS = 3  # per engine, alternating
THREADS = 1  # engine threads, as the issue measured (a 2-core machine shared with others)
SPLITS = ("train_data", "val_data", "test_data")  # kfp.local's outputs of preprocess
DOC = ROOT / "docs" / "serving.md"
DOC_START = "<!-- bench-engines:start (written by `make bench-engines`) -->"
DOC_END = "<!-- bench-engines:end -->"
_COLD = """
import json, sys, time
from components.core.predict import load_predictor
predictor = load_predictor(sys.argv[1], sys.argv[2], threads=1)
predictor.predict_proba(["how do I bake bread?"])
print(json.dumps({"torch_imported": "torch" in sys.modules}))
"""


def run_split_paths(model_dir: Path) -> dict[str, Path]:
    """The run's splits (<run>/preprocess*/<split>) of a model directory <run>/<step>/model."""
    run = model_dir.resolve().parent.parent
    out = {}
    for split in SPLITS:
        found = sorted(run.glob(f"preprocess*/{split}"))
        if found:
            out[split] = found[0]
    return out


def cold_start(model_dir: Path, engine: str) -> dict[str, Any]:
    """A fresh interpreter from start to its first answer with `engine`: wall seconds and the
    CPU seconds it used (user + system: what the machine's other load does not change).

    Raises:
        RuntimeError: the process failed.
    """
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu0, start = cpu(), time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _COLD, str(model_dir), engine], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu0
    if res.returncode != 0:
        raise RuntimeError(f"{engine} cold start failed: {res.stderr[-2000:]}")
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
            **json.loads(res.stdout.strip().splitlines()[-1])}


def batch_runner(predictor: Any, engine: str, size: int) -> Callable[[list[str]], Any]:
    """How the lora server runs a merged batch of `size` texts with this engine."""
    from serving.classifier import SUB_BATCH_SIZE, length_sorted_chunks

    sub = SUB_BATCH_SIZE["lora"]
    if size <= sub or engine == ONNX_ENGINE:  # ONNX sorts by token count itself
        return predictor.predict_proba

    def run(texts: list[str]) -> None:
        for chunk in length_sorted_chunks(texts, sub):
            predictor.predict_proba([texts[i] for i in chunk])

    return run


def throughput(run: Callable[[list[str]], Any], texts: Sequence[str], size: int,
               seconds: float) -> dict[str, float]:
    """`run` on consecutive batches of `size` texts until it has used `seconds` of CPU time:
    texts per CPU second of this process (one engine thread: what the machine's other load
    does not change) and per wall second."""
    run(list(texts[:size]))  # warm-up
    done, i = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        batch = [texts[(i + k) % len(texts)] for k in range(size)]
        run(batch)
        done += size
        i += size
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu": round(done / cpu, 2), "wall": round(done / wall, 2)}


def quality(predictors: dict[str, Any], frames: dict[str, Any]) -> dict[str, Any]:
    """Agreement and flips of ONNX against torch on every split's rows, test metrics of each."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score

    rows = pd.concat([f.assign(split=s) for s, f in frames.items()], ignore_index=True)
    texts = rows["raw_text" if "raw_text" in rows.columns else "text"].tolist()
    labels = predictors[TORCH_ENGINE].labels
    safe = safe_index(labels)
    probs = {e: p.predict_proba(texts) for e, p in predictors.items()}
    preds = {e: pr.argmax(axis=1) for e, pr in probs.items()}
    out: dict[str, Any] = {"rows": len(rows), "splits": {s: len(f) for s, f in frames.items()},
                           "argmax_agreement": round(float(np.mean(
                               preds[TORCH_ENGINE] == preds[ONNX_ENGINE])), 5),
                           "argmax_changed": int(np.sum(preds[TORCH_ENGINE] != preds[ONNX_ENGINE])),
                           "max_abs_diff": round(float(np.abs(
                               probs[TORCH_ENGINE] - probs[ONNX_ENGINE]).max()), 5)}
    test = (rows["split"] == "test_data").to_numpy()
    y = rows["label_id"].to_numpy()
    flags: dict[str, np.ndarray] = {}
    per: dict[str, dict[str, Any]] = {}
    for engine, predictor in predictors.items():
        m: dict[str, Any] = {}
        if test.any():
            m["test_accuracy"] = round(float(accuracy_score(y[test], preds[engine][test])), 4)
            m["test_macro_f1"] = round(float(f1_score(
                y[test], preds[engine][test], labels=list(range(len(labels))), average="macro",
                zero_division=0)), 4)
        if safe is not None and predictor.threshold is not None:
            flags[engine] = 1.0 - probs[engine][:, safe] >= predictor.threshold
            unsafe = y != safe
            m["threshold"] = round(predictor.threshold, 4)
            if test.any():
                m["test_unsafe_recall"] = round(float(flags[engine][test & unsafe].mean()), 4)
                m["test_false_flag_rate"] = round(float(flags[engine][test & ~unsafe].mean()), 4)
        per[engine] = m
    out["engines"] = per
    if len(flags) == 2:
        out["guard_flips"] = int(np.sum(flags[TORCH_ENGINE] != flags[ONNX_ENGINE]))
    return out


def bench(model_dir: Path, prompts: Sequence[str], seconds: float = SECONDS,
          rounds: int = ROUNDS, cold_starts: int = COLD_STARTS,
          splits: dict[str, Path] | None = None) -> dict[str, Any]:
    """Every measurement of the module docstring on one model directory.

    Args:
        model_dir: a lora model directory with its ONNX export.
        prompts: raw prompts for the throughput measurements.
        seconds: measured seconds per engine, batch size and round.
        rounds: rounds alternating the engines.
        cold_starts: fresh interpreters per engine.
        splits: name -> Parquet split (text/raw_text, label_id) for the quality figures
            (the test figures need "test_data"); default: the run's (`run_split_paths`).

    Raises:
        ValueError: the directory has no ONNX export.
    """
    import pandas as pd

    info = load_model_info(model_dir, "lora")
    if ONNX_ENGINE not in (info.get("engines") or {}):
        raise ValueError(f"{model_dir} has no ONNX export: run `python -m components.training.export "
                         f"{model_dir}` first")
    cold: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    for _ in range(cold_starts):
        for engine in ENGINES:
            cold[engine].append(cold_start(model_dir, engine))
            log.info("%s cold start: %s", engine, cold[engine][-1])
    predictors = {e: load_predictor(model_dir, e, threads=THREADS) for e in ENGINES}
    if TORCH_ENGINE in predictors:
        import torch

        torch.set_num_threads(THREADS)
    runs: dict[tuple[str, int], list[dict[str, float]]] = {
        (e, b): [] for e in ENGINES for b in BATCHES}
    for r in range(rounds):
        for size in BATCHES:
            for engine in ENGINES:
                tps = throughput(batch_runner(predictors[engine], engine, size), prompts, size,
                                 seconds)
                runs[engine, size].append(tps)
                log.info("round %d batch %d %s: %s texts/s", r, size, engine, tps)
    splits = run_split_paths(model_dir) if splits is None else splits
    frames = {s: pd.read_parquet(p) for s, p in splits.items()}
    sizes = {TORCH_ENGINE: sum(f.stat().st_size for f in model_dir.glob("*.safetensors")),
             ONNX_ENGINE: (model_dir / info["engines"][ONNX_ENGINE]["file"]).stat().st_size}

    def median(values: Any) -> float:
        return round(statistics.median(values), 3)

    per = {e: {"texts_per_cpu_s": {str(b): median(x["cpu"] for x in runs[e, b])
                                   for b in BATCHES},
               "texts_per_wall_s": {str(b): median(x["wall"] for x in runs[e, b])
                                    for b in BATCHES},
               "rounds": {str(b): runs[e, b] for b in BATCHES},
               "cold_start_cpu_s": median(c["cpu_seconds"] for c in cold[e]),
               "cold_start_s": median(c["seconds"] for c in cold[e]),
               "cold_starts": cold[e],
               "imports_torch": any(c["torch_imported"] for c in cold[e]),
               "model_bytes": sizes[e], "model_mb": round(sizes[e] / 1e6, 1)} for e in ENGINES}
    t, o = per[TORCH_ENGINE], per[ONNX_ENGINE]
    ratios = {**{f"batch_{b}": round(o["texts_per_cpu_s"][str(b)] / t["texts_per_cpu_s"][str(b)],
                                     2) for b in BATCHES},
              **{f"batch_{b}_wall": round(o["texts_per_wall_s"][str(b)]
                                          / t["texts_per_wall_s"][str(b)], 2) for b in BATCHES},
              "cold_start_cpu": round(o["cold_start_cpu_s"] / t["cold_start_cpu_s"], 3),
              "cold_start": round(o["cold_start_s"] / t["cold_start_s"], 3),
              "model_size": round(sizes[ONNX_ENGINE] / sizes[TORCH_ENGINE], 3)}
    return {"model_dir": str(model_dir), "train_rows": info.get("train_rows"),
            "base_model": info.get("base_model"), "max_length": info.get("max_length"),
            "onnx_precision": info["engines"][ONNX_ENGINE].get("precision", "int8"),
            "threads": THREADS, "seconds": seconds, "rounds": rounds,
            "cold_starts": cold_starts, "engines": per,
            "ratios": ratios, "quality": quality(predictors, frames) if frames else None}


def markdown(result: dict[str, Any], command: str) -> str:
    r, q = result["ratios"], result["quality"] or {}
    lines = [f"Run: {result['date']}, commit {result['commit']}, {result['machine']['cpus']} "
             f"CPU cores, load average {result['machine']['load_avg'][0]} at start. Command: "
             f"`{command}`. Model: `{result['model_dir']}` ({result['base_model']}, "
             f"{result['train_rows']} training rows, max length {result['max_length']}). "
             f"{result['threads']} engine thread each. Throughput: texts per CPU second of the "
             "benchmark process (one engine thread: on a shared machine, CPU time is what the "
             "other load does not change; texts per wall second beside it), median of "
             f"{result['rounds']} rounds of {result['seconds']:g} CPU seconds alternating the "
             "engines. Cold start: a fresh interpreter importing components.core.predict, loading "
             "the directory and answering one text, CPU seconds (user + system) and wall "
             f"seconds, median of {result['cold_starts']}.", "",
             "| engine | batch 1 texts/CPU s (wall) | batch 32 texts/CPU s (wall) | cold start "
             "CPU s (wall) | imports torch | model on disk MB | test accuracy | test macro-F1 | "
             "test unsafe recall | test false-flag rate |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for engine, m in result["engines"].items():
        qm = (q.get("engines") or {}).get(engine, {})
        cpu, wall = m["texts_per_cpu_s"], m["texts_per_wall_s"]
        lines.append(f"| {engine} | {cpu['1']:.1f} ({wall['1']:.1f}) | {cpu['32']:.1f} "
                     f"({wall['32']:.1f}) | {m['cold_start_cpu_s']:.2f} ({m['cold_start_s']:.2f})"
                     f" | {'yes' if m['imports_torch'] else 'no'} | {m['model_mb']} | "
                     f"{qm.get('test_accuracy', '-')} | {qm.get('test_macro_f1', '-')} | "
                     f"{qm.get('test_unsafe_recall', '-')} | {qm.get('test_false_flag_rate', '-')} |")
    lines += ["", f"| onnx {result.get('onnx_precision', 'int8')} / torch fp32 | throughput "
              "batch 1 | batch 32 | cold start | size "
              "on disk | argmax agreement | guard decisions flipped |",
              "|---|---:|---:|---:|---:|---:|---:|",
              f"| ratio, CPU time (wall) | **{r['batch_1']}x** ({r['batch_1_wall']}x) | "
              f"**{r['batch_32']}x** ({r['batch_32_wall']}x) | {r['cold_start_cpu']}x "
              f"({r['cold_start']}x) | {r['model_size']}x | {q.get('argmax_agreement', '-')} "
              f"({q.get('argmax_changed', '-')} of {q.get('rows', '-')} rows changed) | "
              f"{q.get('guard_flips', '-')} / {q.get('rows', '-')} |"]
    return "\n".join(lines) + "\n"


def _splits(specs: Sequence[str] | None) -> dict[str, Path] | None:
    if not specs:
        return None
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).exists():
            raise ValueError(f"--split: expected NAME=PARQUET of an existing file, got {spec!r}")
        out[name] = Path(path)
    return out


def latest_lora_dir() -> Path:
    """lora-train/model of the latest local run that has one.

    Raises:
        FileNotFoundError: none.
    """
    from serving.launch import PIPELINE_ROOT

    found = sorted(Path(PIPELINE_ROOT).glob("*/lora-train/model/model_info.json"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no lora-train model under {PIPELINE_ROOT}: pass MODEL_DIR")
    return found[-1].parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_engines",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model_dir", nargs="?", default=None,
                        help="a lora model directory with its ONNX export (default: the latest "
                             "local run's)")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--cold_starts", type=int, default=COLD_STARTS)
    parser.add_argument("--data", default=None, help="CSV with the prompts (bench-serve's)")
    parser.add_argument("--split", action="append", default=None, metavar="NAME=PARQUET",
                        help="a split for the quality figures (repeat; test_data= for the "
                             "test metrics); default: the run's preprocess*/{train,val,test}_data")
    parser.add_argument("--no_doc", action="store_true", help="do not update docs/serving.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from benchmarks.bench_serve import DATA, load_prompts

    try:
        model_dir = Path(args.model_dir) if args.model_dir else latest_lora_dir()
        prompts = load_prompts(Path(args.data or DATA))
        result = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "machine": machine(), "commit": commit(),
                  **bench(model_dir, prompts, args.seconds, args.rounds, args.cold_starts,
                          _splits(args.split))}
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 2
    command = "python -m benchmarks.bench_engines " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    report = markdown(result, command.strip())
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"bench_engines-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / f"bench_engines-{stamp}.md").write_text(report)
    if not args.no_doc:
        update_doc(DOC, report, DOC_START, DOC_END, "Benchmarks (engines, in process)")
    print("\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
