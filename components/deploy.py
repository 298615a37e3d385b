"""Deploy step: roll the champion out to KServe as a canary; promote or roll it back.

The pipeline runs `deploy_champion` only when asked (`deploy=true`) and when the champion's test
macro-F1 passes the gate (`dsl.If`, so the Kubeflow UI shows a skipped step); the function checks
the gate again and makes no call when it fails. It creates the champion's InferenceService, or
patches it with the run's model directory as the new STORAGE_URI and `canaryTrafficPercent` set:
KServe (Knative mode) then routes that share of the traffic to the new revision and the rest to
the last one rolled out. `promote` sends 100% to the new revision, `rollback` 0% (all traffic
back to the previous model). Standard (RawDeployment) mode has no traffic split: there the patch
rolls out to 100% and the record says so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from components import kserve_spec  # light: it imports kserve only inside its functions

log = logging.getLogger(__name__)

MIN_MACRO_F1 = 0.70  # the full-data run: lstm 0.742, lora 0.848 (README)
CANARY_TRAFFIC_PERCENT = 10
DEPLOYABLE = ("lstm", "lora")
# KFP's artifact store URIs -> what KServe's storage initializer reads. Kubeflow's bundled MinIO
# is S3-compatible: minio://bucket/key is s3://bucket/key with the MinIO endpoint set on the
# service account's secret (manifests/base/serviceaccount.yaml).
URI_SCHEMES = {"minio://": "s3://", "s3://": "s3://", "gs://": "gs://", "https://": "https://"}


@dataclasses.dataclass(frozen=True)
class DeployParams:
    """The deploy step's parameters and their defaults (the one place they are written)."""

    deploy: bool = False  # roll the champion out at the end of the run
    min_macro_f1: float = MIN_MACRO_F1
    canary_traffic_percent: int = CANARY_TRAFFIC_PERCENT
    namespace: str = kserve_spec.NAMESPACE
    profile: str = "default"  # manifests profile of the services: default | cpu-local


class DeployError(RuntimeError):
    """A deployment that cannot be done as asked (bad URI, model, percentage)."""


class KServeClientLike(Protocol):
    """The calls of `kserve.KServeClient` this module makes (tests pass a fake)."""

    def get(self, name: str, namespace: str) -> dict: ...

    def create(self, inferenceservice: Any, namespace: str) -> dict: ...

    def patch(self, name: str, inferenceservice: Any, namespace: str) -> dict: ...


def passes_gate(macro_f1: float, min_macro_f1: float) -> bool:
    """The quality gate: the champion's test macro-F1 is at least `min_macro_f1`."""
    return float(macro_f1) >= float(min_macro_f1)


def storage_uri(artifact_uri: str) -> str:
    """The bucket URI KServe reads for a KFP model artifact URI (minio:// becomes s3://).

    Raises:
        DeployError: for a local path (a kfp.local run): a cluster cannot read it.
    """
    for prefix, scheme in URI_SCHEMES.items():
        if artifact_uri.startswith(prefix):
            return scheme + artifact_uri[len(prefix):]
    raise DeployError(f"model artifact {artifact_uri!r} is not in a bucket KServe can read "
                      f"(expected one of {', '.join(URI_SCHEMES)}); deploy runs on a cluster")


def _not_found(exc: Exception) -> bool:
    status = getattr(exc, "status", None) or getattr(getattr(exc, "__cause__", None), "status", None)
    return status == 404 or "Not Found" in str(exc) or "(404)" in str(exc)


def _get(client: KServeClientLike, name: str, namespace: str) -> dict | None:
    try:
        return client.get(name, namespace=namespace)
    except Exception as exc:  # KServeClient wraps the ApiException in a RuntimeError
        if _not_found(exc):
            return None
        raise


def current_storage_uri(isvc: Mapping[str, Any]) -> str | None:
    """STORAGE_URI of the kserve-container of an InferenceService (a dict from the API)."""
    for c in isvc.get("spec", {}).get("predictor", {}).get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == "STORAGE_URI":
                return e.get("value")
    return None


def deployment_mode(isvc: Mapping[str, Any] | None, profile: str) -> str:
    """The mode an InferenceService runs in: its status, else its annotation, else the profile's."""
    if isvc:
        mode = (isvc.get("status") or {}).get("deploymentMode") or (
            isvc.get("metadata", {}).get("annotations") or {}).get(kserve_spec.ANNOTATION_MODE)
        if mode:
            return {"Serverless": "Knative", "RawDeployment": "Standard"}.get(mode, mode)
    return kserve_spec.DEPLOYMENT_MODE[profile]


def deploy_champion(client: KServeClientLike, champion: str, macro_f1: float,
                    model_uri: str, params: DeployParams = DeployParams(),  # noqa: B008
                    registry: str | None = None, tag: str | None = None) -> dict[str, Any]:
    """Create or patch the champion's InferenceService with `model_uri` as a canary.

    Args:
        client: a `kserve.KServeClient` (or a fake with get/create/patch).
        champion: the model evaluate chose ("lstm" or "lora").
        macro_f1: its test macro-F1.
        model_uri: the run's model artifact URI.
        params: gate, canary share, namespace, manifests profile.
        registry: serving image registry (default: components.images).
        tag: serving image tag.

    Returns:
        What was applied: action (created, patched or skipped), name, namespace, storage URIs
        (new and previous), canary share, deployment mode, the gate, and the object sent.

    Raises:
        DeployError: unknown champion, canary share out of 0-100, or a model URI KServe
            cannot read.
    """
    record: dict[str, Any] = {"champion": champion, "macro_f1": float(macro_f1),
                              "min_macro_f1": float(params.min_macro_f1),
                              "namespace": params.namespace, "name": champion}
    if not passes_gate(macro_f1, params.min_macro_f1):
        log.warning("quality gate failed: %s macro-F1 %.4f < %.4f; nothing deployed",
                    champion, macro_f1, params.min_macro_f1)
        return {**record, "action": "skipped",
                "reason": f"macro-F1 {float(macro_f1):.4f} < {float(params.min_macro_f1):.4f}"}
    if champion not in DEPLOYABLE:
        raise DeployError(f"champion {champion!r} is not deployable; expected one of {DEPLOYABLE}")
    if not 0 <= int(params.canary_traffic_percent) <= 100:
        raise DeployError(f"canary_traffic_percent must be 0-100, got "
                          f"{params.canary_traffic_percent}")
    uri = storage_uri(model_uri)
    existing = _get(client, champion, params.namespace)
    mode = deployment_mode(existing, params.profile)
    canary: int | None = None
    if existing is not None and mode == "Knative":
        canary = int(params.canary_traffic_percent)
    # an InferenceService keeps its deployment mode (KServe refuses to change it): build the
    # patch in the profile of the mode it runs in
    profile = {v: k for k, v in kserve_spec.DEPLOYMENT_MODE.items()}.get(mode, params.profile)
    isvc = kserve_spec.classifier(champion, uri, profile, registry, tag,
                                  canary_traffic_percent=canary, namespace=params.namespace)
    body = kserve_spec.to_dict(isvc)
    if existing is None:
        client.create(isvc, namespace=params.namespace)
        action, note = "created", "first rollout: all traffic to this model"
    else:
        client.patch(champion, isvc, namespace=params.namespace)
        action = "patched"
        note = (f"canary: {canary}% of the traffic to this model, the rest to the previous one"
                if canary is not None else
                f"{mode} mode has no traffic split: rolled out to 100%")
    log.info("%s InferenceService %s/%s: %s (%s)", action, params.namespace, champion, uri, note)
    return {**record, "action": action, "storage_uri": uri,
            "previous_storage_uri": current_storage_uri(existing) if existing else None,
            "canary_traffic_percent": canary, "deployment_mode": mode, "note": note,
            "applied": body}


def set_traffic(client: KServeClientLike, name: str, percent: int,
                namespace: str = kserve_spec.NAMESPACE) -> dict[str, Any]:
    """Set the canary share of an InferenceService: 100 promotes the latest revision, 0 rolls
    back to the previous one (Knative mode).

    Raises:
        DeployError: no such InferenceService, a percentage outside 0-100, or Standard mode.
    """
    from kserve import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1PredictorSpec,
        constants,
    )
    from kubernetes.client import V1ObjectMeta

    if not 0 <= percent <= 100:
        raise DeployError(f"traffic percent must be 0-100, got {percent}")
    existing = _get(client, name, namespace)
    if existing is None:
        raise DeployError(f"no InferenceService {namespace}/{name}")
    mode = deployment_mode(existing, "default")
    if mode != "Knative":
        raise DeployError(f"{namespace}/{name} runs in {mode} mode, which has no traffic split: "
                          "redeploy the model you want instead")
    patch = V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1, kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(name=name, namespace=namespace),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            canary_traffic_percent=percent)))
    client.patch(name, patch, namespace=namespace)
    traffic = ((existing.get("status") or {}).get("components") or {}).get(
        "predictor", {}).get("traffic")
    log.info("%s/%s: %d%% to the latest revision", namespace, name, percent)
    return {"name": name, "namespace": namespace, "canary_traffic_percent": percent,
            "storage_uri": current_storage_uri(existing), "traffic_before": traffic,
            "applied": kserve_spec.to_dict(patch)}


def promote(client: KServeClientLike, name: str,
            namespace: str = kserve_spec.NAMESPACE) -> dict[str, Any]:
    """All traffic to the latest (canary) revision."""
    return set_traffic(client, name, 100, namespace)


def rollback(client: KServeClientLike, name: str,
             namespace: str = kserve_spec.NAMESPACE) -> dict[str, Any]:
    """All traffic back to the previously rolled-out revision (the canary keeps 0%)."""
    return set_traffic(client, name, 0, namespace)


def kserve_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A `kserve.KServeClient`: in-cluster credentials in a pod, else the kubeconfig."""
    from kserve import KServeClient

    return KServeClient(config_file=kubeconfig, context=context)
