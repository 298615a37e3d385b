"""Shared fixtures: the sample dataset, the real dataset (../shared/data), dataset writers."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def make_rows(per_class: dict[str, int], prefix: str = "row") -> list[dict[str, str]]:
    """Distinct synthetic rows: `per_class` maps label -> number of rows."""
    rows = []
    for label, n in per_class.items():
        for i in range(n):
            rows.append({"query": f"{prefix} {label} question number {i} about topic {i % 7}",
                         "image descriptions": f"a picture of scene {i % 5}",
                         "Toxic Category": label})
    return rows
