"""Tiny real models built inside the tests: encoders (BERT, DistilBERT) and trained model dirs.

Everything here runs the project's real code paths (preprocess, train_lstm, train_lora) with
few-dimensional models, so a whole model directory is built in seconds and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from components.core.files import StepOutputs
from components.core.text import tokenize
from components.data.preprocess import preprocess
from components.training.lora_train import LoraParams, train_lora
from components.training.lstm_train import LstmParams, train_lstm

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY_LSTM = LstmParams(epochs=2, embedding_dim=8, lstm_units=4, dense_units=4, batch_size=16,
                       patience=1)


def tiny_lora_params(base_model: str | Path, **kw) -> LoraParams:
    return LoraParams(**{"base_model": str(base_model), "epochs": 1, "r": 2, "alpha": 4,
                         "batch_size": 16, "learning_rate": 5e-3, **kw})


def vocabulary(texts: list[str], size: int = 400) -> list[str]:
    counts = pd.Series([t for text in texts for t in tokenize(text.lower())]).value_counts()
    return SPECIAL_TOKENS + [w for w in counts.index[:size] if w not in SPECIAL_TOKENS]


def build_tiny_encoder(path: Path, kind: str, words: list[str]) -> Path:
    """Save a randomly initialised few-dimensional `bert` or `distilbert` encoder + tokenizer."""
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertModel,
        DistilBertTokenizerFast,
    )

    path.mkdir(parents=True, exist_ok=True)
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(words) + "\n")
    if kind == "bert":
        config = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=128)
        model, tok_cls = BertModel(config), BertTokenizerFast
    elif kind == "distilbert":
        config = DistilBertConfig(vocab_size=len(words), dim=32, n_layers=1, n_heads=2,
                                  hidden_dim=64, max_position_embeddings=128)
        model, tok_cls = DistilBertModel(config), DistilBertTokenizerFast
    else:
        raise ValueError(kind)
    model.save_pretrained(path)
    # `vocab=`: transformers 5 ignores `vocab_file=` and builds a 5-token vocabulary
    tok = tok_cls(vocab=str(vocab_file), do_lower_case=True, model_max_length=128)
    assert len(tok.get_vocab()) == len(words), "the tiny tokenizer lost its vocabulary"
    tok.save_pretrained(path)
    return path


def build_splits(csv: Path, out: Path, **kw) -> StepOutputs:
    return preprocess(str(csv), out, **kw)


def build_lstm_dir(splits: StepOutputs, out: Path, params: LstmParams = TINY_LSTM) -> Path:
    train_lstm(splits.path("train"), splits.path("val"), splits.path("label_map"),
               splits.path("length_stats"), out, params)
    return out


def build_lora_dir(splits: StepOutputs, out: Path, base: Path, **kw) -> Path:
    train_lora(splits.path("train"), splits.path("val"), splits.path("label_map"),
               splits.path("length_stats"), out, tiny_lora_params(base, **kw))
    return out
