"""The team's training translations: every id in 17 languages, clear of the held-out probe set,
every hazard covered, and an ingest source of their own."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from components.core.errors import DatasetError
from components.core.taxonomy import HAZARDS
from components.data import ingest as ingest_mod
from components.data import translations as T
from components.evaluation import probes as P


@pytest.fixture(scope="module")
def data():
    return T.load_translations()


def test_every_id_is_in_every_language_with_its_script(data):
    assert set(data["lang"]) == set(T.LANGUAGES) and len(T.LANGUAGES) == 17
    per_id = data.groupby("id")["lang"].nunique()
    assert (per_id == len(T.LANGUAGES)).all()
    assert not T.main([])  # the CLI check passes on the checked-in parts


def test_every_hazard_has_harmful_prompts_and_safe_ones_outnumber_them(data):
    en = data[data["lang"] == "en"]
    codes = en.loc[en["kind"] == "harmful", "category_code"].value_counts()
    assert set(codes.index) == set(HAZARDS), sorted(set(HAZARDS) - set(codes.index))
    assert codes.min() >= 3
    # Alarming-but-safe look-alikes well outnumbered by harmful prompts: at 56 look-alikes to 61
    # harmful ids the guard learned that alarming words outside English are mostly safe (probe
    # recall fell in 11 of 12 languages, commit 8c9c909); at 104 to 192 (3de0fa6) recall held
    # or rose in every language (docs/results/recorded.md).
    kinds = en["kind"].value_counts()
    assert kinds["harmful"] >= 1.8 * kinds["lookalike"] and kinds["benign"] > 0
    short = en.loc[en["kind"] == "harmful", "text"].str.split().str.len() <= 14
    assert short.sum() >= 60  # short, direct asks, the form the first parts lacked


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_no_translation_is_a_probe_prompt_or_close_to_one(data):
    """The probe set stays the held-out measure: no text shared in any language (compared as
    ingest de-duplicates), and no English prompt sharing 40% of its words with a probe prompt."""
    probes = P.load_probes()
    key = ingest_mod.dedup_key
    assert not set(data["text"].map(key)) & set(probes["text"].map(key))
    probe_en = [_words(t) for t in probes.loc[probes["lang"] == "en", "text"]]
    close = [(t, round(len(w & q) / len(w | q), 2))
             for t in data.loc[data["lang"] == "en", "text"] for w in [_words(t)]
             for q in probe_en if len(w & q) / len(w | q) >= 0.4]
    assert not close, close[:5]


def test_translated_rows_are_one_source_and_group_with_the_taxonomy(data):
    rows = T.translated_rows()
    assert len(rows) == len(data)
    assert set(rows["source"]) == set(rows["group"]) == {T.TRANSLATED}
    assert rows["origin"].str.fullmatch(r"translated:[a-z]+\d+:[a-z]{2}").all()
    unsafe = rows[rows["label"] == "unsafe"]
    assert (unsafe["category"] == unsafe["category_code"].map(HAZARDS)).all()
    assert (rows.loc[rows["label"] == "safe", "category"] == "Safe").all()
    assert T.TRANSLATED in ingest_mod.selected_sources("all")
    assert T.TRANSLATED not in ingest_mod.selected_sources("all", exclude=T.TRANSLATED)


def _part(data: pd.DataFrame) -> pd.DataFrame:
    first = sorted(set(data["id"]))[:2]
    return data[data["id"].isin(first)].copy()


@pytest.mark.parametrize("breakage, expected", [
    (lambda df: df[df["lang"] != "tr"], "no text in ['tr']"),
    (lambda df: df.assign(script=df["script"].where(df["lang"] != "fr", "CYRILLIC")),
     "/fr: script 'CYRILLIC', fr is written in LATIN"),
    (lambda df: df.assign(lang=df["lang"].replace("id", "xx")), "unknown language 'xx'"),
    (lambda df: df.drop(columns="script"), "columns must be"),
    (lambda df: df.assign(id=df["id"].map(lambda i: f"Prompt {i} in Indonesian")),
     "ids must look like <part><number>"),
])
def test_a_broken_part_is_refused_with_what_is_wrong(data, breakage, expected, tmp_path):
    path = tmp_path / "part.csv"
    breakage(_part(data)).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=re.escape(expected)):
        T.load_part(path)
    assert T.main(["--check", str(path)]) == 2


def test_unreadable_missing_and_overlapping_parts_are_refused(data, tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        T.load_part(tmp_path / "nope.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"id,lang\nx1,en\n" + "caf\xe9".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        T.load_part(latin1)
    with pytest.raises(DatasetError, match="no translation parts"):
        T.load_translations(tmp_path / "empty")
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("a.csv", "b.csv"):
        _part(data).to_csv(twice / name, index=False)
    with pytest.raises(DatasetError, match="repeat"):
        T.load_translations(twice)


def test_the_per_source_cap_leaves_the_translations_whole(tmp_path, monkeypatch):
    """Every id in every language: ingest's cap (3,000 rows per source) must not sample them."""
    from source_fakes import write_fake_wheels

    cache = write_fake_wheels(tmp_path / "cache")
    res = ingest_mod.ingest(None, cache, tmp_path / "out", sources="translated,lookalike",
                            max_per_source=100, verify=False)
    df = pd.read_parquet(res.path("prompts"))
    per_source = df["source"].value_counts()
    assert per_source["lookalike"] == 100
    assert per_source[T.TRANSLATED] > 3000 - 100  # de-duplication aside, all of them

