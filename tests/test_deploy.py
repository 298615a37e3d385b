"""The deploy step against a fake KServe client that records calls (no cluster here)."""

import json

import pytest
from kfp import dsl

from components import deploy as dep
from components import kserve_spec
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
