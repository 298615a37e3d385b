"""Probe prompts the team wrote, in 13 languages and in obfuscated or wrapped forms, and a guard's figures on them.

The probe set (`probe_data/multilingual.csv`) holds harmful prompts across the hazards S1-S14,
benign prompts and benign look-alikes (alarming words used safely), each written in English and
translated by the team; every id exists in every language of `LANGUAGES`. No public prompt set
is copied into it.

The transforms (`components.evaluation.probe_transforms`) turn a prompt into the form an attacker would send: leetspeak,
homoglyphs, invisible characters, a right-to-left override, spaced-out letters, a wrapping in
benign text of another script, benign padding before the request, and PyRIT's jailbreak
templates (read straight out of the pinned wheel; an evaluation device only, never training
data). Each is seeded per prompt, so a run is reproducible.

`probe_metrics` scores a guard model on all of it: per language (recall, false flags,
AUROC, "cannot assess") at the model's saved threshold, and per transform (recall of the plain
vs the transformed form, false flags of benign prompts under the transforms that keep them
benign). evaluate calls it for every guard model; components.evaluation.probe_report renders it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.core.errors import DatasetError, ResourceMissingError
from components.core.scripts import main_script
from components.core.taxonomy import HAZARDS, SAFE
from components.data.sources import COLUMNS, DEFAULT_CACHE
from components.evaluation.probe_transforms import (
    BENIGN_SAFE,
    KIND_NOTES,
    LONG_KINDS,
    JailbreakTemplate,
    apply,
    jailbreak_templates,
    transforms,
    wrapper_sentences,
)
from components.pipelines.params import SEED

log = logging.getLogger(__name__)

PROBE_FILE = Path(__file__).resolve().parent / "probe_data" / "multilingual.csv"
PROBE_COLUMNS = ["id", "lang", "script", "kind", "label", "category_code", "text"]
# language -> (name, the script its prompts are mainly written in: components.core.scripts.main_script)
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "LATIN"), "es": ("Spanish", "LATIN"), "de": ("German", "LATIN"),
    "it": ("Italian", "LATIN"), "vi": ("Vietnamese", "LATIN"), "sw": ("Swahili", "LATIN"),
    "ru": ("Russian", "CYRILLIC"), "zh": ("Chinese", "CJK"), "ko": ("Korean", "HANGUL"),
    "ar": ("Arabic", "ARABIC"), "hi": ("Hindi", "DEVANAGARI"), "bn": ("Bengali", "BENGALI"),
    "th": ("Thai", "THAI"),
}
SOURCE_LANGUAGE = "en"  # the language the prompts were written in; the others are translations
KINDS: dict[str, str] = {"harmful": "unsafe", "benign": "safe", "lookalike": "safe"}  # -> label
PROBE_SOURCE = "probe"  # `source` (and `group`) of probe rows added to training by ingest
# Test-split prompts per transform (seeded samples): the cost is about 2,200 texts per model,
# more readings where a guard reads sentences and windows (components.core.reading).
MAX_TEST_PROMPTS = 100  # harmful
MAX_TEST_BENIGN = 50  # benign, for the false flags under the benign-safe transforms
MAX_LONG_FORMS = 50  # of those, for the transforms that make a prompt long (LONG_KINDS)
N_TEMPLATES = 20  # jailbreak templates sampled per run; each prompt gets one of them


# ------------------------------------------------------------------------------- the probe set
def load_probes(path: str | os.PathLike[str] = PROBE_FILE) -> pd.DataFrame:
    """The probe set, checked (`check_probes`).

    Raises:
        DatasetError: the file is missing or breaks one of the set's rules (all listed).
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError as exc:
        raise DatasetError(f"probe set not found: {path}") from exc
    problems = check_probes(df)
    if problems:
        raise DatasetError(f"probe set {path}: {len(problems)} problem(s): "
                           + "; ".join(problems[:20]))
    return df


def check_probes(df: pd.DataFrame,
                 languages: Mapping[str, tuple[str, str]] = LANGUAGES) -> list[str]:
    """Every rule the probe set keeps, as a list of what is wrong (empty: fine).

    Columns as `PROBE_COLUMNS`; languages (`languages`: code -> (name, script)), scripts
    (`main_script` of the text), kinds, labels and hazard codes from the tables above; every id
    in every language with the same kind, label and hazard; no repeated (id, language) and no
    repeated text. The team's training translations (components.data.translations) keep the same
    rules over their own languages.
    """
    if list(df.columns) != PROBE_COLUMNS:
        return [f"columns must be {PROBE_COLUMNS}, found {list(df.columns)}"]
    problems = []
    for r in df.itertuples(index=False):
        where = f"{r.id}/{r.lang}"
        if r.lang not in languages:
            problems.append(f"{where}: unknown language {r.lang!r} (known: {', '.join(languages)})")
        elif r.script != languages[r.lang][1]:
            problems.append(f"{where}: script {r.script!r}, {r.lang} is written in "
                            f"{languages[r.lang][1]}")
        if main_script(r.text) != r.script:
            problems.append(f"{where}: declared {r.script} but the text is mainly "
                            f"{main_script(r.text)}")
        if r.kind not in KINDS:
            problems.append(f"{where}: kind {r.kind!r} not in {sorted(KINDS)}")
        elif r.label != KINDS[r.kind]:
            problems.append(f"{where}: a {r.kind} prompt must be labelled {KINDS[r.kind]}, "
                            f"found {r.label!r}")
        if r.label == "unsafe" and r.category_code not in HAZARDS:
            problems.append(f"{where}: unsafe prompt with hazard {r.category_code!r} (S1-S14)")
        if r.label == "safe" and r.category_code:
            problems.append(f"{where}: safe prompt with hazard {r.category_code!r}")
        if r.text != r.text.strip() or not r.text:
            problems.append(f"{where}: empty text or surrounding whitespace")
    for key, what in ((["id", "lang"], "id and language"), (["text"], "text")):
        dup = df[df.duplicated(key, keep=False)]
        if len(dup):
            problems.append(f"repeated {what}: {sorted(set(dup['id'] + '/' + dup['lang']))[:10]}")
    for pid, rows in df.groupby("id"):
        missing = sorted(set(languages) - set(rows["lang"]))
        if missing:
            problems.append(f"{pid}: no text in {missing}")
        for col in ("kind", "label", "category_code"):
            if rows[col].nunique() > 1:
                problems.append(f"{pid}: {col} differs across languages "
                                f"{sorted(set(rows[col]))}")
    return problems


def ids_in_training(probes: pd.DataFrame, train_texts: Iterable[str]) -> set[str]:
    """Probe ids with a text (in any language) among the training texts, compared as ingest
    de-duplicates (cleaned words)."""
    from components.data.ingest import dedup_key  # ingest imports this module

    seen = {dedup_key(t) for t in train_texts}
    keys = probes["text"].map(dedup_key)
    return set(probes.loc[keys.isin(seen), "id"])


def training_rows(share: float, seed: int = SEED,
                  probes: pd.DataFrame | None = None) -> pd.DataFrame:
    """A seeded `share` of the probe ids (of each kind), every language, as ingest rows.

    The rows carry `source`/`group` "probe" and `origin` "probe:<id>:<lang>"; evaluate leaves
    ids found in the training split out of its probe figures.

    Raises:
        DatasetError: share outside [0, 1].
    """
    if not 0.0 <= share <= 1.0:
        raise DatasetError(f"probe_train_share must be in [0, 1], got {share}")
    probes = load_probes() if probes is None else probes
    rng = random.Random(f"{seed}/probe-train")
    chosen: list[str] = []
    for kind in sorted(KINDS):
        ids = sorted(set(probes.loc[probes["kind"] == kind, "id"]))
        chosen += rng.sample(ids, round(share * len(ids)))
    return as_ingest_rows(probes[probes["id"].isin(chosen)], PROBE_SOURCE)


def as_ingest_rows(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows in the probe set's columns as ingest rows: `source` is their source and group,
    `origin` "<source>:<id>:<lang>"."""
    out = pd.DataFrame({
        "text": rows["text"],
        "label": rows["label"],
        "category": [HAZARDS[c] if c else SAFE for c in rows["category_code"]],
        "category_code": rows["category_code"],
        "source": source, "group": source,
        "origin": [f"{source}:{i}:{lang}" for i, lang in zip(rows["id"], rows["lang"],
                                                             strict=True)],
    })
    return out[COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------- scoring
class _Texts:
    """Texts to score in one predict call (each distinct text once)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, texts: Iterable[str]) -> np.ndarray:
        idx = []
        for t in texts:
            if t not in self._index:
                self._index[t] = len(self.texts)
                self.texts.append(t)
            idx.append(self._index[t])
        return np.asarray(idx, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class _Answers:
    """What the guard answers per text: flagged (unsafe), passed (safe), unreadable (null)."""

    p_unsafe: np.ndarray
    flagged: np.ndarray
    unreadable: np.ndarray

    def unsafe_side(self, idx: np.ndarray) -> dict[str, Any]:
        """Figures on harmful prompts: answered unsafe, answered safe, cannot assess."""
        if not len(idx):
            return {"rows": 0, "recall": None, "passed_as_safe": None, "cannot_assess": 0}
        readable = ~self.unreadable[idx]
        return {"rows": len(idx), "recall": float(self.flagged[idx].mean()),
                "passed_as_safe": float((readable & ~self.flagged[idx]).mean()),
                "cannot_assess": int(self.unreadable[idx].sum())}

    def safe_side(self, idx: np.ndarray) -> dict[str, Any]:
        """Figures on benign prompts: share answered unsafe, cannot assess."""
        if not len(idx):
            return {"rows": 0, "false_flag_rate": None, "cannot_assess": 0}
        return {"rows": len(idx), "false_flag_rate": float(self.flagged[idx].mean()),
                "cannot_assess": int(self.unreadable[idx].sum())}


def _auroc(p: np.ndarray, y: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def _test_sample(test: pd.DataFrame | None, safe_id: int, unsafe: bool, n: int,
                 seed: int) -> pd.DataFrame:
    """Up to `n` test-split rows (harmful or benign), seeded, probe rows left out."""
    if test is None or not n or not len(test):
        return pd.DataFrame(columns=["raw_text"])
    rows = test[(test["label_id"] != safe_id) == unsafe]
    if "source" in rows.columns:
        rows = rows[rows["source"] != PROBE_SOURCE]
    return rows.sample(n=min(n, len(rows)), random_state=seed) if len(rows) else rows


def probe_metrics(predictor: Any, test: pd.DataFrame | None = None,
                  train_texts: Iterable[str] = (), probes: pd.DataFrame | None = None,
                  seed: int = SEED, max_test: int = MAX_TEST_PROMPTS,
                  max_benign: int = MAX_TEST_BENIGN, max_long: int = MAX_LONG_FORMS,
                  sources_dir: str | os.PathLike[str] = DEFAULT_CACHE,
                  templates: Sequence[JailbreakTemplate] | None = None,
                  n_templates: int = N_TEMPLATES) -> dict[str, Any]:
    """A guard model's figures on the probe set and on obfuscated/wrapped prompts.

    Every figure is taken at the model's saved threshold (fitted on the run's own validation
    split: for the probe languages other than English, the zero-shot setting). A prompt is
    answered unsafe when it is readable and P(unsafe) = 1 - P(Safe) reaches the threshold;
    "cannot assess" (the model cannot read it: `predictor.unreadable`) is never counted as safe,
    nor as caught, and is reported on its own.

    Args:
        predictor: `components.core.predict.load_predictor(model_dir)` of a model with a Safe class.
        test: the run's test split (`raw_text`, `label_id`; `row_id`, `source` when present);
            a seeded sample of its harmful (and benign) prompts is transformed too.
        train_texts: the training split's raw texts: probe ids found there are left out.
        probes: the probe set (default: `load_probes()`).
        seed: seeds the test sample, the transforms and the template sample.
        max_test: at most this many harmful test prompts per transform.
        max_benign: at most this many benign test prompts per benign-safe transform.
        max_long: at most this many test prompts for the LONG_KINDS transforms.
        sources_dir: the wheel cache holding pyrit's wheel (the jailbreak templates); without
            it the jailbreak kind is skipped and says why.
        templates: the jailbreak templates to sample from (default: read from `sources_dir`).
        n_templates: templates sampled; each prompt is wrapped in a seeded one of them.

    Returns:
        {"threshold", "excluded_ids", "per_language": {lang: figures},
         "per_obfuscation": {kind: {"probe": ..., "test": ..., "benign": ...}}, "skipped",
         "jailbreak_templates", "texts_scored", "predict_seconds"}.
    """
    from components.core.calibration import safe_index

    safe = safe_index(predictor.labels)
    if safe is None:
        raise DatasetError(f"probe_metrics needs a guard (a Safe class); labels are "
                           f"{list(predictor.labels)}")
    probes = load_probes() if probes is None else probes
    excluded = ids_in_training(probes, train_texts)
    ev = probes[~probes["id"].isin(excluded)].reset_index(drop=True)
    skipped: dict[str, str] = {}
    if templates is None:
        try:
            templates = jailbreak_templates(sources_dir)
        except (ResourceMissingError, DatasetError) as exc:
            skipped["jailbreak"] = str(exc)
            log.warning("probe set: jailbreak kind skipped: %s", exc)
            templates = []
    templates = list(templates)
    if len(templates) > n_templates:
        templates = random.Random(f"{seed}/templates").sample(templates, n_templates)
    wrappers = wrapper_sentences(probes, excluded) or wrapper_sentences(probes)
    fns = transforms(wrappers, templates)
    if not wrappers:
        skipped["mixed_script"] = "no benign probe prompts in a non-Latin script"

    batch = _Texts()
    lang_idx = batch.add(ev["text"])
    en = ev[ev["lang"] == SOURCE_LANGUAGE]
    sets = {  # name -> (texts, keys, harmful?)
        "probe": (en[en["kind"] == "harmful"], "id", True),
        "test": (_test_sample(test, safe, True, max_test, seed), "row_id", True),
        "probe_benign": (en[en["kind"] != "harmful"], "id", False),
        "test_benign": (_test_sample(test, safe, False, max_benign, seed), "row_id", False),
    }
    # (set, kind) -> indices of the plain prompts and of their transformed forms
    pairs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for name, (rows, key_col, harmful) in sets.items():
        col = "text" if name.startswith("probe") else "raw_text"
        texts = rows[col].tolist() if len(rows) else []
        keys = (rows[key_col].astype(str).tolist() if key_col in rows.columns
                else [str(i) for i in rows.index])
        plain = batch.add(texts)
        for kind, fn in fns.items():
            if harmful or kind in BENIGN_SAFE:
                n = max_long if kind in LONG_KINDS and name.startswith("test") else len(texts)
                pairs[name, kind] = (plain[:n], batch.add(
                    apply(kind, fn, t, k, seed) for t, k in zip(texts[:n], keys[:n], strict=True)))

    start = time.perf_counter()
    proba = predictor.predict_proba(batch.texts)
    seconds = time.perf_counter() - start
    threshold = predictor.threshold
    threshold = 0.5 if threshold is None else float(threshold)
    p_unsafe = 1.0 - proba[:, safe].astype(np.float64)
    unreadable = np.array([r is not None for r in predictor.unreadable(batch.texts)], dtype=bool)
    ans = _Answers(p_unsafe, (p_unsafe >= threshold) & ~unreadable, unreadable)

    per_language = {}
    for lang, (name, script) in LANGUAGES.items():
        m = (ev["lang"] == lang).to_numpy()
        if not m.any():
            continue
        idx, y = lang_idx[m], (ev.loc[m, "label"] == "unsafe").to_numpy()
        kinds = ev.loc[m, "kind"].to_numpy()
        u, s = ans.unsafe_side(idx[y]), ans.safe_side(idx[~y])
        per_language[lang] = {
            "language": name, "script": script, "unsafe": u["rows"], "safe": s["rows"],
            "unsafe_recall": u["recall"], "passed_as_safe": u["passed_as_safe"],
            "false_flag_rate": s["false_flag_rate"],
            "lookalike_false_flag_rate": ans.safe_side(idx[kinds == "lookalike"])["false_flag_rate"],
            "auroc": _auroc(p_unsafe[idx], y),
            "cannot_assess": int(unreadable[idx].sum()),
            "cannot_assess_unsafe": u["cannot_assess"]}

    per_obfuscation: dict[str, dict[str, Any]] = {}
    for kind in fns:
        entry: dict[str, Any] = {"what": KIND_NOTES[kind]}
        for name in ("probe", "test"):
            base, form = (ans.unsafe_side(i) for i in pairs[name, kind])
            entry[name] = {**form, "plain_recall": base["recall"],
                           "delta": (None if form["recall"] is None
                                     else form["recall"] - base["recall"])}
        if kind in BENIGN_SAFE:
            entry["benign"] = {}
            for name in ("probe_benign", "test_benign"):
                base, form = (ans.safe_side(i) for i in pairs[name, kind])
                entry["benign"][name.removesuffix("_benign")] = {
                    **form, "plain_false_flag_rate": base["false_flag_rate"]}
        per_obfuscation[kind] = entry
    log.info("probe set: %d texts scored in %.1f s (%d probe ids left out: in training)",
             len(batch.texts), seconds, len(excluded))
    return {"threshold": threshold, "seed": seed, "excluded_ids": sorted(excluded),
            "per_language": per_language, "per_obfuscation": per_obfuscation,
            "skipped": skipped, "jailbreak_templates": sorted(t.name for t in templates),
            "texts_scored": len(batch.texts), "predict_seconds": round(seconds, 3)}


def headline(figures: Mapping[str, Any]) -> dict[str, float]:
    """A few numbers of one model's probe figures for KFP metrics (None-free)."""
    langs = figures["per_language"]
    other = [v["unsafe_recall"] for k, v in langs.items()
             if k != SOURCE_LANGUAGE and v["unsafe_recall"] is not None]
    out = {}
    if SOURCE_LANGUAGE in langs and langs[SOURCE_LANGUAGE]["unsafe_recall"] is not None:
        out["probe_en_unsafe_recall"] = langs[SOURCE_LANGUAGE]["unsafe_recall"]
    if other:
        out["probe_min_unsafe_recall_other_languages"] = min(other)
    ffr = [v["false_flag_rate"] for v in langs.values() if v["false_flag_rate"] is not None]
    if ffr:
        out["probe_max_false_flag_rate"] = max(ffr)
    deltas = [e["test"]["delta"] for e in figures["per_obfuscation"].values()
              if e["test"]["delta"] is not None]
    if deltas:
        out["probe_worst_obfuscation_recall_delta"] = min(deltas)
    return out
