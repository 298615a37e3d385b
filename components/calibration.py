"""Calibrated guard decisions: temperature scaling, a threshold for a target false-flag rate,
and the readability check that keeps unreadable prompts from passing as safe.

A classifier whose classes include `Safe` is a guard: P(unsafe) = 1 - P(Safe). Its
probabilities are temperature-scaled on validation (Guo et al., 2017) so that they mean what they
say, and the threshold on P(unsafe) is the one that flags at most `target_false_flag_rate` of the
benign validation prompts. Both are saved in model_info.json (`calibration`) and applied by the
predictors, the evaluation and the guard server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from components.text import DEFAULT_SCRIPTS, TextSettings, clean_text, unreadable_reason

SAFE_LABEL = "safe"  # compared case-insensitively
TARGET_FALSE_FLAG_RATE = 0.05
TEMPERATURE_BOUNDS = (0.05, 20.0)


def safe_index(labels: Sequence[str]) -> int | None:
    """Index of the one `Safe` class (case-insensitive), or None when the labels have none."""
    hits = [i for i, label in enumerate(labels) if str(label).strip().lower() == SAFE_LABEL]
    return hits[0] if len(hits) == 1 else None


def log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same ranking per row, sharper (T < 1) or softer (T > 1)."""
    if temperature == 1.0 or len(probs) == 0:
        return np.asarray(probs, dtype=np.float32)
    z = log_probs(probs) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(probs: np.ndarray, y: Sequence[int]) -> float:
    """The temperature minimising the negative log-likelihood of the true classes."""
    from scipy.optimize import minimize_scalar

    z = log_probs(probs)
    y = np.asarray(y, dtype=np.int64)

    def nll(log_t: float) -> float:
        s = z / math.exp(log_t)
        s -= s.max(axis=1, keepdims=True)
        lse = np.log(np.exp(s).sum(axis=1))
        return float(np.mean(lse - s[np.arange(len(y)), y]))

    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return round(float(math.exp(res.x)), 4)


def threshold_for_false_flag_rate(benign_scores: Sequence[float], target: float) -> float:
    """A threshold t with P(unsafe) >= t on at most `target` of the benign scores: halfway
    between the last benign score it may flag and the first it must not."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target false-flag rate must be in [0, 1), got {target}")
    scores = np.sort(np.asarray(benign_scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        return 0.5
    k = math.floor(target * len(scores))  # this many benign prompts may be flagged
    if k >= len(scores):
        return float(scores[-1])
    # Halfway between the (k+1)-th highest benign score and the next higher one (a margin that
    # survives float32 scores and JSON round-trips), or just above the highest.
    above = scores[k - 1] if k > 0 else min(1.0, scores[0] + 1e-4)
    return float(scores[k] + (above - scores[k]) / 2) if above > scores[k] else float(above)


def binary_metrics(p_unsafe: np.ndarray, is_unsafe: np.ndarray, threshold: float) -> dict[str, Any]:
    """Unsafe recall and false-flag rate at `threshold` (None where a side has no rows)."""
    flagged = np.asarray(p_unsafe, dtype=np.float64) >= threshold
    is_unsafe = np.asarray(is_unsafe, dtype=bool)
    n_unsafe, n_safe = int(is_unsafe.sum()), int((~is_unsafe).sum())
    return {"unsafe_recall": float(flagged[is_unsafe].mean()) if n_unsafe else None,
            "false_flag_rate": float(flagged[~is_unsafe].mean()) if n_safe else None,
            "unsafe": n_unsafe, "safe": n_safe}


def guard_calibration(probs: np.ndarray, y: Sequence[int], labels: Sequence[str],
                      target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE) -> dict[str, Any]:
    """Temperature and threshold from validation probabilities; {} when there is no Safe class.

    Args:
        probs: uncalibrated validation probabilities [N, C].
        y: true class ids.
        labels: class names.
        target_false_flag_rate: share of benign validation prompts the threshold may flag.
    """
    safe = safe_index(labels)
    if safe is None:
        return {}
    temperature = fit_temperature(probs, y)
    calibrated = apply_temperature(probs, temperature)
    p_unsafe = 1.0 - calibrated[:, safe].astype(np.float64)
    is_unsafe = np.asarray(y) != safe
    threshold = threshold_for_false_flag_rate(p_unsafe[~is_unsafe], target_false_flag_rate)
    return {"safe_label": labels[safe], "temperature": temperature,
            "threshold": threshold, "target_false_flag_rate": target_false_flag_rate,
            "val": binary_metrics(p_unsafe, is_unsafe, threshold)}


class GuardDecisions:
    """Mixin for predictors: calibrated probabilities, P(unsafe), the threshold, readability.

    Needs `self.info` (model_info) and `self.settings` (TextSettings).
    """

    info: dict[str, Any]
    settings: TextSettings

    @property
    def calibration(self) -> dict[str, Any]:
        return self.info.get("calibration") or {}

    @property
    def temperature(self) -> float:
        return float(self.calibration.get("temperature", 1.0))

    @property
    def threshold(self) -> float | None:
        t = self.calibration.get("threshold")
        return None if t is None else float(t)

    @property
    def scripts(self) -> tuple[str, ...]:
        return tuple(self.info.get("scripts") or DEFAULT_SCRIPTS)

    def unreadable(self, texts: Sequence[str]) -> list[str | None]:
        """Per raw text: why this model cannot read it, or None (see text.unreadable_reason)."""
        return [unreadable_reason(clean_text(t, self.settings), self.scripts) for t in texts]
