"""`make bench-serve`: latency and throughput of the lstm and lora servers against the raw forward pass.

    python -m benchmarks.bench_serve [--models_dir RUN_DIR] [--duration 5] [--data CSV]

For each model it measures, in one run on this machine:
- raw: `predictor.predict_proba([text])` in this process, one text at a time (the baseline),
  before and after the server measurements;
- the server as `make serve` runs it (`python -m serving.<model>`, a real process on 127.0.0.1)
  driven over HTTP (v1, one text per request) by closed-loop clients at concurrency 1, 8, 32;
- variants at concurrency 32 (VARIANTS: batching off with `--max_batch_size 1`; for lora, which
  serves its ONNX int8 export by default, also one engine thread instead of one per CPU, the
  batch window at 0 and 5 ms instead of 2, and each text alone or one padded pass per merged
  batch instead of sorted sub-batches of 8), in rounds that alternate with the default server so that every
  variant sees the same machine noise; for lora also the default server driven with v2 JSON and
  v2 binary (tensor binary extension) requests instead of v1;
- the serving floor: a no-op model behind the same server code (benchmarks.noop_server);
- engines (`--engines lora,guard`): the same lora model directory served by torch fp32
  (`--engine torch`, the servers before issue 20) and by its ONNX int8 export
  (`--engine onnx`), as the lora server and as the guard's offline backend: cold start
  (process start to `/v2/models/<name>/ready`, median of COLD_STARTS alternating starts) and
  RSS after loading, then p50 at concurrency 1 and throughput at 32 in rounds that alternate
  the engines, with where the time of a request goes (the servers' /metrics: preprocess,
  queue, forward pass, postprocess) and the ratios against the issue's targets.
Prompts are the real dataset's (`query` + ". " + `image descriptions`), read from
../shared/data/toxic_data.csv (never copied into the repository).

Results: a table on stdout, JSON + Markdown in bench_results/ (`--json PATH`: the JSON there too);
`make results ONLY=bench` runs it and puts the figures on docs/results.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from components.core.model_info import load_model_info
from components.core.predict import load_predictor
from serving import common
from serving.launch import PIPELINE_ROOT, LaunchError, Servers, ServerSpec, resolve_model_dirs

log = logging.getLogger("benchmarks.bench_serve")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
RESULTS_DIR = ROOT / "bench_results"
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
             "threads=1": ("--threads", "1"),
             "batch wait 0 ms": ("--max_batch_wait_ms", "0"),
             "batch wait 5 ms": ("--max_batch_wait_ms", "5"),
             "sub-batch 1": ("--sub_batch_size", "1"),  # each text alone: reproducible
             "sub-batch 32": ("--sub_batch_size", "32")},
}
GAINS: dict[str, list[tuple[str, str]]] = {
    "lstm": [(DEFAULT, "unbatched")],
    "lora": [(DEFAULT, "unbatched")],
}
# Request encodings the default lora server is also driven with at the top concurrency.
PROTOCOLS = {"lora": ("v2 json", "v2 binary")}
TARGET_C1_RATIO = 1.5  # server p50 at concurrency 1 within 1.5x of the raw forward
TARGET_BATCH_GAIN = 2.0  # lora batched >= 2x unbatched throughput at concurrency 32
# Engines (issue 20): ONNX int8 against torch fp32 on the same model directory.
ENGINES = ("torch", "onnx")
ENGINE_SERVERS = ("lora", "guard")
ENGINE_CONCURRENCY = (1, 32)
# One engine thread each (as issue 20 measured): the load generator and the servers' event loop
# share the machine's cores, and torch's OpenMP threads slow down badly on a busy core.
ENGINE_FLAGS = ("--threads", "1")
COLD_STARTS = 3  # per engine, alternating
READY_POLL_S = 0.02
TARGET_ENGINE_C1_P50 = 0.35  # onnx p50 at concurrency 1 <= 0.35x torch's
TARGET_ENGINE_RPS = 3.0  # onnx throughput at concurrency 32 >= 3x torch's
TARGET_COLD_START_S = 3.0  # onnx server: process start to ready
# Server-side histograms (kserve's and serving.batching's): mean seconds per request or batch.
STAGES = {"preprocess": "request_preprocess_seconds", "predict": "request_predict_seconds",
          "postprocess": "request_postprocess_seconds",
          "queue": "toxic_filter_batch_queue_seconds", "forward": "toxic_filter_forward_seconds",
          "batch_size": "toxic_filter_batch_size"}


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

    from components.core.text import FIELD_SEPARATOR, TEXT_COLUMNS, join_fields

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
def v2_binary_body(text: str, tensor: str = "text") -> tuple[bytes, dict[str, str]]:
    """A v2 request for one text with the tensor binary extension: a JSON header, then the
    BYTES tensor (4-byte little-endian length + UTF-8), outputs asked in binary too."""
    import struct

    data = text.encode()
    header = json.dumps({"inputs": [{"name": tensor, "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 4 + len(data)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + struct.pack("<I", len(data)) + data, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header))}


async def http_level(name: str, url: str, model: str, prompts: Sequence[str], concurrency: int,
                     duration: float, warmup: float = WARMUP_S, protocol: str = "v1") -> Level:
    """Closed loop: `concurrency` clients each send one-text requests back to back.

    Args:
        protocol: "v1" (JSON instances), "v2 json" or "v2 binary" (a BYTES tensor `text`).

    The client is aiohttp: httpx's connection pool collapsed at concurrency 32 on this machine
    (96 req/s against a no-op model server that aiohttp drives at 770 req/s).
    """
    import aiohttp

    endpoint = (f"{url}/v1/models/{model}:predict" if protocol == "v1"
                else f"{url}/v2/models/{model}/infer")

    def request(text: str) -> dict[str, Any]:
        if protocol == "v1":
            return {"json": {"instances": [text]}}
        if protocol == "v2 json":
            return {"json": {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                         "data": [text]}]}}
        body, headers = v2_binary_body(text)
        return {"data": body, "headers": headers}

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
            async with session.post(endpoint, **request(text)) as response:
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

    protocols = PROTOCOLS.get(model, ())
    with Servers(list(specs.values()), log_stream=None):
        levels.append(raw_level(model, predictor, prompts, duration))
        log.info("  %s", levels[-1].summary())
        top_rps: dict[str, list[float]] = {v: [] for v in [*variants, *protocols]}
        for c in concurrency:
            level = measure(DEFAULT, c)
        top_rps[DEFAULT].append(level.summary()["rps"])
        for r in range(rounds):
            for variant in variants:
                if variant != DEFAULT or r > 0:
                    top_rps[variant].append(measure(variant, top).summary()["rps"])
            for protocol in protocols:
                level = drive(f"server {DEFAULT} ({protocol})", specs[DEFAULT].url(), model,
                              prompts, top, duration, protocol=protocol)
                levels.append(level)
                log.info("  %s", level.summary())
                top_rps[protocol].append(level.summary()["rps"])
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
        "variants": {v: list(f) for v, f in variants.items()}, "protocols": list(protocols),
        "levels": [lv.summary() for lv in levels],
        "raw_p50_ms": raw_p50, "server_c1_p50_ms": c1["p50_ms"],
        "c1_ratio": round(c1["p50_ms"] / raw_p50, 2),
        "top_concurrency": top, "top_rps_median": rps,
        "gains": [{"batched": b, "unbatched": u, "ratio": round(rps[b] / rps[u], 2)}
                  for b, u in GAINS[model]],
    }


# --------------------------------------------------------------------------- engines
def engine_spec(server: str, model_dir: Path, engine: str, port: int) -> ServerSpec:
    """`python -m serving.<server>` on `model_dir` with `--engine engine` (guard: the offline
    backend)."""
    flag = "--model_dir" if server == "lora" else "--classifier_dir"
    return ServerSpec(server, f"serving.{server}", port,
                      (flag, str(model_dir), "--engine", engine, *ENGINE_FLAGS))


def rss_mb(pid: int) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def cold_start(spec: ServerSpec, timeout: float = 240.0) -> dict[str, float]:
    """Seconds from starting the server process to its model answering ready, and its RSS then.

    Raises:
        LaunchError: the server exited or was not ready within `timeout`.
    """
    import subprocess

    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    url = f"{spec.url()}/v2/models/{spec.name}/ready"
    start = time.perf_counter()
    proc = subprocess.Popen(spec.command("127.0.0.1"), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(timeout=1.0) as client:
            while True:
                if proc.poll() is not None:
                    raise LaunchError(f"{spec.name} exited while starting: "
                                      f"{proc.stderr.read().decode()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        break
                if time.perf_counter() - start > timeout:
                    raise LaunchError(f"{spec.name} not ready after {timeout:.0f} s")
                time.sleep(READY_POLL_S)
        seconds = time.perf_counter() - start
        return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds(proc.pid), 3),
                "rss_mb": rss_mb(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scrape(url: str, model: str) -> dict[str, tuple[float, float]]:
    """name -> (sum, count) of the STAGES histograms for `model` on a server's /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    wanted = {v: k for k, v in STAGES.items()}
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in wanted:
            continue
        for sample in family.samples:
            if sample.labels.get("model_name") != model:
                continue
            pair = out.setdefault(wanted[family.name], [0.0, 0.0])
            if sample.name.endswith("_sum"):
                pair[0] = sample.value
            elif sample.name.endswith("_count"):
                pair[1] = sample.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def breakdown(before: dict, after: dict) -> dict[str, float | None]:
    """Mean per request (preprocess, predict, postprocess, queue: ms), per forward pass
    (forward: ms) and items per forward pass (batch_size) between two scrapes."""
    out: dict[str, float | None] = {}
    for name in STAGES:
        s0, n0 = before.get(name, (0.0, 0.0))
        s1, n1 = after.get(name, (0.0, 0.0))
        n = n1 - n0
        scale = 1.0 if name == "batch_size" else 1000.0
        out[name] = round((s1 - s0) / n * scale, 2) if n > 0 else None
    out["forward_passes"] = after.get("forward", (0.0, 0.0))[1] - before.get("forward",
                                                                              (0.0, 0.0))[1]
    return out


def bench_engines(server: str, model_dir: Path, prompts: Sequence[str], duration: float,
                  rounds: int) -> dict[str, Any]:
    """torch fp32 against ONNX int8 on one model directory, as `server` (lora or guard)."""
    info = load_model_info(model_dir, "lora")
    if "onnx" not in (info.get("engines") or {}):
        raise LaunchError(f"{model_dir} has no ONNX export: run `python -m components.training.export "
                          f"{model_dir}` first")
    cold: dict[str, list[dict[str, float]]] = {e: [] for e in ENGINES}
    for _ in range(COLD_STARTS):
        for engine in ENGINES:
            cold[engine].append(cold_start(engine_spec(server, model_dir, engine, free_port())))
            log.info("  %s %s cold start: %s", server, engine, cold[engine][-1])
    specs = {e: engine_spec(server, model_dir, e, free_port()) for e in ENGINES}
    levels: list[dict[str, Any]] = []
    with Servers(list(specs.values()), log_stream=None) as servers:
        pids = {e: servers.procs[servers.labels[specs[e]]].pid for e in ENGINES}
        loaded = {e: rss_mb(pid) for e, pid in pids.items()}
        for r in range(rounds):
            for engine in ENGINES:
                for c in ENGINE_CONCURRENCY:
                    url = specs[engine].url()
                    before, cpu0 = scrape(url, server), cpu_seconds(pids[engine])
                    level = drive(f"{server} {engine}", url, server, prompts, c, duration)
                    cpu = cpu_seconds(pids[engine]) - cpu0
                    summary = level.summary()
                    # the server's CPU time per answered request: its cost, whatever the other
                    # load on a shared machine does to the wall-clock figures
                    summary["server_cpu_ms"] = (round(cpu / summary["requests"] * 1000, 2)
                                                if summary["requests"] else None)
                    levels.append({**summary, "engine": engine, "round": r,
                                   "stages": breakdown(before, scrape(url, server))})
                    log.info("  %s", levels[-1])
        after_load = {e: rss_mb(pid) for e, pid in pids.items()}
    per: dict[str, dict[str, Any]] = {}
    for engine in ENGINES:
        mine = [lv for lv in levels if lv["engine"] == engine]
        p50s = [lv["p50_ms"] for lv in mine if lv["concurrency"] == 1 and lv["p50_ms"]]
        cpu_ms = {c: [lv["server_cpu_ms"] for lv in mine
                      if lv["concurrency"] == c and lv["server_cpu_ms"]]
                  for c in ENGINE_CONCURRENCY}
        per[engine] = {
            "p50_c1_ms": round(statistics.median(p50s), 2) if p50s else None,
            "server_cpu_ms": {str(c): round(statistics.median(v), 2) if v else None
                              for c, v in cpu_ms.items()},
            "cold_start_cpu_s": round(statistics.median(c["cpu_seconds"] for c in cold[engine]),
                                      2),
            "rps_top": round(statistics.median(
                lv["rps"] for lv in mine if lv["concurrency"] == max(ENGINE_CONCURRENCY)), 1),
            "cold_start_s": round(statistics.median(c["seconds"] for c in cold[engine]), 2),
            "cold_starts_s": [c["seconds"] for c in cold[engine]],
            "rss_loaded_mb": loaded[engine], "rss_after_load_mb": after_load[engine]}
    torch_, onnx_ = per["torch"], per["onnx"]
    ratios = {"p50_c1": _ratio(onnx_["p50_c1_ms"], torch_["p50_c1_ms"], 3),
              "rps_top": _ratio(onnx_["rps_top"], torch_["rps_top"], 2),
              "cold_start": _ratio(onnx_["cold_start_s"], torch_["cold_start_s"], 3),
              "rss": _ratio(onnx_["rss_after_load_mb"], torch_["rss_after_load_mb"], 3),
              **{f"server_cpu_c{c}": _ratio(onnx_["server_cpu_ms"][str(c)],
                                            torch_["server_cpu_ms"][str(c)], 3)
                 for c in ENGINE_CONCURRENCY},
              "cold_start_cpu": _ratio(onnx_["cold_start_cpu_s"], torch_["cold_start_cpu_s"], 3)}
    return {"server": server, "model_dir": str(model_dir), "train_rows": info.get("train_rows"),
            "onnx_file_mb": round(info["engines"]["onnx"]["bytes"] / 1e6, 1),
            "levels": levels, "engines": per, "ratios": ratios,
            "targets_met": {
                "p50_c1": ratios["p50_c1"] is not None and ratios["p50_c1"] <= TARGET_ENGINE_C1_P50,
                "rps_top": ratios["rps_top"] is not None and ratios["rps_top"] >= TARGET_ENGINE_RPS,
                "cold_start": onnx_["cold_start_s"] <= TARGET_COLD_START_S}}


def _ratio(a: float | None, b: float | None, digits: int) -> float | None:
    """a / b, None when either is missing or b is 0 (no request completed in a level)."""
    return round(a / b, digits) if a is not None and b else None


def engines_markdown(result: dict[str, Any]) -> str:
    """The engines comparison: per server the ratios against the targets, then every level."""
    top = max(ENGINE_CONCURRENCY)
    lines = ["Engines: the same lora model directory served by torch fp32 (`--engine torch`, the "
             "servers before issue 20) and by its ONNX int8 export (`--engine onnx`, the "
             f"default), each with the default flags plus `{' '.join(ENGINE_FLAGS)}`; "
             f"{result['duration_s']:g} s per level, "
             f"rounds alternating the engines; cold start = process start to "
             f"`/v2/models/<name>/ready`, median of {COLD_STARTS} alternating starts. Targets: "
             f"p50 at c=1 <= {TARGET_ENGINE_C1_P50}x torch, throughput at c={top} >= "
             f"{TARGET_ENGINE_RPS}x torch, cold start <= {TARGET_COLD_START_S:g} s.", "",
             f"| server | engine | p50 c=1 ms | req/s c={top} | server CPU ms per request c=1 "
             f"/ c={top} | cold start s | cold start CPU s | RSS loaded MB | RSS after load MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in result.get("engines", []):
        for name, m in e["engines"].items():
            cpu = m.get("server_cpu_ms") or {}
            lines.append(f"| {e['server']} | {name} | {m['p50_c1_ms']} | {m['rps_top']} | "
                         f"{cpu.get('1')} / {cpu.get(str(top))} | "
                         f"{m['cold_start_s']} ({', '.join(map(str, m['cold_starts_s']))}) | "
                         f"{m.get('cold_start_cpu_s')} | "
                         f"{m['rss_loaded_mb']} | {m['rss_after_load_mb']} |")
    lines += ["", f"| server | onnx / torch p50 c=1 (target <= {TARGET_ENGINE_C1_P50}) | "
              f"onnx / torch req/s c={top} (target >= {TARGET_ENGINE_RPS}) | onnx / torch server "
              f"CPU per request c=1, c={top} | onnx / torch cold start (CPU) | onnx / torch RSS |",
              "|---|---|---|---|---|---|"]
    for e in result.get("engines", []):
        r, ok = e["ratios"], e["targets_met"]
        lines.append(f"| {e['server']} | **{r['p50_c1']}x** {'(met)' if ok['p50_c1'] else '(missed)'}"
                     f" | **{r['rps_top']}x** {'(met)' if ok['rps_top'] else '(missed)'} | "
                     f"{r.get('server_cpu_c1')}x, {r.get(f'server_cpu_c{top}')}x | "
                     f"{r['cold_start']}x ({r.get('cold_start_cpu')}x) | {r['rss']}x |")
    lines += ["", "Where the time of a request goes (server side, means: preprocess/predict/"
              "postprocess per request, queue = wait for the batch's forward pass, forward = one "
              "forward pass, batch = texts per forward pass; the rest of the client's latency "
              "is HTTP, JSON and the event loop):", "",
              "| server | engine | c | round | client mean ms | preprocess | predict | queue | "
              "forward | batch | postprocess |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in result.get("engines", []):
        for lv in e["levels"]:
            st = lv["stages"]
            lines.append(f"| {e['server']} | {lv['engine']} | {lv['concurrency']} | {lv['round']} "
                         f"| {lv['mean_ms']} | {st['preprocess']} | {st['predict']} | "
                         f"{st['queue']} | {st['forward']} | {st['batch_size']} | "
                         f"{st['postprocess']} |")
    return "\n".join(lines) + "\n"


def commit() -> str:
    """The checked-out commit (with `-dirty` when the tree has changes), or "unknown"."""
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- reports
def markdown(result: dict[str, Any]) -> str:
    """The report: every measurement, the serving floor, and the two ratios against targets."""
    floor = result.get("floor") or []
    lines = [f"Run: {result['date']}, commit {result.get('commit', 'unknown')}, "
             f"{result['machine']['cpus']} CPU cores, no GPU, load average "
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
    top = max(result["concurrency"])
    lines += ["", f"Median req/s at c={top} over the rounds, against the default server "
              "(variants: other flags; v2: the same server driven with v2 requests):", "",
              "| model | variant | req/s | / default |", "|---|---|---:|---:|"]
    for m in result["models"]:
        rps = m["top_rps_median"]
        for name, value in rps.items():
            ratio = round(value / rps[DEFAULT], 2) if rps[DEFAULT] else None
            lines.append(f"| {m['model']} | {name} | {value} | {ratio} |")
    return "\n".join(lines) + "\n"


def update_doc(doc: Path, body: str, start: str, end: str, heading: str) -> None:
    """Replace the block between the `start` and `end` markers of a doc (append it under
    `heading` when absent). bench-serve itself writes JSON (`--json`) for docs/results.md."""
    block = f"{start}\n{body}{end}"
    text = doc.read_text() if doc.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
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
    parser.add_argument("--engines", default=",".join(ENGINE_SERVERS),
                        help="servers on which torch fp32 and ONNX int8 are compared, on the "
                             "lora model directory ('' to skip)")
    parser.add_argument("--guard_classifier_dir", default=os.environ.get("GUARD_CLASSIFIER_DIR")
                        or None, help="model directory of the guard's engine comparison "
                                      "(default: the lora model directory)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the result JSON here (benchmarks/results.py reads it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    engine_servers = [s.strip() for s in args.engines.split(",") if s.strip()]
    unknown = sorted(set(engine_servers) - set(ENGINE_SERVERS))
    if unknown:
        log.error("--engines: unknown servers %s, expected some of %s", unknown, ENGINE_SERVERS)
        return 2
    try:
        dirs = resolve_model_dirs(args.models_dir, {"lstm": args.lstm_model_dir,
                                                    "lora": args.lora_model_dir},
                                  Path(args.pipeline_root),
                                  sorted(set(models) | ({"lora"} if engine_servers else set())))
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
    result["engines"] = []
    try:
        for server in engine_servers:
            model_dir = Path(args.guard_classifier_dir) if (
                server == "guard" and args.guard_classifier_dir) else dirs["lora"]
            log.info("engines on the %s server: torch fp32 vs onnx int8 (%s)", server, model_dir)
            result["engines"].append(bench_engines(server, model_dir, prompts, args.duration,
                                                   args.rounds))
    except LaunchError as exc:
        log.error("%s", exc)
        return 2
    result["commit"] = commit()
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    report = markdown(result) + ("\n" + engines_markdown(result) if result["engines"] else "")
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"bench_serve-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / f"bench_serve-{stamp}.md").write_text(report)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + report)
    print(f"wrote bench_results/bench_serve-{stamp}.json and .md ({result['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
