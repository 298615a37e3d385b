"""The response guard's stand-in figures (docs/response-guard.md): ingest, split, embed, fit.

Not the served model: the frozen encoder's mean-pooled embeddings + the class-balanced
logistic-regression head of the leave-one-source-out stand-in (`components.core.frozen_encoder`),
fitted on the train split, temperature and threshold (5% false flags) chosen on the validation
replies (`components.core.calibration.guard_calibration`), then `components.evaluation.evaluate.response_metrics`
on the test split, the held-out groups together and each held-out group. Minutes instead of the
hours of `make run-response`, to compare versions of the response data on one machine:

    python scripts/response_standin.py --out local_outputs/response-standin
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from components.core.calibration import (
    TARGET_FALSE_FLAG_RATE,
    apply_temperature,
    guard_calibration,
    p_unsafe,
    safe_columns,
)
from components.core.files import read_json, write_json
from components.core.frozen_encoder import FrozenEncoder, fit_head
from components.core.text import texts_as_read
from components.data.preprocess import preprocess
from components.data.responses import MAX_PER_GROUP, RESPONSE_PREPROCESS, ingest_responses
from components.evaluation.evaluate import response_metrics
from components.training.encoders import OFFLINE_MULTILINGUAL

log = logging.getLogger("response_standin")

SPLITS = ("train", "val", "test", "holdout")
MAX_LENGTH = 256  # the response model's (pipeline.RESPONSE_MAX_LENGTH)
BATCH_SIZE = 32


def standin(out: Path, sources_dir: str, base_model: str = OFFLINE_MULTILINGUAL, seed: int = 42,
            max_per_group: int = MAX_PER_GROUP, verify: bool = True) -> dict:
    """Ingest (unless `out/ingest` exists), split, embed, fit and score.

    Args:
        out: directory for ingest/, splits/, standin.json (the figures, with the settings
            that made them) and scores.parquet (each test and held-out row with its P(unsafe)
            and verdict). An existing `out/ingest` is reused: remove `out` for a fresh ingest.
        sources_dir: the wheel cache of `make sources`.
        base_model: the frozen encoder (as the response pipeline's).
        seed: ingest, split and head seed.
        max_per_group: ingest's cap per group.
        verify: check each wheel's sha256.

    Returns:
        The figures written to standin.json.
    """
    if not (out / "ingest").is_dir():
        ingest_responses(sources_dir, out / "ingest", seed=seed, max_per_group=max_per_group,
                         verify=verify)
    pre = preprocess(str(out / "ingest" / "responses.parquet"), out / "splits",
                     **{**dataclasses.asdict(RESPONSE_PREPROCESS), "seed": seed})
    label_map = read_json(pre.path("label_map"))
    labels = label_map["labels"]
    sp = {n: pd.read_parquet(pre.path(n)) for n in SPLITS}
    log.info("rows %s", {n: len(d) for n, d in sp.items()})
    enc = FrozenEncoder.load(base_model, MAX_LENGTH, BATCH_SIZE)
    start = time.process_time()
    x = {n: enc.embed(texts_as_read(d, label_map.get("text_settings", {}), enc.tokenizer))
         for n, d in sp.items()}
    cpu_seconds = time.process_time() - start
    clf = fit_head(x["train"], sp["train"]["label_id"].to_numpy(), seed)

    def proba(split: str) -> np.ndarray:
        p = np.zeros((len(x[split]), len(labels)))
        p[:, clf.classes_] = clf.predict_proba(x[split])
        return p

    cal = guard_calibration(proba("val"), sp["val"]["label_id"].to_numpy(), labels,
                            TARGET_FALSE_FLAG_RATE)
    res: dict = {"threshold": cal["threshold"], "temperature": cal["temperature"],
                 "rows": {n: len(d) for n, d in sp.items()},
                 "embed_cpu_seconds": round(cpu_seconds, 1),
                 "settings": {"base_model": base_model, "max_length": MAX_LENGTH, "seed": seed,
                              "max_per_group": max_per_group,
                              "target_false_flag_rate": TARGET_FALSE_FLAG_RATE}}
    scored = []
    for n in ("test", "holdout"):
        p = apply_temperature(proba(n), cal["temperature"])
        res[n] = response_metrics(p, sp[n], labels, cal["threshold"])
        score = p_unsafe(p, safe_columns(labels))
        scored.append(sp[n].drop(columns=[c for c in ("input_ids",) if c in sp[n]])
                      .assign(split=n, p_unsafe=score, flagged=score >= cal["threshold"]))
        if n == "holdout":
            for g, d in sp[n].groupby("group"):
                idx = d.index.to_numpy()
                res[f"holdout/{g}"] = response_metrics(p[idx], d, labels, cal["threshold"])
    write_json(out / "standin.json", res)
    pd.concat(scored, ignore_index=True).to_parquet(out / "scores.parquet", index=False)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("local_outputs/response-standin"))
    parser.add_argument("--sources-dir", default=".sources")
    parser.add_argument("--base-model", default=OFFLINE_MULTILINGUAL)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-per-group", type=int, default=MAX_PER_GROUP)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    res = standin(args.out, args.sources_dir, args.base_model, args.seed, args.max_per_group)
    log.info("%s", json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
