"""The response-guard pipeline (`pipeline.py run-response`): compiled for Kubeflow, submitted, and
run whole with kfp.local on fake wheels and a tiny encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest import mock

import pandas as pd
import pytest
import yaml
from serving_utils import ROOT

import pipeline
from components.pipelines import cli, table


def _run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "pipeline.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_the_response_pipeline_defaults():
    """The same encoder parameter as the prompt guard's, longer sequences, conversations read
    with windows after their context; every parameter's default is its step dataclass's."""
    d = pipeline.RESPONSE_DEFAULTS
    assert d.lora.base_model == pipeline.GUARD_DEFAULTS.lora.base_model
    assert d.lora.max_length == pipeline.RESPONSE_MAX_LENGTH == d.loso.max_length
    assert "conversation" in d.lora.reading.split(",") and d.lora.class_weight == "safe_unsafe"
    assert d.preprocess.text_columns == "conversation" and d.preprocess.holdout_groups
    inputs = pipeline.response_pipeline.component_spec.inputs
    for param, sources in table.parameter_sources(pipeline.PIPELINES["response"]).items():
        assert sources, param
        for step, field in sources:
            assert inputs[param].default == getattr(getattr(d, step), field), (param, field)
    assert "toxic-response" in table.parameter_table(pipeline.PIPELINES).splitlines()[0]


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_response_pipeline_compiles_with_its_steps_wired(tmp_path):
    out = tmp_path / "response.yaml"
    assert pipeline.main(["compile", "--pipeline", "response", "--output", str(out)]) == 0
    spec, platform = list(yaml.safe_load_all(out.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ingest-responses", "preprocess-prompts", "lora-train",
                          "leave-one-source-out", "evaluate-response"}

    def producer(task, name):
        return tasks[task]["inputs"]["artifacts"][name]["taskOutputArtifact"]["producerTask"]

    assert producer("preprocess-prompts", "data") == "ingest-responses"
    assert producer("lora-train", "train_data") == "preprocess-prompts"
    assert producer("evaluate-response", "lora_model") == "lora-train"
    assert producer("evaluate-response", "holdout_data") == "preprocess-prompts"
    assert producer("evaluate-response", "loso") == "leave-one-source-out"
    lora = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert lora["accelerator"]["resourceCount"] == "1"
    pre = tasks["preprocess-prompts"]["inputs"]["parameters"]
    assert pre["text_columns"]["runtimeValue"]["constant"] == "conversation"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["lora_max_length"]["defaultValue"] == 256
    text = json.dumps(spec["root"]["dag"])
    for param in cli.pipeline_parameters(pipeline.response_pipeline):
        assert f'"componentInputParameter": "{param}"' in text, param
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all(k8s[name]["securityContext"]["runAsNonRoot"] for name in k8s)


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_submit_the_response_pipeline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    client = mock.MagicMock()
    client.create_run_from_pipeline_package.return_value.run_id = "run-7"
    with mock.patch("kfp.Client", return_value=client):
        rc = pipeline.main(["submit", "--pipeline", "response", "--host", "http://kfp:8080",
                            "--max-per-group", "100"])
        assert rc == 0
        kwargs = client.create_run_from_pipeline_package.call_args.kwargs
        assert kwargs["arguments"] == {"max_per_group": 100}  # no dataset: wheels only
        assert kwargs["run_name"].startswith("toxic-response-")
        assert pipeline.main(["submit", "--pipeline", "guard", "--host", "http://kfp:8080"]) == 2
    assert "needs --data" in capsys.readouterr().err


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_run_response_fails_fast_without_the_sources(tmp_path):
    res = _run_cli("run-response", "--sources-dir", str(tmp_path / "empty"), "--pipeline-root",
                   str(tmp_path / "root"), timeout=120)
    assert res.returncode == 2 and "make sources" in res.stderr
    assert not (tmp_path / "root").exists()


HELD_OUT = ("uncensorbench", "written/benign/safety_prevention")


@pytest.mark.slow
@pytest.mark.pipeline
def test_local_run_of_the_response_pipeline(tmp_path, tiny_bert_dir):
    """ingest-responses (fake wheels + written replies) -> preprocess -> lora-train ||
    leave-one-source-out -> evaluate-response, with the held-out groups and targets."""
    from response_fakes import response_members
    from source_fakes import write_fake_wheels

    cache = write_fake_wheels(tmp_path / "cache", response_members())
    root, summary_path = tmp_path / "root", tmp_path / "summary.json"
    res = _run_cli("run-response", "--sources-dir", str(cache), "--verify-sources", "false",
                   "--pipeline-root", str(root), "--summary", str(summary_path),
                   "--max-per-group", "60", "--min-class-count", "20",
                   "--lora-base-model", str(tiny_bert_dir), "--lora-epochs", "1",
                   "--lora-max-length", "32", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-response-*")
    data = pd.read_parquet(run_dir / "ingest-responses" / "responses")
    assert {"Safe", "Refusal"} <= set(data["category"])
    held = pd.read_parquet(run_dir / "preprocess-prompts" / "holdout_data")
    assert set(held["group"]) == set(HELD_OUT)
    for split in ("train_data", "val_data", "test_data"):
        part = pd.read_parquet(run_dir / "preprocess-prompts" / split)
        assert not set(part["group"]) & set(HELD_OUT)
        assert part["raw_text"].str.contains("\nassistant: ").all()  # rendered conversations
    info = json.loads((run_dir / "lora-train" / "model" / "model_info.json").read_text())
    assert "Refusal" in info["labels"] and info["reading"]["conversation"] is True
    assert info["calibration"]["safe_labels"] == ["Refusal", "Safe"]
    summary = json.loads(summary_path.read_text())
    response = summary["response"]["lora"]
    assert set(response) == {"test", "holdout", *(f"holdout:{g}" for g in HELD_OUT)}
    assert "lora" not in summary.get("probes", {})  # prompt probes: not a reply model's figures
    assert response["holdout"]["refusals_to_harmful_prompts"] > 0
    assert "Response model at its saved threshold" in res.stdout
    assert set(summary["loso"]["groups"]) == set(data["group"]) - set(HELD_OUT)
    ev = json.loads((run_dir / "evaluate-response" / "executor_output.json").read_text())
    gm = ev["artifacts"]["guard_metrics"]["artifacts"][0]["metadata"]
    assert {"lora_threshold", "lora_holdout_refusals_judged_safe",
            "lora_holdout_harmful_compliance_flagged"} <= set(gm)
    # the guard serves it as its response model, with its figures on the model card
    from serving import guard

    backend = guard.make_backend(guard.build_parser().parse_args(
        ["--response_classifier_dir", str(run_dir / "lora-train" / "model")]))
    assert backend.response.task == "response"
    card = guard._card(backend.response)
    assert card["response_metrics"]["holdout"]["rows"] == len(held)
