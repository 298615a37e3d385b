"""How a guard model reads a prompt: the text, its plain reading, its sentences; the most
harmful reading decides.

A prompt can hide its request from a classifier that reads it once, as a whole, up to its
token limit: leet digits and spaced letters ("h0w t0 bu1ld a b o m b"), benign padding before
the request, a harmful sentence wrapped in text of another language, a request past the
token limit. A guard model therefore scores several readings of each prompt and answers with
the most harmful one:

- the whole text (always; the only reading of a classifier that is not a guard);
- its plain reading (`components.core.obfuscation.deobfuscate`), when that differs;
- each sentence, and windows of a sentence longer than `window_words`, when the prompt has
  more than one sentence and at least `min_words` words, or is too long to be read whole;
- each stretch written in one script, when the prompt mixes scripts, however short: a harmful
  English request between two benign sentences of Russian is read on its own.

The model's threshold is fitted on validation prompts read the same way (lora-train), so the
extra readings are paid for in the calibration, not in silent false flags.

A response model reads a conversation (components.core.conversation: the prompt as context, then the
reply): with `conversation`, the extra readings are of the reply, each after the same context,
and a long reply is read in windows of `window_words` (sized by lora-train to fit the token
limit beside the context), never sentence by sentence: a reply's explanatory sentence read
alone is not its meaning.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from components.core.obfuscation import deobfuscate
from components.core.scripts import main_script
from components.core.text import TextSettings, clean_text

READINGS = ("text", "deobfuscated", "segments", "conversation")
# Sentence ends of any script (Latin, CJK full stops, Devanagari danda, Arabic question mark)
# and line breaks; a fixed-width lookbehind keeps the split linear.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?;:\u3002\uff01\uff1f\u0964\u061f])\s+|[\r\n]+|"
                              r"(?<=[\u3002\uff01\uff1f])")
MIN_WORDS = 12  # shorter prompts are read whole: the model sees all of them at once
WINDOW_WORDS = 40  # a sentence longer than this is read in overlapping windows
MAX_CHARS_WHOLE = 200  # longer texts without spaces (CJK) are read in windows of characters
# A prompt that changes script more often than this is not read stretch by stretch (each
# stretch is a forward pass): its sentences and windows are, and text.unreadable_reason judges
# a mixture made to evade.
MAX_SCRIPT_RUNS = 8


@dataclasses.dataclass(frozen=True)
class Reading:
    """Which readings a guard model scores (saved in model_info.json as `reading`).

    Attributes:
        deobfuscate: also score the plain reading of leet digits/symbols and spaced letters.
        segments: also score each sentence (windows of long ones) of a multi-sentence prompt.
        min_words: prompts with fewer words are read whole only.
        window_words: sentences longer than this are read in windows of this many words
            (half-overlapping), so a request past the model's token limit is still read.
        conversation: texts are rendered conversations (a response model): the extra readings
            are of the reply after its context; `segments` = windows of a long reply.
    """

    deobfuscate: bool = False
    segments: bool = False
    min_words: int = MIN_WORDS
    window_words: int = WINDOW_WORDS
    conversation: bool = False

    @classmethod
    def parse(cls, spec: str) -> Reading:
        """From a comma-separated list of READINGS ("text,deobfuscated,segments")."""
        names = {n.strip() for n in spec.split(",") if n.strip()}
        unknown = sorted(names - set(READINGS))
        if unknown or "text" not in names:
            raise ValueError(f"reading must list 'text' and any of {READINGS[1:]}, got {spec!r}")
        return cls(deobfuscate="deobfuscated" in names, segments="segments" in names,
                   conversation="conversation" in names)

    @property
    def whole_only(self) -> bool:
        return not (self.deobfuscate or self.segments)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Reading:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})


def _windows(words: list[str], size: int) -> list[str]:
    if len(words) <= size:
        return [" ".join(words)]
    step = max(1, size // 2)
    return [" ".join(words[i:i + size]) for i in range(0, len(words) - step, step)]


def script_runs(raw: str) -> list[str]:
    """The stretches of a prompt written in one script each, when it mixes scripts; [] when
    one script (or none) writes it. Words without letters (numbers, emoji) join the stretch
    they are in; a word's script is the one most of its letters are in, so a homoglyph inside
    an English word does not split it."""
    scripts: list[str | None] = []
    runs: list[list[str]] = []
    for word in raw.split():
        script = main_script(word)
        if runs and (script is None or scripts[-1] in (None, script)):
            scripts[-1] = scripts[-1] or script
            runs[-1].append(word)
        else:
            scripts.append(script)
            runs.append([word])
    return [" ".join(words) for words in runs] if len(runs) > 1 else []


def segments(raw: str, reading: Reading) -> list[str]:
    """The raw sentences (windows of long ones) of a prompt, and its one-script stretches when
    it mixes scripts; [] when it is read whole."""
    words = raw.split()
    long_text = len(words) > reading.window_words or (len(words) <= 1 and
                                                       len(raw) > MAX_CHARS_WHOLE)
    sentences = [s for s in _SENTENCE_END_RE.split(raw) if s and s.strip()]
    runs = script_runs(raw)
    if len(runs) > MAX_SCRIPT_RUNS:
        runs = []
    if not (long_text or runs) and (len(sentences) < 2 or len(words) < reading.min_words):
        return []
    whole_sentences = set(sentences)
    out: list[str] = []
    for sentence in [*sentences, *(r for r in runs if r not in whole_sentences)]:
        sw = sentence.split()
        if len(sw) > 1:
            out.extend(_windows(sw, reading.window_words))
        else:  # no spaces (Chinese, Japanese, Thai): windows of characters
            n = reading.window_words * 3
            out.extend(sentence[i:i + n] for i in range(0, len(sentence), n))
    return out


def reply_views(reply: str, reading: Reading) -> list[str]:
    """The raw extra readings of a reply (response models): its plain reading when that differs,
    and windows of `window_words` words of each when it is longer than one window."""
    raws = [reply]
    if reading.deobfuscate:
        plain = deobfuscate(reply)
        if plain != reply:
            raws.append(plain)
    out = raws[1:]
    if reading.segments:
        for r in raws:
            words = r.split()
            if len(words) > reading.window_words:
                out.extend(_windows(words, reading.window_words))
            elif len(words) <= 1 and len(r) > MAX_CHARS_WHOLE:  # no spaces: by characters
                n = reading.window_words * 3
                out.extend(r[i:i + n] for i in range(0, len(r), n))
    return out


def readings(raw: str, reading: Reading, settings: TextSettings) -> list[str]:
    """The cleaned readings of one raw prompt (or rendered conversation), the whole text first,
    without repeats."""
    whole = clean_text(raw, settings)
    if reading.whole_only:
        return [whole]
    if reading.conversation:
        from components.core.conversation import join, split

        context, reply = split(raw)
        views = [clean_text(join(context, v), settings) for v in reply_views(reply, reading)]
        seen: set[str] = set()
        return [t for t in [whole, *views] if t and not (t in seen or seen.add(t))] or [whole]
    out = [whole]
    raws = [raw]
    if reading.deobfuscate:
        plain = deobfuscate(raw)
        if plain != raw:
            out.append(clean_text(plain, settings))
            raws.append(plain)
    if reading.segments:
        for r in raws:
            out.extend(clean_text(s, settings) for s in segments(r, reading))
    seen: set[str] = set()
    return [t for t in out if t and not (t in seen or seen.add(t))] or [whole]


def most_harmful(probs: np.ndarray, owners: Sequence[int], n: int,
                 safe: int | Sequence[int]) -> np.ndarray:
    """Per text, the row of `probs` (one per reading, `owners[i]` = its text) with the highest
    P(unsafe) (components.core.calibration.p_unsafe over the `safe` columns); [n, C]."""
    from components.core.calibration import p_unsafe

    owners = np.asarray(owners)
    scores = p_unsafe(probs, [safe] if isinstance(safe, int | np.integer) else safe)
    best = np.full(n, -1)
    best_p = np.full(n, -np.inf)
    for i, (o, p) in enumerate(zip(owners, scores, strict=True)):
        if p > best_p[o]:
            best_p[o], best[o] = p, i
    return probs[best]
