"""Deploy steps: roll the champion (seed pipeline) or the guard (guard pipeline) out to KServe
as a canary; promote or roll it back.

The seed pipeline runs `deploy_champion` only when asked (`deploy=true`) and when the champion's
test macro-F1 passes the gate (`dsl.If`, so the Kubeflow UI shows a skipped step); the function
checks the gate again and makes no call when it fails. It creates the champion's
InferenceService, or patches it with the run's model directory as the new STORAGE_URI and
`canaryTrafficPercent` set: KServe (Knative mode) then routes that share of the traffic to the new
revision and the rest to the last one rolled out. `promote` sends 100% to the new revision,
`rollback` 0% (all traffic back to the previous model). Standard (RawDeployment) mode has no
traffic split: there the rollout goes to 100% and the record says so.

The guard pipeline's gate (`check_guard_gate`) speaks the guard's language: unsafe recall and
false-flag rate out of source (`components.evaluation.evaluate.gate_figures`), per language when measured,
against thresholds, and no worse than the guard serving now (its figures are annotations of its
InferenceService, written by the previous rollout) by more than a margin. `deploy_guard` checks
it again and replaces the `guard` InferenceService with the offline backend on the run's lora
model, its deployment card (run, gate figures, sources and their licences) in the container's
environment, where `GET /v2/models/guard/info` shows it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from components.deploy import kserve_spec  # light: it imports kserve only inside its functions

log = logging.getLogger(__name__)

MIN_MACRO_F1 = 0.70  # the full-data run: lstm 0.742, lora 0.848 (README before 2026-12-06)
CANARY_TRAFFIC_PERCENT = 10
CHAMPIONS = ("lstm", "lora")  # what the seed pipeline's evaluate may choose
GUARD = "guard"  # the guard pipeline's InferenceService
GUARD_MODEL = "lora"  # the guard pipeline's model that serves (offline backend)
DEPLOYABLE = (*CHAMPIONS, GUARD)  # InferenceServices the pipelines roll out (promote/rollback)
# The guard gate's defaults: the targets of the guard-quality issues (docs/guard.md):
# unsafe recall >= 0.85 at <= 0.10 false flags on held-out groups, >= 0.80 at <= 0.05 per
# language, and nothing worse than the serving guard by more than 2 points.
MIN_UNSAFE_RECALL = 0.85
MAX_FALSE_FLAG_RATE = 0.10
MIN_LANGUAGE_UNSAFE_RECALL = 0.80
MAX_LANGUAGE_FALSE_FLAG_RATE = 0.05
MAX_REGRESSION = 0.02
# Annotations of the guard's InferenceService written by `deploy_guard` (read back by the next
# run's gate): the run that rolled it out and the figures its gate saw.
ANNOTATION_RUN_ID = "toxic-filter/run-id"
ANNOTATION_GATE = "toxic-filter/gate-figures"
GENERATED_LICENCE = "written for this project (components.data.ingest.GENERATED)"
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


@dataclasses.dataclass(frozen=True)
class GuardDeployParams:
    """The guard pipeline's gate and deploy parameters and their defaults."""

    deploy: bool = False  # roll the guard out at the end of the run
    min_unsafe_recall: float = MIN_UNSAFE_RECALL
    max_false_flag_rate: float = MAX_FALSE_FLAG_RATE
    min_language_unsafe_recall: float = MIN_LANGUAGE_UNSAFE_RECALL
    max_language_false_flag_rate: float = MAX_LANGUAGE_FALSE_FLAG_RATE
    max_regression: float = MAX_REGRESSION
    canary_traffic_percent: int = CANARY_TRAFFIC_PERCENT
    namespace: str = kserve_spec.NAMESPACE
    profile: str = "default"
    local_models_uri: str = ""  # kfp.local runs: where the cluster sees the pipeline root


class DeployError(RuntimeError):
    """A deployment that cannot be done as asked (bad URI, model, percentage)."""


class KServeClientLike(Protocol):
    """The calls of `kserve.KServeClient` this module makes (tests pass a fake)."""

    def get(self, name: str, namespace: str) -> dict: ...

    def create(self, inferenceservice: Any, namespace: str) -> dict: ...

    def patch(self, name: str, inferenceservice: Any, namespace: str) -> dict: ...

    def replace(self, name: str, inferenceservice: Any, namespace: str) -> dict: ...


def passes_gate(macro_f1: float, min_macro_f1: float) -> bool:
    """The quality gate: the champion's test macro-F1 is at least `min_macro_f1`."""
    return float(macro_f1) >= float(min_macro_f1)


def storage_uri(artifact_uri: str, local_models_uri: str = "") -> str:
    """The bucket URI KServe reads for a KFP model artifact URI (minio:// becomes s3://).

    Args:
        artifact_uri: the model artifact's URI.
        local_models_uri: for a kfp.local run (a local path, `<root>/<run>/<task>/<output>`):
            the URI under which the cluster sees the local pipeline root, e.g. a bucket it was
            copied to or `pvc://<claim>`; the path's last three parts are appended to it.

    Raises:
        DeployError: for a local path without `local_models_uri`: a cluster cannot read it.
    """
    for prefix, scheme in URI_SCHEMES.items():
        if artifact_uri.startswith(prefix):
            return scheme + artifact_uri[len(prefix):]
    if local_models_uri and "://" not in artifact_uri:
        run, task, output = Path(artifact_uri).parts[-3:]
        return f"{local_models_uri.rstrip('/')}/{run}/{task}/{output}"
    raise DeployError(f"model artifact {artifact_uri!r} is not in a bucket KServe can read "
                      f"(expected one of {', '.join(URI_SCHEMES)}); deploy runs on a cluster, or "
                      "give a local run the URI where the cluster sees its pipeline root "
                      "(deploy_local_models_uri)")


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
        registry: serving image registry (default: components.deploy.images).
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
    if champion not in CHAMPIONS:
        raise DeployError(f"champion {champion!r} is not deployable; expected one of {CHAMPIONS}")
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
    else:
        client.patch(champion, isvc, namespace=params.namespace)
    rollout = _rollout("model", "patched", champion, params.namespace, uri, existing, canary,
                       mode)
    return {**record, **rollout, "applied": body}


def _rollout(what: str, updated: str, name: str, namespace: str, uri: str,
             existing: dict[str, Any] | None, canary: int | None, mode: str) -> dict[str, Any]:
    """The record of a rollout of `what` just applied (created, or `updated` when `existing`),
    logged: where the traffic goes now."""
    if existing is None:
        action, note = "created", f"first rollout: all traffic to this {what}"
    elif canary is not None:
        action = updated
        note = f"canary: {canary}% of the traffic to this {what}, the rest to the previous one"
    else:
        action, note = updated, f"{mode} mode has no traffic split: rolled out to 100%"
    log.info("%s InferenceService %s/%s: %s (%s)", action, namespace, name, uri, note)
    return {"action": action, "storage_uri": uri,
            "previous_storage_uri": current_storage_uri(existing) if existing else None,
            "canary_traffic_percent": canary, "deployment_mode": mode, "note": note}


# --------------------------------------------------------------------------- the guard
def _check(checks: list[dict[str, Any]], figure: str, scope: str, value: float | None,
           op: str, bound: float, why: str = "") -> None:
    ok = value is not None and (value >= bound if op == ">=" else value <= bound)
    checks.append({"figure": figure, "scope": scope, "value": value, "op": op,
                   "bound": round(float(bound), 6), "passed": bool(ok),
                   **({"why": why} if why else {})})


def _describe(c: Mapping[str, Any]) -> str:
    value = "not measured" if c["value"] is None else f"{c['value']:.4f}"
    opposite = {">=": "<", "<=": ">"}[c["op"]]
    text = f"{c['figure']} ({c['scope']}): {value} {opposite if c['value'] is not None else 'vs'} "
    return text + f"{c['bound']:.4f}" + (f" ({c['why']})" if c.get("why") else "")


def serving_figures(isvc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The gate figures of the guard an InferenceService serves, from the annotations its
    rollout wrote (`ANNOTATION_GATE`); None when it has none (e.g. Llama Guard, or a service
    applied from manifests/).

    Raises:
        DeployError: the annotation is there but is not a JSON object of figures.
    """
    annotations = ((isvc or {}).get("metadata") or {}).get("annotations") or {}
    text = annotations.get(ANNOTATION_GATE)
    if text is None:
        return None
    try:
        figures = json.loads(text)
        if not isinstance(figures, dict) or "basis" not in figures:
            raise ValueError(f"expected an object with 'basis', got {text[:80]!r}")
    except ValueError as exc:
        raise DeployError(f"annotation {ANNOTATION_GATE} of the serving guard is unreadable "
                          f"({exc}): fix or remove it (kubectl annotate isvc {GUARD} "
                          f"{ANNOTATION_GATE}-)") from exc
    return figures


def check_guard_gate(figures: Mapping[str, Any], params: GuardDeployParams = GuardDeployParams(),  # noqa: B008
                     serving: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The guard's gate: each figure against its threshold, and against the serving guard.

    Args:
        figures: `components.evaluation.evaluate.gate_figures` of the run's guard model.
        params: thresholds and the regression margin.
        serving: `serving_figures` of the guard serving now, or None.

    Returns:
        {"passed", "basis", "checks": [{"figure", "scope", "value", "op", "bound", "passed"}],
        "failed": [one line per failed check], "notes", "thresholds", "serving"}. A headline
        figure that was not measured fails; a language's missing figure is not checked. The
        serving guard is compared on figures measured on the same basis and groups only.
    """
    checks: list[dict[str, Any]] = []
    basis = figures["basis"]
    _check(checks, "unsafe_recall", basis, figures["unsafe_recall"], ">=",
           params.min_unsafe_recall)
    _check(checks, "false_flag_rate", basis, figures["false_flag_rate"], "<=",
           params.max_false_flag_rate)
    languages = figures.get("languages") or {}
    for lang, f in languages.items():
        if f.get("unsafe_recall") is not None:
            _check(checks, "unsafe_recall", f"language {lang}", f["unsafe_recall"], ">=",
                   params.min_language_unsafe_recall)
        if f.get("false_flag_rate") is not None:
            _check(checks, "false_flag_rate", f"language {lang}", f["false_flag_rate"], "<=",
                   params.max_language_false_flag_rate)
    notes = [] if languages else ["no per-language figures in this run"]
    if serving is None:
        notes.append("no serving guard with gate figures: no regression check")
    elif serving.get("basis") != basis:
        notes.append(f"serving guard (run {serving.get('run_id')}) measured on the "
                     f"{serving.get('basis')} basis, this run on {basis}: not compared")
    elif "groups" in serving and sorted(serving["groups"]) != sorted(figures.get("groups") or {}):
        notes.append(f"serving guard (run {serving.get('run_id')}) measured on other groups "
                     f"({', '.join(sorted(serving['groups']))}): not compared")
    else:
        margin = float(params.max_regression)
        pairs = [("", figures, serving)] + [
            (f"language {lang}", languages[lang], (serving.get("languages") or {})[lang])
            for lang in languages if lang in (serving.get("languages") or {})]
        for scope, new, old in pairs:
            where = f"{scope or basis}, vs serving run {serving.get('run_id')}"
            if old.get("unsafe_recall") is not None and new.get("unsafe_recall") is not None:
                _check(checks, "unsafe_recall", where, new["unsafe_recall"], ">=",
                       old["unsafe_recall"] - margin,
                       f"serving {old['unsafe_recall']:.4f} - {margin}")
            if old.get("false_flag_rate") is not None and new.get("false_flag_rate") is not None:
                _check(checks, "false_flag_rate", where, new["false_flag_rate"], "<=",
                       old["false_flag_rate"] + margin,
                       f"serving {old['false_flag_rate']:.4f} + {margin}")
    failed = [_describe(c) for c in checks if not c["passed"]]
    thresholds = {k: getattr(params, k) for k in (
        "min_unsafe_recall", "max_false_flag_rate", "min_language_unsafe_recall",
        "max_language_false_flag_rate", "max_regression")}
    return {"passed": not failed, "basis": basis, "checks": checks, "failed": failed,
            "notes": notes, "thresholds": thresholds,
            "serving": dict(serving) if serving is not None else None}


def source_licences(rows_per_source: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each source of a run's prompts (ingest's rows per source) with its rows and licence."""
    from components.data import sources
    from components.data.ingest import GENERATED

    out = {}
    for name, rows in sorted(rows_per_source.items()):
        if name == sources.SEED_SOURCE:
            licence = sources.SEED_LICENCE
        elif name in GENERATED:
            licence = GENERATED_LICENCE
        else:
            try:
                licence = sources.source(name).licence
            except KeyError:
                licence = "not recorded in components.data.sources"
        out[name] = {"rows": int(rows), "licence": licence}
    return out


def guard_gate(figures: Mapping[str, Any], rows_per_source: Mapping[str, Any], run_id: str,
               run_name: str, client: KServeClientLike | None,
               params: GuardDeployParams = GuardDeployParams()  # noqa: B008
               ) -> dict[str, Any]:
    """The gate step: judge the run's guard and write what its rollout would carry.

    Args:
        figures: `components.evaluation.evaluate.gate_figures` of the run's guard model.
        rows_per_source: ingest's rows per source (for the licences).
        run_id: the pipeline run's id.
        run_name: the pipeline run's name.
        client: a `kserve.KServeClient` to read the serving guard with (None: no comparison).
        params: thresholds, margin, namespace.

    Returns:
        {"passed", "gate": check_guard_gate's record, "card": the deployment card
        {"run_id", "run_name", "model", "figures", "gate", "sources"}}.
    """
    existing = _get(client, GUARD, params.namespace) if client is not None else None
    gate = check_guard_gate(figures, params, serving_figures(existing))
    if gate["passed"]:
        log.info("guard gate passed (%s basis): unsafe recall %s, false-flag rate %s", gate["basis"],
                 figures["unsafe_recall"], figures["false_flag_rate"])
    else:
        log.warning("guard gate failed: %s", "; ".join(gate["failed"]))
    card = {"run_id": run_id, "run_name": run_name, "model": figures.get("model", GUARD_MODEL),
            "figures": dict(figures),
            "gate": {k: gate[k] for k in ("passed", "thresholds", "failed", "notes")},
            "sources": source_licences(rows_per_source)}
    return {"passed": gate["passed"], "gate": gate, "card": card}


def _figures_annotation(card: Mapping[str, Any]) -> str:
    f = card["figures"]
    slim = {"run_id": card.get("run_id"), "run_name": card.get("run_name"), "basis": f["basis"],
            "groups": sorted(f.get("groups") or {}),
            "unsafe_recall": f["unsafe_recall"], "false_flag_rate": f["false_flag_rate"],
            "languages": {lang: {k: v.get(k) for k in ("unsafe_recall", "false_flag_rate")}
                          for lang, v in (f.get("languages") or {}).items()}}
    return json.dumps(slim, sort_keys=True, separators=(",", ":"))


def deploy_guard(client: KServeClientLike, model_uri: str, gate_record: Mapping[str, Any],
                 params: GuardDeployParams = GuardDeployParams(),  # noqa: B008
                 registry: str | None = None, tag: str | None = None) -> dict[str, Any]:
    """Roll the run's guard out: check the gate again (with the guard serving now), then create
    the `guard` InferenceService or replace it whole with the offline backend on `model_uri`,
    as a canary in Knative mode.

    The service is replaced (PUT), not merge-patched: the guard serving before may be another
    backend (Llama Guard on a GPU node) whose GPU placement must not stay on this one.

    Args:
        client: a `kserve.KServeClient` (or a fake with get/create/replace).
        model_uri: the run's lora model artifact URI.
        gate_record: `guard_gate`'s output (its figures and deployment card).
        params: gate, canary share, namespace, manifests profile, local models URI.
        registry: serving image registry (default: components.deploy.images).
        tag: serving image tag.

    Returns:
        action (created, replaced or skipped), storage URIs (new and previous), the previous
        guard's run, canary share, deployment mode, the gate as checked here, the card and the
        object sent.

    Raises:
        DeployError: canary share out of 0-100, or a model URI KServe cannot read.
    """
    if not 0 <= int(params.canary_traffic_percent) <= 100:
        raise DeployError(f"canary_traffic_percent must be 0-100, got "
                          f"{params.canary_traffic_percent}")
    card = dict(gate_record["card"])
    existing = _get(client, GUARD, params.namespace)
    serving = serving_figures(existing)
    gate = check_guard_gate(card["figures"], params, serving)
    record: dict[str, Any] = {"name": GUARD, "namespace": params.namespace,
                              "run_id": card.get("run_id"), "gate": gate}
    if not gate["passed"]:
        log.warning("guard gate failed at deploy time: %s; nothing deployed",
                    "; ".join(gate["failed"]))
        return {**record, "action": "skipped", "reason": "; ".join(gate["failed"])}
    uri = storage_uri(model_uri, params.local_models_uri)
    mode = deployment_mode(existing, params.profile)
    canary = int(params.canary_traffic_percent) if existing is not None and mode == "Knative" \
        else None
    profile = {v: k for k, v in kserve_spec.DEPLOYMENT_MODE.items()}.get(mode, params.profile)
    card.update(storage_uri=uri, deployed_at=datetime.datetime.now(datetime.UTC)
                .isoformat(timespec="seconds"))
    isvc = kserve_spec.offline_guard(
        uri, profile, registry, tag, canary_traffic_percent=canary, namespace=params.namespace,
        deployment_card=card,
        annotations={ANNOTATION_RUN_ID: str(card.get("run_id")),
                     ANNOTATION_GATE: _figures_annotation(card)})
    if existing is None:
        client.create(isvc, namespace=params.namespace)
    else:
        isvc.metadata.resource_version = (existing.get("metadata") or {}).get("resourceVersion")
        client.replace(GUARD, isvc, namespace=params.namespace)
    rollout = _rollout("guard", "replaced", GUARD, params.namespace, uri, existing, canary, mode)
    return {**record, **rollout, "previous_run_id": (serving or {}).get("run_id"), "card": card,
            "applied": kserve_spec.to_dict(isvc)}


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
    """A `kserve.KServeClient`: in-cluster credentials in a pod, else the kubeconfig
    (`kubeconfig`, $KUBECONFIG or ~/.kube/config).

    Raises:
        DeployError: no credentials for a Kubernetes API were found.
    """
    from kserve import KServeClient
    from kubernetes.config import ConfigException

    try:
        return KServeClient(config_file=kubeconfig, context=context)
    except ConfigException as exc:
        raise DeployError(f"no Kubernetes API to deploy to: {exc} (in a pod: its service "
                          "account; elsewhere: --kubeconfig, $KUBECONFIG or ~/.kube/config)"
                          ) from exc
