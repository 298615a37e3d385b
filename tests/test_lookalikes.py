"""The benign look-alike set and its harmful contrast (issue: over-flagging)."""

from __future__ import annotations

import pytest

from components import lookalikes as L
from components.errors import DatasetError
from components.ingest import dedup_key
from components.sources import COLUMNS, HAZARDS, SAFE


@pytest.fixture(scope="module")
def sets():
    return L.generate(seed=42)


def test_generation_is_reproducible_and_seeded(sets):
    assert L.generate(seed=42).equals(sets)
    assert not L.generate(seed=7).equals(sets)  # another sample of the larger kinds


def test_every_kind_is_a_group_of_its_own(sets):
    look = sets[sets["source"] == L.LOOKALIKE]
    assert set(look["group"]) == {f"{L.LOOKALIKE}/{k}" for k in L.KINDS}
    assert len(L.KINDS) >= 8
    assert (look["label"] == "safe").all() and (look["category"] == SAFE).all()
    contrast = sets[sets["source"] == L.CONTRAST]
    assert set(contrast["origin"]) <= set(L.KINDS)  # the contrast mirrors look-alike kinds
    assert len(set(contrast["origin"])) >= 3
    assert (contrast["label"] == "unsafe").all()
    assert set(contrast["category"]) <= set(HAZARDS.values())
    assert list(sets.columns) == COLUMNS


def test_generated_prompts_are_unique_and_pass_the_checks(sets):
    assert sets["text"].map(dedup_key).is_unique
    assert all(L.check_prompt(t) is None for t in sets["text"])
    assert sets.groupby("group").size().min() >= 5


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
