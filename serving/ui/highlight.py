"""The console's "why": each explained word shaded by how much it pushes a text towards unsafe."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

# Why: attributions are probability drops; below MIN_ATTRIBUTION a word is not "top", and
# shading is relative to the largest attribution but never to less than MIN_SHADE_SCALE.
MIN_ATTRIBUTION = 0.001
MIN_SHADE_SCALE = 0.02
TOWARDS_UNSAFE_RGB = (220, 38, 38)  # red
TOWARDS_SAFE_RGB = (37, 99, 235)  # blue


def towards_unsafe(explanation: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], float]]:
    """Each explained word with how much it pushes the text towards unsafe (negative: towards
    safe), in probability.

    The server's `unsafe_attribution` when it gives one (P(unsafe) - P(unsafe) without the
    word, for a model with a Safe class); otherwise from the attribution towards the predicted
    label: as it is when the label is unsafe, negated when the label is Safe (P(unsafe) =
    1 - P(Safe)).
    """
    from components.core.calibration import SAFE_LABEL

    safe_label = str(explanation.get("label", "")).strip().lower() == SAFE_LABEL
    out = []
    for w in explanation.get("words") or []:
        if isinstance(w.get("unsafe_attribution"), int | float):
            value = float(w["unsafe_attribution"])
        else:
            value = -float(w["attribution"]) if safe_label else float(w["attribution"])
        out.append((w, value))
    return out


def highlight_html(explanation: Mapping[str, Any]) -> str:
    """The explained text as HTML, each word shaded by its direction and weight.

    Red: the word pushes towards unsafe; blue: towards safe (`towards_unsafe`), whatever the
    predicted label. The opacity is the weight relative to the largest one, or to
    MIN_SHADE_SCALE when all are smaller (so that noise-level attributions stay pale). All text
    is HTML-escaped.
    """
    text = str(explanation.get("text", ""))
    words = sorted(towards_unsafe(explanation), key=lambda wv: wv[0]["start"])
    scale = max([MIN_SHADE_SCALE, *(abs(v) for _, v in words)])
    out, at = [], 0
    for w, value in words:
        start, end = int(w["start"]), int(w["end"])
        if start < at or end > len(text):
            continue
        out.append(html.escape(text[at:start]))
        alpha = min(1.0, abs(value) / scale) * 0.85
        r, g, b = TOWARDS_UNSAFE_RGB if value > 0 else TOWARDS_SAFE_RGB
        direction = "towards unsafe" if value > 0 else "towards safe"
        out.append(f'<span title="{value:+.3f} {direction}" style="background-color: '
                   f'rgba({r}, {g}, {b}, {alpha:.2f}); border-radius: 3px; '
                   f'padding: 0 2px">{html.escape(text[start:end])}</span>')
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def top_words(explanation: Mapping[str, Any], n: int = 5,
              towards: str = "unsafe") -> list[tuple[str, float]]:
    """The n words pushing hardest towards `towards` ("unsafe" or "safe"), by at least
    MIN_ATTRIBUTION, with how much."""
    if towards not in ("unsafe", "safe"):
        raise ValueError(f"towards must be 'unsafe' or 'safe', got {towards!r}")
    sign = 1.0 if towards == "unsafe" else -1.0
    words = [(str(w["word"]), sign * v) for w, v in towards_unsafe(explanation)]
    ranked = sorted(words, key=lambda w: w[1], reverse=True)
    return [w for w in ranked if w[1] >= MIN_ATTRIBUTION][:n]
