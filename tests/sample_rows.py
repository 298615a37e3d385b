"""What several test modules share without being fixtures: the repository root and synthetic
dataset rows (conftest.py is pytest's, not a module to import from)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_rows(per_class: dict[str, int], prefix: str = "row") -> list[dict[str, str]]:
    """Distinct synthetic rows: `per_class` maps label -> number of rows."""
    rows = []
    for label, n in per_class.items():
        for i in range(n):
            rows.append({"query": f"{prefix} {label} question number {i} about topic {i % 7}",
                         "image descriptions": f"a picture of scene {i % 5}",
                         "Toxic Category": label})
    return rows
