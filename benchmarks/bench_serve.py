"""`make bench-serve`: latency and throughput of the lstm and lora servers against the raw forward pass.

    python -m benchmarks.bench_serve [--models_dir RUN_DIR] [--duration 6] [--data CSV]

For each model it measures, in one run on this machine:
- raw: `predictor.predict_proba([text])` in this process, one text at a time (the baseline);
- the server (`python -m serving.<model>` with its default flags, a real process on 127.0.0.1)
  driven over HTTP (v1, one text per request) by closed-loop clients at concurrency 1, 8, 32;
- for lora (and lstm) at concurrency 32: the same server with batching off
  (`--max_batch_size 1`), in alternating rounds with the batched server so that both see the
  same machine noise.
Prompts are the real dataset's (`query` + ". " + `image descriptions`), read from
../shared/data/toxic_data.csv (never copied into the repository).

Results: a table on stdout, JSON + Markdown in bench_results/, and the Benchmarks section of
docs/serving.md (between the bench-serve markers).
"""

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
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving import classifier, common
from serving.launch import (
    PIPELINE_ROOT,
    LaunchError,
    Servers,
    ServerSpec,
    port_free,
    resolve_model_dirs,
)

log = logging.getLogger("benchmarks.bench_serve")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
RESULTS_DIR = ROOT / "bench_results"
DOC = ROOT / "docs" / "serving.md"
DOC_START = "<!-- bench-serve:start (written by `make bench-serve`) -->"
DOC_END = "<!-- bench-serve:end -->"
CONCURRENCY = (1, 8, 32)
DURATION_S = 6.0  # measured seconds per level
WARMUP_S = 1.0  # requests in the first second of a level are not counted
ROUNDS = 2  # alternating batched/unbatched rounds at the highest concurrency
PROMPTS = 512
BENCH_PORTS = {"lstm": 18001, "lora": 18002, "lstm-unbatched": 18011, "lora-unbatched": 18012}
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
def raw_level(name: str, predictor: Any, prompts: Sequence[str], duration: float) -> Level:
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
    return Level(f"{name} raw", 1, latencies, time.perf_counter() - start)


def load_predictor(model: str, model_dir: Path) -> Any:
    if model == "lstm":
        from components.lstm_train import LstmPredictor

        return LstmPredictor.load(model_dir)
    from components.lora_train import LoraPredictor

    return LoraPredictor.load(model_dir, device="cpu")


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
            elif t0 >= measure_from and t1 <= stop_at:
                latencies.append(t1 - t0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, k) for k in range(concurrency)))
    return Level(name, concurrency, latencies, duration, errors)


def drive(*args: Any, **kwargs: Any) -> Level:
    return asyncio.run(http_level(*args, **kwargs))


# --------------------------------------------------------------------------- benchmark
def bench_model(model: str, model_dir: Path, prompts: Sequence[str], duration: float,
                rounds: int, concurrency: Sequence[int]) -> dict[str, Any]:
    """Raw baseline, server at each concurrency, batched vs unbatched at the highest."""
    top = max(concurrency)
    specs = [ServerSpec(model, model, BENCH_PORTS[model], ("--model_dir", str(model_dir))),
             ServerSpec(f"{model}-unbatched", model, BENCH_PORTS[f"{model}-unbatched"],
                        ("--model_dir", str(model_dir), "--max_batch_size", "1"))]
    log.info("%s: loading the predictor in-process for the raw baseline", model)
    if model == "lora" and classifier.TORCH_THREADS > 0:
        import torch

        torch.set_num_threads(classifier.TORCH_THREADS)  # as the server does
    predictor = load_predictor(model, model_dir)
    levels: list[Level] = []
    log.info("%s: starting the batched and unbatched servers", model)
    with Servers(specs, log_stream=None):
        levels.append(raw_level(model, predictor, prompts, duration))
        log.info("  %s", levels[-1].summary())
        for c in concurrency:
            levels.append(drive(f"{model} server", specs[0].url(), model, prompts, c, duration))
            log.info("  %s", levels[-1].summary())
        batched, unbatched = [levels[-1]], []
        for r in range(rounds):
            unbatched.append(drive(f"{model} server unbatched", specs[1].url(), specs[1].name,
                                   prompts, top, duration))
            log.info("  %s", unbatched[-1].summary())
            if r < rounds - 1:
                batched.append(drive(f"{model} server", specs[0].url(), model, prompts, top,
                                     duration))
                log.info("  %s", batched[-1].summary())
        levels.append(raw_level(model, predictor, prompts, duration / 2))  # noise check
        log.info("  %s", levels[-1].summary())
    raw = [lv for lv in levels if lv.name.endswith("raw")]
    server_c1 = next(lv for lv in levels if lv.name == f"{model} server" and lv.concurrency == 1)
    raw_p50 = statistics.median([lv.summary()["p50_ms"] for lv in raw])
    batched_rps = statistics.median([lv.summary()["rps"] for lv in batched])
    unbatched_rps = statistics.median([lv.summary()["rps"] for lv in unbatched])
    return {
        "model": model, "model_dir": str(model_dir),
        "levels": [lv.summary() for lv in levels],
        "batched_rounds": [lv.summary() for lv in batched],
        "unbatched_rounds": [lv.summary() for lv in unbatched],
        "raw_p50_ms": raw_p50,
        "server_c1_p50_ms": server_c1.summary()["p50_ms"],
        "c1_ratio": round(server_c1.summary()["p50_ms"] / raw_p50, 2),
        "batched_rps": batched_rps, "unbatched_rps": unbatched_rps,
        "batch_gain": round(batched_rps / unbatched_rps, 2) if unbatched_rps else None,
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- reports
def markdown(result: dict[str, Any]) -> str:
    """The report: per-level table and the two ratios against their targets."""
    lines = [f"Run: {result['date']}, {result['machine']['cpus']} CPU cores, no GPU, load average "
             f"at start {result['machine']['load_avg'][0]} (the machine is shared: compare the "
             f"ratios, measured in the same run, more than absolute numbers). "
             f"{result['duration_s']:g} s per level, one text per request (v1 JSON), "
             f"closed-loop aiohttp clients on the same machine, {result['prompts']} prompts from "
             "the real dataset.", "",
             "| model | what | concurrency | requests | p50 ms | p99 ms | req/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for m in result["models"]:
        rows = m["levels"][:-1] + m["unbatched_rounds"] + m["batched_rounds"][1:] + m["levels"][-1:]
        for lv in rows:
            what = lv["name"].removeprefix(m["model"] + " ")
            err = f" ({lv['errors']} errors)" if lv["errors"] else ""
            lines.append(f"| {m['model']} | {what}{err} | {lv['concurrency']} | {lv['requests']} | "
                         f"{lv['p50_ms']} | {lv['p99_ms']} | {lv['rps']} |")
    lines += ["", "| model | server p50 / raw p50 at c=1 (target <= "
              f"{TARGET_C1_RATIO}) | batched / unbatched req/s at c=32 (target >= "
              f"{TARGET_BATCH_GAIN} for lora) |", "|---|---|---|"]
    for m in result["models"]:
        lines.append(f"| {m['model']} | {m['server_c1_p50_ms']} / {m['raw_p50_ms']} ms = "
                     f"**{m['c1_ratio']}x** | {m['batched_rps']} / {m['unbatched_rps']} = "
                     f"**{m['batch_gain']}x** |")
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
    busy = [f"{n} ({p})" for n, p in BENCH_PORTS.items() if not port_free(p)]
    if busy:
        log.error("benchmark ports in use: %s", ", ".join(busy))
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
