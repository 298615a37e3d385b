"""Preprocess step: validate, de-duplicate, merge sparse classes, clean, encode, split, report."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from components.core.errors import DatasetError
from components.core.files import (
    StepOutputs,
    atomic_dir,
    parse_columns,
    read_table,
    validate_schema,
    write_json,
)
from components.core.text import (
    LABEL_COLUMN,
    TEXT_COLUMNS,
    TextSettings,
    clean_text,
    join_fields,
    lstm_text,
)
from components.evaluation import plots
from components.pipelines.params import SEED

log = logging.getLogger(__name__)

OTHER_LABEL = "other"
MIN_CLASS_COUNT = 20
VAL_SIZE = 0.15
TEST_SIZE = 0.15
LENGTH_PERCENTILE = 95.0
SPLITS = ("train", "val", "test")
# A class needs a row in each of train, val and test.
MIN_ROWS_PER_CLASS = 3
# Columns of every split file.
# raw_primary: the raw first text column alone (the user's prompt), for evaluate's ablation.
SPLIT_COLUMNS = ["row_id", "text", "text_lstm", "label", "label_id", "raw_text", "raw_primary"]


@dataclasses.dataclass(frozen=True)
class PreprocessParams:
    """The preprocess step's parameters and their defaults: the ONE place they are written
    (the pipelines, the KFP component calls, the CLI and docs/pipeline.md's table derive from it)."""

    text_columns: str = ",".join(TEXT_COLUMNS)
    label_column: str = LABEL_COLUMN
    min_class_count: int = MIN_CLASS_COUNT
    val_size: float = VAL_SIZE
    test_size: float = TEST_SIZE
    seed: int = SEED
    length_percentile: float = LENGTH_PERCENTILE
    drop_invalid_rows: bool = False
    encoding: str = "utf-8-sig"
    keep_columns: str = ""
    holdout_groups: str = ""  # groups kept out of train/val/test entirely: the holdout split
    train_only_sources: str = ""  # sources whose rows all go to the training split


FILES = {
    "train": "train.parquet",
    "val": "val.parquet",
    "test": "test.parquet",
    "holdout": "holdout.parquet",
    "label_map": "label_map.json",
    "length_stats": "length_stats.json",
    "report": "eda/report.html",
    "stats": "eda/stats.json",
}


def drop_exact_duplicates(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop rows identical in every column, keeping the first; return the count dropped."""
    before = len(df)
    out = df.drop_duplicates(keep="first").reset_index(drop=True)
    return out, before - len(out)


def invalid_rows(df: pd.DataFrame, text_columns: Sequence[str], label_column: str) -> pd.Series:
    """Mask of rows with no usable text in the first (required) text column or no label."""
    primary = df[text_columns[0]]
    no_text = primary.isna() | (primary.astype(str).map(lambda s: clean_text(s)) == "")
    label = df[label_column]
    no_label = label.isna() | (label.astype(str).str.strip() == "")
    return no_text | no_label


def merge_sparse_classes(labels: pd.Series, min_count: int,
                         other: str = OTHER_LABEL) -> tuple[pd.Series, list[str]]:
    """Map every class with fewer than `min_count` rows to `other`.

    Returns:
        the new labels and the sorted names of the classes that were merged.
    """
    counts = labels.value_counts()
    sparse = sorted(c for c, n in counts.items() if n < min_count and c != other)
    return labels.where(~labels.isin(sparse), other), sparse


def stratified_split(df: pd.DataFrame, val_size: float, test_size: float, seed: int,
                     stratify_col: str = "label_id") -> dict[str, pd.DataFrame]:
    """Seeded, stratified train/val/test split."""
    try:
        from sklearn.model_selection import train_test_split  # seconds to import: when used

        rest, test = train_test_split(df, test_size=test_size, random_state=seed,
                                      stratify=df[stratify_col])
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size),
                                      random_state=seed, stratify=rest[stratify_col])
    except ValueError as exc:
        raise DatasetError(f"stratified split failed: {exc}") from exc
    return {name: part.sort_values("row_id").reset_index(drop=True)
            for name, part in zip(SPLITS, (train, val, test), strict=True)}


def strata(label_ids: pd.Series, groups: pd.Series, val_size: float,
           test_size: float) -> pd.Series:
    """Label x group strata for the split; a stratum too small to reach every split falls back
    to its label alone, and what is still too small (a label whose few other rows are spread
    over large strata) to one stratum of leftovers, itself merged into the largest stratum
    when even that is too small."""
    key = label_ids.astype(str) + "|" + groups.astype(str)
    need = math.ceil(1 / min(val_size, test_size)) + 1
    key = key.where(key.map(key.value_counts()) >= need, label_ids.astype(str))
    key = key.where(key.map(key.value_counts()) >= need, "leftovers")
    if 0 < (key == "leftovers").sum() < need:
        key = key.where(key != "leftovers", key.value_counts().index[0])
    return key


def length_analysis(train: pd.DataFrame, percentile: float) -> dict:
    """Word-length distribution of the training texts and the sequence lengths to train with."""
    qs = [50, 75, 90, 95, 99, 100]
    out: dict = {"percentile": percentile}
    for col in ("text", "text_lstm"):
        lengths = train[col].str.split().str.len().to_numpy()
        out[col] = {f"p{q}": float(np.percentile(lengths, q)) for q in qs}
        out[col]["mean"] = float(lengths.mean())
        out[col]["at_percentile"] = math.ceil(np.percentile(lengths, percentile))
    # The LSTM's TextVectorization length; lora-train measures its own subword lengths at
    # the same percentile with its tokenizer.
    out["lstm_seq_len"] = max(4, out["text_lstm"]["at_percentile"])
    return out


def holdout_mask(df: pd.DataFrame, groups: Sequence[str]) -> pd.Series:
    """Rows whose `group` is one of `groups` (all False without groups).

    A group that matches no row is logged (its source may have been left out), not an error;
    the evaluation lists the groups it held out.

    Raises:
        DatasetError: groups given but no `group` column, or none of them matches a row.
    """
    if not groups:
        return pd.Series(False, index=df.index)
    if "group" not in df.columns:
        raise DatasetError("holdout_groups needs a 'group' column (keep_columns with 'group')")
    known = set(df["group"].astype(str))
    missing = sorted(set(groups) - known)
    if len(missing) == len(set(groups)):
        raise DatasetError(f"holdout group(s) {missing} match no row; groups are "
                           f"{sorted(known)[:40]}")
    if missing:
        log.warning("holdout group(s) %s match no row (left out of the data?); holding out %s",
                    missing, sorted(set(groups) & known))
    return df["group"].astype(str).isin(groups)


def check_splittable(counts: dict[str, int], val_size: float, test_size: float) -> None:
    """Raise DatasetError unless every class can appear in train, val and test."""
    if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
        raise DatasetError(
            f"val_size and test_size must be in (0, 1) with a sum below 1; got {val_size}, {test_size}"
        )
    too_small = {c: n for c, n in counts.items() if n < MIN_ROWS_PER_CLASS}
    if too_small:
        raise DatasetError(
            f"classes too small for a stratified train/val/test split (need >= "
            f"{MIN_ROWS_PER_CLASS} rows each): {too_small}. Add rows, or raise min_class_count "
            f"so that they merge into {OTHER_LABEL!r}."
        )


def load_dataset(
    data: str,
    text_columns: Sequence[str] = TEXT_COLUMNS,
    label_column: str = LABEL_COLUMN,
    min_class_count: int = MIN_CLASS_COUNT,
    val_size: float = VAL_SIZE,
    test_size: float = TEST_SIZE,
    encoding: str = "utf-8-sig",
    drop_invalid_rows: bool = False,
    keep_columns: Sequence[str] = (),
    holdout_groups: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict]:
    """Read and validate the dataset; drop duplicates; merge sparse classes into "other".

    This is every check preprocess makes on its input, so `pipeline.py run` calls it first to
    fail fast, before any pipeline output is created.

    Args:
        holdout_groups: values of the `group` column whose rows are held out of every split
            (marked `_holdout`); class counts and merging look at the other rows only.

    Returns:
        (frame with the text columns, a `label` column and a boolean `_holdout` column,
        statistics)

    Raises:
        DatasetError: with a message naming the problem in the input.
    """
    if min_class_count < 1:
        raise DatasetError(f"min_class_count must be >= 1, got {min_class_count}")
    raw = read_table(data, encoding=encoding)
    validate_schema(raw, [*text_columns, *keep_columns], label_column)
    reserved = set(SPLIT_COLUMNS) - {label_column}
    clash = sorted(set(keep_columns) & reserved)
    if clash:
        raise DatasetError(f"keep_columns {clash} clash with the columns preprocess writes "
                           f"({sorted(reserved)})")
    df = raw[[*text_columns, label_column, *keep_columns]].copy()
    n_raw = len(df)

    df, n_dupes = drop_exact_duplicates(df)
    log.info("dropped %d exact duplicate rows (%d -> %d)", n_dupes, n_raw, len(df))

    bad = invalid_rows(df, text_columns, label_column)
    n_invalid = int(bad.sum())
    if n_invalid:
        examples = ", ".join(str(i) for i in df.index[bad][:10])
        msg = (f"{n_invalid} row(s) have empty/missing {text_columns[0]!r} or {label_column!r} "
               f"(de-duplicated row numbers: {examples}{'...' if n_invalid > 10 else ''})")
        if not drop_invalid_rows:
            raise DatasetError(msg + "; fix them or pass drop_invalid_rows=True")
        log.warning("%s: dropped", msg)
        df = df[~bad].reset_index(drop=True)
    if df.empty:
        raise DatasetError("no usable rows left after removing invalid rows")

    df["label"] = df.pop(label_column).astype(str).str.strip()
    df["_holdout"] = held = holdout_mask(df, holdout_groups)
    counts_before = df.loc[~held, "label"].value_counts().to_dict()
    if len(counts_before) < 2:
        raise DatasetError(
            f"dataset has a single class ({next(iter(counts_before), None)!r}, "
            f"{int((~held).sum())} rows outside the holdout groups); a classifier needs at "
            "least 2 classes"
        )
    _, merged = merge_sparse_classes(df.loc[~held, "label"], min_class_count)
    df["label"] = df["label"].where(~df["label"].isin(merged), OTHER_LABEL)
    counts_after = df.loc[~held, "label"].value_counts().to_dict()
    if merged:
        log.info("merged %d sparse classes into %r: %s", len(merged), OTHER_LABEL, merged)
    if len(counts_after) < 2:
        raise DatasetError(
            f"only one class left after merging classes with < {min_class_count} rows into "
            f"{OTHER_LABEL!r} (counts before merging: {counts_before}); lower min_class_count"
        )
    check_splittable(counts_after, val_size, test_size)
    stats = {
        "rows_raw": n_raw,
        "duplicates_dropped": n_dupes,
        "invalid_rows_dropped": n_invalid if drop_invalid_rows else 0,
        "rows": int((~held).sum()),
        "holdout_rows": int(held.sum()),
        "holdout_groups": df.loc[held, "group"].value_counts().to_dict() if held.any() else {},
        "num_classes": len(counts_after),
        "merged_classes": merged,
        "class_counts_before_merge": counts_before,
        "class_counts_after_merge": counts_after,
    }
    return df, stats


def preprocess(
    data: str,
    out_dir: str | os.PathLike[str],
    text_columns: str | Sequence[str] = TEXT_COLUMNS,
    label_column: str = LABEL_COLUMN,
    min_class_count: int = MIN_CLASS_COUNT,
    val_size: float = VAL_SIZE,
    test_size: float = TEST_SIZE,
    seed: int = SEED,
    length_percentile: float = LENGTH_PERCENTILE,
    encoding: str = "utf-8-sig",
    drop_invalid_rows: bool = False,
    keep_columns: str | Sequence[str] = (),
    holdout_groups: str | Sequence[str] = (),
    train_only_sources: str | Sequence[str] = (),
) -> StepOutputs:
    """Turn a labelled prompt table into cleaned, encoded, stratified splits plus an EDA report.

    Args:
        data: CSV or Parquet path, or an fsspec URI (http(s)://, s3://, gs://).
        out_dir: directory to create; written atomically (nothing is left on failure).
        text_columns: columns joined into `text` (first one required per row); list or "a,b".
        label_column: the target column; renamed to `label`.
        min_class_count: classes with fewer rows (after de-duplication) merge into "other".
        val_size: fraction of rows for validation.
        test_size: fraction of rows for the test split.
        seed: random seed of the split.
        length_percentile: percentile of training lengths used as the sequence length.
        encoding: text encoding of a CSV file.
        drop_invalid_rows: drop rows without text or label instead of failing.
        keep_columns: extra columns carried into every split (e.g. "source,group"); with
            `source` the split is stratified by label and source together, so every source
            is represented in validation and test.
        holdout_groups: groups (the `group` column) kept out of train, validation and test:
            written to the holdout split, to measure a model on data it never saw. A label
            that exists only in held-out rows gets label_id -1.
        train_only_sources: sources (the `source` column) whose rows all go to the training
            split (e.g. translations the model may learn from but the evaluation must not
            score).

    Returns:
        StepOutputs with the output paths and statistics.

    Raises:
        DatasetError: with a message naming the problem in the input.
    """
    text_columns = parse_columns(text_columns)
    keep_columns = parse_columns(keep_columns) if keep_columns else []
    holdout_groups = parse_columns(holdout_groups) if holdout_groups else []
    train_only_sources = parse_columns(train_only_sources) if train_only_sources else []
    if not 0 < length_percentile <= 100:
        raise DatasetError(f"length_percentile must be in (0, 100], got {length_percentile}")
    settings = TextSettings(text_columns=tuple(text_columns))
    df, stats = load_dataset(data, text_columns, label_column, min_class_count, val_size,
                             test_size, encoding, drop_invalid_rows, keep_columns, holdout_groups)
    merged = stats["merged_classes"]

    df["row_id"] = np.arange(len(df), dtype=np.int64)
    df["raw_text"] = [join_fields(v, settings.separator) for v in df[text_columns].itertuples(index=False)]
    df["raw_primary"] = df[text_columns[0]].astype(str).str.strip()
    df["text"] = [clean_text(t, settings) for t in df["raw_text"]]
    df["text_lstm"] = [lstm_text(t, settings) for t in df["text"]]
    from sklearn.preprocessing import LabelEncoder

    held = df.pop("_holdout").to_numpy()
    encoder = LabelEncoder().fit(df.loc[~held, "label"])
    labels = [str(c) for c in encoder.classes_]
    label2id = {name: i for i, name in enumerate(labels)}
    df["label_id"] = df["label"].map(lambda x: label2id.get(x, -1)).astype(np.int64)
    columns = SPLIT_COLUMNS + keep_columns
    holdout, df = df.loc[held, columns], df.loc[~held]
    train_only = (df["source"].isin(train_only_sources).to_numpy()
                  if train_only_sources and "source" in df.columns else np.zeros(len(df), bool))
    extra_train, df = df.loc[train_only, columns], df.loc[~train_only]
    if "source" in keep_columns:
        df["_strata"] = strata(df["label_id"], df["source"], val_size, test_size)
        splits = stratified_split(df[[*columns, "_strata"]], val_size, test_size, seed,
                                  stratify_col="_strata")
        splits = {k: v.drop(columns="_strata") for k, v in splits.items()}
    else:
        splits = stratified_split(df[columns], val_size, test_size, seed)
    if len(extra_train):
        splits["train"] = (pd.concat([splits["train"], extra_train]).sort_values("row_id")
                           .reset_index(drop=True))
        stats["train_only_rows"] = len(extra_train)
    if "source" in keep_columns:
        stats["split_source_counts"] = {k: v["source"].value_counts().to_dict()
                                        for k, v in splits.items()}
    lengths = length_analysis(splits["train"], length_percentile)

    stats = {
        **stats,
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "split_class_counts": {k: v["label"].value_counts().to_dict() for k, v in splits.items()},
        "lstm_seq_len": lengths["lstm_seq_len"],
    }
    label_map = {
        "labels": labels,
        "label2id": label2id,
        "other_label": OTHER_LABEL,
        "merged_classes": merged,
        "text_settings": settings.to_dict(),
    }

    with atomic_dir(out_dir) as tmp:
        for name, part in splits.items():
            part.to_parquet(tmp / FILES[name], index=False)
        holdout.reset_index(drop=True).to_parquet(tmp / FILES["holdout"], index=False)
        write_json(tmp / FILES["label_map"], label_map)
        write_json(tmp / FILES["length_stats"], lengths)
        (tmp / "eda").mkdir()
        write_json(tmp / FILES["stats"], stats)
        write_eda_report(tmp / "eda", stats, splits, lengths)
    log.info("preprocess done: %s", {k: stats[k] for k in ("rows", "num_classes", "split_sizes")})
    return StepOutputs(Path(out_dir), stats, FILES)


def write_eda_report(eda_dir: Path, stats: dict, splits: dict[str, pd.DataFrame],
                     lengths: dict) -> Path:
    """Write the EDA plots (PNG) and a self-contained HTML report into `eda_dir`."""
    balance = plots.bar_counts(
        {"before merging": stats["class_counts_before_merge"],
         "after merging": stats["class_counts_after_merge"]},
        "Class balance (after de-duplication)", eda_dir / "class_balance.png")
    split_balance = plots.bar_counts(stats["split_class_counts"], "Class counts per split",
                                     eda_dir / "split_balance.png")
    train = splits["train"]
    p = lengths["percentile"]
    length_png = plots.histogram(
        {"text (transformer)": train["text"].str.split().str.len(),
         "text_lstm (stemmed)": train["text_lstm"].str.split().str.len()},
        "Training text lengths (words)", "words per row", eda_dir / "lengths.png",
        marks={f"p{p:g} lstm": lengths["text_lstm"]["at_percentile"]})
    overview = [
        {"": "rows in file", "value": stats["rows_raw"]},
        {"": "exact duplicates dropped", "value": stats["duplicates_dropped"]},
        {"": "invalid rows dropped", "value": stats["invalid_rows_dropped"]},
        {"": "rows used", "value": stats["rows"]},
        {"": "classes", "value": stats["num_classes"]},
        {"": "merged into 'other'", "value": ", ".join(stats["merged_classes"]) or "-"},
        *({"": f"{k} rows", "value": v} for k, v in stats["split_sizes"].items()),
    ]
    length_rows = [{"field": col, **lengths[col]} for col in ("text", "text_lstm")]
    page = plots.html_page("Preprocess: exploratory data analysis", [
        ("Overview", plots.table(overview)),
        ("Class balance", plots.img_tag(balance, "class balance") + plots.img_tag(split_balance)),
        ("Sequence lengths (training split, words)",
         plots.table(length_rows) + f"<p>LSTM sequence length (p{p:g}): "
         f"<b>{lengths['lstm_seq_len']}</b></p>" + plots.img_tag(length_png, "lengths")),
    ])
    out = eda_dir / "report.html"
    out.write_text(page)
    return out
