"""The scripts a text is written in (from the letters' Unicode names) and the scripts a model
reads, for its model_info `scripts`."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# A script counts as seen in training when this share of training texts is mainly written in it.
MIN_SCRIPT_SHARE_IN_TRAINING = 0.005


def script_of(char: str) -> str | None:
    """The Unicode script of a letter, from its name ("CYRILLIC SMALL LETTER A" -> "CYRILLIC");
    None for anything that is not a letter. CJK ideographs are "CJK"."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else None


def script_counts(text: str) -> dict[str, int]:
    """Letters per script in `text`."""
    counts: dict[str, int] = {}
    for c in text:
        s = script_of(c)
        if s is not None:
            counts[s] = counts.get(s, 0) + 1
    return counts


def main_script(text: str) -> str | None:
    """The script most letters of `text` are written in; None without letters."""
    counts = script_counts(text)
    return max(counts, key=counts.get) if counts else None


def training_scripts(texts: Iterable[str]) -> list[str]:
    """Scripts the model can read: the main script of at least MIN_SCRIPT_SHARE_IN_TRAINING of
    the training texts (a stray foreign word does not make a script known)."""
    mains: dict[str, int] = {}
    n = 0
    for t in texts:
        n += 1
        s = main_script(t)
        if s is not None:
            mains[s] = mains.get(s, 0) + 1
    return sorted(s for s, k in mains.items() if k >= max(1, MIN_SCRIPT_SHARE_IN_TRAINING * n))


# A script is in an encoder's vocabulary when its tokenizer has this many pieces of two or
# more letters in it (all-MiniLM: Latin only; multilingual-e5: ~100 languages' scripts), or
# this many single letters (scripts written without spaces, read a character at a time).
VOCAB_MIN_PIECES = 500
VOCAB_MIN_CHARACTERS = 2000


def vocabulary_scripts(tokenizer: Any) -> list[str]:
    """Scripts the encoder was pretrained to read, from its tokenizer's vocabulary."""
    multi: dict[str, int] = {}
    single: dict[str, int] = {}
    for piece in tokenizer.get_vocab():
        counts = script_counts(piece)
        if len(counts) == 1:
            (script, n), = counts.items()
            bucket = multi if n >= 2 else single
            bucket[script] = bucket.get(script, 0) + 1
    return sorted({s for s, n in multi.items() if n >= VOCAB_MIN_PIECES}
                  | {s for s, n in single.items() if n >= VOCAB_MIN_CHARACTERS})


def readable_scripts(train_texts: Iterable[str], tokenizer: Any,
                     zero_shot: bool = True) -> list[str]:
    """The scripts an encoder-based guard reads, for its model_info `scripts`.

    A script of the training texts (`training_scripts`) counts when the encoder's vocabulary
    covers it (`vocabulary_scripts`): training rows in a script the tokenizer writes as unknown
    pieces (Thai through an English vocabulary) do not make it read, so such a text gets
    "cannot assess", never a verdict on unknown pieces. A vocabulary too small to tell (tiny
    test encoders) leaves the training scripts.

    Args:
        train_texts: the texts the model was trained on.
        tokenizer: the encoder's tokenizer.
        zero_shot: also count every script of the vocabulary that training never saw (a
            fine-tuned multilingual encoder reads them); False for a head that only learned
            the training scripts (the frozen quick guard).
    """
    trained = training_scripts(train_texts)
    vocab = set(vocabulary_scripts(tokenizer))
    if not vocab:
        return trained
    unread = sorted(set(trained) - vocab)
    if unread:
        log.warning("training texts in %s: the encoder's vocabulary does not cover the script, "
                    "so the model does not count as reading it", ", ".join(unread))
    return sorted((set(trained) & vocab) | (vocab if zero_shot else set()))


# A script other than a model's main one counts as read only when its validation texts show it:
# at least this many of each side (unsafe, safe), separated with at least this AUROC.
MIN_SCRIPT_VALIDATION_ROWS = 10
MIN_SCRIPT_AUROC = 0.8


def scripts_read_on_validation(train_texts: Iterable[str], val_texts: Sequence[str],
                               val_scores: Sequence[float] | None = None,
                               val_is_unsafe: Sequence[bool] | None = None) -> list[str]:
    """The scripts a model with a vocabulary of its own (the LSTM) reads, for model_info.

    Its main training script (the most training texts) counts. Another training script counts
    only where the model shows on validation that it reads it: at least
    MIN_SCRIPT_VALIDATION_ROWS unsafe and safe texts in that script, separated with AUROC >=
    MIN_SCRIPT_AUROC. A model without a guard score (`val_scores` None) reads its main script
    only. A few hundred translated rows do not teach a word-vocabulary model Chinese (a sentence
    is one unseen "word"): such a text must get "cannot assess", never a verdict.

    Args:
        train_texts: the raw training texts.
        val_texts: the raw validation texts.
        val_scores: P(unsafe) of each validation text, or None.
        val_is_unsafe: whether each validation text is unsafe (with `val_scores`).
    """
    from sklearn.metrics import roc_auc_score

    train_texts = list(train_texts)
    candidates = training_scripts(train_texts)
    if not candidates:
        return []
    counts = {c: 0 for c in candidates}
    for t in train_texts:
        s = main_script(t)
        if s in counts:
            counts[s] += 1
    main = max(candidates, key=lambda c: (counts[c], c))
    read = {main}
    if val_scores is not None and val_is_unsafe is not None:
        scripts = [main_script(t) for t in val_texts]
        for script in candidates:
            if script == main:
                continue
            rows = [(p, u) for s, p, u in zip(scripts, val_scores, val_is_unsafe, strict=True)
                    if s == script]
            unsafe = sum(u for _, u in rows)
            auroc = None
            if min(unsafe, len(rows) - unsafe) >= MIN_SCRIPT_VALIDATION_ROWS:
                auroc = float(roc_auc_score([u for _, u in rows], [p for p, _ in rows]))
            if auroc is not None and auroc >= MIN_SCRIPT_AUROC:
                read.add(script)
            else:
                log.warning("training texts in %s script: validation does not show the model "
                            "reads it (%d rows, AUROC %s), so it does not count as read",
                            script, len(rows), "n/a" if auroc is None else f"{auroc:.3f}")
    return sorted(read)
