"""The deploy step against a fake KServe client that records calls (no cluster here)."""

import json

import pytest
from kfp import dsl

from components.deploy import deploy as dep
from components.deploy import images, kserve_spec
from manifests import validate

needs_crd = pytest.mark.skipif(not validate.crd_path().is_file(),
                               reason=f"KServe CRD not found at {validate.crd_path()}")
MODEL_URI = "minio://mlpipeline/v2/artifacts/toxic-filter/run-1/lora-train/model"


class FakeKServe:
    """Records get/create/patch like kserve.KServeClient; holds InferenceServices as dicts."""

    def __init__(self, existing: dict | None = None):
        self.isvcs = dict(existing or {})
        self.calls: list[tuple] = []

    def get(self, name, namespace=None):
        self.calls.append(("get", name, namespace))
        if name not in self.isvcs:  # what KServeClient raises for a 404
            raise RuntimeError("Exception when calling CustomObjectsApi->"
                               "get_namespaced_custom_object: (404)\nReason: Not Found\n")
        return self.isvcs[name]

    def create(self, inferenceservice, namespace=None):
        body = kserve_spec.to_dict(inferenceservice)
        self.calls.append(("create", body["metadata"]["name"], namespace, body))
        self.isvcs[body["metadata"]["name"]] = body
        return body

    def patch(self, name, inferenceservice, namespace=None):
        body = kserve_spec.to_dict(inferenceservice)
        self.calls.append(("patch", name, namespace, body))
        return body

    def replace(self, name, inferenceservice, namespace=None):
        body = kserve_spec.to_dict(inferenceservice)
        self.calls.append(("replace", name, namespace, body))
        self.isvcs[name] = body
        return body

    def writes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "get"]


def _existing(name: str, mode: str = "Knative", uri: str = "s3://old/lora") -> dict:
    isvc = kserve_spec.to_dict(kserve_spec.classifier(name, uri))
    isvc["metadata"]["annotations"][kserve_spec.ANNOTATION_MODE] = mode
    isvc["status"] = {"deploymentMode": mode, "components": {"predictor": {"traffic": [
        {"revisionName": f"{name}-predictor-00001", "percent": 100, "latestRevision": True}]}}}
    return isvc


def test_first_deploy_creates_the_service_without_a_canary():
    client = FakeKServe()
    rec = dep.deploy_champion(client, "lora", 0.85, MODEL_URI)
    ((op, name, ns, body),) = client.writes()
    assert (op, name, ns) == ("create", "lora", "toxic-filter")
    env = {e["name"]: e.get("value") for e in body["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"] == "s3://mlpipeline/v2/artifacts/toxic-filter/run-1/lora-train/model"
    assert "canaryTrafficPercent" not in body["spec"]["predictor"]  # nothing to split with yet
    assert rec["action"] == "created" and rec["applied"] == body
    assert rec["previous_storage_uri"] is None


def test_redeploy_patches_the_service_as_a_canary():
    client = FakeKServe({"lora": _existing("lora")})
    params = dep.DeployParams(deploy=True, canary_traffic_percent=20)
    rec = dep.deploy_champion(client, "lora", 0.85, MODEL_URI, params)
    ((op, name, _, body),) = client.writes()
    assert (op, name) == ("patch", "lora")
    assert body["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert body["spec"]["predictor"]["containers"][0]["env"][2] == {
        "name": "STORAGE_URI", "value": dep.storage_uri(MODEL_URI)}
    assert rec["action"] == "patched" and rec["canary_traffic_percent"] == 20
    assert rec["previous_storage_uri"] == "s3://old/lora"
    assert rec["deployment_mode"] == "Knative" and "20%" in rec["note"]
    json.dumps(rec)  # the step writes it as its output artifact


def test_standard_mode_has_no_traffic_split_and_says_so():
    client = FakeKServe({"lstm": _existing("lstm", mode="RawDeployment")})
    rec = dep.deploy_champion(client, "lstm", 0.75, "gs://b/run/lstm-train/model")
    ((_, _, _, body),) = client.writes()
    assert "canaryTrafficPercent" not in body["spec"]["predictor"]
    assert rec["deployment_mode"] == "Standard" and "100%" in rec["note"]
    # the patch keeps the service's mode although the step's profile is the default (Knative)
    assert body["metadata"]["annotations"][kserve_spec.ANNOTATION_MODE] == "Standard"


@pytest.mark.parametrize("macro_f1", [0.5, 0.6999])
def test_gate_failing_makes_no_call(macro_f1):
    client = FakeKServe({"lora": _existing("lora")})
    rec = dep.deploy_champion(client, "lora", macro_f1, MODEL_URI,
                              dep.DeployParams(min_macro_f1=0.7))
    assert client.calls == []
    assert rec["action"] == "skipped" and "< 0.7000" in rec["reason"]
    assert dep.passes_gate(0.7, 0.7)  # the bound itself passes


@pytest.mark.parametrize("kwargs, message", [
    ({"champion": "majority"}, "not deployable"),
    ({"model_uri": "/tmp/local_outputs/run/lora-train/model"}, "deploy runs on a cluster"),
    ({"params": dep.DeployParams(canary_traffic_percent=120)}, "0-100"),
])
def test_refuses_what_kserve_could_not_serve(kwargs, message):
    args = {"champion": "lora", "macro_f1": 0.9, "model_uri": MODEL_URI} | kwargs
    client = FakeKServe()
    with pytest.raises(dep.DeployError, match=message):
        dep.deploy_champion(client, **args)
    assert client.writes() == []


@needs_crd
def test_deploy_objects_validate_against_the_crd():
    client = FakeKServe({"lora": _existing("lora")})
    dep.deploy_champion(client, "lora", 0.85, MODEL_URI)
    dep.deploy_champion(client, "lstm", 0.85, "s3://b/lstm")
    dep.promote(client, "lora")
    *full, patch = [c[3] for c in client.writes()]
    assert len(full) == 2
    assert validate.validate(full) == []  # schema + the restricted profile
    assert validate.isvc_errors(patch) == []  # a merge patch: its fields are the CRD's


def test_promote_and_rollback_set_the_canary_share():
    client = FakeKServe({"lora": _existing("lora")})
    rec = dep.promote(client, "lora")
    assert client.writes()[-1][3]["spec"]["predictor"] == {"canaryTrafficPercent": 100}
    assert rec["traffic_before"][0]["percent"] == 100
    dep.rollback(client, "lora", namespace="toxic-filter")
    assert client.writes()[-1][3]["spec"]["predictor"] == {"canaryTrafficPercent": 0}
    with pytest.raises(dep.DeployError, match="no InferenceService"):
        dep.promote(client, "lstm")
    client = FakeKServe({"lora": _existing("lora", mode="Standard")})
    with pytest.raises(dep.DeployError, match="no traffic split"):
        dep.rollback(client, "lora")
    assert client.writes() == []


def test_cli_promote_and_rollback(monkeypatch, capsys):
    import pipeline

    client = FakeKServe({"lora": _existing("lora")})
    monkeypatch.setattr(dep, "kserve_client", lambda *a, **k: client)
    assert pipeline.main(["rollback", "lora"]) == 0
    assert json.loads(capsys.readouterr().out)["canary_traffic_percent"] == 0
    assert pipeline.main(["promote", "lstm"]) == 2
    assert "no InferenceService toxic-filter/lstm" in capsys.readouterr().err


def test_the_component_deploys_the_champions_artifact(tmp_path, monkeypatch):
    """The KFP component's own code (what runs in the pod), with the fake client."""
    import pipeline

    client = FakeKServe({"lstm": _existing("lstm")})
    monkeypatch.setattr(dep, "kserve_client", lambda *a, **k: client)
    out = dsl.Artifact(name="deployment", uri=str(tmp_path / "deployment"), metadata={})
    pipeline.deploy_model.python_func(
        champion="lstm", champion_macro_f1=0.74,
        lstm_model=dsl.Model(name="model", uri="s3://b/run/lstm-train/model", metadata={}),
        lora_model=dsl.Model(name="model", uri="s3://b/run/lora-train/model", metadata={}),
        deployment=out, min_macro_f1=0.7, canary_traffic_percent=10,
        namespace="toxic-filter", profile="default")
    ((op, name, _, body),) = client.writes()
    assert (op, name) == ("patch", "lstm")
    record = json.loads((tmp_path / "deployment").read_text())
    assert record["storage_uri"] == "s3://b/run/lstm-train/model"
    assert record["applied"] == body
    assert out.metadata["action"] == "patched" and "applied" not in out.metadata


# --------------------------------------------------------------------------- the guard
GUARD_URI = "minio://mlpipeline/v2/artifacts/toxic-guard/run-9/lora-train/model"
PER_GROUP = {  # held-out groups: an unsafe source, a benign look-alike kind, a mixed source
    "harmbench": {"unsafe_recall": 0.88, "false_flag_rate": None, "unsafe": 50, "safe": 0},
    "lookalike/history": {"unsafe_recall": None, "false_flag_rate": 0.06, "unsafe": 0, "safe": 40},
    "donotanswer": {"unsafe_recall": 0.91, "false_flag_rate": 0.09, "unsafe": 30, "safe": 20},
}


def _summary(holdout: bool = True, probes: bool = True) -> dict:
    summary = {"models": {"lstm": {}, "lora": {}}, "guard": {"lora": {
        "threshold": 0.4, "unsafe_recall": 0.95, "false_flag_rate": 0.02, "unsafe": 80,
        "safe": 70, "per_source": {"seed": {"unsafe_recall": 0.9, "false_flag_rate": 0.0,
                                            "unsafe": 10, "safe": 5}}}}}
    if holdout:
        summary["holdout"] = {"groups": list(PER_GROUP), "models": {
            "lora": {"all": {}, "per_group": PER_GROUP},
            "lstm": {"all": {}, "per_group": {g: {**m, "unsafe_recall": 0.1 if m["unsafe"] else None}
                                               for g, m in PER_GROUP.items()}}}}
    if probes:
        summary["probes"] = {"lora": {"per_language": {
            "de": {"unsafe_recall": 0.84, "false_flag_rate": 0.04, "unsafe": 25, "safe": 25},
            "hi": {"unsafe_recall": 0.70, "false_flag_rate": 0.02, "unsafe": 25, "safe": 25}}}}
    return summary


def test_gate_figures_are_the_worst_held_out_group_else_the_stratified_split():
    from components.evaluation.evaluate import gate_figures

    f = gate_figures(_summary())
    assert f["basis"] == "holdout" and f["model"] == "lora"
    # the worst recall over groups with unsafe prompts, the worst false flags over benign ones
    assert (f["unsafe_recall"], f["false_flag_rate"]) == (0.88, 0.09)
    assert set(f["groups"]) == set(PER_GROUP)
    assert f["languages"]["hi"] == {"unsafe_recall": 0.70, "false_flag_rate": 0.02,
                                    "unsafe": 25, "safe": 25}
    assert gate_figures(_summary(), "lstm")["unsafe_recall"] == 0.1
    f = gate_figures(_summary(holdout=False, probes=False))
    assert f["basis"] == "stratified" and (f["unsafe_recall"], f["false_flag_rate"]) == (0.95, 0.02)
    assert f["groups"] == {"seed": {"unsafe_recall": 0.9, "false_flag_rate": 0.0, "unsafe": 10,
                                    "safe": 5}} and f["languages"] == {}
    with pytest.raises(KeyError, match="no guard figures for 'caption'"):
        gate_figures(_summary(holdout=False), "caption")


def test_guard_gate_says_which_figure_failed():
    from components.evaluation.evaluate import gate_figures

    figures = gate_figures(_summary())
    gate = dep.check_guard_gate(figures, dep.GuardDeployParams(min_language_unsafe_recall=0.6))
    assert gate["passed"] and gate["failed"] == []
    assert len(gate["checks"]) == 2 + 2 * 2  # headline pair + both languages' pair
    gate = dep.check_guard_gate(figures)  # default thresholds: 0.85 / 0.10, per language 0.80 / 0.05
    assert not gate["passed"]
    assert gate["failed"] == ["unsafe_recall (language hi): 0.7000 < 0.8000"]
    assert gate["thresholds"]["min_language_unsafe_recall"] == 0.8
    strict = dep.GuardDeployParams(min_unsafe_recall=0.9, max_false_flag_rate=0.05,
                                   min_language_unsafe_recall=0.0)
    assert dep.check_guard_gate(figures, strict)["failed"] == [
        "unsafe_recall (holdout): 0.8800 < 0.9000", "false_flag_rate (holdout): 0.0900 > 0.0500"]
    unmeasured = {**figures, "unsafe_recall": None, "languages": {}}
    assert dep.check_guard_gate(unmeasured)["failed"] == [
        "unsafe_recall (holdout): not measured vs 0.8500"]  # never a pass on a missing figure


def test_guard_gate_compares_with_the_serving_guard_on_the_same_basis():
    figures = {"basis": "holdout", "unsafe_recall": 0.88, "false_flag_rate": 0.06,
               "languages": {"de": {"unsafe_recall": 0.86, "false_flag_rate": 0.03}}}
    params = dep.GuardDeployParams(max_regression=0.02)
    serving = {"run_id": "run-1", "basis": "holdout", "unsafe_recall": 0.90,
               "false_flag_rate": 0.05, "languages": {"de": {"unsafe_recall": 0.90,
                                                             "false_flag_rate": 0.03}}}
    gate = dep.check_guard_gate(figures, params, serving)
    assert gate["failed"] == ["unsafe_recall (language de, vs serving run run-1): 0.8600 < "
                              "0.8800 (serving 0.9000 - 0.02)"]
    assert gate["serving"] == serving
    assert dep.check_guard_gate(figures, dep.GuardDeployParams(max_regression=0.05), serving)["passed"]
    other_basis = dep.check_guard_gate(figures, params, {**serving, "basis": "stratified"})
    assert other_basis["passed"] and "not compared" in other_basis["notes"][-1]
    figures["groups"] = {"harmbench": {}, "lookalike/history": {}}
    other_groups = dep.check_guard_gate(figures, params, {**serving, "groups": ["advbench"]})
    assert other_groups["passed"] and "other groups (advbench): not compared" in other_groups["notes"][-1]
    same_groups = dep.check_guard_gate(figures, params, {**serving, "groups": sorted(figures["groups"])})
    assert not same_groups["passed"]


def test_sources_keep_their_licences():
    lic = dep.source_licences({"seed": 40, "strongreject": 300, "lookalike": 80, "newset": 5})
    assert lic["strongreject"] == {"rows": 300, "licence": "MIT (package and StrongREJECT data)"}
    assert "seed dataset" in lic["seed"]["licence"]
    assert lic["lookalike"]["licence"] == dep.GENERATED_LICENCE
    assert lic["newset"]["licence"] == "not recorded in components.data.sources"


def _gate_record(client=None, **figures) -> dict:
    f = {"model": "lora", "basis": "holdout", "unsafe_recall": 0.9, "false_flag_rate": 0.05,
         "groups": {}, "languages": {}} | figures
    return dep.guard_gate(f, {"seed": 40, "harmbench": 200}, "run-9", "toxic-guard-9", client)


def _llama_guard_serving() -> dict:
    """The default overlay's guard (Llama Guard on a GPU node), as the API returns it."""
    (isvc,) = [kserve_spec.to_dict(i) for i in kserve_spec.build("default")
               if i.metadata.name == "guard"]
    isvc["metadata"]["resourceVersion"] = "41"
    isvc["status"] = {"deploymentMode": "Knative"}
    return isvc


@needs_crd
def test_guard_rollout_replaces_llama_guard_as_a_canary_carrying_its_card():
    client = FakeKServe({"guard": _llama_guard_serving()})
    gate = _gate_record(client)
    assert gate["passed"] and "no regression check" in gate["gate"]["notes"][-1]
    rec = dep.deploy_guard(client, GUARD_URI, gate, dep.GuardDeployParams(deploy=True))
    ((op, name, ns, body),) = client.writes()
    assert (op, name, ns) == ("replace", "guard", "toxic-filter")
    assert body["metadata"]["resourceVersion"] == "41"  # optimistic concurrency
    predictor = body["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    # replaced whole: nothing of Llama Guard's GPU placement stays
    assert "tolerations" not in predictor and "nodeSelector" not in predictor
    (c,) = predictor["containers"]
    assert c["image"] == images.image(kserve_spec.OFFLINE_GUARD_IMAGE)
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert c["args"][c["args"].index("--classifier_dir") + 1] == "/mnt/models"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["STORAGE_URI"] == "s3://mlpipeline/v2/artifacts/toxic-guard/run-9/lora-train/model"
    card = json.loads(env[kserve_spec.DEPLOYMENT_ENV])
    assert card["run_id"] == "run-9" and card["figures"]["unsafe_recall"] == 0.9
    assert card["sources"]["harmbench"]["licence"].startswith("MIT")
    annotations = body["metadata"]["annotations"]
    assert annotations[dep.ANNOTATION_RUN_ID] == "run-9"
    assert validate.validate([body]) == []  # CRD schema + Pod Security restricted
    assert rec["action"] == "replaced" and rec["previous_run_id"] is None
    assert "10%" in rec["note"] and rec["gate"]["passed"]
    # the next run's gate reads this rollout's figures back and compares
    assert dep.serving_figures(client.isvcs["guard"])["unsafe_recall"] == 0.9
    worse = _gate_record(client, unsafe_recall=0.86)
    assert worse["gate"]["failed"] == ["unsafe_recall (holdout, vs serving run run-9): 0.8600 < "
                                       "0.8800 (serving 0.9000 - 0.02)"]


def test_guard_rollout_checks_the_gate_again_and_creates_a_first_guard():
    client = FakeKServe()
    gate = _gate_record()
    rec = dep.deploy_guard(client, GUARD_URI, gate, dep.GuardDeployParams(min_unsafe_recall=0.95))
    assert rec["action"] == "skipped" and client.writes() == []
    assert rec["reason"] == "unsafe_recall (holdout): 0.9000 < 0.9500"
    rec = dep.deploy_guard(client, GUARD_URI, gate, dep.GuardDeployParams(profile="cpu-local"))
    ((op, _, _, body),) = client.writes()
    assert op == "create" and "canaryTrafficPercent" not in body["spec"]["predictor"]
    assert body["metadata"]["annotations"][kserve_spec.ANNOTATION_MODE] == "Standard"
    assert rec["action"] == "created"
    with pytest.raises(dep.DeployError, match="annotation toxic-filter/gate-figures"):
        dep.serving_figures({"metadata": {"annotations": {dep.ANNOTATION_GATE: "{oops"}}})


def test_local_runs_deploy_from_where_the_cluster_sees_their_outputs():
    local = "/home/me/local_outputs/toxic-guard-2026-12-06/lora-train/model"
    assert dep.storage_uri(local, "pvc://local-outputs/") == (
        "pvc://local-outputs/toxic-guard-2026-12-06/lora-train/model")
    assert dep.storage_uri(MODEL_URI, "pvc://x") == dep.storage_uri(MODEL_URI)  # buckets as they are
    with pytest.raises(dep.DeployError, match="deploy_local_models_uri"):
        dep.storage_uri(local)


def test_the_gate_component_records_a_failed_gate(tmp_path, monkeypatch):
    """The KFP components' own code (what runs in the pods) on the failing path."""
    import pipeline

    client = FakeKServe({"guard": _llama_guard_serving()})
    monkeypatch.setattr(dep, "kserve_client", lambda *a, **k: client)
    summary = tmp_path / "summary"
    summary.write_text(json.dumps(_summary()))
    gate = dsl.Artifact(name="gate", uri=str(tmp_path / "gate"), metadata={})
    metrics = dsl.Metrics(name="gate_metrics", uri=str(tmp_path / "m"), metadata={})
    thresholds = dict(min_unsafe_recall=0.85, max_false_flag_rate=0.10,
                      min_language_unsafe_recall=0.80, max_language_false_flag_rate=0.05,
                      max_regression=0.02, namespace="toxic-filter")
    out = pipeline.guard_gate.python_func(
        summary=dsl.Artifact(name="summary", uri=str(summary), metadata={}),
        prompts=dsl.Dataset(name="prompts", uri=str(tmp_path / "p"),
                            metadata={"rows_per_source": {"seed": 40.0}}),
        gate=gate, gate_metrics=metrics, run_id="run-9", run_name="toxic-guard-9", **thresholds)
    assert out is False
    record = json.loads((tmp_path / "gate").read_text())
    assert record["gate"]["failed"] == ["unsafe_recall (language hi): 0.7000 < 0.8000"]
    assert gate.metadata["failed"] == record["gate"]["failed"] and gate.metadata["basis"] == "holdout"
    assert metrics.metadata["hi_unsafe_recall"] == 0.7
    assert record["card"]["sources"]["seed"]["rows"] == 40
    # the deploy component re-checks the same gate and applies nothing
    deployment = dsl.Artifact(name="deployment", uri=str(tmp_path / "deployment"), metadata={})
    pipeline.deploy_guard.python_func(
        lora_model=dsl.Model(name="model", uri=GUARD_URI, metadata={}),
        gate=dsl.Artifact(name="gate", uri=str(tmp_path / "gate"), metadata={}),
        deployment=deployment, canary_traffic_percent=10, profile="default",
        local_models_uri="", **thresholds)
    assert client.writes() == []
    assert deployment.metadata["action"] == "skipped" and not deployment.metadata["gate_passed"]


def test_cli_promotes_the_guard(monkeypatch, capsys):
    import pipeline

    guard = _llama_guard_serving()
    client = FakeKServe({"guard": guard})
    monkeypatch.setattr(dep, "kserve_client", lambda *a, **k: client)
    assert pipeline.main(["promote", "guard"]) == 0
    assert client.writes()[-1][3]["spec"]["predictor"] == {"canaryTrafficPercent": 100}
