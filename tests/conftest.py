"""Shared fixtures: the sample dataset, the real dataset (../shared/data), dataset writers."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from sample_rows import ROOT

SAMPLE = ROOT / "data" / "sample_toxic_prompts.csv"
REAL_DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
COLUMNS = ["query", "image descriptions", "Toxic Category"]

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    assert SAMPLE.is_file(), f"sample dataset missing: {SAMPLE}"
    return SAMPLE


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_DATA.is_file():
        pytest.skip(f"real dataset not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture
def write_csv(tmp_path):
    """Write rows (list of dicts or a DataFrame) to a CSV in tmp_path and return its path."""

    def _write(rows, name: str = "data.csv", **to_csv) -> Path:
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        path = tmp_path / name
        df.to_csv(path, index=False, **to_csv)
        return path

    return _write


# ---------------------------------------------------------------- tiny models (session-scoped)
@pytest.fixture(scope="session")
def tiny_splits(tmp_path_factory):
    """preprocess() of the sample dataset."""
    from model_factories import build_splits

    return build_splits(SAMPLE, tmp_path_factory.mktemp("splits") / "out")


@pytest.fixture(scope="session")
def tiny_vocab(tiny_splits):
    from model_factories import vocabulary

    return vocabulary(pd.read_parquet(tiny_splits.path("train"))["text"].tolist())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tiny_vocab):
    from model_factories import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("bert") / "enc", "bert", tiny_vocab)


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory, tiny_vocab):
    from model_factories import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("distilbert") / "enc", "distilbert", tiny_vocab)


@pytest.fixture(scope="session")
def tiny_lstm_dir(tmp_path_factory, tiny_splits):
    """A trained (2 epochs, few units) lstm model directory."""
    from model_factories import build_lstm_dir

    return build_lstm_dir(tiny_splits, tmp_path_factory.mktemp("lstm") / "model")


@pytest.fixture(scope="session")
def tiny_lora_dir(tmp_path_factory, tiny_splits, tiny_bert_dir):
    """A trained (1 epoch, tiny BERT) lora model directory."""
    from model_factories import build_lora_dir

    return build_lora_dir(tiny_splits, tmp_path_factory.mktemp("lora") / "model", tiny_bert_dir)


# Fixtures that train a model, build one, or start a server process: a test using one (directly
# or through another fixture) is `slow` whatever its own marks say, so `make test-fast` never
# trains and stays under a minute.
SLOW_FIXTURES = {"tiny_lstm_dir", "tiny_lora_dir",  # closures count: `models` uses both
                 "blip_dir", "noop_server"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
