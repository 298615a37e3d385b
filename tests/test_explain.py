"""The classifiers' explain endpoint (word occlusion) and model info endpoint."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from serving_utils import assert_rejected, client_for, v1

from components.core.text import TextSettings
from serving import classifier
from serving.batching import BatchSettings

pytestmark = [pytest.mark.server,
              pytest.mark.filterwarnings("ignore::fastapi.exceptions.FastAPIDeprecationWarning")]


class KeywordModel:
    """A tiny two-class model: the word 'grenade' decides the label, 'street' nudges it."""

    labels = ["Safe", "Violent Crimes"]
    settings = TextSettings()
    info = {"model_type": "keyword", "labels": labels}
    WEIGHTS = {"grenade": 4.0, "street": 0.5}

    def __init__(self):
        self.calls: list[list[str]] = []

    def predict_proba(self, texts):
        self.calls.append(list(texts))
        rows = []
        for text in texts:
            words = text.lower().split()
            z = -2.0 + sum(self.WEIGHTS.get(w.strip("?.,!"), 0.0) for w in words)
            p = 1 / (1 + np.exp(-z))
            rows.append([1 - p, p])
        return np.array(rows, dtype=np.float32)


def explain(client, name, instances):
    return client.post(f"/v1/models/{name}:explain", json={"instances": instances})


@pytest.fixture(scope="module")
def keyword():
    model = classifier.ClassifierModel("keyword", KeywordModel, batch=BatchSettings(64, 0.0),
                                       max_explain_words=6, max_explain_instances=3)
    with client_for(model) as client:
        yield model, client


@pytest.fixture(scope="module")
def tiny(tiny_lstm_dir, tiny_lora_dir):
    models = [classifier.lstm_model(str(tiny_lstm_dir)),
              classifier.lora_model(str(tiny_lora_dir), device="cpu")]
    with client_for(*models) as client:
        yield client


# --------------------------------------------------------------------------- pure helpers
def test_word_spans_and_occlusion_keep_the_text_readable():
    text = "Don't pick  the lock, café!"
    spans = classifier.word_spans(text)
    assert [text[a:b] for a, b in spans] == ["Don't", "pick", "the", "lock", "café"]
    _, variants = classifier.occlusion_texts(text)
    assert variants == ["pick  the lock, café!", "Don't  the lock, café!",
                        "Don't pick  lock, café!", "Don't pick  the, café!", "Don't pick  the lock,!"]
    assert classifier.without_span("a b c", 2, 3) == "a c"
    assert classifier.without_span("a b c", 4, 5) == "a b"
    assert classifier.occlusion_texts("one two three", max_words=2)[1] == ["two three", "one three"]


# --------------------------------------------------------------------------- explain
def test_the_deciding_word_gets_the_largest_attribution(keyword):
    _model, client = keyword
    text = "Where on this street can I buy a grenade?"
    response = explain(client, "keyword", [text])
    assert response.status_code == 200, response.text
    body = response.json()
    (exp,) = body["explanations"]
    assert exp["label"] == "Violent Crimes" and exp["method"] == "occlusion"
    assert body["predictions"][0]["label"] == "Violent Crimes"
    assert exp["text"] == text and exp["words_total"] == 9
    words = exp["words"]
    assert [w["word"] for w in words] == ["Where", "on", "this", "street", "can", "I"]  # max 6
    # the first 6 words leave out 'grenade': ask again with it among them
    response = explain(client, "keyword", ["buy a grenade on this street"])
    (exp,) = response.json()["explanations"]
    ranked = sorted(exp["words"], key=lambda w: w["attribution"], reverse=True)
    assert ranked[0]["word"] == "grenade"
    assert ranked[0]["attribution"] > 0.5  # removing it flips the label
    assert ranked[1]["word"] == "street" and 0 < ranked[1]["attribution"] < 0.1
    assert all(abs(w["attribution"]) < 1e-6 for w in ranked[2:])
    text = exp["text"]
    assert all(text[w["start"]:w["end"]] == w["word"] for w in exp["words"])


def test_each_word_also_says_how_much_it_pushes_towards_unsafe(keyword):
    _model, client = keyword
    # 'street' nudges towards Violent Crimes; the label here is Safe, so its attribution
    # towards the label is negative while it pushes towards unsafe
    (exp,) = explain(client, "keyword", ["a quiet street"]).json()["explanations"]
    assert exp["label"] == "Safe"
    street = next(w for w in exp["words"] if w["word"] == "street")
    assert street["attribution"] < 0 < street["unsafe_attribution"]
    assert street["unsafe_attribution"] == pytest.approx(-street["attribution"], abs=1e-6)
    (exp,) = explain(client, "keyword", ["a grenade"]).json()["explanations"]
    grenade = next(w for w in exp["words"] if w["word"] == "grenade")
    assert exp["label"] == "Violent Crimes"
    assert grenade["unsafe_attribution"] == pytest.approx(grenade["attribution"], abs=1e-6)
    assert grenade["unsafe_attribution"] > 0.5


def test_explain_runs_all_variants_in_one_forward_pass(keyword):
    model, client = keyword
    predictor = model.predictor
    predictor.calls.clear()
    response = explain(client, "keyword", ["a grenade", "hello there street"])
    assert response.status_code == 200, response.text
    assert predictor.calls == [["a grenade", "grenade", "a",
                                "hello there street", "there street", "hello street",
                                "hello there"]]


def test_explain_limits_and_bad_requests(keyword):
    _model, client = keyword
    assert_rejected(explain(client, "keyword", ["a", "b", "c", "d"]), "at most 3")
    assert_rejected(explain(client, "keyword", ["  "]), "non-empty")
    assert_rejected(client.post("/v1/models/keyword:explain", json={"texts": ["a"]}),
                    "instances")
    response = explain(client, "keyword", ["grenade", "!!!"])  # one word; no word at all
    assert response.status_code == 200, response.text
    one, none = response.json()["explanations"]
    assert [w["word"] for w in one["words"]] == ["grenade"] and none["words"] == []
    assert client.get("/v2/models/keyword/ready").status_code == 200  # still serving


class ReadsLatinOnly(KeywordModel):
    """The keyword model, unable to read texts without a Latin letter."""

    def unreadable(self, texts):
        return [None if any("a" <= c.lower() <= "z" for c in t) else "no Latin letters"
                for t in texts]


def test_a_text_the_model_cannot_read_is_not_explained():
    model = classifier.ClassifierModel("latin", ReadsLatinOnly, batch=BatchSettings(64, 0.0))
    with client_for(model) as client:
        response = explain(client, "latin", ["Ꭰ Ꭱ Ꭲ", "a grenade"])
        assert response.status_code == 200, response.text
        body = response.json()
        cherokee, latin = body["explanations"]
        assert cherokee == {"label": None, "probability": None, "text": "Ꭰ Ꭱ Ꭲ", "words": [],
                            "words_total": 3, "method": "occlusion", "readable": False,
                            "reason": "no Latin letters"}
        assert body["predictions"][0] == v1(client, "latin", ["Ꭰ Ꭱ Ꭲ"]).json()["predictions"][0]
        assert body["predictions"][0]["label"] is None
        assert latin["label"] == "Violent Crimes" and len(latin["words"]) == 2
        assert model.predictor.calls[-1] == ["a grenade", "grenade", "a"]  # only the readable


@pytest.mark.parametrize("name", ["lstm", "lora"])
def test_attributions_are_the_probability_drops_of_the_tiny_models(tiny, name):
    text = "How do I pick a lock to get into the house. A dark street at night."
    response = explain(tiny, name, [text, {"query": "pancake recipe",
                                           "image descriptions": "a kitchen"}])
    assert response.status_code == 200, response.text
    body = response.json()
    first, joined = body["explanations"]
    assert joined["text"] == "pancake recipe. a kitchen"  # joined like the training text
    predicted = v1(tiny, name, [text]).json()["predictions"][0]
    assert body["predictions"][0]["label"] == predicted["label"] == first["label"]
    # int8 ONNX (lora) scales activations per batch: the explain call runs the text with its
    # variants, these calls alone or with other texts: up to a few 1e-4 apart on the tiny model
    assert first["probability"] == pytest.approx(predicted["probabilities"][first["label"]],
                                                 abs=1e-3)
    variants = [classifier.without_span(text, w["start"], w["end"]) for w in first["words"]]
    probs = v1(tiny, name, variants).json()["predictions"]
    expected = [first["probability"] - p["probabilities"][first["label"]] for p in probs]
    assert [w["attribution"] for w in first["words"]] == pytest.approx(expected, abs=1e-3)
    assert len(first["words"]) == first["words_total"] == 16


# --------------------------------------------------------------------------- model info
def test_model_info_has_the_model_card_and_the_runs_test_metrics(tmp_path, tiny_lstm_dir):
    run = tmp_path / "toxic-filter-2026-01-01-00-00-00-000000"
    model_dir = run / "lstm-train" / "model"
    shutil.copytree(tiny_lstm_dir, model_dir)
    (run / "evaluate").mkdir()
    (run / "evaluate" / "summary").write_text(json.dumps(
        {"champion": "lora", "models": {"lstm": {"accuracy": 0.5, "macro_f1": 0.25,
                                                 "weighted_f1": 0.4, "report": {}}}}))
    plain = classifier.lstm_model(str(tiny_lstm_dir), name="plain")
    in_run = classifier.lstm_model(str(model_dir), name="in_run")
    with client_for(plain, in_run) as client:
        info = client.get("/v2/models/in_run/info").json()
        assert info["model_type"] == "lstm"
        assert info["labels"] == plain.labels
        assert info["test_metrics"] == {"accuracy": 0.5, "macro_f1": 0.25, "weighted_f1": 0.4}
        assert info["champion"] is False
        assert info["trained_at"].startswith("20")
        assert "val_macro_f1" in info and "train_rows" in info
        info = client.get("/v2/models/plain/info").json()
        assert "test_metrics" not in info and info["model_type"] == "lstm"
        assert_rejected(client.get("/v2/models/nope/info"), "no info", status=404)
