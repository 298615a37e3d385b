"""The guard's figures through its HTTP endpoint: the test split of a `make run-guard` run sent to
`python -m serving.guard` (offline backend on that run's model), v1, in batches.

    python -m benchmarks.guard_eval [--run_dir local_outputs/toxic-guard-<timestamp>] [--url URL]

Prints unsafe recall and false-flag rate overall and per test source at the model's saved
threshold, next to the evaluate step's in-process figures for the same rows (they must agree:
the server runs the same predictor, threshold and readability check), and writes them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from components.core.calibration import binary_metrics
from serving.launch import PIPELINE_ROOT, Servers, ServerSpec, latest_guard_classifier

log = logging.getLogger("benchmarks.guard_eval")
BATCH = 32
TIMEOUT_S = 120.0


@contextlib.contextmanager
def guard_server(model_dir: Path, url: str | None) -> Iterator[str]:
    """The URL of a guard on `model_dir`: `url` as given, or a server started here."""
    if url:
        yield url.rstrip("/")
        return
    from benchmarks.live_servers import free_port

    spec = ServerSpec("guard", "serving.guard", free_port(), ("--classifier_dir", str(model_dir)))
    servers = Servers([spec])
    servers.start()
    try:
        yield spec.url()
    finally:
        servers.stop()


def assess(url: str, texts: list[str]) -> list[dict]:
    """v1 predictions of the guard for every text, BATCH at a time."""
    out = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for i in range(0, len(texts), BATCH):
            r = client.post(f"{url}/v1/models/guard:predict",
                            json={"instances": texts[i:i + BATCH]})
            r.raise_for_status()
            out.extend(r.json()["predictions"])
    return out


def figures(test: pd.DataFrame, preds: list[dict]) -> dict:
    """Unsafe recall / false-flag rate overall and per source from the guard's answers. A
    `safe: null` answer (cannot assess) counts as not flagged, as in evaluate."""
    flagged = np.array([p["safe"] is False for p in preds], dtype=float)
    is_unsafe = (test["label"].str.lower() != "safe").to_numpy()
    out = {**binary_metrics(flagged, is_unsafe, 0.5),
           "abstained": int(sum(p["safe"] is None for p in preds)), "per_source": {}}
    for src in sorted(test["source"].unique()):
        m = (test["source"] == src).to_numpy()
        out["per_source"][src] = binary_metrics(flagged[m], is_unsafe[m], 0.5)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.guard_eval",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--run_dir", default=None, help="a toxic-guard run (default: the latest)")
    parser.add_argument("--url", default=None, help="a running guard (default: start one)")
    parser.add_argument("--out", default=None, help="JSON output (default: <run>/guard_http.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.run_dir:
        run = Path(args.run_dir)
    else:
        model = latest_guard_classifier(PIPELINE_ROOT)
        if model is None:
            print("error: no finished `make run-guard` run under local_outputs/", file=sys.stderr)
            return 2
        run = model.parents[1]
    test = pd.read_parquet(run / "preprocess-prompts" / "test_data")
    with guard_server(run / "lora-train" / "model", args.url) as url:
        start = time.perf_counter()
        preds = assess(url, test["raw_text"].tolist())
        seconds = time.perf_counter() - start
    res = {"run": str(run), "rows": len(test), "seconds": round(seconds, 1),
           "http": figures(test, preds)}
    summary = run / "evaluate" / "summary"
    if summary.is_file():
        res["in_process"] = json.loads(summary.read_text()).get("guard", {}).get("lora")
    out = Path(args.out) if args.out else run / "guard_http.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    h, ip = res["http"], res.get("in_process") or {}
    print("| test source | rows | unsafe recall (HTTP) | false-flag rate (HTTP) | "
          "unsafe recall (evaluate) | false-flag rate (evaluate) |\n|---|---:|---:|---:|---:|---:|")
    rows = [("(all)", h, ip)] + [(s, m, ip.get("per_source", {}).get(s, {}))
                                 for s, m in h["per_source"].items()]
    for name, m, e in rows:
        print(f"| {name} | {m['unsafe'] + m['safe']} | {_f(m['unsafe_recall'])} | "
              f"{_f(m['false_flag_rate'])} | {_f(e.get('unsafe_recall'))} | "
              f"{_f(e.get('false_flag_rate'))} |")
    print(f"\n{len(test)} prompts through {url} in {seconds:.1f} s; {h['abstained']} answered "
          f"'cannot assess'; written to {out}")
    return 0


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
