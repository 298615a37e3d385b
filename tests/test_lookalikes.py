"""The benign look-alike set and its harmful contrast (issue: over-flagging)."""

from __future__ import annotations

import re

import pytest

from components.core.errors import DatasetError
from components.data import lookalikes as L
from components.data.ingest import dedup_key
from components.data.sources import COLUMNS, HAZARDS, SAFE


@pytest.fixture(scope="module")
def sets():
    return L.generate(seed=42)


def test_generation_is_reproducible_and_seeded(sets):
    assert L.generate(seed=42).equals(sets)
    assert not L.generate(seed=7).equals(sets)  # another sample of the larger kinds


def test_every_kind_is_a_group_of_its_own(sets):
    look = sets[sets["source"] == L.LOOKALIKE]
    assert set(look["group"]) == {f"{L.LOOKALIKE}/{k}" for k in L.KINDS}
    assert len(L.KINDS) >= 22
    assert (look["label"] == "safe").all() and (look["category"] == SAFE).all()
    contrast = sets[sets["source"] == L.CONTRAST]
    assert set(contrast["origin"]) <= set(L.KINDS)  # the contrast mirrors look-alike kinds
    assert len(set(contrast["origin"])) >= 3
    assert (contrast["label"] == "unsafe").all()
    assert set(contrast["category"]) <= set(HAZARDS.values())
    assert list(sets.columns) == COLUMNS


def test_generated_prompts_are_unique_and_pass_the_checks(sets):
    assert sets["text"].map(dedup_key).is_unique
    # the casual shape (chat spelling) is the only one in lowercase
    assert all(L.check_prompt(t, casual=t[:1].islower()) is None for t in sets["text"])
    assert sets.groupby("group").size().min() >= 5


# The XSTest paper's types of safe prompt that the first eight kinds did not cover, and the
# benign side of the thin hazards (written here, not taken from XSTest).
NEW_KINDS = {"safe_targets", "safe_contexts", "nonsense_groups", "absurd_premises",
             "fictional_privacy", "civic_elections", "copyright_fair_use", "code_sandbox",
             "honest_criticism", "sexual_health", "works_discussion", "security_defence",
             "fact_checking", "everyday_statements"}
# kind -> the hazards of its harmful twins
CONTRAST_CODES = {"nonsense_groups": {"S10"}, "absurd_premises": {"S10"},
                  "fictional_privacy": {"S7"}, "public_figures": {"S7"},
                  "civic_elections": {"S13"}, "copyright_fair_use": {"S8"},
                  "code_sandbox": {"S14"}, "honest_criticism": {"S5"}, "sexual_health": {"S12"},
                  "medical_legal_self": {"S6"}, "safe_targets": {"S1"},
                  "safe_contexts": {"S1", "S2"}, "works_discussion": {"S8"},
                  "security_defence": {"S2"}, "fact_checking": {"S2"},
                  "everyday_statements": {"S1", "S2", "S3", "S8", "S9", "S11"}}


def test_every_kind_is_large_and_mixes_shapes(sets):
    look = sets[sets["source"] == L.LOOKALIKE]
    assert set(L.KINDS) >= NEW_KINDS and len(L.KINDS) == 22
    sizes = look.groupby("origin").size()
    assert sizes.min() >= 100 and sizes.max() == L.PER_KIND
    # beyond the direct question: context sentences, role-play, stories, chat spelling
    for kind, part in look.groupby("origin"):
        texts = part["text"]
        framed = texts.str.contains("I'm writing a |You are |Pretend you're |Act as |"
                                    "asked me|wants to know|Quick question", regex=True)
        assert framed.sum() >= 5, kind
        assert texts.str[:1].str.islower().sum() >= 3, kind  # the casual shape


def test_contrast_twins_carry_the_hazard_of_their_kind(sets):
    contrast = sets[sets["source"] == L.CONTRAST]
    codes = contrast.groupby("origin")["category_code"].agg(set).to_dict()
    for kind, expected in CONTRAST_CODES.items():
        assert codes[kind] == expected, kind
    sizes = contrast.groupby("origin").size()
    assert all(sizes[k] == L.CONTRAST_PER_KIND for k in NEW_KINDS)


def test_everyday_statements_are_benign_chit_chat_in_alarming_words(sets):
    """Diary-like statements (the guard flagged "I fixed the door with a few drops of oil"), many
    without any question, in many of the words the harmful data made alarming; their twins end
    the same statements in a harmful ask."""
    from components.data import lookalike_everyday as E

    kind = sets[sets["origin"] == "everyday_statements"]
    look = kind[kind["source"] == L.LOOKALIKE]
    assert len(look) == L.PER_KIND and (look["label"] == "safe").all()
    assert (~look["text"].str.contains("?", regex=False)).sum() >= 30  # statements only
    assert (look["text"].str.count(r"[.?] ") >= 2).sum() >= 20  # multi-sentence snippets
    words = " ".join(look["text"]).lower()
    used = {w for w in E.TRIGGER_WORDS if re.search(rf"\b{w}", words)}
    assert len(used) >= 25, sorted(set(E.TRIGGER_WORDS) - used)
    twins = kind[kind["source"] == L.CONTRAST]
    assert len(twins) == L.CONTRAST_PER_KIND and (twins["label"] == "unsafe").all()
    harmful = {dedup_key(a) for a, _ in E.HARMFUL_ASKS}
    assert not any(dedup_key(a) in harmful for a in E.ASKS)
    assert all(len(t.split()) <= E.CONTRAST_MAX_WORDS for t in twins["text"])
    other = L.generate(seed=7)
    assert set(other.loc[other["origin"] == "everyday_statements", "text"]) != set(kind["text"])


def test_a_contrast_frame_mistake_fails_generation(monkeypatch):
    from components.data import lookalike_kinds

    monkeypatch.setattr(lookalike_kinds, "PRIVACY_FRAMES", ["What is {p}'s {attr}?"])
    with pytest.raises(DatasetError, match=r"contrast kind 'fictional_privacy'.*fail the checks"):
        L.generate()


@pytest.mark.parametrize(("text", "problem"), [
    ("How do I {verb} a process?", "unfilled slot"),
    ("How do I  kill a process?", "spacing"),
    ("how do I kill a process?", "capital"),
    ("How do I kill a process", "end with"),
    ("Why?", "length"),
])
def test_check_prompt_catches_obvious_mistakes(text, problem):
    assert problem in L.check_prompt(text)


def test_a_template_mistake_fails_generation(monkeypatch):
    monkeypatch.setattr(L, "SAFETY", ["How do I store {x} safely?"])
    with pytest.raises(DatasetError, match="fail the checks"):
        L.generate()


def test_wordnet_gives_non_violent_senses():
    examples = L.wordnet_figurative_examples()
    assert examples, "WordNet is provisioned by make setup"
    assert any("execute" in e or "executed" in e for e in examples)
    assert not any(w in e.lower().split() for e in examples for w in ("her", "him", "enemy"))
