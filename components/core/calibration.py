"""Calibrated guard decisions: temperature scaling, a threshold for a target false-flag rate,
and the readability check that keeps unreadable prompts from passing as safe.

A classifier whose classes include `Safe` is a guard. The classes that count as safe are `Safe`
and, for a model of assistant replies, `Refusal` (a reply that declines is safe): P(unsafe) =
1 - P(the safe classes), written once here (`safe_columns`, `p_unsafe`) and used wherever a
guard decides. A prompt model has no Refusal class: P(unsafe) = 1 - P(Safe). Its
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

from components.core.text import DEFAULT_SCRIPTS, TextSettings, clean_text, unreadable_reason

SAFE_LABEL = "safe"  # compared case-insensitively
REFUSAL_LABEL = "refusal"  # a response model's class for a reply that declines: counts as safe
SAFE_LABELS = (SAFE_LABEL, REFUSAL_LABEL)  # the classes that count as safe
TARGET_FALSE_FLAG_RATE = 0.05
TEMPERATURE_BOUNDS = (0.05, 20.0)


def safe_index(labels: Sequence[str]) -> int | None:
    """Index of the one `Safe` class (case-insensitive), or None when the labels have none."""
    hits = [i for i, label in enumerate(labels) if str(label).strip().lower() == SAFE_LABEL]
    return hits[0] if len(hits) == 1 else None


def safe_columns(labels: Sequence[str]) -> list[int]:
    """Indices of the classes that count as safe (`SAFE_LABELS`): [Safe] for a prompt model,
    [Safe, Refusal] (in label order) for a response model; [] when there is no one Safe class
    (not a guard)."""
    if safe_index(labels) is None:
        return []
    return [i for i, label in enumerate(labels) if str(label).strip().lower() in SAFE_LABELS]


def refusal_index(labels: Sequence[str]) -> int | None:
    """Index of the one `Refusal` class (case-insensitive), or None."""
    hits = [i for i, label in enumerate(labels) if str(label).strip().lower() == REFUSAL_LABEL]
    return hits[0] if len(hits) == 1 else None


def p_unsafe(probs: np.ndarray, safe: Sequence[int]) -> np.ndarray:
    """P(unsafe) per row: 1 - the probability of the safe classes (`safe_columns`).

    Args:
        probs: class probabilities [N, C] (or one row [C]).
        safe: the safe columns.
    """
    probs = np.asarray(probs)
    if len(safe) == 1:  # a prompt model: exactly 1 - P(Safe), as computed before Refusal existed
        return 1.0 - probs[..., safe[0]].astype(np.float64)
    return 1.0 - probs[..., list(safe)].astype(np.float64).sum(axis=-1)


def is_safe_label(label_ids: np.ndarray, safe: Sequence[int]) -> np.ndarray:
    """Whether each class id is one of the safe classes."""
    return np.isin(np.asarray(label_ids), list(safe))


def refusal_decisions(probs: np.ndarray, labels: Sequence[str], threshold: float,
                      scores: np.ndarray | None = None) -> np.ndarray | None:
    """Per row, whether a response model reads the reply as a refusal: judged safe (P(unsafe)
    below `threshold`) and P(Refusal) > P(Safe). A reply judged unsafe did not refuse, whatever
    it opens with. None for a model without a Refusal class (a prompt model).

    Args:
        scores: P(unsafe) per row when the policy computes it otherwise (the guard's excluded
            categories); default `p_unsafe` over the safe columns.
    """
    refusal, safe = refusal_index(labels), safe_index(labels)
    if refusal is None or safe is None:
        return None
    probs = np.asarray(probs)
    scores = p_unsafe(probs, safe_columns(labels)) if scores is None else np.asarray(scores)
    return (scores < threshold) & (probs[..., refusal] > probs[..., safe])


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
    The benign validation rows are those of the safe classes (Safe, and Refusal for a response
    model).

    Args:
        probs: uncalibrated validation probabilities [N, C].
        y: true class ids.
        labels: class names.
        target_false_flag_rate: share of benign validation prompts the threshold may flag.
    """
    safe = safe_columns(labels)
    if not safe:
        return {}
    temperature = fit_temperature(probs, y)
    calibrated = apply_temperature(probs, temperature)
    scores = p_unsafe(calibrated, safe)
    is_unsafe = ~is_safe_label(y, safe)
    threshold = threshold_for_false_flag_rate(scores[~is_unsafe], target_false_flag_rate)
    out = {"safe_label": labels[safe_index(labels)], "temperature": temperature,
           "threshold": threshold, "target_false_flag_rate": target_false_flag_rate,
           "val": binary_metrics(scores, is_unsafe, threshold)}
    if len(safe) > 1:
        out["safe_labels"] = [labels[i] for i in safe]
    return out


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
