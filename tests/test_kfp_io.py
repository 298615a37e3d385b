"""components.pipelines.kfp_io: what every KFP step does around its logic, written once."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from components.core.files import StepOutputs
from components.pipelines import kfp_io


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


def test_a_step_runs_in_a_temporary_directory_and_publishes_what_it_wrote(tmp_path):
    seen = {}

    def logic(rows, out_dir, *, label):  # a step's logic: writes its files into out_dir
        seen["out_dir"] = out_dir
        out_dir.mkdir()
        (out_dir / "train.csv").write_text(f"{label},{rows}")
        (out_dir / "stats.json").write_text("{}")
        return StepOutputs(out_dir, {"rows": rows}, {"train": "train.csv", "stats": "stats.json"})

    art = FakeArtifact(str(tmp_path / "train"))
    res = kfp_io.run_step(logic, {"train": art}, 3, label="Safe")
    assert res.stats == {"rows": 3} and Path(art.path).read_text() == "Safe,3"
    assert not seen["out_dir"].exists()  # the temporary directory is gone

    def by_files(out_dir):  # a result without path(name): the module's FILES say where
        out_dir.mkdir()
        (out_dir / "summary.json").write_text('{"champion": "lora"}')
        return {"champion": "lora"}

    summary = FakeArtifact(str(tmp_path / "summary"))
    assert kfp_io.run_step(by_files, {"summary": summary},
                           files={"summary": "summary.json"}) == {"champion": "lora"}
    assert json.loads(Path(summary.path).read_text()) == {"champion": "lora"}


def test_splits_records_and_models_reach_the_artifacts_metadata(tmp_path):
    label_map = FakeArtifact(str(tmp_path / "label_map"))
    Path(label_map.path).write_text(json.dumps({"labels": ["Safe", "S1"]}))
    splits = {name: FakeArtifact(str(tmp_path / name)) for name in ("train", "test")}
    kfp_io.publish_splits({"split_sizes": {"train": 8, "test": 2}}, splits, label_map)
    assert [a.metadata["rows"] for a in splits.values()] == [8, 2]
    assert label_map.metadata["labels"] == ["Safe", "S1"]

    record = {"action": "patched", "applied": {"spec": {}}, "storage_uri": "s3://b/m"}
    deployment = FakeArtifact(str(tmp_path / "deployment"))
    kfp_io.publish_record(record, deployment, metadata_leaves_out=("applied",))
    assert json.loads(Path(deployment.path).read_text()) == record
    assert deployment.metadata == {"action": "patched", "storage_uri": "s3://b/m"}
    gate = FakeArtifact(str(tmp_path / "gate"))
    kfp_io.publish_record(record, gate)
    assert gate.metadata == {}  # the record only

    model = FakeArtifact(str(tmp_path / "model"))
    Path(model.path).mkdir()
    (Path(model.path) / "report.html").write_text("<html>")
    report, metrics = FakeArtifact(str(tmp_path / "report")), FakeMetrics()
    info = {"labels": ["Safe", "S1"], "val_accuracy": 0.9, "val_macro_f1": 0.8, "best_epoch": 2,
            "train_seconds": 12.5}
    kfp_io.publish_model(model, report, metrics, info, "report.html", framework="keras")
    assert Path(report.path).read_text() == "<html>"
    assert model.metadata["framework"] == "keras" and model.metadata["labels"] == ["Safe", "S1"]
    assert "ran_in" in model.metadata
    assert metrics.logged == {k: v for k, v in info.items() if k != "labels"}


def test_loso_worst_figures_and_unverified_sources(caplog):
    metrics = FakeMetrics()
    kfp_io.log_loso_worst(metrics, {"worst": {"unsafe_recall": {"value": 0.5, "group": "a"}}},
                          prefix="loso_")
    kfp_io.log_loso_worst(metrics, {})  # a run without the table logs nothing
    assert metrics.logged == {"loso_unsafe_recall": 0.5}
    with caplog.at_level(logging.WARNING):
        kfp_io.fetch_sources("/nonexistent", ["strongreject"], verify=False)  # fetches nothing
    assert "NOT checked" in caplog.text
