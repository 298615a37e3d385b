"""augment: the four EDA operations, balancing, flags and traceability, no leakage."""

import random

import pandas as pd
import pytest

from components.core.errors import DatasetError
from components.data.augment import (
    OPS,
    augment,
    class_targets,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
    synonyms,
)
from components.data.preprocess import preprocess

WORDS = ["the", "angry", "attacker", "wants", "to", "destroy", "the", "old", "building", "quickly"]


@pytest.mark.slow  # loads WordNet
def test_synonyms_come_from_wordnet():
    assert "destruct" in synonyms("destroy") or "ruin" in synonyms("destroy")
    assert "destroy" not in synonyms("destroy")


@pytest.mark.parametrize("op", [pytest.param(op, marks=pytest.mark.slow)  # loads WordNet
                                if op in ("synonym_replacement", "random_insertion") else op
                                for op in OPS])
def test_each_operation_is_deterministic_under_a_seed(op):
    fn = {"synonym_replacement": lambda r: synonym_replacement(WORDS, 2, r),
          "random_insertion": lambda r: random_insertion(WORDS, 2, r),
          "random_swap": lambda r: random_swap(WORDS, 2, r),
          "random_deletion": lambda r: random_deletion(WORDS, 0.3, r)}[op]
    a, b = fn(random.Random(3)), fn(random.Random(3))
    assert a == b
    assert a != WORDS
    outs = {" ".join(fn(random.Random(s))) for s in range(10)}
    assert len(outs) > 1  # and the seed matters


@pytest.mark.slow  # loads WordNet
def test_synonym_replacement_keeps_length_and_stopwords():
    out = synonym_replacement(WORDS, 1, random.Random(0))
    changed = [(a, b) for a, b in zip(WORDS, out, strict=False) if a != b]
    assert out.count("the") == 2
    assert changed and all(a != "the" for a, _ in changed)


@pytest.mark.slow  # loads WordNet
def test_random_insertion_adds_words():
    assert len(random_insertion(WORDS, 3, random.Random(0))) >= len(WORDS) + 3


def test_random_swap_is_a_permutation():
    assert sorted(random_swap(WORDS, 3, random.Random(0))) == sorted(WORDS)


def test_random_deletion_never_empties_a_sentence():
    assert random_deletion(["one"], 1.0, random.Random(0)) == ["one"]
    assert len(random_deletion(WORDS, 1.0, random.Random(0))) == 1


def test_class_targets_balance_toward_a_fraction_of_the_majority():
    assert class_targets({"a": 100, "b": 10, "c": 60}, 0.8, 4) == {"a": 0, "b": 40, "c": 20}
    assert class_targets({"a": 100, "b": 10}, 0.0, 4) == {"a": 0, "b": 0}


@pytest.fixture(scope="module")
def splits(tmp_path_factory, sample_csv):
    out = tmp_path_factory.mktemp("pre") / "out"
    return preprocess(str(sample_csv), out)


@pytest.fixture(scope="module")
def augmented(tmp_path_factory, splits):
    out = tmp_path_factory.mktemp("aug") / "out"
    res = augment(splits.path("train"), out, exclude_paths=[splits.path("val"), splits.path("test")],
                  balance_ratio=1.0)
    return res, pd.read_parquet(res.path("train"))


def test_minority_classes_are_topped_up_and_flagged(splits, augmented):
    res, df = augmented
    train = pd.read_parquet(splits.path("train"))
    before, after = train["label"].value_counts(), df["label"].value_counts()
    majority = before.idxmax()
    assert after[majority] == before[majority]  # the majority class is not augmented
    for label in before.index:
        assert after[label] >= before[label]
        assert after[label] <= min(before[majority], 5 * before[label])
    assert (after.max() - after.min()) < (before.max() - before.min())
    assert df["augmented"].sum() == res.stats["augmented_rows"] == len(df) - len(train)
    assert set(df.loc[df["augmented"], "aug_op"]) <= set(OPS)


def test_augmented_rows_trace_to_a_training_row_of_the_same_class(splits, augmented):
    _, df = augmented
    train = pd.read_parquet(splits.path("train")).set_index("row_id")
    aug = df[df["augmented"]]
    assert aug["source_row_id"].isin(train.index).all()
    assert (train.loc[aug["source_row_id"], "label"].to_numpy() == aug["label"].to_numpy()).all()
    assert df["row_id"].is_unique
    originals = df[~df["augmented"]]
    assert (originals["source_row_id"] == originals["row_id"]).all()


def test_no_validation_or_test_row_leaks_into_training(splits, augmented):
    _, df = augmented
    held_out = pd.concat([pd.read_parquet(splits.path("val")), pd.read_parquet(splits.path("test"))])
    assert not set(df["row_id"]) & set(held_out["row_id"])
    assert not set(df["source_row_id"]) & set(held_out["row_id"])
    assert not set(df["text"]) & set(held_out["text"])
    assert df["text"].is_unique


def test_lstm_field_recomputed_for_augmented_rows(augmented):
    from components.core.text import lstm_text

    _, df = augmented
    aug = df[df["augmented"]].head(20)
    assert aug["text_lstm"].tolist() == [lstm_text(t) for t in aug["text"]]


def test_augmentation_is_deterministic_under_a_seed(tmp_path, splits):
    a = augment(splits.path("train"), tmp_path / "a", seed=5)
    b = augment(splits.path("train"), tmp_path / "b", seed=5)
    c = augment(splits.path("train"), tmp_path / "c", seed=6)
    ta, tb, tc = (pd.read_parquet(r.path("train"))["text"].tolist() for r in (a, b, c))
    assert ta == tb
    assert ta != tc


def test_report_shows_before_and_after(augmented):
    res, _ = augmented
    html = res.path("report").read_text()
    assert "data:image/png;base64," in html and "<th>after</th>" in html


def test_validation_and_test_files_are_not_touched(tmp_path, splits):
    before = {n: splits.path(n).read_bytes() for n in ("val", "test")}
    augment(splits.path("train"), tmp_path / "a", exclude_paths=[splits.path("val"), splits.path("test")])
    assert {n: splits.path(n).read_bytes() for n in ("val", "test")} == before


def test_bad_alpha_is_rejected(tmp_path, splits):
    with pytest.raises(DatasetError, match="alpha"):
        augment(splits.path("train"), tmp_path / "a", alpha_sr=1.5)
    assert not (tmp_path / "a").exists()
