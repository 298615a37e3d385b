"""Augment step: Easy Data Augmentation (Wei and Zou, 2019) on the training split only.

The four EDA operations, each controlled by its alpha (fraction of words changed):
synonym replacement (WordNet), random insertion (a synonym of a random word at a random place),
random swap, random deletion. Minority classes are topped up toward a target count; every
augmented row is flagged and carries the row_id of the training row it came from.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError, ResourceMissingError
from components.core.files import StepOutputs, atomic_dir, write_json
from components.core.text import TextSettings, lstm_text, stopwords
from components.evaluation import plots
from components.pipelines.params import SEED

log = logging.getLogger(__name__)

ALPHA_SR = 0.1
ALPHA_RI = 0.1
ALPHA_RS = 0.1
ALPHA_RD = 0.1
BALANCE_RATIO = 0.5
MAX_AUG_PER_ROW = 4
OPS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")
FILES = {"train": "train.parquet", "report": "report/report.html", "stats": "report/stats.json"}


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """The augment step's parameters and their defaults (the one place they are written)."""

    alpha_sr: float = ALPHA_SR
    alpha_ri: float = ALPHA_RI
    alpha_rs: float = ALPHA_RS
    alpha_rd: float = ALPHA_RD
    balance_ratio: float = BALANCE_RATIO
    max_aug_per_row: int = MAX_AUG_PER_ROW
    seed: int = SEED


@functools.lru_cache(maxsize=20000)
def synonyms(word: str) -> tuple[str, ...]:
    """WordNet synonyms of `word` (single words, lower case, without `word` itself)."""
    from nltk.corpus import wordnet

    try:
        synsets = wordnet.synsets(word)
    except LookupError as exc:
        raise ResourceMissingError(
            "NLTK 'wordnet' data not found. Run `make setup` (provisions it offline) or "
            "`python -m nltk.downloader wordnet`, or set NLTK_DATA."
        ) from exc
    out = []
    for syn in synsets:
        for lemma in syn.lemmas():
            name = lemma.name().replace("_", " ").replace("-", " ").lower()
            if name != word and name.replace(" ", "").isalpha() and name not in out:
                out.append(name)
    return tuple(out)


def _candidates(words: Sequence[str]) -> list[str]:
    stops = stopwords()
    return sorted({w for w in words if w.isalpha() and w not in stops})


def synonym_replacement(words: list[str], n: int, rng: random.Random) -> list[str]:
    """Replace up to `n` distinct non-stopwords by a random WordNet synonym."""
    out = list(words)
    cands = _candidates(words)
    rng.shuffle(cands)
    replaced = 0
    for word in cands:
        syns = synonyms(word)
        if syns:
            choice = rng.choice(syns)
            out = [choice if w == word else w for w in out]
            replaced += 1
        if replaced >= n:
            break
    return " ".join(out).split()


def random_insertion(words: list[str], n: int, rng: random.Random) -> list[str]:
    """Insert a synonym of a random non-stopword at a random position, `n` times."""
    out = list(words)
    cands = _candidates(words)
    for _ in range(n):
        for _attempt in range(10):
            if not cands:
                break
            syns = synonyms(rng.choice(cands))
            if syns:
                out.insert(rng.randint(0, len(out)), rng.choice(syns))
                break
    return " ".join(out).split()


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    """Swap two random positions, `n` times."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Delete each word with probability `p` (always keeps at least one word)."""
    if len(words) <= 1:
        return list(words)
    out = [w for w in words if rng.random() > p]
    return out or [rng.choice(words)]


def eda_once(text: str, op: str, alpha: float, rng: random.Random) -> str:
    """Apply one EDA operation to a cleaned text with strength `alpha`."""
    words = text.split()
    n = max(1, math.floor(alpha * len(words)))
    fn: dict[str, Callable[[], list[str]]] = {
        "synonym_replacement": lambda: synonym_replacement(words, n, rng),
        "random_insertion": lambda: random_insertion(words, n, rng),
        "random_swap": lambda: random_swap(words, n, rng),
        "random_deletion": lambda: random_deletion(words, alpha, rng),
    }
    if op not in fn:
        raise ValueError(f"unknown EDA operation {op!r}; expected one of {OPS}")
    return " ".join(fn[op]())


def class_targets(counts: dict[str, int], balance_ratio: float, max_aug_per_row: int) -> dict[str, int]:
    """How many augmented rows each class gets to approach balance_ratio * the largest class."""
    target = math.ceil(balance_ratio * max(counts.values()))
    return {c: max(0, min(target - n, n * max_aug_per_row)) for c, n in counts.items()}


def augment_frame(
    train: pd.DataFrame,
    alphas: dict[str, float],
    balance_ratio: float,
    max_aug_per_row: int,
    seed: int,
    settings: TextSettings,
    forbidden_texts: Iterable[str] = (),
    first_row_id: int | None = None,
) -> pd.DataFrame:
    """Return `train` plus augmented rows for the minority classes (flagged, traceable).

    Augmented texts that equal any existing training text, any `forbidden_texts` (validation
    and test) or another augmented text are discarded, so no split leaks into training.
    """
    rng = random.Random(seed)
    counts = train["label"].value_counts().to_dict()
    targets = class_targets(counts, balance_ratio, max_aug_per_row)
    seen = set(train["text"]) | set(forbidden_texts)
    next_id = int(first_row_id if first_row_id is not None else train["row_id"].max() + 1)
    new_rows = []
    for label in sorted(targets):
        need = targets[label]
        if need == 0:
            continue
        sources = train[train["label"] == label].sort_values("row_id").to_dict("records")
        made, attempts = 0, 0
        while made < need and attempts < need * 10:
            src = sources[attempts % len(sources)]
            attempts += 1
            op = OPS[rng.randrange(len(OPS))]
            text = eda_once(src["text"], op, alphas[op], rng)
            if not text or text in seen:
                continue
            seen.add(text)
            new_rows.append({
                **src,  # columns carried through (e.g. source, group), then the new values
                "row_id": next_id, "text": text, "text_lstm": lstm_text(text, settings),
                "label": label, "label_id": src["label_id"], "raw_text": src["raw_text"],
                "raw_primary": src.get("raw_primary", ""),
                "augmented": True, "source_row_id": src["row_id"], "aug_op": op,
            })
            next_id += 1
            made += 1
        if made < need:
            log.warning("class %r: made %d of %d augmented rows (too few distinct variants)",
                        label, made, need)
        log.info("class %r: %d rows + %d augmented", label, counts[label], made)
    original = train.assign(augmented=False, source_row_id=train["row_id"], aug_op="")
    out = pd.concat([original, pd.DataFrame(new_rows, columns=original.columns)], ignore_index=True)
    return out.astype({"augmented": bool, "source_row_id": "int64", "row_id": "int64",
                       "label_id": "int64"})


def augment(
    train_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    exclude_paths: Sequence[str | os.PathLike[str]] = (),
    alpha_sr: float = ALPHA_SR,
    alpha_ri: float = ALPHA_RI,
    alpha_rs: float = ALPHA_RS,
    alpha_rd: float = ALPHA_RD,
    balance_ratio: float = BALANCE_RATIO,
    max_aug_per_row: int = MAX_AUG_PER_ROW,
    seed: int = SEED,
    text_settings: dict | None = None,
) -> StepOutputs:
    """Augment the training split with EDA, balancing minority classes; write it and a report.

    Args:
        train_path: training split (Parquet) from preprocess.
        out_dir: directory to create (atomically) with the augmented split and its report.
        exclude_paths: validation/test splits; no augmented text may equal one of their texts.
        alpha_sr: fraction of words replaced by synonyms.
        alpha_ri: fraction of words inserted (synonyms).
        alpha_rs: fraction of words swapped.
        alpha_rd: probability of deleting each word.
        balance_ratio: minority classes grow toward this fraction of the largest class.
        max_aug_per_row: at most this many augmented rows per original row of a class.
        seed: random seed (same seed, same output).
        text_settings: preprocess's text settings (label_map.json), for the LSTM field.

    Returns:
        StepOutputs with the output paths and statistics.
    """
    alphas = {"synonym_replacement": alpha_sr, "random_insertion": alpha_ri,
              "random_swap": alpha_rs, "random_deletion": alpha_rd}
    for name, a in alphas.items():
        if not 0 <= a <= 1:
            raise DatasetError(f"EDA alpha for {name} must be in [0, 1], got {a}")
    if balance_ratio < 0 or max_aug_per_row < 0:
        raise DatasetError("balance_ratio and max_aug_per_row must be >= 0")
    train = pd.read_parquet(train_path)
    if train.empty:
        raise DatasetError(f"training split {train_path} is empty")
    others = [pd.read_parquet(p) for p in exclude_paths]
    settings = TextSettings.from_dict(text_settings or {})
    max_id = max(int(df["row_id"].max()) for df in [train, *others] if not df.empty)
    out = augment_frame(train, alphas, balance_ratio, max_aug_per_row, seed, settings,
                        forbidden_texts={t for df in others for t in df["text"]},
                        first_row_id=max_id + 1)
    before = train["label"].value_counts().to_dict()
    after = out["label"].value_counts().to_dict()
    stats = {
        "rows_before": len(train), "rows_after": len(out),
        "augmented_rows": int(out["augmented"].sum()),
        "class_counts_before": before, "class_counts_after": after,
        "ops": out.loc[out["augmented"], "aug_op"].value_counts().to_dict(),
        "params": {**alphas, "balance_ratio": balance_ratio,
                   "max_aug_per_row": max_aug_per_row, "seed": seed},
    }
    with atomic_dir(out_dir) as tmp:
        out.to_parquet(tmp / FILES["train"], index=False)
        (tmp / "report").mkdir()
        write_json(tmp / FILES["stats"], stats)
        _write_report(tmp / "report", stats, out)
    log.info("augment done: %d -> %d training rows", len(train), len(out))
    return StepOutputs(Path(out_dir), stats, FILES)


def _write_report(report_dir: Path, stats: dict, out: pd.DataFrame) -> None:
    png = plots.bar_counts({"before": stats["class_counts_before"],
                            "after augmentation": stats["class_counts_after"]},
                           "Training class counts", report_dir / "class_counts.png")
    rows = [{"class": c, "before": stats["class_counts_before"].get(c, 0),
             "after": n} for c, n in stats["class_counts_after"].items()]
    aug = out[out["augmented"]]
    sources = out.set_index("row_id")["text"]
    examples = [{"op": r.aug_op, "source": sources.get(r.source_row_id, ""), "augmented": r.text}
                for r in aug.head(12).itertuples()]
    page = plots.html_page("Augment: Easy Data Augmentation (training split only)", [
        ("Class counts", plots.table(rows) + plots.img_tag(png, "class counts")),
        ("Operations", plots.table([{"op": k, "rows": v} for k, v in stats["ops"].items()])),
        ("Examples", plots.table(examples)),
        ("Parameters", plots.table([{"param": k, "value": v} for k, v in stats["params"].items()])),
    ])
    (report_dir / "report.html").write_text(page)
