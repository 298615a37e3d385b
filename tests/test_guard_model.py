"""The prompt guard's model side: calibration, thresholds, leave-one-source-out, unreadable text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.core import calibration as C
from components.core.text import TextSettings


# --------------------------------------------------------------------------- calibration
def test_temperature_scaling_recovers_an_overconfident_models_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 2.0
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in true_p])
    overconfident = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)  # T = 1/3
    t = C.fit_temperature(overconfident, y)
    assert t == pytest.approx(3.0, rel=0.1)
    fixed = C.apply_temperature(overconfident, t)
    assert np.allclose(fixed, true_p, atol=0.05)
    assert (fixed.argmax(1) == overconfident.argmax(1)).all()  # ranking unchanged


@pytest.mark.parametrize("target", [0.0, 0.05, 0.1, 0.25])
def test_threshold_flags_at_most_the_target_share_of_benign_scores(target):
    scores = np.random.default_rng(1).random(1000)
    t = C.threshold_for_false_flag_rate(scores, target)
    rate = (scores >= t).mean()
    assert rate <= target
    assert rate >= target - 0.002  # and not much fewer: the lowest such threshold


def test_guard_calibration_needs_a_safe_class_and_reports_validation_figures():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert C.guard_calibration(probs, [0, 0, 1, 1], ["a", "b"]) == {}
    cal = C.guard_calibration(probs, [0, 0, 1, 1], ["Safe", "Violent Crimes"], 0.0)
    assert cal["safe_label"] == "Safe" and cal["temperature"] > 0
    assert cal["val"] == {"unsafe_recall": 1.0, "false_flag_rate": 0.0, "unsafe": 2, "safe": 2}


def test_predictors_apply_the_saved_temperature_and_threshold(tiny_lora_dir):
    from components.core.predict import LoraPredictor

    pred = LoraPredictor.load(tiny_lora_dir)
    cal = pred.info["calibration"]
    assert pred.threshold == cal["threshold"] and pred.temperature == cal["temperature"]
    assert pred.info["scripts"] == ["LATIN"]  # recorded from the training texts
    texts = ["how to stab someone", "bake bread"]
    calibrated = pred.predict_proba(texts)
    pred.info = {**pred.info, "calibration": {}}
    raw = pred.predict_proba(texts)
    assert np.allclose(calibrated, C.apply_temperature(raw, cal["temperature"]), atol=1e-5)


def test_unreadable_uses_the_training_scripts():
    class P(C.GuardDecisions):
        info = {"scripts": ["LATIN"]}
        settings = TextSettings()

    p = P()
    reasons = p.unreadable(["How are you?", "Как дела?", "🙂", "如何"])
    assert reasons[0] is None
    assert all("script" in r for r in (reasons[1], reasons[3])) and "nothing left" in reasons[2]
    p.info = {"scripts": ["CYRILLIC", "LATIN"]}
    assert p.unreadable(["Как дела?"]) == [None]


# --------------------------------------------------------------------------- leave one out
def test_leave_one_source_out_holds_out_each_group(tmp_path, tiny_bert_dir):
    from components.training.loso import FILES, leave_one_source_out, loso_table

    rows = []
    for g, kind in [("a", "unsafe"), ("b", "unsafe"), ("c", "benign"), ("d", "benign")]:
        for i in range(30):
            text = (f"attack and hurt people number {i}" if kind == "unsafe"
                    else f"bake a nice cake for my friend {i}")
            rows.append({"text": text, "label_id": 1 if kind == "unsafe" else 0, "group": g,
                         "source": g})
    df = pd.DataFrame(rows)
    paths = []
    for i, part in enumerate([df.iloc[0::3], df.iloc[1::3], df.iloc[2::3]]):
        paths.append(tmp_path / f"{i}.parquet")
        part.to_parquet(paths[-1])
    (tmp_path / "label_map.json").write_text('{"labels": ["Safe", "Violent Crimes"]}')
    res = leave_one_source_out(paths, tmp_path / "label_map.json", tmp_path / "out",
                               base_model=str(tiny_bert_dir), max_length=16)
    assert set(res["groups"]) == {"a", "b", "c", "d"}
    assert res["groups"]["a"]["kind"] == "unsafe" and res["groups"]["a"]["false_flag_rate"] is None
    assert res["groups"]["c"]["kind"] == "benign" and res["groups"]["c"]["unsafe_recall"] is None
    assert res["groups"]["a"]["rows"] == 30
    # the words separate the classes: the held-out group is classified by what the others taught
    assert res["groups"]["a"]["unsafe_recall"] >= 0.9
    assert res["groups"]["c"]["false_flag_rate"] <= 0.1
    assert set(res["worst"]) == {"min_unsafe_recall", "max_false_flag_rate"}
    for name in FILES.values():
        assert (tmp_path / "out" / name).is_file()
    assert "| a | unsafe | 30 |" in loso_table(res)


def test_a_head_started_from_a_fit_on_all_rows_converges_to_the_same_head_sooner():
    """Leave-one-source-out starts each fit from the head fitted on every row: the same convex
    problem, so the same probabilities (to the solver's tolerance), in fewer iterations; a fit
    whose rows lack a class of the start head starts cold instead of failing."""
    from components.core.frozen_encoder import fit_head

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32)) * 2
    y = rng.integers(0, 4, 3000)
    x = centres[y] + rng.normal(size=(3000, 32)) * 2.5
    start = fit_head(x, y, seed=0)
    part = np.arange(3000) % 10 != 0  # a group left out
    cold, warm = fit_head(x[part], y[part], 0), fit_head(x[part], y[part], 0, init=start)
    assert warm.n_iter_[0] < cold.n_iter_[0]
    diff = np.abs(warm.predict_proba(x) - cold.predict_proba(x))
    assert diff.mean() < 1e-3 and np.quantile(diff, 0.99) < 1e-2  # the solver's tolerance
    assert np.mean(warm.predict(x) == cold.predict(x)) >= 0.998
    three = y != 3
    no_start = fit_head(x[three], y[three], 0, init=start)  # 3 classes: the start does not fit
    assert list(no_start.classes_) == [0, 1, 2]


def test_the_hazard_table_joins_test_and_held_out_shares_and_judges_only_enough_rows():
    """Issue 19's per-hazard target (>= 0.85 where a hazard has >= 30 prompts) on both sides:
    the share flagged per hazard category from evaluate's guard and held-out figures."""
    from components.evaluation.evaluate import (
        guard_metrics,
        hazard_rows,
        hazard_table,
        holdout_metrics,
    )

    labels = ["Hate", "Intellectual Property", "Safe"]
    test = pd.DataFrame({"label_id": [0] * 40 + [1] * 10 + [2] * 20, "source": "s"})
    proba = np.zeros((70, 3))
    proba[:, 2] = 1.0
    proba[:36, 2], proba[:36, 0] = 0.0, 1.0  # 36 of 40 Hate flagged (0.90)
    held = pd.DataFrame({"label": ["Intellectual Property"] * 50 + ["Safe"] * 10,
                         "group": "harmbench"})
    held_proba = np.zeros((60, 3))
    held_proba[:, 2] = 1.0  # nothing flagged
    summary = {"guard": {"lora": guard_metrics(proba, test, labels, 0.5, [None] * 70)},
               "holdout": {"models": {"lora": holdout_metrics(held_proba, held, labels, 0.5,
                                                              [None] * 60)}}}
    rows = {r["hazard"]: r for r in hazard_rows(summary)}
    verdict = ">= 0.85 (>= 30 rows)"
    assert rows["Hate"]["test flagged"] == "0.900" and rows["Hate"][verdict] == "test met"
    ip = rows["Intellectual Property"]
    assert (ip["test rows"], ip["held out rows"], ip["held out flagged"]) == (10, 50, "0.000")
    assert ip[verdict] == "held out missed"  # 10 test rows: too few to judge
    assert "| lora | Intellectual Property | 10 | 0.000 | 50 | 0.000 | held out missed |" in (
        hazard_table(summary))


# --------------------------------------------------------------------------- make serve
def test_make_serve_runs_the_guard_on_the_latest_prompt_guard_run(tmp_path):
    from serving import launch

    def model(run, finished=True):
        d = tmp_path / run / "lora-train" / "model"
        d.mkdir(parents=True)
        (d / "model_info.json").write_text("{}")
        if finished:
            (tmp_path / run / "evaluate").mkdir()
        return d

    seed_lora = model("toxic-filter-2026-01-01-00-00-00-000000")
    model("toxic-guard-2026-01-01-00-00-00-000000")
    newest = model("toxic-guard-2026-02-01-00-00-00-000000")
    model("toxic-guard-2026-03-01-00-00-00-000000", finished=False)  # still running
    assert launch.latest_guard_classifier(tmp_path) == newest
    specs, notes = launch.plan(["guard"], None, {}, tmp_path)
    assert specs[0].args == ("--classifier_dir", str(newest))
    assert notes == [launch.response_model_for_guard(tmp_path, None)[1]]  # no response model
    explicit, _ = launch.plan(["guard"], None, {}, tmp_path, guard_classifier_dir=str(seed_lora))
    assert explicit[0].args == ("--classifier_dir", str(seed_lora))
    # without a guard run: the quick guard (tests/test_quick_guard.py); the seed lora classifier
    # only when asked for, with a warning that says what to do
    for p in tmp_path.glob("toxic-guard-*"):
        import shutil

        shutil.rmtree(p)
    specs, notes = launch.plan(["guard"], None, {}, tmp_path, guard_fallback="seed-lora")
    assert specs[0].args == ("--classifier_dir", str(seed_lora))
    assert "make run-guard" in notes[0]
