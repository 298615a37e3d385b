"""lstm-train step: a (Bi)LSTM baseline in TensorFlow/Keras 3 over the stemmed LSTM text."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from components.core.calibration import (
    TARGET_FALSE_FLAG_RATE,
    apply_temperature,
    guard_calibration,
    is_safe_label,
    p_unsafe,
    safe_columns,
)
from components.core.files import atomic_dir, read_json, read_training_splits, write_json
from components.core.model_info import save_model_info
from components.core.predict import KERAS_FILE, tf_keras, verify_saved
from components.core.scripts import scripts_read_on_validation
from components.evaluation import plots

log = logging.getLogger(__name__)

VERIFY_ROWS = 64  # validation rows the reloaded model must reproduce
SAVED_MODEL_DIR = "saved_model"
HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
REPORT_FILE = "training_report.html"


@dataclasses.dataclass(frozen=True)
class LstmParams:
    """Hyper-parameters of the LSTM baseline (small on purpose: ~1.5k training rows)."""

    max_tokens: int = 20000
    embedding_dim: int = 64
    lstm_units: int = 32
    bidirectional: bool = True
    dense_units: int = 32
    dropout: float = 0.4
    l2: float = 1e-4
    learning_rate: float = 2e-3
    batch_size: int = 32
    epochs: int = 30
    patience: int = 4
    class_weights: bool = True
    seed: int = 42
    target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE  # guard threshold (Safe class only)


def build_model(vocab: Sequence[str], seq_len: int, num_classes: int, p: LstmParams):
    """String in -> TextVectorization -> Embedding -> (Bi)LSTM -> Dropout -> Dense(L2) -> softmax."""
    _, keras = tf_keras()
    from keras import layers, regularizers

    vectorize = layers.TextVectorization(
        max_tokens=p.max_tokens, standardize=None, split="whitespace",
        output_mode="int", output_sequence_length=seq_len, vocabulary=list(vocab),
        name="vectorize")
    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    x = vectorize(inputs)
    x = layers.Embedding(vectorize.vocabulary_size(), p.embedding_dim, mask_zero=True,
                         name="embedding")(x)
    rnn = layers.LSTM(p.lstm_units, name="lstm")
    x = layers.Bidirectional(rnn, name="bilstm")(x) if p.bidirectional else rnn(x)
    x = layers.Dropout(p.dropout)(x)
    x = layers.Dense(p.dense_units, activation="relu",
                     kernel_regularizer=regularizers.l2(p.l2), name="dense")(x)
    x = layers.Dropout(p.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax",
                           kernel_regularizer=regularizers.l2(p.l2), name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="toxic_lstm")
    model.compile(optimizer=keras.optimizers.Adam(p.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_vocabulary(texts: Sequence[str], max_tokens: int) -> list[str]:
    """Vocabulary of the training texts, most frequent first (TextVectorization adapts the same way)."""
    counts = pd.Series(" ".join(texts).split()).value_counts(sort=True)
    # ties broken alphabetically so the vocabulary is deterministic
    counts = counts.rename_axis("tok").reset_index(name="n").sort_values(["n", "tok"], ascending=[False, True])
    return counts["tok"].head(max_tokens - 2).tolist()  # minus padding and OOV


def _epoch_log_callback():
    """A Keras callback logging one line per epoch (the KFP log is read by people)."""
    _, keras = tf_keras()

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            log.info("lstm epoch %d: %s", epoch + 1,
                     " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())
                              if isinstance(v, float)))

    return EpochLog()


def train_lstm(
    train_path: str | os.PathLike[str],
    val_path: str | os.PathLike[str],
    label_map_path: str | os.PathLike[str],
    length_stats_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    params: LstmParams = LstmParams(),  # noqa: B008 (frozen dataclass)
) -> dict[str, Any]:
    """Train the LSTM baseline and write a self-describing model directory.

    Args:
        train_path: (augmented) training split, Parquet with `text_lstm` and `label_id`.
        val_path: validation split, for early stopping and checkpointing.
        label_map_path: preprocess's label_map.json (labels and text settings).
        length_stats_path: preprocess's length_stats.json (its `lstm_seq_len`); None -> 32.
        out_dir: model directory to create atomically.
        params: hyper-parameters.

    Returns:
        model_info (also written to out_dir/model_info.json) with the best validation metrics.
    """
    tf, keras = tf_keras()
    from sklearn.metrics import f1_score
    from sklearn.utils.class_weight import compute_class_weight

    label_map, train, val = read_training_splits(train_path, val_path, label_map_path)
    labels = label_map["labels"]
    seq_len = int(read_json(length_stats_path)["lstm_seq_len"]) if length_stats_path else 32
    keras.utils.set_random_seed(params.seed)

    vocab = build_vocabulary(train["text_lstm"].tolist(), params.max_tokens)
    model = build_model(vocab, seq_len, len(labels), params)
    x_train = tf.constant(train["text_lstm"].to_numpy(dtype=str)[:, None])
    x_val = tf.constant(val["text_lstm"].to_numpy(dtype=str)[:, None])
    y_train, y_val = train["label_id"].to_numpy(), val["label_id"].to_numpy()
    weights = None
    if params.class_weights:
        present = np.unique(y_train)
        w = compute_class_weight("balanced", classes=present, y=y_train)
        weights = {int(c): float(v) for c, v in zip(present, w, strict=True)}
    log.info("lstm: %d train / %d val rows, %d classes, vocab %d, seq_len %d",
             len(train), len(val), len(labels), len(vocab) + 2, seq_len)

    with atomic_dir(out_dir) as tmp:
        ckpt = tmp / "checkpoint.keras"
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience,
                                          restore_best_weights=True),
            keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_loss", save_best_only=True),
            _epoch_log_callback(),
        ]
        start = time.perf_counter()
        hist = model.fit(x_train, y_train, validation_data=(x_val, y_val),
                         epochs=params.epochs, batch_size=params.batch_size,
                         class_weight=weights, callbacks=callbacks, verbose=0, shuffle=True)
        train_seconds = time.perf_counter() - start
        ckpt.unlink(missing_ok=True)  # EarlyStopping restored the best weights into `model`
        history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        best_epoch = int(np.argmin(history["val_loss"])) + 1
        val_probs = model.predict(x_val, verbose=0)
        val_pred = val_probs.argmax(axis=1)
        calibration = guard_calibration(val_probs, y_val, labels, params.target_false_flag_rate)
        safe = safe_columns(labels)
        read_scripts = scripts_read_on_validation(
            train["text"], val["text"].tolist(),
            p_unsafe(val_probs, safe) if safe else None,
            ~is_safe_label(y_val, safe) if safe else None)
        val_metrics = {
            "val_accuracy": float((val_pred == y_val).mean()),
            "val_macro_f1": float(f1_score(y_val, val_pred, average="macro",
                                           labels=range(len(labels)), zero_division=0)),
        }
        log.info("lstm best epoch %d of %d: %s (%.1f s)", best_epoch, len(history["loss"]),
                 val_metrics, train_seconds)

        model.save(tmp / KERAS_FILE)
        # A SavedModel with a string signature, servable by TF Serving. It takes the LSTM text
        # field (components.core.text.lstm_text of the raw prompt): stemming is NLTK, not TF.
        model.export(str(tmp / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
        write_json(tmp / HISTORY_FILE, {"history": history, "best_epoch": best_epoch})
        plots.curves(history, "LSTM training curves", tmp / CURVES_FILE)
        info = save_model_info(
            tmp, "lstm", labels, label_map["text_settings"], input_field="text_lstm",
            max_length=seq_len, params=dataclasses.asdict(params), vocab_size=len(vocab) + 2,
            best_epoch=best_epoch, epochs_run=len(history["loss"]),
            train_seconds=round(train_seconds, 2), train_rows=len(train), **val_metrics,
            calibration=calibration, scripts=read_scripts)
        (tmp / REPORT_FILE).write_text(plots.training_report("lstm-train", info, tmp / CURVES_FILE))
        temperature = (calibration or {}).get("temperature", 1.0)
        verify_saved(tmp, val["text"].tolist()[:VERIFY_ROWS],
                     apply_temperature(val_probs[:VERIFY_ROWS], temperature))
    return info
