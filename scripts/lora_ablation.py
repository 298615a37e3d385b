"""lora-train alone on fixed splits, one parameter change at a time: the bisect of issue 21.

    .venv/bin/python scripts/lora_ablation.py prepare --data ../shared/data/toxic_data.csv --out DIR
    .venv/bin/python scripts/lora_ablation.py train --splits DIR --name NAME [--set FIELD=VALUE ...]
                                                    [--pipeline toxic|guard] [--results JSONL]

`prepare` runs preprocess and augment once with the seed pipeline's defaults (the splits every
measurement shares). `train` runs `components.training.lora_train.train_lora` on them with the pipeline's
LoraParams (`TOXIC_DEFAULTS.lora`, base model `offline`) and the `--set` overrides, then scores
the untouched test split as evaluate does (`load_predictor(...).predict_proba(raw_text)`,
argmax, `classification_metrics`) and appends one JSON line: name, overrides, accuracy,
macro-F1, weighted-F1, per-class recall, the same on validation (`val`), best epoch, seconds.
`rescore` recomputes the metrics of every row from its saved model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("lora_ablation")


def prepare(data: str, out: Path) -> None:
    """preprocess + augment with the seed pipeline's defaults into `out`/{pre,aug}."""
    from components.data.augment import augment
    from components.data.preprocess import preprocess

    pre = preprocess(data, out / "pre")
    settings = json.loads(pre.path("label_map").read_text())["text_settings"]
    augment(pre.path("train"), out / "aug", exclude_paths=[pre.path("val"), pre.path("test")],
            text_settings=settings)


def _value(field: dataclasses.Field, text: str) -> Any:
    kind = type(field.default)
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{field.name} takes true or false, got {text!r}")
        return text.lower() == "true"
    return kind(text)


def lora_params(pipeline: str, overrides: dict[str, str]):
    """The pipeline's LoraParams as `pipeline.py run` uses them (offline base) + overrides."""
    import pipeline as pl
    from components.training.lora_train import OFFLINE_BASE_MODEL, LoraParams

    defaults = (pl.TOXIC_DEFAULTS if pipeline == "toxic" else pl.GUARD_DEFAULTS).lora
    fields = {f.name: f for f in dataclasses.fields(LoraParams)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SystemExit(f"error: not LoraParams fields: {unknown} (fields: {sorted(fields)})")
    values = {k: _value(fields[k], v) for k, v in overrides.items()}
    return dataclasses.replace(defaults, base_model=OFFLINE_BASE_MODEL, **values)


def scores(model_dir: Path, pre: Path) -> dict[str, Any]:
    """Test metrics as evaluate computes them (raw text through the saved model's own
    preprocessing, argmax), the mean log-loss of the true class, and the same on validation
    (`val`: the split defaults are chosen on)."""
    import numpy as np
    import pandas as pd

    from components.core.predict import load_predictor
    from components.evaluation.evaluate import classification_metrics

    predictor = load_predictor(model_dir)
    out: dict[str, Any] = {}
    for split in ("test", "val"):
        df = pd.read_parquet(pre / f"{split}.parquet")
        proba = predictor.predict_proba(df["raw_text"].tolist())
        m = classification_metrics(df["label_id"].to_numpy(), proba.argmax(axis=1),
                                   predictor.labels)
        p_true = proba[np.arange(len(df)), df["label_id"].to_numpy()].astype(np.float64)
        fig = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
               "weighted_f1": round(m["weighted_f1"], 4),
               "log_loss": round(float(-np.log(np.clip(p_true, 1e-12, 1.0)).mean()), 4),
               "recall": {c: round(v["recall"], 4) for c, v in m["per_class"].items()},
               "support": {c: v["support"] for c, v in m["per_class"].items()}}
        if split == "test":
            out.update(fig)
        else:
            out["val"] = fig
    return out


def rescore(splits: Path, results: Path) -> None:
    """Recompute the metrics of every row of `results` from its saved model (same order)."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    rows = [{**row, **scores(splits / "models" / row["name"], splits / "pre")} for row in rows]
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))


def train(splits: Path, name: str, pipeline: str, overrides: dict[str, str],
          results: Path) -> dict[str, Any]:
    """Train on the prepared splits, score the test split, append the result to `results`."""
    import torch

    from components.training.lora_train import train_lora

    params = lora_params(pipeline, overrides)
    model_dir = splits / "models" / name
    if model_dir.exists():
        raise SystemExit(f"error: {model_dir} exists: pick another --name or remove it")
    pre = splits / "pre"
    threads = torch.get_num_threads()  # training's (loading a predictor resets it)
    start = time.perf_counter()
    info = train_lora(splits / "aug" / "train.parquet", pre / "val.parquet",
                      pre / "label_map.json", pre / "length_stats.json", model_dir, params)
    seconds = time.perf_counter() - start
    row = {"name": name, "pipeline": pipeline, "overrides": overrides,
           **scores(model_dir, pre), "best_epoch": info["best_epoch"],
           "val_macro_f1": round(info["val_macro_f1"], 4), "seconds": round(seconds, 1),
           "modules_to_save": info["modules_to_save"], "torch_threads": threads}
    with results.open("a") as f:
        f.write(json.dumps(row) + "\n")
    log.info("%s: test accuracy %.4f macro-F1 %.4f (val macro-F1 %.4f, best epoch %d, %.0f s)",
             name, row["accuracy"], row["macro_f1"], row["val_macro_f1"], row["best_epoch"], seconds)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="preprocess + augment once")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, type=Path)
    t = sub.add_parser("train", help="lora-train on prepared splits + test metrics")
    t.add_argument("--splits", required=True, type=Path)
    t.add_argument("--name", required=True)
    t.add_argument("--pipeline", choices=("toxic", "guard"), default="toxic")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    t.add_argument("--results", type=Path, default=None, help="JSONL (default: SPLITS/results.jsonl)")
    r = sub.add_parser("rescore", help="recompute the metrics of every row from its model")
    r.add_argument("--splits", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "prepare":
        prepare(args.data, args.out)
        return 0
    if args.command == "rescore":
        rescore(args.splits, args.splits / "results.jsonl")
        return 0
    overrides = dict(kv.split("=", 1) for kv in args.set)
    train(args.splits, args.name, args.pipeline, overrides,
          args.results or args.splits / "results.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
