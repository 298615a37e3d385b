"""`make soak`: sustained mixed load on the lstm, lora and guard servers; errors, latency, memory.

    python -m benchmarks.soak --minutes 1                   # own servers on tiny models (CI)
    python -m benchmarks.soak --minutes 10 --target live    # the servers of a running `make serve`

Closed-loop aiohttp clients (default 32) cycle through the models and protocols (lstm, lora,
guard x v1 JSON, v2 JSON), one prompt per request, prompts from the real dataset when
../shared/data holds it, else the sample. Reports per model and overall: requests, errors (any
answer but 200, or no answer), p50/p99 latency, requests/s, and each server's resident memory at
the start, the largest seen and at the end. Exit status 1 on any error or if a server is no longer
ready (or was replaced by another process) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import live_servers
from benchmarks.live_servers import Target

log = logging.getLogger("benchmarks.soak")

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
SAMPLE = ROOT / "data" / "sample_toxic_prompts.csv"
CONCURRENCY = 32
MINUTES = 1.0
RSS_EVERY_S = 5.0  # RSS samples (all of them in --json), for the trend
PROTOCOLS = ("v1", "v2")


def load_prompts(n: int = 512) -> tuple[list[str], str]:
    """Distinct prompts (query. image description) of the real dataset, else of the sample."""
    from benchmarks.bench_serve import load_prompts as dataset_prompts

    path = REAL_DATA if REAL_DATA.is_file() else SAMPLE
    return dataset_prompts(path, n), str(path)


def request_for(target: Target, protocol: str, text: str) -> tuple[str, dict[str, Any]]:
    """URL and JSON body of one request."""
    if protocol == "v1":
        return f"{target.url}/v1/models/{target.name}:predict", {"instances": [text]}
    tensor = "user" if target.name == "guard" else "text"
    return (f"{target.url}/v2/models/{target.name}/infer",
            {"inputs": [{"name": tensor, "shape": [1], "datatype": "BYTES", "data": [text]}]})


async def soak(targets: Sequence[Target], prompts: Sequence[str], seconds: float,
               concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Drive the servers for `seconds`; latencies and errors per model, RSS samples per server."""
    import aiohttp

    mix = [(t, p) for t in targets for p in PROTOCOLS]
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter = collections.Counter()
    error_kinds: collections.Counter = collections.Counter()
    rss = {t.name: [live_servers.rss_mb(t.pid)] for t in targets}
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def worker(session: aiohttp.ClientSession, k: int) -> None:
        i = k
        while loop.time() < stop_at:
            target, protocol = mix[i % len(mix)]
            url, body = request_for(target, protocol, prompts[(i * 7919) % len(prompts)])
            i += 1
            t0 = loop.time()
            try:
                async with session.post(url, json=body) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, kind = 0, type(exc).__name__
            else:
                kind = str(status)
            if status == 200:
                latencies[target.name].append(loop.time() - t0)
            else:
                errors[target.name] += 1
                error_kinds[f"{target.name} {protocol}: {kind}"] += 1

    async def sample_rss() -> None:
        while loop.time() < stop_at:
            await asyncio.sleep(min(RSS_EVERY_S, max(0.0, stop_at - loop.time())))
            for t in targets:
                rss[t.name].append(live_servers.rss_mb(t.pid))

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(sample_rss(), *(worker(session, k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    for t in targets:
        rss[t.name].append(live_servers.rss_mb(t.pid))
    return {"seconds": round(elapsed, 1), "concurrency": concurrency,
            "models": {t.name: summary(latencies[t.name], errors[t.name], elapsed, rss[t.name])
                       for t in targets},
            "all": summary([x for t in targets for x in latencies[t.name]],
                           sum(errors.values()), elapsed, []),
            "error_kinds": dict(error_kinds)}


def summary(latencies: Sequence[float], errors: int, seconds: float,
            rss: Sequence[float | None]) -> dict[str, Any]:
    ms = np.array(latencies) * 1000
    known = [r for r in rss if r is not None]
    out: dict[str, Any] = {
        "requests": len(ms) + errors, "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
        "rps": round(len(ms) / seconds, 1) if seconds else None}
    if rss:
        out.update(rss_start_mb=rss[0], rss_max_mb=max(known) if known else None,
                   rss_end_mb=rss[-1], rss_samples_mb=list(rss))
    return out


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    lines = ["| model | requests | errors | p50 ms | p99 ms | req/s | RSS start MB | RSS max MB "
             "| RSS end MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [*result["models"].items(), ("all", result["all"])]
    for name, m in rows:
        lines.append(f"| {name} | {m['requests']} | {m['errors']} | {m['p50_ms']} | "
                     f"{m['p99_ms']} | {m['rps']} | {m.get('rss_start_mb', '')} | "
                     f"{m.get('rss_max_mb', '')} | {m.get('rss_end_mb', '')} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak",
                                     description=__doc__.split("\n")[0])
    live_servers.add_target_args(parser)
    parser.add_argument("--minutes", type=float, default=MINUTES, help="how long to load")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="closed-loop clients")
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    prompts, source = load_prompts()
    with live_servers.targets(args.target, live_servers.parse_urls(args.url)) as targets:
        log.info("soak: %.1f min at concurrency %d on %s, %d prompts from %s", args.minutes,
                 args.concurrency, ", ".join(f"{t.name} {t.url}" for t in targets),
                 len(prompts), source)
        result = asyncio.run(soak(targets, prompts, args.minutes * 60, args.concurrency))
        from benchmarks.fuzz import alive

        result["alive"] = {t.name: alive(t, t.pid) for t in targets}
    result.update(target=args.target, prompts=source,
                  date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    print(table(result))
    if result["error_kinds"]:
        print("errors: " + ", ".join(f"{k} x{n}" for k, n in result["error_kinds"].items()))
    total = result["all"]
    dead = [name for name, ok in result["alive"].items() if not ok]
    print(f"soak: {result['seconds']:.0f} s at concurrency {args.concurrency}: "
          f"{total['requests']} requests, {total['errors']} errors, p50 {total['p50_ms']} ms, "
          f"p99 {total['p99_ms']} ms; servers alive: "
          f"{', '.join(n for n, ok in result['alive'].items() if ok) or 'none'}"
          + (f"; DEAD: {', '.join(dead)}" if dead else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if total["errors"] or dead else 0


if __name__ == "__main__":
    sys.exit(main())
