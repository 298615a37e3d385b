"""`make bench-serve`: latency and throughput of the lstm and lora servers against the raw forward pass.

    python -m benchmarks.bench_serve [--models_dir RUN_DIR] [--duration 5] [--data CSV]

For each model it measures, in one run on this machine:
- raw: `predictor.predict_proba([text])` in this process, one text at a time (the baseline),
  before and after the server measurements;
- the server as `make serve` runs it (`python -m serving.<model>`, a real process on 127.0.0.1)
  driven over HTTP (v1, one text per request) by closed-loop clients at concurrency 1, 8, 32;
- variants at concurrency 32 (VARIANTS: batching off with `--max_batch_size 1`; for lora also
  `--torch_threads 1` against the default of one thread per CPU of the container), in rounds that alternate with the default server so that every variant
  sees the same machine noise;
- the serving floor: a no-op model behind the same server code (benchmarks.noop_server).
Prompts are the real dataset's (`query` + ". " + `image descriptions`), read from
../shared/data/toxic_data.csv (never copied into the repository).

Results: a table on stdout, JSON + Markdown in bench_results/, and the block between the
bench-serve markers in docs/serving.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import random
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.model_info import load_model_info
from components.predict import load_predictor
from serving import common
from serving.launch import PIPELINE_ROOT, LaunchError, Servers, ServerSpec, resolve_model_dirs

log = logging.getLogger("benchmarks.bench_serve")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
RESULTS_DIR = ROOT / "bench_results"
DOC = ROOT / "docs" / "serving.md"
DOC_START = "<!-- bench-serve:start (written by `make bench-serve`) -->"
DOC_END = "<!-- bench-serve:end -->"
CONCURRENCY = (1, 8, 32)
DURATION_S = 5.0  # measured seconds per level
WARMUP_S = 1.0  # requests in the first second of a level are not counted
ROUNDS = 2  # alternating batched/unbatched rounds at the highest concurrency
PROMPTS = 512
DEFAULT = "default"  # the server as `make serve` runs it
# Server variants measured at the top concurrency (flags added to the default command line), and
# the batched/unbatched pairs whose throughput ratio is the batching gain.
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "lstm": {"unbatched": ("--max_batch_size", "1")},
    "lora": {"unbatched": ("--max_batch_size", "1"),
             "torch_threads=1": ("--torch_threads", "1"),
             "torch_threads=1 unbatched": ("--torch_threads", "1", "--max_batch_size", "1")},
}
GAINS: dict[str, list[tuple[str, str]]] = {
    "lstm": [(DEFAULT, "unbatched")],
    "lora": [(DEFAULT, "unbatched"), ("torch_threads=1", "torch_threads=1 unbatched")],
}
TARGET_C1_RATIO = 1.5  # server p50 at concurrency 1 within 1.5x of the raw forward
TARGET_BATCH_GAIN = 2.0  # lora batched >= 2x unbatched throughput at concurrency 32


@dataclasses.dataclass
class Level:
    """One measurement: latencies (seconds) of the requests completed in the measured window."""

    name: str
    concurrency: int
    latencies: list[float]
    seconds: float
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        lat = np.array(self.latencies) * 1000
        return {"name": self.name, "concurrency": self.concurrency, "requests": len(lat),
                "errors": self.errors, "seconds": round(self.seconds, 2),
                "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
                "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
                "mean_ms": round(float(lat.mean()), 2) if len(lat) else None,
                "rps": round(len(lat) / self.seconds, 1) if self.seconds else None}


# --------------------------------------------------------------------------- inputs
def load_prompts(path: Path, n: int = PROMPTS, seed: int = 0) -> list[str]:
    """Distinct raw prompts of the dataset as the servers receive them (query. description)."""
    import pandas as pd

    from components.text import FIELD_SEPARATOR, TEXT_COLUMNS, join_fields

    df = pd.read_csv(path, encoding="utf-8-sig")
    texts = sorted({join_fields(row, FIELD_SEPARATOR)
                    for row in df[list(TEXT_COLUMNS)].itertuples(index=False)} - {""})
    random.Random(seed).shuffle(texts)
    return texts[:n]


# --------------------------------------------------------------------------- raw baseline
def raw_level(model: str, predictor: Any, prompts: Sequence[str], duration: float) -> Level:
    """predict_proba([text]) back to back in this process, for `duration` seconds."""
    for text in prompts[:20]:  # warm-up
        predictor.predict_proba([text])
    latencies = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < duration:
        t0 = time.perf_counter()
        predictor.predict_proba([prompts[i % len(prompts)]])
        latencies.append(time.perf_counter() - t0)
        i += 1
    return Level("raw", 1, latencies, time.perf_counter() - start)


# --------------------------------------------------------------------------- HTTP load
async def http_level(name: str, url: str, model: str, prompts: Sequence[str], concurrency: int,
                     duration: float, warmup: float = WARMUP_S) -> Level:
    """Closed loop: `concurrency` clients each send one-text v1 requests back to back.

    The client is aiohttp: httpx's connection pool collapsed at concurrency 32 on this machine
    (96 req/s against a no-op model server that aiohttp drives at 770 req/s).
    """
    import aiohttp

    endpoint = f"{url}/v1/models/{model}:predict"
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    begin = loop.time()
    measure_from, stop_at = begin + warmup, begin + warmup + duration

    async def worker(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal errors
        i = k * 7919
        while True:
            t0 = loop.time()
            if t0 >= stop_at:
                return
            text = prompts[i % len(prompts)]
            i += 1
            async with session.post(endpoint, json={"instances": [text]}) as response:
                await response.read()
                ok = response.status == 200
            t1 = loop.time()
            if not ok:
                errors += 1
            elif measure_from <= t1 <= stop_at:  # completions in the window: throughput
                latencies.append(t1 - t0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, k) for k in range(concurrency)))
    return Level(name, concurrency, latencies, duration, errors)


def drive(*args: Any, **kwargs: Any) -> Level:
    return asyncio.run(http_level(*args, **kwargs))


# --------------------------------------------------------------------------- benchmark
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_floor(prompts: Sequence[str], duration: float, concurrency: Sequence[int]) -> list[dict]:
    """The no-op model server (benchmarks.noop_server): what serving costs without a model."""
    spec = ServerSpec("noop", "benchmarks.noop_server", free_port(), ("--model_dir", "none"))
    log.info("serving floor: no-op model server")
    with Servers([spec], log_stream=None):
        levels = [drive("noop server", spec.url(), "noop", prompts, c, duration)
                  for c in (min(concurrency), max(concurrency))]
    for lv in levels:
        log.info("  %s", lv.summary())
    return [lv.summary() for lv in levels]


def bench_model(model: str, model_dir: Path, prompts: Sequence[str], duration: float,
                rounds: int, concurrency: Sequence[int]) -> dict[str, Any]:
    """Raw baseline; the default server at each concurrency; every variant (unbatched...) at the
    top concurrency, in rounds that alternate with the default server."""
    top = max(concurrency)
    info = load_model_info(model_dir)
    if (info.get("train_rows") or 0) < 1000:
        log.warning("%s: %s was trained on %s rows only: for the real numbers benchmark the "
                    "full-data models (`make run-full`, then MODELS_DIR=<that run>)", model,
                    model_dir, info.get("train_rows"))
    variants = {DEFAULT: (), **VARIANTS[model]}
    specs = {name: ServerSpec(model, f"serving.{model}", free_port(),
                              ("--model_dir", str(model_dir), *flags))
             for name, flags in variants.items()}
    log.info("%s: loading the predictor in-process for the raw baseline", model)
    predictor = load_predictor(model_dir, **({"device": "cpu"} if model == "lora" else {}))
    log.info("%s: starting %d servers: %s", model, len(specs), ", ".join(specs))
    levels: list[Level] = []

    def measure(variant: str, c: int) -> Level:
        level = drive(f"server {variant}", specs[variant].url(), model, prompts, c, duration)
        levels.append(level)
        log.info("  %s", level.summary())
        return level

    with Servers(list(specs.values()), log_stream=None):
        levels.append(raw_level(model, predictor, prompts, duration))
        log.info("  %s", levels[-1].summary())
        top_rps: dict[str, list[float]] = {v: [] for v in variants}
        for c in concurrency:
            level = measure(DEFAULT, c)
        top_rps[DEFAULT].append(level.summary()["rps"])
        for r in range(rounds):
            for variant in variants:
                if variant != DEFAULT or r > 0:
                    top_rps[variant].append(measure(variant, top).summary()["rps"])
        levels.append(raw_level(model, predictor, prompts, duration / 2))  # drift check
        log.info("  %s", levels[-1].summary())
    raw_p50 = round(statistics.median(
        [lv.summary()["p50_ms"] for lv in levels if lv.name == "raw"]), 2)
    c1 = next(lv.summary() for lv in levels if lv.name == f"server {DEFAULT}"
              and lv.concurrency == min(concurrency))
    rps = {v: round(statistics.median(r), 1) for v, r in top_rps.items()}
    return {
        "model": model, "model_dir": str(model_dir), "train_rows": info.get("train_rows"),
        "val_macro_f1": info.get("val_macro_f1"), "max_length": info.get("max_length"),
        "variants": {v: list(f) for v, f in variants.items()},
        "levels": [lv.summary() for lv in levels],
        "raw_p50_ms": raw_p50, "server_c1_p50_ms": c1["p50_ms"],
        "c1_ratio": round(c1["p50_ms"] / raw_p50, 2),
        "top_concurrency": top, "top_rps_median": rps,
        "gains": [{"batched": b, "unbatched": u, "ratio": round(rps[b] / rps[u], 2)}
                  for b, u in GAINS[model]],
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- reports
def markdown(result: dict[str, Any]) -> str:
    """The report: every measurement, the serving floor, and the two ratios against targets."""
    floor = result.get("floor") or []
    lines = [f"Run: {result['date']}, {result['machine']['cpus']} CPU cores, no GPU, load average "
             f"{result['machine']['load_avg'][0]} at start (a shared machine: the ratios compare "
             f"measurements of the same run). {result['duration_s']:g} s per level after 1 s of "
             "warm-up; one text per request (v1 JSON) from closed-loop aiohttp clients on the "
             f"same machine; {result['prompts']} distinct prompts of the real dataset "
             "(query + \". \" + image descriptions). Models: "
             + "; ".join(f"{m['model']} `{m['model_dir']}` ({m['train_rows']} training rows, "
                         f"max length {m['max_length']})" for m in result["models"]) + ".", "",
             "`raw` is `predict_proba([text])` in the benchmark process, one text at a time (the "
             "baseline); `server <variant>` is `python -m serving.<model>` with the default "
             "flags plus the variant's: "
             + "; ".join(f"{m['model']} {v}: `{' '.join(f) or '(none)'}`"
                         for m in result["models"] for v, f in m["variants"].items()) + ".", "",
             "| model | what | concurrency | requests | p50 ms | p99 ms | req/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for m in result["models"]:
        for lv in m["levels"]:
            err = f" ({lv['errors']} errors)" if lv["errors"] else ""
            lines.append(f"| {m['model']} | {lv['name']}{err} | {lv['concurrency']} | "
                         f"{lv['requests']} | {lv['p50_ms']} | {lv['p99_ms']} | {lv['rps']} |")
    for lv in floor:
        lines.append(f"| - | no-op model server (serving floor) | {lv['concurrency']} | "
                     f"{lv['requests']} | {lv['p50_ms']} | {lv['p99_ms']} | {lv['rps']} |")
    lines += ["", f"| model | server p50 / raw p50 at c=1 (target <= {TARGET_C1_RATIO}x) | "
              f"batched / unbatched req/s at c={max(result['concurrency'])}, median of rounds "
              f"(target >= {TARGET_BATCH_GAIN}x for lora) |", "|---|---|---|"]
    for m in result["models"]:
        gains = "; ".join(f"{g['batched']}: {m['top_rps_median'][g['batched']]} / "
                          f"{m['top_rps_median'][g['unbatched']]} = **{g['ratio']}x**"
                          for g in m["gains"])
        lines.append(f"| {m['model']} | {m['server_c1_p50_ms']} / {m['raw_p50_ms']} ms = "
                     f"**{m['c1_ratio']}x** | {gains} |")
    return "\n".join(lines) + "\n"


def update_doc(doc: Path, body: str) -> None:
    """Replace the bench-serve block of docs/serving.md (append it when absent)."""
    block = f"{DOC_START}\n{body}{DOC_END}"
    text = doc.read_text() if doc.exists() else ""
    if DOC_START in text and DOC_END in text:
        head, rest = text.split(DOC_START, 1)
        text = head + block + rest.split(DOC_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks (lstm, lora)\n\n" + block + "\n"
    doc.write_text(text)


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_serve",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models_dir", default=os.environ.get("MODELS_DIR") or None,
                        help="pipeline run directory; default: the latest local run with both "
                             "models (env MODELS_DIR)")
    parser.add_argument("--lstm_model_dir", default=os.environ.get("LSTM_MODEL_DIR") or None)
    parser.add_argument("--lora_model_dir", default=os.environ.get("LORA_MODEL_DIR") or None)
    parser.add_argument("--pipeline_root", default=str(PIPELINE_ROOT))
    parser.add_argument("--models", default="lstm,lora", help="comma-separated models")
    parser.add_argument("--data", default=str(DATA), help="CSV with the prompts")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds per level")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="unbatched rounds at the top concurrency (alternating with batched)")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--no_doc", action="store_true", help="do not update docs/serving.md")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        dirs = resolve_model_dirs(args.models_dir, {"lstm": args.lstm_model_dir,
                                                    "lora": args.lora_model_dir},
                                  Path(args.pipeline_root), models)
    except LaunchError as exc:
        log.error("%s", exc)
        return 2
    if not Path(args.data).is_file():
        log.error("prompt data not found: %s (pass --data CSV with query and image "
                  "descriptions columns)", args.data)
        return 2
    prompts = load_prompts(Path(args.data))
    concurrency = [int(c) for c in args.concurrency.split(",")]
    start = time.perf_counter()
    result: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "duration_s": args.duration, "prompts": len(prompts),
        "concurrency": concurrency, "models": []}
    for model in models:
        result["models"].append(bench_model(model, dirs[model], prompts, args.duration,
                                            args.rounds, concurrency))
    result["floor"] = bench_floor(prompts, args.duration, concurrency)
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    report = markdown(result)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"bench_serve-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / f"bench_serve-{stamp}.md").write_text(report)
    if not args.no_doc:
        update_doc(DOC, report)
    print("\n" + report)
    print(f"wrote bench_results/bench_serve-{stamp}.json and .md"
          + ("" if args.no_doc else f", updated {DOC.relative_to(ROOT)}")
          + f" ({result['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
