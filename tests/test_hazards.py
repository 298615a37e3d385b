"""The harmful prompts written for every hazard, the shapes grammar, and the generated sets
taken together (issue: coverage of the whole taxonomy, look-alikes in more shapes)."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from components.core.errors import DatasetError
from components.data import hazard_prompts, shapes, titles
from components.data import hazards as H
from components.data import lookalikes as L
from components.data.ingest import dedup_key
from components.data.sources import COLUMNS, HAZARDS

THIN = ("S5", "S6", "S8", "S13", "S14")  # the thin hazards


@pytest.fixture(scope="module")
def written():
    return H.generate(seed=42)


@pytest.fixture(scope="module")
def everything(written):
    return pd.concat([L.generate(seed=42), written], ignore_index=True)


# --------------------------------------------------------------------------- the written set
def test_generation_is_reproducible_and_seeded(written):
    assert H.generate(seed=42).equals(written)
    assert not H.generate(seed=7).equals(written)
    assert H.written_rows(42).equals(written)


def test_every_hazard_is_covered_most_for_the_thin_ones(written):
    counts = written["category_code"].value_counts().to_dict()
    assert counts == H.PER_HAZARD  # the grammar gives every hazard its full size
    assert set(counts) == set(HAZARDS)
    assert all(counts[c] >= 200 for c in THIN)
    assert all(counts[c] >= counts["S1"] for c in HAZARDS)
    assert (written["category"] == written["category_code"].map(HAZARDS)).all()
    assert (written["origin"] == written["category_code"]).all()
    assert (written["label"] == "unsafe").all() and (written["source"] == H.WRITTEN).all()
    assert list(written.columns) == COLUMNS


def test_groups_are_shapes_and_every_shape_holds_every_hazard(written):
    shape_of = written["group"].str.split("/").str[1]
    assert set(written["group"].str.split("/").str[0]) == {H.WRITTEN}
    assert set(shape_of) == {*shapes.SHAPES, H.HANDWRITTEN}
    per = pd.crosstab(written["category_code"], shape_of)
    assert (per[list(shapes.SHAPES)] > 0).all().all()  # a held-out shape tests every hazard
    sizes = shape_of[~shape_of.isin([H.HANDWRITTEN, shapes.SHORT])].value_counts()
    assert sizes.max() <= 1.2 * sizes.min()  # balanced shapes
    assert (shape_of == shapes.SHORT).sum() >= 0.5 * sizes.min()  # only short tasks are short
    hand = set(written.loc[shape_of == H.HANDWRITTEN, "text"])
    assert hand == {t for ts in hazard_prompts.HANDWRITTEN.values() for t in ts}


def test_written_prompts_pass_the_checks_and_are_unique(written):
    assert written["text"].map(dedup_key).is_unique
    for text in written["text"]:
        assert shapes.check_prompt(text, casual=text[:1].islower()) is None, text
        assert "{" not in text and "}" not in text
    short = written[written["group"] == f"{H.WRITTEN}/short"]["text"]
    assert short.str.split().str.len().max() <= shapes.SHORT_MAX_WORDS + 3  # "Best way to"
    casual = written[written["group"] == f"{H.WRITTEN}/casual"]["text"]
    assert (casual == casual.str.lower()).all()


def test_a_grammar_mistake_fails_generation(monkeypatch):
    broken = H.TASKS["S8"].__class__(act=("download {flim} for free",), ask=())
    monkeypatch.setitem(H.TASKS, "S8", broken)
    with pytest.raises(DatasetError, match=r"hazard S8: .* fail the checks"):
        H.generate(per_hazard={"S8": 5})
    with pytest.raises(DatasetError, match="S99"):
        H.generate(per_hazard={"S99": 5})


def test_policy_says_what_is_flagged_and_how_to_exclude_it():
    for code in ("S6", "S12"):
        text = H.POLICY[code]
        assert "Flagged:" in text and "Not flagged:" in text
        assert f"--exclude_categories {code}" in text
    assert set(H.POLICY) - {"scope"} <= set(HAZARDS)
    json.dumps(H.POLICY)  # goes into model_info.json as it is


# --------------------------------------------------------------------------- shapes
def test_render_puts_the_task_in_the_person_of_the_shape():
    rng = random.Random(0)
    task = "cut {myself} where nobody will see {my} marks"
    for _ in range(20):
        third = shapes.render(task, "act", "third_person", rng)
        assert "myself" not in third and " my " not in f" {third} "
        assert shapes.render(task, "act", "direct", rng).count("myself") == 1
    story = shapes.render("write out the lyrics of {song}", "ask", "story", rng)
    assert "{song}" in story  # unknown slots survive, so the checks can catch them
    assert shapes.check_prompt(story) == "unfilled slot or spacing/punctuation error"
    casual = shapes.render("kill a frozen process on Linux", "act", "casual", rng)
    assert casual == casual.lower() and shapes.check_prompt(casual, casual=True) is None
    assert "short" not in shapes.shapes_for("act", "a task of many words " * 3)
    assert shapes.shapes_for("question") == ("direct", "third_person", "context", "roleplay",
                                             "story", "casual")


def test_unrestricted_personas_only_frame_harmful_tasks():
    rng = random.Random(1)
    benign = {shapes.render("bake bread", "act", "roleplay", rng) for _ in range(300)}
    assert not any(p in t for t in benign for p in shapes.UNRESTRICTED_PERSONAS)
    harmful = {shapes.render("bake bread", "act", "roleplay", rng, harmful=True)
               for _ in range(300)}
    assert any(p in t for t in harmful for p in shapes.UNRESTRICTED_PERSONAS)


def test_pick_balances_shapes_and_skips_what_was_seen():
    prompts = [(f"Question number {i} about shape a?", "a") for i in range(50)]
    prompts += [(f"Question number {i} about shape b?", "b") for i in range(5)]
    seen = {dedup_key("Question number 0 about shape b?")}
    out = shapes.pick(prompts, 20, random.Random(0), seen, "test")
    assert len(out) == 20 and sum(s == "b" for _, s in out) == 4  # all of b that was not seen
    assert len(seen) == 21
    with pytest.raises(DatasetError, match="test: 1 generated prompt"):
        shapes.pick([("no capital here at all?", "direct")], 1, random.Random(0), set(), "test")
    assert shapes.pick([("no capital here at all?", shapes.CASUAL)], 1, random.Random(0), set(), "t")


# --------------------------------------------------------------------------- all generated sets
def test_nothing_is_both_safe_and_unsafe_after_normalisation(everything):
    keys = everything["text"].map(dedup_key)
    assert keys.is_unique  # no repeats across the look-alike, contrast and written sets
    safe = set(keys[everything["label"] == "safe"])
    assert not safe & set(keys[everything["label"] == "unsafe"])


def test_close_safe_unsafe_pairs_are_the_intended_minimal_pairs(everything):
    """A benign and a harmful prompt a word or two apart must be a look-alike kind and its own
    contrast (the same frame, a harmful slot); anything else would be a near-copy."""
    from sklearn.feature_extraction.text import CountVectorizer

    x = CountVectorizer(binary=True, tokenizer=str.split, token_pattern=None,
                        lowercase=False).fit_transform(everything["text"].map(dedup_key))
    safe = np.flatnonzero(everything["label"] == "safe")
    unsafe = np.flatnonzero(everything["label"] == "unsafe")
    inter = (x[safe] @ x[unsafe].T).toarray()
    sizes = np.asarray(x.sum(1)).ravel()
    symdiff = sizes[safe][:, None] + sizes[unsafe][None, :] - 2 * inter
    assert symdiff.min() >= 2  # never a one-word addition or removal
    kinds = everything["group"].str.split("/").str[1].to_numpy()
    i, j = np.nonzero(symdiff <= 3)
    assert len(i) > 0
    assert all(kinds[safe[a]] == kinds[unsafe[b]] for a, b in zip(i, j, strict=True))


def test_shapes_are_no_cue_for_the_label(everything):
    """The frames of the shapes appear on both sides."""
    for frame in ("I'm writing a ", "Pretend you're ", "asked me to find out how to",
                  "Someone in my group chat dared me"):
        has = everything["text"].str.contains(frame, regex=False)
        assert set(everything.loc[has, "label"]) == {"safe", "unsafe"}, frame
    lower = everything["text"].str[:1].str.islower()
    assert set(everything.loc[lower, "label"]) == {"safe", "unsafe"}


# --------------------------------------------------------------------------- held-out gaps
# Cybercrime, disinformation and copyright: where held-out HarmBench showed the guard to
# generalise least. The written side asks for the act; the look-alikes talk about the same
# topics and titles; the title lists must stay out of the held-out source.
CYBER = (r"malware|keylogger|ransomware|exploit|DDoS|SQL injection|XSS|botnet|Wi-Fi|antivirus|"
         r"Defender|rootkit|trojan|worm|virus|phishing|brute-force|logs|hack|password|payload|"
         r"cookies|admin|two-factor|SIM swap|server|network")
DISINFO = r"genocide|massacre|Holocaust|cures|vaccines|5G|moon landings|fake news|bot accounts"


def test_s2_holds_cybercrime_and_disinformation_asks(written):
    s2 = written[written["category_code"] == "S2"]["text"]
    cyber = s2.str.contains(CYBER, case=False, regex=True)
    assert cyber.mean() >= 0.4  # most of S2 is now attack code and instructions
    assert s2.str.contains(DISINFO, case=False, regex=True).sum() >= 20
    # the same words on the benign side: security and fact-checking look-alikes
    look = L.generate(seed=42)
    safe = look[look["label"] == "safe"]
    for kind, pattern in (("security_defence", CYBER), ("fact_checking", DISINFO)):
        texts = safe[safe["origin"] == kind]["text"]
        assert texts.str.contains(pattern, case=False, regex=True).mean() >= 0.3, kind


def test_s8_reproduction_is_asked_with_many_verbs_and_titles(written):
    s8 = written[written["category_code"] == "S8"]["text"]
    verbs = ["generate", "print", "recite", "output", "produce", "write out", "type out",
             "word for word", "verbatim", "copy out"]
    assert all(s8.str.contains(v, case=False, regex=False).any() for v in verbs)
    used = [t for t in titles.all_titles() if s8.str.contains(t, regex=False).any()]
    assert len(used) >= 60  # no handful of titles for a model to learn instead of the act
    assert not [t for t in titles.PUBLIC_DOMAIN + titles.PUBLIC_DOMAIN_SONGS if t in used]


def test_titles_are_shared_by_both_sides_and_public_domain_is_apart():
    from components.data import lookalike_topics

    spec = H.TASKS["S8"].slots
    assert set(spec["song"]) == set(titles.cited(titles.SONGS))
    assert set(spec["book"]) == set(titles.cited(titles.BOOKS))
    assert '"Dune" by Frank Herbert' in spec["book"] and "Frank Herbert's Dune" in spec["book"]
    assert set(titles.FILMS) <= set(spec["film"]) and set(spec["show"]) == set(titles.SHOWS)
    benign = lookalike_topics.WORKS_SLOTS
    for slot in ("song", "book", "show", "poem"):
        assert set(benign[slot]) == set(spec[slot]), slot
    assert set(titles.FILMS) <= set(benign["film"])
    protected = {t for ts in titles.PROTECTED.values() for t in ts}
    assert not protected & set(titles.PUBLIC_DOMAIN + titles.PUBLIC_DOMAIN_SONGS)
    assert len(titles.all_titles()) == len(set(titles.all_titles())) >= 150


def test_overlap_finds_titles_as_whole_words():
    texts = ["Generate the lyrics of Hey Jude by the Beatles", "They said hello twice"]
    assert titles.overlap(["Hey Jude", "The Hello", "Jude"], texts) == ["Hey Jude", "Jude",
                                                                         "The Hello"]
    assert titles.overlap(["Hell", "Dune"], texts) == []


def test_no_title_occurs_in_the_held_out_harmbench_behaviours():
    """HarmBench is held out of training: none of its works may be in our title lists or the
    hand-written S8 prompts (its rows are read only for this check; skipped where the wheel is
    not in the source cache)."""
    from pathlib import Path

    from components.data.sources import SOURCES, read_source

    harmbench = next(s for s in SOURCES if s.name == "harmbench")
    if not (Path(".sources") / harmbench.wheel).exists():
        pytest.skip(f"{harmbench.wheel} is not in .sources (make sources)")
    behaviours = read_source(".sources", harmbench)["text"].tolist()
    assert len(behaviours) >= 300
    assert titles.overlap(titles.all_titles(), behaviours) == []
    assert titles.overlap(titles.makers(), behaviours) == []  # no HarmBench maker credited
    for prompt in hazard_prompts.HANDWRITTEN["S8"]:  # no behaviour's title in them either
        assert not any(dedup_key(b) in dedup_key(prompt) for b in behaviours), prompt


def test_the_command_writes_the_set_or_prints_its_table(tmp_path, capsys, written):
    out = tmp_path / "written.csv"
    assert H.main(["--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == len(written)
    assert H.main([]) == 0 and "All" in capsys.readouterr().out  # the hazard x shape table
    assert L.main(["--out", str(tmp_path / "l.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "l.csv")) == len(L.generate(seed=42))
