"""Plots (PNG) and self-contained HTML reports shared by the pipeline steps."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: containers and CI have no display
import matplotlib.pyplot as plt
import numpy as np


def _save(fig, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_counts(series: Mapping[str, Mapping[str, int]], title: str, path: str | os.PathLike[str]) -> Path:
    """Grouped horizontal bars: one group per class, one bar per named series (e.g. before/after)."""
    classes = sorted({c for counts in series.values() for c in counts},
                     key=lambda c: -max(s.get(c, 0) for s in series.values()))
    n = len(series)
    height = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(classes) + 1.5))
    y = np.arange(len(classes))
    for i, (name, counts) in enumerate(series.items()):
        vals = [counts.get(c, 0) for c in classes]
        bars = ax.barh(y + i * height, vals, height=height, label=name)
        ax.bar_label(bars, fontsize=7, padding=2)
    ax.set_yticks(y + height * (n - 1) / 2, classes)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title(title)
    if n > 1:
        ax.legend()
    return _save(fig, path)


def histogram(values: Mapping[str, Sequence[float]], title: str, xlabel: str,
              path: str | os.PathLike[str], marks: Mapping[str, float] | None = None) -> Path:
    """Overlaid histograms with optional vertical marker lines (e.g. percentiles)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, vals in values.items():
        ax.hist(vals, bins=40, alpha=0.6, label=name)
    for name, x in (marks or {}).items():
        ax.axvline(x, linestyle="--", color="k", linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {name}={x:g}", fontsize=8, va="top")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str,
                     path: str | os.PathLike[str]) -> Path:
    """Confusion matrix heat map with counts, rows = true class, columns = predicted."""
    m = np.asarray(matrix)
    size = max(4.5, 0.7 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row-normalised")
    return _save(fig, path)


def curves(history: Mapping[str, Sequence[float]], title: str, path: str | os.PathLike[str]) -> Path:
    """Training curves: one panel per metric family (loss, accuracy/F1), train vs validation."""
    families: dict[str, list[str]] = {}
    for key in history:
        base = key.removeprefix("val_").removeprefix("eval_").removeprefix("train_")
        families.setdefault(base, []).append(key)
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False)
    for ax, (base, keys) in zip(axes[0], families.items(), strict=True):
        for key in keys:
            ys = history[key]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def img_tag(path: str | os.PathLike[str], alt: str = "") -> str:
    """An <img> with the PNG embedded, so the HTML report is one self-contained file."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """A small HTML table from dict rows (floats shown with 4 decimals)."""
    if not rows:
        return "<p><em>(none)</em></p>"
    columns = list(columns or rows[0].keys())

    def fmt(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained HTML page from (heading, html-body) sections."""
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}")
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{b}\n" for h, b in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n")


def metric_bars(values: Mapping[str, Mapping[str, float]], title: str,
                path: str | os.PathLike[str]) -> Path:
    """Grouped vertical bars: one group per metric, one bar per model."""
    metrics = list(next(iter(values.values())))
    x = np.arange(len(metrics))
    width = 0.8 / max(len(values), 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (model, vals) in enumerate(values.items()):
        bars = ax.bar(x + i * width, [vals[m] for m in metrics], width=width, label=model)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(x + width * (len(values) - 1) / 2, metrics)
    ax.set_ylim(0, 1.08)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def training_report(title: str, info: Mapping[str, object], curves_png: str | os.PathLike[str]) -> str:
    """HTML page for a trained model: its curves and the scalar entries of model_info."""
    rows = [{"": k, "value": v} for k, v in info.items()
            if isinstance(v, (str, int, float, bool)) and k != "format_version"]
    params = info.get("params") or {}
    return html_page(title, [
        ("Training curves", img_tag(curves_png, "training curves")),
        ("Model", table(rows)),
        ("Hyper-parameters", table([{"param": k, "value": v} for k, v in params.items()])),
    ])


def grouped_bars(values: Mapping[str, Mapping[str, float]], title: str,
                 path: str | os.PathLike[str], ylabel: str = "") -> Path:
    """Vertical bars of shares in [0, 1] for many groups: one group per key of the inner
    mappings (e.g. languages), one bar per series (e.g. recall, false-flag rate); the figure
    widens with the groups."""
    groups = list(next(iter(values.values())))
    x = np.arange(len(groups))
    width = 0.8 / max(len(values), 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.3 * len(groups) * len(values) + 2), 4.2))
    for i, (series, vals) in enumerate(values.items()):
        bars = ax.bar(x + i * width, [vals[g] for g in groups], width=width, label=series)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1, rotation=90)
    ax.set_xticks(x + width * (len(values) - 1) / 2, groups, rotation=30, ha="right")
    ax.set_ylim(0, 1.3)  # room for the legend above the bars
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", ncols=min(len(values), 4))
    return _save(fig, path)
