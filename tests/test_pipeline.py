"""pipeline.py: compile, CLI, submit (mocked KFP API), and real kfp.local runs."""

import json
import subprocess
import sys
from unittest import mock

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_rows

import pipeline


def _compile(tmp_path, *flags) -> list[dict]:
    out = tmp_path / "p.yaml"
    assert pipeline.main(["compile", "--output", str(out), *flags]) == 0
    return list(yaml.safe_load_all(out.read_text()))


def _producer(task: dict, name: str) -> str:
    return task["inputs"]["artifacts"][name]["taskOutputArtifact"]["producerTask"]


def test_compiles_the_five_steps_wired_without_leakage(tmp_path):
    spec = _compile(tmp_path)[0]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"preprocess", "augment", "lstm-train", "lora-train", "evaluate"}
    assert _producer(tasks["augment"], "train_data") == "preprocess"
    for trainer in ("lstm-train", "lora-train"):
        assert _producer(tasks[trainer], "train_data") == "augment"
        assert _producer(tasks[trainer], "val_data") == "preprocess"  # never augmented
    assert _producer(tasks["evaluate"], "test_data") == "preprocess"
    assert _producer(tasks["evaluate"], "lora_model") == "lora-train"
    assert spec["root"]["outputDefinitions"]["artifacts"]


def test_lora_train_requests_a_gpu_node(tmp_path):
    spec, platform = _compile(tmp_path)
    resources = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "1"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-lora-train"]
    assert k8s["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert k8s["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "accelerator" not in (spec["deploymentSpec"]["executors"]["exec-lstm-train"]["container"]
                                 .get("resources", {}))


def test_gpu_placement_is_configurable_at_compile_time(tmp_path):
    spec, platform = _compile(tmp_path, "--gpu-count", "2", "--gpu-node-selector",
                              "cloud.google.com/gke-accelerator=nvidia-l4",
                              "--gpu-toleration", "dedicated:NoExecute")
    resources = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceCount"] == "2"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-lora-train"]
    assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert k8s["tolerations"][0]["key"] == "dedicated"
    docs = _compile(tmp_path, "--no-gpu")
    assert "accelerator" not in docs[0]["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert len(docs) == 1  # no kubernetes platform spec left


def test_compiles_with_typed_defaults(tmp_path):
    spec = _compile(tmp_path)[0]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in params["data"]  # the dataset is required
    assert params["min_class_count"]["parameterType"] == "NUMBER_INTEGER"
    assert params["min_class_count"]["defaultValue"] == 20
    assert params["val_size"]["defaultValue"] == 0.15
    assert params["lora_base_model"]["defaultValue"] == "distilbert-base-uncased"


def test_components_use_the_project_image_without_pip_installs(tmp_path):
    spec = _compile(tmp_path)[0]
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
def test_local_run_of_the_whole_pipeline(tmp_path, write_csv, tiny_bert_dir):
    data = write_csv(make_rows({"Safe": 30, "Violent Crimes": 24, "unsafe": 16, "rare": 4}))
    root = tmp_path / "root"
    summary_path = tmp_path / "summary.json"
    res = _run_cli("run", "--data", str(data), "--pipeline-root", str(root), "--summary",
                   str(summary_path), "--min-class-count", "10", "--lstm-epochs", "2",
                   "--lstm-embedding-dim", "8", "--lstm-units", "4", "--lstm-dense-units", "4",
                   "--lora-base-model", str(tiny_bert_dir), "--lora-epochs", "1", "--lora-r", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-filter-*")
    # data steps
    train = pd.read_parquet(run_dir / "preprocess" / "train_data")
    aug = pd.read_parquet(run_dir / "augment" / "augmented_data")
    test = pd.read_parquet(run_dir / "preprocess" / "test_data")
    assert set(train["label"]) == {"Safe", "Violent Crimes", "unsafe", "other"}
    assert aug["augmented"].any() and len(aug) > len(train)
    assert not set(aug["text"]) & set(test["text"])
    assert "Class balance" in (run_dir / "preprocess" / "eda_report").read_text()
    executor = json.loads((run_dir / "preprocess" / "executor_output.json").read_text())
    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metrics["duplicates_dropped"] == 0 and metrics["num_classes"] == 4
    # training and evaluation
    assert (run_dir / "lstm-train" / "model" / "model.keras").is_file()
    assert (run_dir / "lora-train" / "model" / "adapter_model.safetensors").is_file()
    ev = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    cm = ev["artifacts"]["lora_confusion"]["artifacts"][0]["metadata"]["confusionMatrix"]
    assert len(cm["annotationSpecs"]) == 4
    summary = json.loads(summary_path.read_text())
    assert set(summary["models"]) == {"lstm", "lora"}
    assert summary["champion"] in {"lstm", "lora"}
    assert ev["parameterValues"]["champion"] == summary["champion"]
    for m in summary["models"].values():
        assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "model_dir"} <= set(m)
        assert sum(c["support"] for c in m["per_class"].values()) == len(test)
    assert summary["labels"] == sorted(summary["labels"])
    label_map_meta = executor["artifacts"]["label_map"]["artifacts"][0]["metadata"]
    assert label_map_meta["labels"] == summary["labels"]  # in label-id order
    assert summary["wall_seconds"] > 0
    assert set(summary["ablation"]) == {"lstm", "lora"}
    lora_metrics = ev["artifacts"]["lora_metrics"]["artifacts"][0]["metadata"]
    assert lora_metrics["accuracy_first_column_only"] == summary["ablation"]["lora"]["accuracy"]
    assert "| lstm" in res.stdout and "champion" in res.stdout


# --------------------------------------------------------------------------- the guard pipeline
def test_guard_pipeline_compiles_with_ingest_and_leave_one_source_out(tmp_path):
    spec, platform = _compile(tmp_path, "--pipeline", "guard")
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ingest", "preprocess-prompts", "augment", "lstm-train", "lora-train",
                          "leave-one-source-out", "evaluate"}
    assert _producer(tasks["preprocess-prompts"], "data") == "ingest"
    assert _producer(tasks["evaluate"], "loso") == "leave-one-source-out"
    assert _producer(tasks["leave-one-source-out"], "test_data") == "preprocess-prompts"
    lora = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert lora["accelerator"]["resourceCount"] == "1"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["target_false_flag_rate"]["defaultValue"] == 0.05
    assert params["lora_class_weight"]["defaultValue"] == "safe_unsafe"
    assert "exec-lora-train" in json.dumps(platform)


def test_run_guard_fails_fast_without_the_sources(tmp_path):
    res = _run_cli("run-guard", "--sources-dir", str(tmp_path / "empty"), "--pipeline-root",
                   str(tmp_path / "root"), timeout=120)
    assert res.returncode == 2
    assert "make sources" in res.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
@pytest.mark.pipeline
def test_local_run_of_the_guard_pipeline(tmp_path, write_csv, tiny_bert_dir):
    """ingest (fake wheels + seed + look-alikes) -> ... -> evaluate with leave-one-source-out."""
    from source_fakes import write_fake_wheels

    cache = write_fake_wheels(tmp_path / "cache")
    seed = write_csv([{"query": f"How do I hurt person number {i} badly?", "image descriptions": "x",
                       "Toxic Category": "Violent Crimes"} for i in range(12)]
                     + [{"query": f"What is a good soup recipe number {i}?", "image descriptions": "x",
                         "Toxic Category": "Safe"} for i in range(12)])
    root = tmp_path / "root"
    summary_path = tmp_path / "summary.json"
    res = _run_cli("run-guard", "--seed-data", str(seed), "--sources-dir", str(cache),
                   "--verify-sources", "false", "--pipeline-root", str(root),
                   "--summary", str(summary_path), "--max-per-source", "30",
                   "--min-class-count", "8", "--lstm-epochs", "2",
                   "--lora-base-model", str(tiny_bert_dir), "--lora-epochs", "1",
                   "--lora-max-length", "16", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-guard-*")
    prompts = pd.read_parquet(run_dir / "ingest" / "prompts")
    assert {"seed", "strongreject", "sharegpt", "lookalike", "contrast"} <= set(prompts["source"])
    assert prompts["source"].value_counts().max() <= 30
    test = pd.read_parquet(run_dir / "preprocess-prompts" / "test_data")
    assert {"source", "group"} <= set(test.columns)
    summary = json.loads(summary_path.read_text())
    for name in ("lstm", "lora"):
        g = summary["guard"][name]
        assert 0 < g["threshold"] <= 1 and g["unsafe"] + g["safe"] == len(test)
        assert set(g["per_source"]) == set(test["source"])
    loso = summary["loso"]
    assert set(loso["groups"]) == set(prompts["group"])
    kinds = {g: r["kind"] for g, r in loso["groups"].items()}
    assert {k for g, k in kinds.items() if g.startswith("lookalike/")} == {"benign"}
    assert {k for g, k in kinds.items() if g.startswith("contrast/")} == {"unsafe"}
    assert set(loso["before"]["groups"]) == set(loso["groups"])  # the before/after comparison
    info = json.loads((run_dir / "lora-train" / "model" / "model_info.json").read_text())
    assert info["calibration"]["target_false_flag_rate"] == 0.05 and info["scripts"] == ["LATIN"]
    ev = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    gm = ev["artifacts"]["guard_metrics"]["artifacts"][0]["metadata"]
    assert {"lora_threshold", "lora_unsafe_recall", "loso_min_unsafe_recall"} <= set(gm)
    assert "Leave-one-source-out" in res.stdout and "| lookalike/" in res.stdout


def test_submit_the_guard_pipeline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    client = mock.MagicMock()
    client.create_run_from_pipeline_package.return_value.run_id = "run-9"
    with mock.patch("kfp.Client", return_value=client):
        rc = pipeline.main(["submit", "--pipeline", "guard", "--host", "http://kfp:8080",
                            "--data", "gs://bucket/seed.csv", "--max-per-source", "100"])
        assert rc == 0
        kwargs = client.create_run_from_pipeline_package.call_args.kwargs
        assert kwargs["arguments"] == {"seed_data": "gs://bucket/seed.csv", "max_per_source": 100}
        assert kwargs["run_name"].startswith("toxic-guard-")
        rc = pipeline.main(["submit", "--pipeline", "guard", "--host", "http://kfp:8080",
                            "--data", "gs://bucket/seed.csv", "--alpha-sr", "0.2"])
    assert rc == 2 and "no parameter(s) --alpha-sr" in capsys.readouterr().err
