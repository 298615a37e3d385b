"""pipeline.py: compile, CLI, submit (mocked KFP API), and real kfp.local runs."""

import copy
import dataclasses
import json
import subprocess
import sys
from unittest import mock

import pandas as pd
import pytest
import yaml
from sample_rows import ROOT, make_rows

import pipeline
from components.pipelines import cli, table


def _compile(tmp_path, *flags) -> list[dict]:
    out = tmp_path / "p.yaml"
    assert pipeline.main(["compile", "--output", str(out), *flags]) == 0
    return list(yaml.safe_load_all(out.read_text()))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """compiled("toxic" | "guard"): the default compile of a pipeline, done once per module
    (compiling takes seconds); each call returns a fresh copy."""
    cache: dict[str, list[dict]] = {}

    def get(which: str = "toxic") -> list[dict]:
        if which not in cache:
            cache[which] = _compile(tmp_path_factory.mktemp(which), "--pipeline", which)
        return copy.deepcopy(cache[which])

    return get


def _producer(task: dict, name: str) -> str:
    return task["inputs"]["artifacts"][name]["taskOutputArtifact"]["producerTask"]


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_compiles_the_five_steps_wired_without_leakage(compiled):
    spec = compiled()[0]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"preprocess", "augment", "lstm-train", "lora-train", "evaluate",
                          "condition-1"}  # condition-1 > condition-2 > deploy
    assert _producer(tasks["augment"], "train_data") == "preprocess"
    for trainer in ("lstm-train", "lora-train"):
        assert _producer(tasks[trainer], "train_data") == "augment"
        assert _producer(tasks[trainer], "val_data") == "preprocess"  # never augmented
    assert _producer(tasks["evaluate"], "test_data") == "preprocess"
    assert _producer(tasks["evaluate"], "lora_model") == "lora-train"
    assert spec["root"]["outputDefinitions"]["artifacts"]


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_lora_train_requests_a_gpu_node(compiled):
    spec, platform = compiled()
    resources = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "1"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-lora-train"]
    assert k8s["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert k8s["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "accelerator" not in (spec["deploymentSpec"]["executors"]["exec-lstm-train"]["container"]
                                 .get("resources", {}))


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
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
    k8s = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-lora-train"]
    assert set(k8s) == {"securityContext"}  # no GPU node selector or toleration left


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_compiles_with_typed_defaults(compiled):
    spec = compiled()[0]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in params["data"]  # the dataset is required
    assert params["min_class_count"]["parameterType"] == "NUMBER_INTEGER"
    assert params["min_class_count"]["defaultValue"] == 20
    assert params["val_size"]["defaultValue"] == 0.15
    assert params["lora_base_model"]["defaultValue"] == "distilbert-base-uncased"


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_components_use_the_project_image_without_pip_installs(compiled):
    spec = compiled()[0]
    for name, ex in spec["deploymentSpec"]["executors"].items():
        container = ex["container"]
        assert container["image"].startswith("ghcr.io/toxic-filter/toxic-filter-"), name
        assert "pip install" not in " ".join(container["command"]), name


def test_cli_exposes_every_pipeline_parameter():
    args = cli.build_parser(pipeline.PIPELINES).parse_args(
        ["run", "--data", "x.csv", "--min-class-count", "5", "--drop-invalid-rows", "true",
         "--alpha-sr", "0.2"])
    assert cli.collect_params(args) == {"min_class_count": 5, "drop_invalid_rows": True,
                                        "alpha_sr": 0.2}
    with pytest.raises(SystemExit):
        cli.build_parser(pipeline.PIPELINES).parse_args(["run", "--min-class-count", "many"])


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
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


def _run_cli(*args, cwd=ROOT, timeout=900, env=None):
    return subprocess.run([sys.executable, "pipeline.py", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
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
                   "--lora-base-model", str(tiny_bert_dir), "--lora-epochs", "1", "--lora-r", "2",
                   # deploy asked, but the gate cannot pass: kfp.local must skip the step (run
                   # here it would fail: no cluster, and a local model path KServe cannot read)
                   "--deploy", "true", "--deploy-min-macro-f1", "1.01")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-filter-*")
    assert not (run_dir / "deploy-model").exists()
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
    lora_dir = run_dir / "lora-train" / "model"  # merged weights: serving needs no base model
    assert (lora_dir / "model.safetensors").is_file() and (lora_dir / "config.json").is_file()
    assert not (lora_dir / "adapter_config.json").exists()
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


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
# --------------------------------------------------------------------------- the guard pipeline
def test_guard_pipeline_compiles_with_ingest_and_leave_one_source_out(compiled):
    spec, platform = compiled("guard")
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ingest", "preprocess-prompts", "augment", "lstm-train", "lora-train",
                          "leave-one-source-out", "evaluate",
                          "condition-1"}  # condition-1 > guard-gate, condition-2 > deploy-guard
    assert _producer(tasks["preprocess-prompts"], "data") == "ingest"
    assert _producer(tasks["evaluate"], "loso") == "leave-one-source-out"
    assert _producer(tasks["leave-one-source-out"], "test_data") == "preprocess-prompts"
    lora = spec["deploymentSpec"]["executors"]["exec-lora-train"]["container"]["resources"]
    assert lora["accelerator"]["resourceCount"] == "1"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["target_false_flag_rate"]["defaultValue"] == 0.05
    assert params["lora_class_weight"]["defaultValue"] == "safe_unsafe"
    assert "exec-lora-train" in json.dumps(platform)


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_run_guard_fails_fast_without_the_sources(tmp_path):
    res = _run_cli("run-guard", "--sources-dir", str(tmp_path / "empty"), "--pipeline-root",
                   str(tmp_path / "root"), timeout=120)
    assert res.returncode == 2
    assert "make sources" in res.stderr
    assert not (tmp_path / "root").exists()


HELD_OUT = ("strongreject", "lookalike/history_news")


@pytest.mark.slow
@pytest.mark.pipeline
def test_local_run_of_the_guard_pipeline(tmp_path, write_csv, tiny_bert_dir):
    """ingest (fake wheels + seed + look-alikes) -> ... -> evaluate with leave-one-source-out
    -> the guard's gate (reachable here) -> its canary rollout, sent by the real KServe SDK to a
    fake Kubernetes API (tests/fake_kube_api.py) serving a guard rolled out by an earlier run."""
    import os

    from fake_kube_api import FakeKubeApi
    from source_fakes import write_fake_wheels

    from components.deploy import deploy, images, kserve_spec
    from components.evaluation.evaluate import gate_figures
    from manifests import validate

    cache = write_fake_wheels(tmp_path / "cache")
    seed = write_csv([{"query": f"How do I hurt person number {i} badly?", "image descriptions": "x",
                       "Toxic Category": "Violent Crimes"} for i in range(12)]
                     + [{"query": f"What is a good soup recipe number {i}?", "image descriptions": "x",
                         "Toxic Category": "Safe"} for i in range(12)])
    root = tmp_path / "root"
    summary_path = tmp_path / "summary.json"
    previous = {"run_id": "previous-run", "basis": "holdout", "groups": sorted(HELD_OUT),
                "unsafe_recall": 0.0, "false_flag_rate": 1.0, "languages": {}}
    serving = kserve_spec.to_dict(kserve_spec.offline_guard(
        "s3://toxic-filter/models/guard", annotations={
            deploy.ANNOTATION_GATE: json.dumps(previous)}))
    serving["status"] = {"deploymentMode": "Knative"}
    reachable = ["--deploy-min-unsafe-recall", "0", "--deploy-max-false-flag-rate", "1",
                 "--deploy-min-language-unsafe-recall", "0",
                 "--deploy-max-language-false-flag-rate", "1", "--deploy-max-regression", "1"]
    with FakeKubeApi([serving]) as api:
        env = {**os.environ, "KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))}
        res = _run_cli("run-guard", "--seed-data", str(seed), "--sources-dir", str(cache),
                       "--verify-sources", "false", "--pipeline-root", str(root),
                       "--summary", str(summary_path), "--max-per-source", "30",
                       "--min-class-count", "8", "--lstm-epochs", "2",
                       "--lora-base-model", str(tiny_bert_dir), "--lora-epochs", "1",
                       "--lora-max-length", "16", "--holdout-groups", ",".join(HELD_OUT),
                       "--deploy", "true", *reachable,
                       "--deploy-local-models-uri", "s3://toxic-filter/local_outputs",
                       timeout=900, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = root.glob("toxic-guard-*")
    prompts = pd.read_parquet(run_dir / "ingest" / "prompts")
    assert {"seed", "strongreject", "sharegpt", "lookalike", "contrast", "written"} <= \
        set(prompts["source"])
    from components.data.ingest import UNCAPPED

    per_source = prompts["source"].value_counts()
    assert per_source.drop(list(UNCAPPED), errors="ignore").max() <= 30
    assert per_source["translated"] > 30  # every id in every language: never sampled
    test = pd.read_parquet(run_dir / "preprocess-prompts" / "test_data")
    assert {"source", "group"} <= set(test.columns)
    summary = json.loads(summary_path.read_text())
    for name in ("lstm", "lora"):
        g = summary["guard"][name]
        assert 0 < g["threshold"] <= 1 and g["unsafe"] + g["safe"] == len(test)
        assert set(g["per_source"]) == set(test["source"])
    # the held-out groups: in no split the models saw, scored as the out-of-source figures
    held = pd.read_parquet(run_dir / "preprocess-prompts" / "holdout_data")
    assert set(held["group"]) == set(HELD_OUT)
    for split in ("train_data", "val_data", "test_data"):
        part = pd.read_parquet(run_dir / "preprocess-prompts" / split)
        assert not set(part["group"]) & set(HELD_OUT)
    assert summary["holdout"]["groups"] == sorted(HELD_OUT)
    for name in ("lstm", "lora"):
        h = summary["holdout"]["models"][name]
        assert set(h["per_group"]) == set(HELD_OUT)
        assert h["all"]["unsafe"] == (held["label"] != "Safe").sum() > 0
        assert h["all"]["safe"] == (held["label"] == "Safe").sum() > 0
    assert "Out of source" in res.stdout
    loso = summary["loso"]
    assert set(loso["groups"]) == set(prompts["group"]) - set(HELD_OUT)
    kinds = {g: r["kind"] for g, r in loso["groups"].items()}
    assert {k for g, k in kinds.items() if g.startswith("lookalike/")} == {"benign"}
    assert {k for g, k in kinds.items() if g.startswith("contrast/")} == {"unsafe"}
    assert {k for g, k in kinds.items() if g.startswith("written/")} == {"unsafe"}
    assert set(loso["before"]["groups"]) == set(loso["groups"])  # the before/after comparison
    info = json.loads((run_dir / "lora-train" / "model" / "model_info.json").read_text())
    # the tiny encoder's vocabulary is too small to tell its scripts: the training scripts,
    # the translations' among them (components.core.text.readable_scripts)
    from components.data.translations import LANGUAGES

    assert info["calibration"]["target_false_flag_rate"] == 0.05
    assert info["scripts"] == sorted({script for _, script in LANGUAGES.values()})
    ev = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    gm = ev["artifacts"]["guard_metrics"]["artifacts"][0]["metadata"]
    assert {"lora_threshold", "lora_unsafe_recall", "loso_min_unsafe_recall",
            "lora_holdout_unsafe_recall", "lora_probe_en_unsafe_recall"} <= set(gm)
    # the probe set (zero-shot: probe_train_share 0), printed with the guard figures
    assert summary["probes"]["lora"]["excluded_ids"] == [] and "probe" not in set(prompts["source"])
    assert "| lora | Korean (ko) |" in res.stdout and "| lstm | rtl_override |" in res.stdout
    assert "Leave-one-source-out" in res.stdout and "| lookalike/" in res.stdout
    # the gate: read the serving guard (the gate step, then the deploy step), then replace it
    assert [r["method"] for r in api.requests] == ["GET", "GET", "PUT"]
    gate = json.loads((run_dir / "guard-gate" / "gate").read_text())
    assert gate["passed"] and gate["gate"]["failed"] == []
    assert gate["gate"]["serving"]["run_id"] == "previous-run"  # its annotations, read back
    assert {"holdout", "holdout, vs serving run previous-run"} <= {
        c["scope"] for c in gate["gate"]["checks"]}  # thresholds, then the regression
    assert gate["card"]["figures"] == gate_figures(summary)  # the held-out groups' worst
    body = api.requests[-1]["body"]
    predictor = body["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    (c,) = predictor["containers"]
    env_vars = {e["name"]: e.get("value") for e in c["env"]}
    assert env_vars["STORAGE_URI"] == (
        f"s3://toxic-filter/local_outputs/{run_dir.name}/lora-train/model")
    assert c["image"] == images.image(kserve_spec.OFFLINE_GUARD_IMAGE)
    size = kserve_spec.SIZES["guard-cpu"]
    assert c["resources"] == {"requests": {"cpu": size.cpu_request, "memory": size.memory_request},
                              "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit}}
    assert c["securityContext"]["runAsNonRoot"] and predictor["securityContext"]["runAsNonRoot"]
    if validate.crd_path().is_file():
        assert validate.validate([body]) == []  # the CRD schema + Pod Security restricted
    card = json.loads(env_vars[kserve_spec.DEPLOYMENT_ENV])
    assert card["run_name"] == run_dir.name and card["run_id"]
    assert card["sources"]["strongreject"]["licence"].startswith("MIT")
    assert set(card["sources"]) == set(prompts["source"])
    assert body["metadata"]["annotations"][deploy.ANNOTATION_RUN_ID] == card["run_id"]
    record = json.loads((run_dir / "deploy-guard" / "deployment").read_text())
    assert record["action"] == "replaced" and record["previous_run_id"] == "previous-run"
    assert record["previous_storage_uri"] == "s3://toxic-filter/models/guard"


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
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


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
# --------------------------------------------------------------------------- deploy
def test_deploy_runs_only_when_asked_and_past_the_quality_gate(compiled):
    spec = compiled()[0]
    asked = spec["root"]["dag"]["tasks"]["condition-1"]
    assert asked["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--deploy'] == true")
    assert asked["taskInfo"]["name"] == "deploy requested"
    gate = spec["components"]["comp-condition-1"]["dag"]["tasks"]["condition-2"]
    assert gate["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--evaluate-champion_macro_f1'] >= "
        "inputs.parameter_values['pipelinechannel--deploy_min_macro_f1']")
    (task,) = spec["components"]["comp-condition-2"]["dag"]["tasks"].values()
    assert task["taskInfo"]["name"] == "deploy"
    params = task["inputs"]["parameters"]
    assert params["champion"]["componentInputParameter"] == "pipelinechannel--evaluate-champion"
    assert params["canary_traffic_percent"]["componentInputParameter"] == (
        "pipelinechannel--deploy_canary_traffic_percent")
    arts = task["inputs"]["artifacts"]
    assert set(arts) == {"lstm_model", "lora_model"}
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["deploy"]["defaultValue"] is False  # a run deploys only when asked
    assert root["deploy_canary_traffic_percent"]["defaultValue"] == 10


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_the_guard_deploys_only_when_asked_and_past_its_gate(compiled):
    spec = compiled("guard")[0]
    asked = spec["root"]["dag"]["tasks"]["condition-1"]
    assert asked["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--deploy'] == true")
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert set(inner) == {"guard-gate", "condition-2"}
    gate = inner["guard-gate"]
    arts = {k: v["componentInputArtifact"] for k, v in gate["inputs"]["artifacts"].items()}
    assert arts == {"summary": "pipelinechannel--evaluate-summary",
                    "prompts": "pipelinechannel--ingest-prompts"}
    params = gate["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["min_unsafe_recall"]["componentInputParameter"] == (
        "pipelinechannel--deploy_min_unsafe_recall")
    assert gate["cachingOptions"] == {}  # it reads the serving guard: never from the cache
    passes = inner["condition-2"]
    assert passes["taskInfo"]["name"] == "guard passes the gate"
    assert passes["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--guard-gate-Output'] == true")
    (task,) = spec["components"]["comp-condition-2"]["dag"]["tasks"].values()
    assert task["taskInfo"]["name"] == "deploy"
    assert set(task["inputs"]["artifacts"]) == {"lora_model", "gate"}
    assert task["inputs"]["parameters"]["local_models_uri"]["componentInputParameter"] == (
        "pipelinechannel--deploy_local_models_uri")
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["deploy"]["defaultValue"] is False  # a run deploys only when asked
    assert (root["deploy_min_unsafe_recall"]["defaultValue"],
            root["deploy_max_false_flag_rate"]["defaultValue"]) == (0.85, 0.1)


def test_run_guard_with_deploy_fails_fast_without_a_cluster_or_a_models_uri(tmp_path, monkeypatch,
                                                                            capsys):
    from source_fakes import write_fake_wheels

    cache = write_fake_wheels(tmp_path / "cache")
    base = ["run-guard", "--seed-data", "", "--sources-dir", str(cache), "--verify-sources",
            "false", "--pipeline-root", str(tmp_path / "root"), "--deploy", "true"]
    assert pipeline.main(base) == 2
    assert "needs --deploy-local-models-uri" in capsys.readouterr().err
    from components.deploy import deploy

    def no_cluster(*a, **k):
        raise deploy.DeployError("no Kubernetes API to deploy to")

    monkeypatch.setattr(deploy, "kserve_client", no_cluster)
    assert pipeline.main([*base, "--deploy-local-models-uri", "pvc://outputs"]) == 2
    assert "no Kubernetes API" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
# --------------------------------------------------------------------------- resources, security
@pytest.mark.parametrize("which", ["toxic", "guard"])
def test_every_step_requests_resources_and_runs_as_non_root(compiled, which):
    spec, platform = compiled(which)
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, ex in executors.items():
        res = ex["container"]["resources"]
        for key in ("resourceCpuRequest", "resourceMemoryRequest", "resourceCpuLimit",
                    "resourceMemoryLimit"):
            assert key in res, (name, key)
        assert k8s[name]["securityContext"] == {"runAsUser": "1000", "runAsGroup": "1000",
                                                "runAsNonRoot": True}, name
    lora = executors["exec-lora-train"]["container"]["resources"]
    # docs/cluster.md's Resources table: 2 CPUs / 3Gi requested (peak RSS 1,590 MiB), not 8 / 32G
    assert (lora["resourceCpuRequest"], lora["resourceMemoryRequest"]) == ("2", "3Gi")
    assert (lora["resourceCpuLimit"], lora["resourceMemoryLimit"]) == ("4", "6Gi")


# --------------------------------------------------------------------------- parameters, once
@pytest.mark.parametrize("name", ["toxic", "guard"])
def test_pipeline_defaults_are_the_step_dataclasses(name):
    """Every pipeline parameter sets at least one step dataclass field, and its default is that
    field's value in the pipeline's defaults (data/seed_data excepted: required)."""
    spec = pipeline.PIPELINES[name]
    defaults, inputs = spec.defaults, spec.pipeline.component_spec.inputs
    for param, sources in table.parameter_sources(spec).items():
        if param in ("data", "seed_data"):
            assert inputs[param].default is None
            continue
        assert sources, f"{name}: parameter {param!r} sets no step dataclass field"
        for step, field in sources:
            expected = getattr(getattr(defaults, step), field)
            assert inputs[param].default == expected, (name, param, step, field)


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
@pytest.mark.parametrize("which", ["toxic", "guard"])
def test_every_pipeline_parameter_reaches_a_task(compiled, which):
    text = json.dumps(compiled(which)[0]["root"]["dag"])
    for param in cli.pipeline_parameters(pipeline.PIPELINES[which].pipeline):
        assert f'"componentInputParameter": "{param}"' in text, param


def test_components_take_their_parameters_from_the_step_dataclasses():
    from components.pipelines.params import check_component

    for spec in pipeline.PIPELINES.values():
        for step, component in spec.steps.items():
            given = ("data", "seed_data", "champion", "champion_macro_f1", "run_id", "run_name")
            check_component(component, type(getattr(spec.defaults, step)), given)
    from components.data.augment import AugmentParams
    from components.training.lstm_train import LstmParams

    with pytest.raises(TypeError, match="'base_model' is not a field of LstmParams"):
        check_component(pipeline.lora_train, LstmParams)
    wrong = dataclasses.make_dataclass(
        "Wrong", [(f.name, f.type, dataclasses.field(default=getattr(AugmentParams(), f.name)))
                  for f in dataclasses.fields(AugmentParams) if f.name != "seed"]
        + [("seed", str, dataclasses.field(default="42"))])
    with pytest.raises(TypeError, match=r"'seed' is int but Wrong\.seed is str"):
        check_component(pipeline.augment, wrong)


@pytest.mark.slow  # compiles the pipeline with kfp (seconds)
def test_unexposed_component_parameters_compile_to_the_dataclass_values(compiled):
    spec = compiled("guard")[0]
    aug = spec["root"]["dag"]["tasks"]["augment"]["inputs"]["parameters"]
    assert aug["alpha_sr"]["runtimeValue"]["constant"] == pipeline.GUARD_DEFAULTS.augment.alpha_sr
    assert aug["balance_ratio"]["componentInputParameter"] == "balance_ratio"
    pre = spec["root"]["dag"]["tasks"]["preprocess-prompts"]["inputs"]["parameters"]
    assert pre["keep_columns"]["runtimeValue"]["constant"] == "source,group"
    loso = spec["root"]["dag"]["tasks"]["leave-one-source-out"]["inputs"]["parameters"]
    assert loso["base_model"]["componentInputParameter"] == "lora_base_model"


def test_docs_parameter_table_is_the_code():
    page = (ROOT / "docs" / "pipeline.md").read_text()
    text = table.parameter_table(pipeline.PIPELINES)
    assert text in page, ("docs/pipeline.md's parameter table differs from the code: paste "
                          "`.venv/bin/python pipeline.py params`")
    for row in table.parameter_rows(pipeline.PIPELINES):
        assert row["meaning"], row["parameter"]


def test_params_as_json_mark_required_parameters_null(capsys):
    assert pipeline.main(["params", "--format", "json"]) == 0
    rows = {r["parameter"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["data"]["toxic-filter"] is None  # required: no default
    assert rows["text_columns"]["toxic-filter"] == "query,image descriptions"


def test_cli_flags_and_defaults_come_from_the_pipelines(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser(pipeline.PIPELINES).parse_args(["run", "--help"])
    out = capsys.readouterr().out
    assert "--deploy-min-macro-f1" in out and "default: 0.7" in out
    assert "default: 'offline'" in out  # run's local base model


def test_the_launcher_finds_runs_by_the_pipelines_names():
    """serving.launch looks for run directories by prefix without importing kfp: the prefixes
    are the pipelines' names."""
    from serving import launch

    assert launch.RUN_PREFIX == pipeline.PIPELINE_NAME + "-"
    assert launch.GUARD_RUN_PREFIX == pipeline.GUARD_PIPELINE_NAME + "-"
    assert launch.RESPONSE_RUN_PREFIX == pipeline.RESPONSE_PIPELINE_NAME + "-"

