"""components.kfp_io: what every KFP step does around its logic, written once."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from components import kfp_io
from components.data import StepOutputs


@dataclasses.dataclass
class FakeArtifact:
    """What a KFP output artifact offers a component: a path and metadata."""

    path: str
    metadata: dict = dataclasses.field(default_factory=dict)


class FakeMetrics:
    def __init__(self):
        self.logged: dict[str, float] = {}

    def log_metric(self, key: str, value: float) -> None:
        assert key not in self.logged, f"{key} logged twice"
        self.logged[key] = value


def test_a_steps_files_reach_its_artifacts(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.parquet").write_text("train rows")
    (out / "report.html").write_text("<html>")
    res = StepOutputs(out, {"rows": 3}, {"train": "train.parquet", "report": "report.html"})
    arts = {name: FakeArtifact(str(tmp_path / f"art-{name}")) for name in ("train", "report")}
    kfp_io.publish_files(kfp_io.files_of(res, arts), arts)
    assert Path(arts["train"].path).read_text() == "train rows"
    assert Path(arts["report"].path).read_text() == "<html>"
    with pytest.raises(KeyError):  # an output the step did not write
        kfp_io.publish_files(kfp_io.files_of(res, arts), {"label_map": FakeArtifact("x")})


def test_metrics_are_logged_by_key_with_a_prefix_and_none_left_out():
    metrics = FakeMetrics()
    values = {"unsafe_recall": 0.8, "false_flag_rate": None, "rows": 12}
    kfp_io.log_metrics(metrics, values, ("unsafe_recall", "false_flag_rate"), prefix="lora_")
    kfp_io.log_metrics(metrics, values, ("rows",))
    assert metrics.logged == {"lora_unsafe_recall": 0.8, "rows": 12}
    with pytest.raises(KeyError):
        kfp_io.log_metrics(metrics, values, ("missing",))
    everything = FakeMetrics()
    kfp_io.log_metrics(everything, {"a": 1, "b": 2}, prefix="rows_")
    assert everything.logged == {"rows_a": 1, "rows_b": 2}


def test_the_container_is_recorded_and_the_step_logs_at_info(monkeypatch):
    art = FakeArtifact("x")
    kfp_io.record_container(art)
    assert "ran_in" in art.metadata
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    kfp_io.start_step()
    assert root.level == logging.INFO
    assert root.handlers[0].formatter._fmt == kfp_io.LOG_FORMAT
