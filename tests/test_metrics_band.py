"""Regression guard: a small fixed-seed training run of the seed pipeline's steps on the sample
data, its test metrics compared with the band recorded in tests/metrics_band.json.

The run is preprocess -> augment -> lstm-train || lora-train -> evaluate, the plain functions the
pipeline's components call, with the seed pipeline's defaults (`pipeline.TOXIC_DEFAULTS`) and
only the model SIZE made tiny (a 1-layer, 32-wide BERT built here from a fixed seed, few epochs,
a small LSTM). A change of a default or of a step's behaviour (the kind of change that moved the
full-data lora model from macro-F1 0.848 to 0.780 unnoticed: issue 21) moves these figures, and
this test fails in the commit that makes it. The run is deterministic on one machine (the same
figures to the last bit twice in a row) and runs torch on one thread on every machine (a sum's
order, hence its last bits, depends on the thread count); the band's width only absorbs float
differences between CPUs.

Updating the band is a deliberate act: when a change is MEANT to move the figures, run
    TOXIC_FILTER_RECORD_BAND=1 .venv/bin/python -m pytest tests/test_metrics_band.py
which rewrites tests/metrics_band.json around the new figures, and commit it with the change,
saying in the commit message why the figures moved (and `make results ONLY=seed` for the
full-data figures of docs/results.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline
from components.core.predict import TORCH_THREADS_ENV

ROOT = Path(__file__).resolve().parents[1]
BAND = ROOT / "tests" / "metrics_band.json"
RECORD_ENV = "TOXIC_FILTER_RECORD_BAND"
# Half-widths of the band around the recorded figures: metrics on the sample's ~45 test rows
# move in steps of ~0.02, so 0.011 tolerates no changed prediction; the test log-loss is
# continuous and catches a change that flips no prediction.
TOLERANCE = {"accuracy": 0.011, "macro_f1": 0.011, "log_loss": 0.002}
ENCODER_SEED = 1234
TORCH_THREADS = 1  # training's and the predictors' (components.core.predict reads $TORCH_NUM_THREADS)


pytestmark = pytest.mark.slow  # trains two models (about a minute on 2 cores)


def tiny_run(out: Path) -> dict[str, dict[str, float]]:
    """The seed pipeline's steps on the sample with its defaults, tiny models; test figures."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(TORCH_THREADS_ENV, str(TORCH_THREADS))
            return _tiny_run(out, pipeline.TOXIC_DEFAULTS)
    finally:
        torch.set_num_threads(threads)


def _tiny_run(out: Path, d: pipeline.PipelineDefaults) -> dict[str, dict[str, float]]:
    import torch
    from model_factories import build_tiny_encoder, vocabulary

    from components.data.augment import augment
    from components.data.preprocess import preprocess
    from components.evaluation.evaluate import evaluate
    from components.training.lora_train import train_lora
    from components.training.lstm_train import train_lstm

    pre = preprocess(str(ROOT / "data" / "sample_toxic_prompts.csv"), out / "pre",
                     **{k: v for k, v in dataclasses.asdict(d.preprocess).items()
                        if k not in ("keep_columns", "holdout_groups", "train_only_sources")})
    settings = json.loads(pre.path("label_map").read_text())["text_settings"]
    aug = augment(pre.path("train"), out / "aug", exclude_paths=[pre.path("val"), pre.path("test")],
                  text_settings=settings, **dataclasses.asdict(d.augment))
    torch.manual_seed(ENCODER_SEED)
    encoder = build_tiny_encoder(out / "encoder", "bert", vocabulary(
        pd.read_parquet(pre.path("train"))["text"].tolist()))
    splits = (aug.path("train"), pre.path("val"), pre.path("label_map"), pre.path("length_stats"))
    train_lstm(*splits, out / "lstm", dataclasses.replace(
        d.lstm, epochs=4, embedding_dim=8, lstm_units=4, dense_units=8, batch_size=32))
    train_lora(*splits, out / "lora", dataclasses.replace(d.lora, base_model=str(encoder),
                                                          epochs=3))
    summary = evaluate(pre.path("test"), pre.path("train"), pre.path("label_map"),
                       {"lstm": out / "lstm", "lora": out / "lora"}, out / "eval")
    return {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                   "log_loss": log_loss_on_test(out / name, pre.path("test"))}
            for name, m in summary["models"].items()}


def log_loss_on_test(model_dir: Path, test_path: Path) -> float:
    """Mean negative log-probability of the true class on the test split."""
    from components.core.predict import load_predictor

    test = pd.read_parquet(test_path)
    proba = load_predictor(model_dir).predict_proba(test["raw_text"].tolist()).astype(np.float64)
    p = proba[np.arange(len(test)), test["label_id"].to_numpy()]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("band"))


def test_the_tiny_run_is_bit_stable(figures, tmp_path):
    """The same run twice gives the same figures to the last bit: a band can be tight."""
    assert tiny_run(tmp_path) == figures


def test_sample_metrics_stay_in_the_recorded_band(figures):
    if os.environ.get(RECORD_ENV) == "1":
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        BAND.write_text(json.dumps({
            "about": "tests/test_metrics_band.py: figures of the tiny seed-pipeline run on the "
                     "sample; rewrite only on purpose (see that file's docstring)",
            "recorded_at_commit": commit, "torch_threads": TORCH_THREADS,
            "figures": {m: {k: round(v, 6) for k, v in f.items()} for m, f in figures.items()},
            "tolerance": TOLERANCE}, indent=1) + "\n")
    band = json.loads(BAND.read_text())
    out_of_band = [f"{model} {key}: {got:.6f}, recorded {band['figures'][model][key]:.6f} "
                   f"+- {band['tolerance'][key]}"
                   for model, got_figures in figures.items() for key, got in got_figures.items()
                   if abs(got - band["figures"][model][key]) > band["tolerance"][key]]
    assert not out_of_band, (
        "the tiny seed-pipeline run left its recorded band (tests/metrics_band.json):\n  "
        + "\n  ".join(out_of_band) + "\nIf the change is meant to move the figures, re-record "
        f"the band ({RECORD_ENV}=1) and say why in the commit.")
