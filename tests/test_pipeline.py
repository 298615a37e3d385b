"""pipeline.py: compile, CLI, submit (mocked KFP API), and real kfp.local runs."""

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_rows

import pipeline


def _compile(tmp_path) -> dict:
    out = pipeline.cmd_compile(str(tmp_path / "p.yaml"))
    return yaml.safe_load_all(out.read_text()).__next__()


def test_compiles_with_the_data_steps_and_typed_defaults(tmp_path):
    spec = _compile(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert {"preprocess", "augment"} <= set(tasks)
    aug_inputs = tasks["augment"]["inputs"]["artifacts"]
    assert aug_inputs["train_data"]["taskOutputArtifact"]["producerTask"] == "preprocess"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in params["data"]  # the dataset is required
    assert params["min_class_count"]["parameterType"] == "NUMBER_INTEGER"
    assert params["min_class_count"]["defaultValue"] == 20
    assert params["val_size"]["defaultValue"] == 0.15


def test_components_use_the_project_image_without_pip_installs(tmp_path):
    spec = _compile(tmp_path)
    for name, ex in spec["deploymentSpec"]["executors"].items():
        container = ex["container"]
        assert container["image"].startswith("ghcr.io/toxic-filter/toxic-filter-"), name
        assert "pip install" not in " ".join(container["command"]), name


def test_cli_exposes_every_pipeline_parameter():
    args = pipeline.build_parser().parse_args(
        ["run", "--data", "x.csv", "--min-class-count", "5", "--drop-invalid-rows", "true",
         "--alpha-sr", "0.2"])
    assert pipeline._collect_params(args) == {"min_class_count": 5, "drop_invalid_rows": True,
                                              "alpha_sr": 0.2}
    with pytest.raises(SystemExit):
        pipeline.build_parser().parse_args(["run", "--min-class-count", "many"])


def test_submit_uses_kfp_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = mock.MagicMock()
    client.create_run_from_pipeline_package.return_value.run_id = "run-123"
    with mock.patch("kfp.Client", return_value=client) as ctor:
        rc = pipeline.main(["submit", "--host", "http://kfp.example:8080", "--data",
                            "gs://bucket/toxic.csv", "--experiment", "exp", "--seed", "7"])
    assert rc == 0
    ctor.assert_called_once_with(host="http://kfp.example:8080", namespace=None)
    kwargs = client.create_run_from_pipeline_package.call_args.kwargs
    assert kwargs["arguments"] == {"data": "gs://bucket/toxic.csv", "seed": 7}
    assert kwargs["experiment_name"] == "exp"
    assert not list(tmp_path.iterdir())  # the temporary package was removed


def _run_cli(*args, cwd=ROOT, timeout=900):
    return subprocess.run([sys.executable, "pipeline.py", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"", "empty"),
    (b"query,other\nx,y\n", "missing required column"),
    ("query,image descriptions,Toxic Category\ncaf\xe9,x,Safe\n".encode("latin-1"), "not valid utf-8"),
])
def test_run_fails_fast_on_bad_data_without_outputs(tmp_path, content, message):
    data = tmp_path / "d.csv"
    if content is not None:
        data.write_bytes(content)
    root = tmp_path / "root"
    res = _run_cli("run", "--data", str(data), "--pipeline-root", str(root), timeout=120)
    assert res.returncode == 2
    assert message in res.stderr
    assert res.stderr.count("error:") == 1
    assert not root.exists() or not any(root.iterdir())


@pytest.mark.slow
@pytest.mark.pipeline
def test_local_run_of_the_data_steps(tmp_path, write_csv):
    data = write_csv(make_rows({"Safe": 30, "Violent Crimes": 20, "unsafe": 12, "rare": 4}))
    root = tmp_path / "root"
    res = _run_cli("run", "--data", str(data), "--pipeline-root", str(root), "--min-class-count", "10")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-filter-*")
    train = pd.read_parquet(run_dir / "preprocess" / "train_data")
    aug = pd.read_parquet(run_dir / "augment" / "augmented_data")
    assert set(train["label"]) == {"Safe", "Violent Crimes", "unsafe", "other"}
    assert aug["augmented"].any() and len(aug) > len(train)
    test = pd.read_parquet(run_dir / "preprocess" / "test_data")
    assert not set(aug["text"]) & set(test["text"])
    report = Path(run_dir / "preprocess" / "eda_report").read_text()
    assert "Class balance" in report
    executor = json.loads((run_dir / "preprocess" / "executor_output.json").read_text())
    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metrics["duplicates_dropped"] == 0 and metrics["num_classes"] == 4
    assert "outputs under" in res.stdout
