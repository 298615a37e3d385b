"""preprocess: de-duplication, merging, encoding, stratified split, length analysis, bad inputs."""

import json

import pandas as pd
import pytest
from sample_rows import make_rows

from components.core.errors import DatasetError
from components.core.files import read_json
from components.data.preprocess import (
    OTHER_LABEL,
    drop_exact_duplicates,
    merge_sparse_classes,
    preprocess,
)


def test_exact_duplicates_dropped_and_counted():
    df = pd.DataFrame({"a": ["x", "x", "x", "y"], "b": ["1", "1", "2", "1"]})
    out, n = drop_exact_duplicates(df)
    assert n == 1
    assert out.values.tolist() == [["x", "1"], ["x", "2"], ["y", "1"]]


def test_sparse_classes_merge_into_other():
    labels = pd.Series(["a"] * 5 + ["b"] * 2 + ["c"] * 1 + ["d"] * 5)
    merged, names = merge_sparse_classes(labels, min_count=3)
    assert names == ["b", "c"]
    assert merged.value_counts().to_dict() == {"a": 5, "d": 5, OTHER_LABEL: 3}


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory, sample_csv):
    out = tmp_path_factory.mktemp("pre") / "out"
    return preprocess(str(sample_csv), out), out


def test_outputs_and_label_map(sample_out):
    res, _out = sample_out
    for name in ("train", "val", "test", "label_map", "length_stats", "report", "stats"):
        assert res.path(name).is_file(), name
    label_map = read_json(res.path("label_map"))
    assert label_map["labels"] == sorted(label_map["labels"])
    assert label_map["label2id"] == {n: i for i, n in enumerate(label_map["labels"])}
    assert "other" in label_map["labels"]  # the sample's sparse classes were merged
    assert label_map["text_settings"]["text_columns"] == ["query", "image descriptions"]
    train = pd.read_parquet(res.path("train"))
    assert {"row_id", "text", "text_lstm", "label", "label_id"} <= set(train.columns)
    assert (train["label"].map(label_map["label2id"]) == train["label_id"]).all()
    # the prompt alone is kept for evaluate's ablation; the joined text starts with it
    assert all(t.startswith(p) for t, p in zip(train["raw_text"], train["raw_primary"], strict=True))


def test_duplicates_are_dropped_before_splitting(sample_out, sample_csv):
    res, _ = sample_out
    raw = pd.read_csv(sample_csv)
    assert res.stats["duplicates_dropped"] == raw.duplicated().sum() > 0
    total = sum(res.stats["split_sizes"].values())
    assert total == len(raw.drop_duplicates())


def test_splits_are_disjoint_and_stratified(sample_out):
    res, _ = sample_out
    parts = {n: pd.read_parquet(res.path(n)) for n in ("train", "val", "test")}
    ids = [set(p["row_id"]) for p in parts.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    texts = [set(p["text"]) for p in parts.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2])
    n = sum(len(p) for p in parts.values())
    assert len(parts["test"]) == pytest.approx(0.15 * n, abs=2)
    full = pd.concat(parts.values())["label"].value_counts(normalize=True)
    for part in parts.values():  # every class in every split, in about the same proportion
        share = part["label"].value_counts(normalize=True)
        assert set(share.index) == set(full.index)
        assert (share - full).abs().max() < 0.08


@pytest.mark.slow  # three preprocess runs
def test_split_is_deterministic_under_a_seed(tmp_path, sample_csv):
    a = preprocess(str(sample_csv), tmp_path / "a", seed=1)
    b = preprocess(str(sample_csv), tmp_path / "b", seed=1)
    c = preprocess(str(sample_csv), tmp_path / "c", seed=2)
    ta, tb, tc = (pd.read_parquet(r.path("test"))["row_id"].tolist() for r in (a, b, c))
    assert ta == tb
    assert ta != tc


def test_length_analysis_gives_the_lstm_sequence_length(sample_out):
    res, _ = sample_out
    stats = read_json(res.path("length_stats"))
    train = pd.read_parquet(res.path("train"))
    lengths = train["text_lstm"].str.split().str.len()
    assert stats["percentile"] == 95.0
    assert stats["lstm_seq_len"] == max(4, int(-(-lengths.quantile(0.95) // 1)))
    assert stats["text"]["p50"] <= stats["text"]["p95"] <= stats["text"]["p100"]


def test_eda_report_has_plots(sample_out):
    res, _ = sample_out
    html = res.path("report").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "duplicates dropped" in html
    assert (res.out_dir / "eda" / "class_balance.png").stat().st_size > 1000


def test_transformer_text_is_unstemmed_and_lstm_text_is_stemmed(sample_out):
    res, _ = sample_out
    train = pd.read_parquet(res.path("train"))
    row = train.iloc[0]
    assert row["text"] == row["text"].lower()
    assert len(row["text_lstm"].split()) < len(row["text"].split())


def test_custom_column_names(tmp_path, write_csv):
    rows = [{"prompt": r["query"], "y": r["Toxic Category"]}
            for r in make_rows({"a": 25, "b": 25})]
    res = preprocess(str(write_csv(rows)), tmp_path / "o", text_columns="prompt", label_column="y")
    assert res.stats["num_classes"] == 2


def test_parquet_input(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame(make_rows({"a": 25, "b": 25})).to_parquet(path)
    assert preprocess(str(path), tmp_path / "o").stats["rows"] == 50


def test_invalid_rows_can_be_dropped_on_request(tmp_path, write_csv):
    rows = [*make_rows({"a": 25, "b": 25}), {"query": "", "image descriptions": "x", "Toxic Category": "a"}]
    res = preprocess(str(write_csv(rows)), tmp_path / "o", drop_invalid_rows=True)
    assert res.stats["invalid_rows_dropped"] == 1


# ----------------------------------------------------------------------------- bad inputs
def _bad(tmp_path, data, match, **kw):
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=match):
        preprocess(str(data), out, **kw)
    # nothing half-written: neither the output dir nor a temporary sibling is left
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]


def test_missing_file(tmp_path):
    _bad(tmp_path, tmp_path / "nope.csv", "not found")


def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    _bad(tmp_path, tmp_path / "e.csv", "empty")


def test_header_only(tmp_path):
    (tmp_path / "h.csv").write_text("query,image descriptions,Toxic Category\n")
    _bad(tmp_path, tmp_path / "h.csv", "no rows")


def test_non_utf8_file(tmp_path, write_csv):
    path = write_csv(make_rows({"a": 25, "b": 25}))
    path.write_bytes(path.read_bytes().replace(b"question", "quéstion".encode("latin-1")))
    _bad(tmp_path, path, r"not valid utf-8.*0xe9")


def test_unparseable_file(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text('query,image descriptions,Toxic Category\n"a,b,c\nd,e,f,g,h\n')
    _bad(tmp_path, path, "could not be parsed|cannot read")


def test_binary_garbage_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"\x00not a parquet file" * 10)
    _bad(tmp_path, path, "cannot read dataset")


def test_missing_columns_are_named(tmp_path, write_csv):
    rows = [{"query": "x", "label": "a"}]
    _bad(tmp_path, write_csv(rows), r"missing required column\(s\) \['image descriptions', 'Toxic Category'\]")


def test_single_class(tmp_path, write_csv):
    _bad(tmp_path, write_csv(make_rows({"Safe": 30})), "single class.*'Safe'")


def test_single_class_after_merging(tmp_path, write_csv):
    _bad(tmp_path, write_csv(make_rows({"a": 3, "b": 3})), "only one class left", min_class_count=5)


def test_empty_and_nan_text(tmp_path, write_csv):
    rows = make_rows({"a": 25, "b": 25})
    rows[3]["query"] = ""
    rows[5]["query"] = None
    _bad(tmp_path, write_csv(rows), r"2 row\(s\) have empty/missing 'query'")


def test_missing_label(tmp_path, write_csv):
    rows = make_rows({"a": 25, "b": 25})
    rows[0]["Toxic Category"] = None
    _bad(tmp_path, write_csv(rows), "empty/missing")


def test_class_too_small_to_split(tmp_path, write_csv):
    _bad(tmp_path, write_csv(make_rows({"a": 20, "b": 2})), "too small", min_class_count=1)


def test_bad_split_sizes(tmp_path, write_csv):
    _bad(tmp_path, write_csv(make_rows({"a": 25, "b": 25})), "val_size", val_size=0.6, test_size=0.5)


def test_failure_leaves_previous_output_untouched(tmp_path, write_csv):
    out = tmp_path / "out"
    preprocess(str(write_csv(make_rows({"a": 25, "b": 25}))), out)
    before = json.loads((out / "eda" / "stats.json").read_text())
    with pytest.raises(DatasetError):
        preprocess(str(write_csv(make_rows({"a": 25}), name="one.csv")), out)
    assert json.loads((out / "eda" / "stats.json").read_text()) == before


@pytest.mark.slow
def test_real_dataset(tmp_path, real_csv):
    res = preprocess(str(real_csv), tmp_path / "o")
    s = res.stats
    assert s["rows_raw"] == 3000
    assert s["duplicates_dropped"] == 973
    assert set(s["merged_classes"]) == {"Child Sexual Exploitation", "Elections",
                                        "Sex-Related Crimes", "Suicide & Self-Harm"}
    assert s["num_classes"] == 6


def _grouped_prompts(tmp_path):
    """A prompt table with sources and groups: two unsafe groups, two benign ones, and a
    category that exists only in the group held out."""
    rows = []
    for i in range(60):
        rows.append({"text": f"how do I hurt someone badly number {i}", "category": "Violent Crimes",
                     "source": "a", "group": "a"})
        rows.append({"text": f"what is a nice recipe for dinner {i}", "category": "Safe",
                     "source": "b", "group": "b"})
    for i in range(25):
        rows.append({"text": f"write lyrics of a famous song {i}", "category": "Intellectual Property",
                     "source": "held", "group": "held"})
        rows.append({"text": f"how do I kill a python process {i}", "category": "Safe",
                     "source": "lookalike", "group": "second_meaning"})
        rows.append({"text": f"a translated prompt to learn from {i}", "category": "Safe",
                     "source": "probe", "group": "probe"})
    path = tmp_path / "prompts.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_holdout_groups_never_reach_train_val_or_test(tmp_path):
    res = preprocess(_grouped_prompts(tmp_path), tmp_path / "out", text_columns="text",
                     label_column="category", keep_columns="source,group",
                     holdout_groups="held,second_meaning", train_only_sources="probe")
    splits = {n: pd.read_parquet(res.path(n)) for n in ("train", "val", "test", "holdout")}
    assert set(splits["holdout"]["group"]) == {"held", "second_meaning"}
    assert len(splits["holdout"]) == 50 and res.stats["holdout_rows"] == 50
    for name in ("train", "val", "test"):
        assert not set(splits[name]["group"]) & {"held", "second_meaning"}
    # a category seen only in held-out rows is not a class of the model
    labels = read_json(res.path("label_map"))["labels"]
    assert "Intellectual Property" not in labels
    held = splits["holdout"]
    assert (held.loc[held["label"] == "Intellectual Property", "label_id"] == -1).all()
    assert (held.loc[held["label"] == "Safe", "label_id"] == labels.index("Safe")).all()
    # train-only rows are all in the training split, none in val/test
    assert (splits["train"]["source"] == "probe").sum() == 25
    assert not (splits["val"]["source"] == "probe").any()
    assert not (splits["test"]["source"] == "probe").any()


def test_holdout_groups_that_match_nothing_are_an_error(tmp_path, caplog):
    with pytest.raises(DatasetError, match=r"holdout group\(s\) \['typo'\] match no row"):
        preprocess(_grouped_prompts(tmp_path), tmp_path / "out", text_columns="text",
                   label_column="category", keep_columns="source,group", holdout_groups="typo")
    assert not (tmp_path / "out").exists()
    # one of several missing (its source left out of the run): said, the others held out
    res = preprocess(_grouped_prompts(tmp_path), tmp_path / "out", text_columns="text",
                     label_column="category", keep_columns="source,group",
                     holdout_groups="held,excluded-source")
    assert res.stats["holdout_groups"] == {"held": 25}
    assert "['excluded-source'] match no row" in caplog.text


def test_without_holdout_groups_the_holdout_split_is_empty(sample_out):
    res, _out = sample_out
    assert pd.read_parquet(res.path("holdout")).empty


def test_strata_too_small_even_by_label_still_split():
    from components.data.preprocess import strata

    # label 1: 30 rows in one large group, and one row alone in another group
    labels = pd.Series([0] * 100 + [1] * 31)
    groups = pd.Series(["a"] * 50 + ["b"] * 50 + ["c"] * 30 + ["d"])
    key = strata(labels, groups, 0.15, 0.15)
    assert key.value_counts().min() >= 8
