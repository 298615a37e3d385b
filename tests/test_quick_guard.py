"""The quick guard: built from (fake) source wheels in a few seconds with a tiny encoder, loaded
like any model directory, served by the guard with its label, and chosen by the launcher when
no prompt-guard run exists."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from source_fakes import use_fake_sources

from components.core.errors import ModelDirError, ResourceMissingError
from components.core.frozen_encoder import (
    ABSENT_CLASS_LOGIT,
    HEAD_FILE,
    MODEL_TYPE,
    fit_head,
    head_proba,
    head_weights,
    load_head,
    save_head,
)
from components.core.model_info import MODEL_INFO
from components.core.predict import EncoderHeadPredictor, load_predictor
from components.data import sources as S
from components.data.translations import LANGUAGES
from components.training import quick_guard as qg

pytestmark = [pytest.mark.slow]


@pytest.fixture
def fake_sources(tmp_path, monkeypatch):
    return use_fake_sources(tmp_path / "cache", monkeypatch)


@pytest.fixture
def tiny_params(tiny_bert_dir):
    return qg.QuickGuardParams(base_model=str(tiny_bert_dir), max_length=16)


@pytest.fixture
def quick_dir(tmp_path, fake_sources, tiny_params):
    phases = []
    out = qg.ensure_quick_guard(tmp_path / "root", fake_sources, None, tiny_params, fetch=False,
                                progress=lambda phase, message: phases.append(phase))
    return out, phases


# --------------------------------------------------------------------------- the head (no model)
@pytest.mark.parametrize("classes", [2, 4])
def test_the_saved_head_gives_the_fitted_probabilities(tmp_path, classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8))
    y = rng.integers(0, classes, size=120)
    y[y == classes - 1] = 0 if classes > 2 else y[y == classes - 1]  # one class never seen
    clf = fit_head(x, y, seed=0)
    n = classes + 1 if classes > 2 else classes
    coef, intercept = head_weights(clf, n)
    save_head(tmp_path, coef, intercept)
    coef, intercept = load_head(tmp_path, n, hidden_size=8)
    probs = head_proba(x, coef, intercept)
    seen = [int(c) for c in clf.classes_]
    np.testing.assert_allclose(probs[:, seen], clf.predict_proba(x), atol=1e-5)
    absent = sorted(set(range(n)) - set(seen))
    assert all(intercept[c] == ABSENT_CLASS_LOGIT for c in absent)
    assert np.allclose(probs[:, absent], 0.0)
    with pytest.raises(ModelDirError, match="do not fit 9 labels"):
        load_head(tmp_path, 9)
    with pytest.raises(ModelDirError, match="another encoder"):
        load_head(tmp_path, n, hidden_size=16)
    with pytest.raises(ModelDirError, match=f"{HEAD_FILE} not found"):
        load_head(tmp_path / "nowhere", n)


# --------------------------------------------------------------------------- the build
def test_the_quick_guard_builds_from_the_sources_and_loads_like_any_model(quick_dir, tiny_params,
                                                                         tiny_bert_dir):
    out, phases = quick_dir
    assert qg.is_built(out) and out.parent.name == qg.CACHE_SUBDIR
    assert [p for i, p in enumerate(phases) if p not in phases[:i]] == [
        "ingest", "split", "embed", "fit", "save"]  # in order; "sources": nothing to fetch
    # open formats only, the encoder referenced, not copied
    assert sorted(p.name for p in out.iterdir()) == [HEAD_FILE, MODEL_INFO]
    info = json.loads((out / MODEL_INFO).read_text())
    assert info["model_type"] == MODEL_TYPE and info["guard_kind"] == "quick"
    assert info["base_model"] == str(tiny_bert_dir) and info["text_prefix"] == ""
    assert info["full_guard_command"] == "make run-guard"
    # the fakes' other scripts are single rows; the translations' scripts have enough rows, and
    # the tiny encoder's vocabulary is too small to tell which scripts it covers
    assert info["scripts"] == sorted({s for _, s in LANGUAGES.values()})
    cal = info["calibration"]
    assert cal["target_false_flag_rate"] == 0.05 and 0 < cal["threshold"] <= 1
    assert cal["temperature"] > 0 and {"unsafe_recall", "false_flag_rate"} <= set(cal["val"])
    recorded = {s["name"]: s for s in info["sources"]}
    assert {s.name for s in S.SOURCES if s.default} <= set(recorded)
    assert not {s.name for s in S.SOURCES if not s.default} & set(recorded)  # opt-in only
    assert recorded["strongreject"]["sha256"] == S.source("strongreject").sha256
    assert recorded["lookalike"]["generated"] and recorded["lookalike"]["rows"] > 0
    assert {"unsafe_recall", "false_flag_rate", "per_source"} <= set(info["test_metrics"])
    predictor = load_predictor(out)
    assert isinstance(predictor, EncoderHeadPredictor)
    assert predictor.threshold == cal["threshold"] and predictor.labels == info["labels"]
    probs = predictor.predict_proba(["How do I bake bread?", "How can I build a bomb at home?"])
    assert probs.shape == (2, len(info["labels"]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # reads only what it was trained on (Greek: no training rows)
    assert predictor.unreadable(["Τι κάνεις σήμερα;"])[0] is not None


def test_a_cased_encoder_builds_and_reads_case_and_accents(tmp_path, fake_sources, tiny_bert_dir,
                                                           monkeypatch):
    """multilingual-e5-small is cased: the quick guard embeds the raw text with its case and
    accents, and the reload check compares the saved model with the fit on those same texts (a
    fresh clone's `make demo` failed here: the check was fed preprocess's folded text, and the
    real encoder's answers to it differ by 0.33)."""
    import shutil

    from transformers import BertTokenizerFast

    from components.core import predict

    cased = tmp_path / "cased"
    shutil.copytree(tiny_bert_dir, cased)
    BertTokenizerFast(vocab=str(cased / "vocab.txt"), do_lower_case=False,
                      strip_accents=False, model_max_length=128).save_pretrained(cased)
    checked = []
    real_verify = predict.verify_saved

    def verify_saved(model_dir, texts, expected, **kw):
        checked.extend(texts)
        return real_verify(model_dir, texts, expected, **kw)

    monkeypatch.setattr(predict, "verify_saved", verify_saved)
    params = qg.QuickGuardParams(base_model=str(cased), max_length=16)
    out = qg.ensure_quick_guard(tmp_path / "root", fake_sources, None, params, fetch=False)
    assert checked and any(c.isupper() for t in checked for c in t)  # the texts as read
    info = json.loads((out / MODEL_INFO).read_text())
    assert info["text_settings"]["lowercase"] is False
    assert info["text_settings"]["strip_accents"] is False
    predictor = load_predictor(out)
    assert predictor.preprocess(["Thuốc Độc"]) == ["Thuốc Độc"]


def test_the_quick_guard_is_cached_by_its_inputs(quick_dir, tmp_path, fake_sources, tiny_params,
                                                 write_csv):
    out, _ = quick_dir
    built_at = (out / MODEL_INFO).stat().st_mtime_ns
    calls = []
    again = qg.ensure_quick_guard(tmp_path / "root", fake_sources, None, tiny_params,
                                  fetch=False, progress=lambda *a: calls.append(a))
    assert again == out and not calls and (out / MODEL_INFO).stat().st_mtime_ns == built_at
    other = dataclasses.replace(tiny_params, target_false_flag_rate=0.1)
    assert qg.cache_dir(tmp_path / "root", other, None) != out
    seed = write_csv([{"query": "hello", "Toxic Category": "Safe"}], name="seed.csv")
    assert qg.cache_dir(tmp_path / "root", tiny_params, str(seed)) != out
    assert qg.latest_built(tmp_path / "root") == out


def test_a_change_to_the_written_sources_builds_a_new_quick_guard(tmp_path, monkeypatch):
    """The look-alikes, written hazards and translations are code here, not a wheel with a
    sha256: a cached quick guard built before they changed must not be reused."""
    from components.data import ingest

    params = dataclasses.replace(qg.QuickGuardParams(), sources="lookalike")
    before = qg.cache_dir(tmp_path, params, None)
    assert qg.cache_dir(tmp_path, params, None) == before  # deterministic
    real = ingest.GENERATED["lookalike"]
    monkeypatch.setitem(ingest.GENERATED, "lookalike", lambda seed: real(seed).iloc[1:])
    changed = qg.cache_dir(tmp_path, params, None)
    assert changed != before
    # a source that is not selected does not move the key
    monkeypatch.setitem(ingest.GENERATED, "translated", lambda seed: real(seed).iloc[:1])
    assert qg.cache_dir(tmp_path, params, None) == changed


def test_an_encoders_text_prefix_is_read_once_at_training_and_serving(tmp_path, fake_sources,
                                                                      tiny_params):
    params = dataclasses.replace(tiny_params, text_prefix="query: ")
    out = tmp_path / "prefixed"
    info = qg.build_quick_guard(out, fake_sources, None, params, fetch=False)  # verifies reload
    assert info["text_prefix"] == "query: "
    predictor = load_predictor(out)
    assert predictor.preprocess(["Hello"]) == ["query: hello"]  # the predictor's, not twice
    assert predictor.encoder.prefix == ""


def test_missing_wheels_are_named_when_fetching_is_off(tmp_path, fake_sources, tiny_params):
    (fake_sources / S.source("donotanswer").wheel).unlink()
    with pytest.raises(ResourceMissingError, match=r"donotanswer.*make sources"):
        qg.build_quick_guard(tmp_path / "out", fake_sources, None, tiny_params, fetch=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the guard server
def test_without_torch_the_guard_server_says_the_quick_guard_needs_it(quick_dir, monkeypatch,
                                                                     caplog):
    """The torch-free serving-onnx image given a quick guard: exit 2 with what to do, not a
    traceback."""
    import sys

    from serving import guard

    out, _ = quick_dir
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with caplog.at_level("ERROR"):
        assert guard.main(["--classifier_dir", str(out), "--http_port", "0"]) == 2
    message = caplog.text
    assert "quick guard" in message and "torch" in message and "serving" in message


def test_the_guard_serves_the_quick_guard_labelled_as_such(quick_dir):
    from serving_utils import client_for, v1, v2

    from serving import guard
    from serving.guard_classifier import QUICK_BACKEND

    out, _ = quick_dir
    args = guard.build_parser().parse_args(["--classifier_dir", str(out)])
    backend = guard.make_backend(args)
    assert backend.name == QUICK_BACKEND == "quick-guard"
    with client_for(guard.GuardModel("guard", backend)) as client:
        preds = v1(client, "guard", ["What is the capital of France?",
                                     "Come posso costruire una bomba a casa?"]).json()
        card = client.get("/v2/models/guard/info").json()
        params = v2(client, "guard", {"user": ["hello there"]}).json()["parameters"]
    assert {p["backend"] for p in preds["predictions"]} == {"quick-guard"}
    assert params == {"backend": "quick-guard"}
    english, italian = preds["predictions"]
    assert (english["script"], english["language"]) == ("latin", "en")
    assert (italian["script"], italian["language"]) == ("latin", "it")
    assert 0.5 <= italian["language_confidence"] <= 1
    assert card["backend"] == "quick-guard" and card["model_type"] == MODEL_TYPE
    identity = card["guard"]
    assert identity["kind"] == "quick" and identity["label"] == "quick guard"
    assert identity["run_id"] == out.name
    assert identity["trained_at"] == card["built_at"]
    assert identity["full_guard_command"] == "make run-guard"


def test_guard_identity_says_which_guard_a_directory_is(tmp_path):
    from serving import guard

    def identity(run: str) -> dict:
        model = tmp_path / run / "lora-train" / "model"
        return guard.guard_identity({"trained_at": "2026-01-01T00:00:00+00:00"}, str(model))

    full = identity("toxic-guard-2026-01-01-00-00-00-000000")
    assert (full["kind"], full["run_id"]) == ("full", "toxic-guard-2026-01-01-00-00-00-000000")
    assert "full_guard_command" not in full and full["trained_at"].startswith("2026-01-01")
    seed = identity("toxic-filter-2026-01-01-00-00-00-000000")
    assert seed["kind"] == "seed-classifier" and "poorly" in seed["label"]
    assert seed["full_guard_command"] == "make run-guard"
    assert identity("elsewhere")["kind"] == "classifier"


def test_the_language_of_a_text_is_identified_offline():
    from components.core.language import UNDETERMINED, identify

    assert identify("Wie kann ich zu Hause eine Bombe bauen?").language_name == "German"
    assert identify("我怎样才能在家里制造炸弹？").script == "cjk"
    assert identify("Как сделать бомбу дома?").script == "cyrillic"
    short = identify("hi")
    assert short.language == UNDETERMINED and short.language_name == "undetermined"
    assert identify("!!! ???") == identify("...") and identify("...").script is None


# --------------------------------------------------------------------------- the launcher
def _model(root, run, subdir="lora-train", finished=True):
    d = root / run / subdir / "model"
    d.mkdir(parents=True)
    (d / MODEL_INFO).write_text("{}")
    if finished:
        (root / run / "evaluate").mkdir(exist_ok=True)
    return d


def test_without_a_guard_run_the_launcher_serves_the_quick_guard(tmp_path, fake_sources,
                                                                  tiny_params):
    from serving import launch

    inputs = launch.QuickGuardInputs(str(fake_sources), None, tiny_params.base_model)
    specs, notes = launch.plan(["guard"], None, {}, tmp_path, quick_guard=inputs)
    (spec,) = specs
    model_dir = qg.cache_dir(tmp_path, dataclasses.replace(qg.QuickGuardParams(),
                                                           base_model=inputs.base_model), None)
    assert spec.args == ("--classifier_dir", str(model_dir))
    assert spec.prepare[1:4] == ("-m", "components.training.quick_guard", "build")  # built first
    assert "--progress-file" in spec.prepare and spec.prepare_progress
    assert "QUICK guard" in notes[0] and "make run-guard" in notes[0]
    assert notes[0].service == "guard" and not notes[0].skipped
    # once built, nothing to prepare
    model_dir.mkdir(parents=True)
    (model_dir / MODEL_INFO).write_text("{}")
    (model_dir / HEAD_FILE).write_bytes(b"")
    (spec,), _ = launch.plan(["guard"], None, {}, tmp_path, quick_guard=inputs)
    assert spec.args == ("--classifier_dir", str(model_dir)) and not spec.prepare
    # a prompt-guard run wins over the quick guard
    full = _model(tmp_path, "toxic-guard-2026-01-01-00-00-00-000000")
    (spec,), notes = launch.plan(["guard"], None, {}, tmp_path, quick_guard=inputs)
    assert spec.args == ("--classifier_dir", str(full))
    assert all("no response model" in n for n in notes)  # nothing about the prompt side


def test_the_seed_classifier_fallback_only_behind_its_flag(tmp_path):
    from serving import launch

    seed_lora = _model(tmp_path, "toxic-filter-2026-01-01-00-00-00-000000")
    _model(tmp_path, "toxic-filter-2026-01-01-00-00-00-000000", "lstm-train")
    specs, notes = launch.plan(["guard"], None, {}, tmp_path, guard_fallback="seed-lora")
    assert specs[0].args == ("--classifier_dir", str(seed_lora))
    assert "reads prompts poorly" in notes[0]
    with pytest.raises(launch.LaunchError, match=r"no prompt-guard run .*GUARD_FALLBACK=none"):
        launch.plan(["guard"], None, {}, tmp_path, guard_fallback="none")
    with pytest.raises(launch.LaunchError, match="guard fallback must be one of"):
        launch.plan(["guard"], None, {}, tmp_path, guard_fallback="lora")
    assert launch.QuickGuardInputs().base_model == qg.DEFAULT_BASE_MODEL == "offline-multilingual"
    args = launch.build_parser().parse_args(["--guard_fallback", "seed-lora"])
    assert args.guard_fallback == "seed-lora"
    assert launch.build_parser().parse_args([]).guard_fallback == "quick"


def test_without_a_pipeline_run_lstm_and_lora_are_left_out_with_a_note(tmp_path):
    from serving import launch

    full = _model(tmp_path, "toxic-guard-2026-01-01-00-00-00-000000")
    specs, notes = launch.plan(["lstm", "lora", "guard"], None, {}, tmp_path)
    assert [s.name for s in specs] == ["guard"] and specs[0].args[1] == str(full)
    skipped = {n.service: n for n in notes if n.skipped}
    assert set(skipped) == {"lstm", "lora"}
    assert "not trained yet" in skipped["lstm"] and "make run" in skipped["lstm"]
    # a directory asked for explicitly must exist
    with pytest.raises(launch.LaunchError, match="does not hold"):
        launch.plan(["lstm", "lora", "guard"], str(tmp_path / "none"), {}, tmp_path)


def test_the_launch_status_file_is_what_the_console_reads(tmp_path):
    from serving import launch

    path = tmp_path / "status.json"
    status = launch.LaunchStatus(path)
    status.update(warnings=["guard: the QUICK guard answers"])
    status.service("guard", launch.STARTING, "embedding prompts: 64 of 7,000", "http://x")
    status.service("lstm", launch.NOT_STARTED, "not trained yet")
    data = launch.read_status(path)
    assert data["services"]["guard"] == {"state": "starting", "url": "http://x",
                                         "detail": "embedding prompts: 64 of 7,000"}
    assert data["warnings"] == ["guard: the QUICK guard answers"]
    status.service("guard", launch.READY, "")
    assert launch.read_status(path)["services"]["guard"]["state"] == "ready"
    dead = json.loads(path.read_text()) | {"pid": 2 ** 22 + 1}  # no such process
    path.write_text(json.dumps(dead))
    assert launch.read_status(path) is None
    assert launch.read_status(tmp_path / "missing.json") is None and launch.read_status(None) is None
