"""The servers' KServe InferenceServices, built with the KServe SDK (the CRD's own model classes).

One place for what a server needs on a cluster, used by `manifests/generate.py` (the YAML under
manifests/) and by the pipeline's deploy step (components/deploy/deploy.py):

- the serving image running `python -m serving.<name>` as the custom predictor container
  `kserve-container`, on port 8080; KServe's storage initializer downloads the container's
  `STORAGE_URI` (a bucket prefix holding a pipeline model directory) to /mnt/models, with the
  credentials of the service account `toxic-filter-models` (manifests/base/serviceaccount.yaml);
- the deployment mode, set explicitly (`serving.kserve.io/deploymentMode`): `Knative` (formerly
  Serverless: scale to zero, canary traffic split) in the default profile, `Standard` (formerly
  RawDeployment: a plain Deployment, no Knative) in the `cpu-local` profile;
- Prometheus: our `/metrics` on 8080 (`prometheus.kserve.io/port|path`); in Knative mode the
  queue-proxy's port is what Prometheus scrapes, so KServe's metric aggregation
  (`serving.kserve.io/enable-metric-aggregation`) merges ours into it;
- a securityContext that passes Pod Security "restricted", startup and readiness probes sized
  for model loading, resource requests and limits, and the engine's thread count
  (TORCH_NUM_THREADS / ORT_NUM_THREADS) from the container's CPU limit (downward API);
- the image per server: the torch-free `serving-onnx` for the lora classifier and the guard's
  offline backend (their model directories carry an int8 ONNX export), `serving` (CPU torch,
  TensorFlow) for the lstm and caption servers, `serving-gpu` for Llama Guard.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from components.core.contract import DEPLOYMENT_ENV
from components.core.predict import ORT_THREADS_ENV, TORCH_THREADS_ENV
from components.deploy import images

if TYPE_CHECKING:
    from kserve import V1beta1InferenceService
    from kubernetes.client import (
        V1Container,
        V1EnvVar,
        V1PodSecurityContext,
        V1ResourceRequirements,
        V1SecurityContext,
    )

# The kserve and kubernetes model classes are imported inside the functions: importing kserve
# costs seconds (its model server), and pipeline.py imports this module's constants.

NAMESPACE = "toxic-filter"
PART_OF = {"app.kubernetes.io/part-of": "toxic-filter"}
MODELS_URI = "s3://toxic-filter/models"  # <MODELS_URI>/lstm, /lora, /guard
CONTAINER_PORT = 8080
MODEL_MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI
KSERVE_CONTAINER = "kserve-container"  # the name KServe injects the storage initializer for
SERVICE_ACCOUNT = "toxic-filter-models"  # holds the bucket secret (storage initializer)
MODELS_SECRET = "toxic-filter-models-s3"  # S3-compatible bucket credentials + endpoint
HF_TOKEN_SECRET = "hf-token"  # key HF_TOKEN: Llama Guard is gated on the hub
LLAMA_GUARD = "meta-llama/Llama-Guard-3-1B"
BLIP = "Salesforce/blip-image-captioning-base"
# Image and thread variable of each container (guard: Llama Guard on a GPU / the offline backend).
IMAGES = {"lstm": "serving", "lora": "serving-onnx", "guard": "serving-gpu",
          "guard-cpu": "serving-onnx", "caption": "serving"}
THREADS_ENV = {"lora": ORT_THREADS_ENV, "guard": TORCH_THREADS_ENV, "guard-cpu": ORT_THREADS_ENV,
               "caption": TORCH_THREADS_ENV}  # lstm: TensorFlow picks its own
RUN_AS_USER = 1000  # the images' user (images/*.Dockerfile: useradd --uid 1000 app)
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
PROFILES = ("default", "cpu-local")
DEPLOYMENT_MODE = {"default": "Knative", "cpu-local": "Standard"}
ANNOTATION_MODE = "serving.kserve.io/deploymentMode"
# The guard's offline backend (cpu-local manifests, the guard pipeline's deploy step): its image
# and engine flags, the ONE place they are chosen: ONNX Runtime int8 in the torch-free image
# (explicit: a directory without its export is a clear load error, not a torch import error).
OFFLINE_GUARD_IMAGE, OFFLINE_GUARD_ARGS = IMAGES["guard-cpu"], ("--engine", "onnx")
LORA_ARGS = ("--engine", "onnx")  # the lora classifier, the same way


@dataclasses.dataclass(frozen=True)
class ServerSize:
    """Requests, limits and the startup budget of one server (sized in docs/cluster.md, "Resources")."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    startup_seconds: int  # model download by hub id + load; the storage initializer runs before
    gpu: int = 0

    def resources(self) -> V1ResourceRequirements:
        from kubernetes.client import V1ResourceRequirements

        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        if self.gpu:
            limits[GPU_RESOURCE] = str(self.gpu)
        return V1ResourceRequirements(
            requests={"cpu": self.cpu_request, "memory": self.memory_request}, limits=limits)


# Measured RSS of the servers after loading (docs/serving.md soak: 0.6-0.85 GB on tiny models;
# the full-data lstm and lora models add well under 0.2 GB): requests cover that with headroom.
SIZES = {
    "lstm": ServerSize("500m", "1Gi", "2", "2Gi", startup_seconds=300),
    "lora": ServerSize("1", "1536Mi", "2", "3Gi", startup_seconds=300),
    # Llama Guard 3 1B: ~3 GB of bf16 weights downloaded from the hub, then moved to the GPU
    "guard": ServerSize("2", "6Gi", "4", "12Gi", startup_seconds=900, gpu=1),
    "guard-cpu": ServerSize("1", "1536Mi", "2", "3Gi", startup_seconds=300),
    # BLIP base: ~1 GB of weights from the hub, CPU inference
    "caption": ServerSize("1", "3Gi", "4", "6Gi", startup_seconds=600),
}
PROBE_PERIOD_SECONDS = 10
# Knative fails a revision that is not ready within its progress deadline (default 600 s), startup
# probe included: each predictor gets its startup budget plus this margin (ignored in Standard mode)
PROGRESS_DEADLINE_MARGIN_SECONDS = 300
ANNOTATION_PROGRESS_DEADLINE = "serving.knative.dev/progress-deadline"


def restricted_container_security() -> V1SecurityContext:
    """Container securityContext passing Pod Security "restricted" (all of it is allowed by
    Knative's default field mask, unlike most pod-level fields)."""
    from kubernetes.client import V1Capabilities, V1SeccompProfile, V1SecurityContext

    return V1SecurityContext(
        allow_privilege_escalation=False, capabilities=V1Capabilities(drop=["ALL"]),
        run_as_non_root=True, run_as_user=RUN_AS_USER,
        seccomp_profile=V1SeccompProfile(type="RuntimeDefault"))


def restricted_pod_security() -> V1PodSecurityContext:
    """Pod securityContext for "restricted" (covers containers KServe/Knative inject, e.g. the
    storage initializer). In Knative mode it needs `kubernetes.podspec-securitycontext`."""
    from kubernetes.client import V1PodSecurityContext, V1SeccompProfile

    return V1PodSecurityContext(run_as_non_root=True, run_as_user=RUN_AS_USER,
                                run_as_group=RUN_AS_USER, fs_group=RUN_AS_USER,
                                seccomp_profile=V1SeccompProfile(type="RuntimeDefault"))


def threads_env(name: str = TORCH_THREADS_ENV) -> V1EnvVar:
    """`name` (TORCH_NUM_THREADS, ORT_NUM_THREADS) = the container's CPU limit, rounded up
    (downward API)."""
    from kubernetes.client import V1EnvVar, V1EnvVarSource, V1ResourceFieldSelector

    return V1EnvVar(name=name, value_from=V1EnvVarSource(
        resource_field_ref=V1ResourceFieldSelector(resource="limits.cpu", divisor="1")))


def hf_token_env() -> V1EnvVar:
    from kubernetes.client import V1EnvVar, V1EnvVarSource, V1SecretKeySelector

    return V1EnvVar(name="HF_TOKEN", value_from=V1EnvVarSource(
        secret_key_ref=V1SecretKeySelector(name=HF_TOKEN_SECRET, key="HF_TOKEN", optional=True)))


def predictor_container(name: str, args: Sequence[str], size: ServerSize, image: str,
                        storage_uri: str | None = None, hub: bool = False,
                        module: str | None = None,
                        env: Mapping[str, str] | None = None,
                        threads: str | None = None) -> V1Container:
    """The `kserve-container` running `python -m serving.<name>` on port 8080.

    Args:
        name: server (and model) name.
        args: the server's own flags after the common ones.
        size: requests, limits, startup budget.
        image: container image.
        storage_uri: bucket URI KServe's storage initializer downloads to /mnt/models.
        hub: the model comes from the hub by id (HF_TOKEN from its secret, HF_HOME writable).
        module: the serving module (default `serving.<name>`).
        env: further environment variables.
        threads: the engine's thread-count variable, set from the CPU limit (None: none).
    """
    from kubernetes.client import V1Container, V1ContainerPort, V1EnvVar, V1HTTPGetAction, V1Probe

    env_vars = [V1EnvVar(name="HF_HOME", value="/tmp/hf"),
                V1EnvVar(name="HF_HUB_OFFLINE", value="0" if hub else "1")]
    if storage_uri:
        env_vars.append(V1EnvVar(name="STORAGE_URI", value=storage_uri))
    if hub:
        env_vars.append(hf_token_env())
    if threads:
        env_vars.append(threads_env(threads))
    env_vars += [V1EnvVar(name=k, value=v) for k, v in (env or {}).items()]
    ready = V1HTTPGetAction(path=f"/v2/models/{name}/ready", port=CONTAINER_PORT)
    return V1Container(
        name=KSERVE_CONTAINER,
        image=image,
        command=["python", "-m", module or f"serving.{name}"],
        args=["--model_name", name, "--http_port", str(CONTAINER_PORT),
              "--bind_address", "0.0.0.0", *args],
        env=env_vars,
        ports=[V1ContainerPort(container_port=CONTAINER_PORT, protocol="TCP")],
        # startup: up to `startup_seconds` to load; then readiness every 10 s
        startup_probe=V1Probe(http_get=ready, period_seconds=PROBE_PERIOD_SECONDS,
                              failure_threshold=max(1, size.startup_seconds
                                                    // PROBE_PERIOD_SECONDS),
                              timeout_seconds=5),
        readiness_probe=V1Probe(http_get=ready, period_seconds=PROBE_PERIOD_SECONDS,
                                failure_threshold=3, timeout_seconds=5),
        resources=size.resources(),
        security_context=restricted_container_security(),
    )


def annotations(profile: str = "default") -> dict[str, str]:
    """Deployment mode and Prometheus settings of every InferenceService of a profile."""
    mode = DEPLOYMENT_MODE[profile]
    out = {ANNOTATION_MODE: mode,
           "serving.kserve.io/enable-prometheus-scraping": "true",
           "prometheus.kserve.io/port": str(CONTAINER_PORT),
           "prometheus.kserve.io/path": "/metrics"}
    # Knative: Prometheus scrapes the queue-proxy's port, so KServe merges our metrics into it
    # (qpext); Standard mode has no queue-proxy and Prometheus scrapes 8080 itself.
    out["serving.kserve.io/enable-metric-aggregation"] = str(mode == "Knative").lower()
    return out


def inference_service(name: str, container: V1Container, *, profile: str = "default",
                      min_replicas: int = 1, max_replicas: int = 3,
                      gpu: bool = False, canary_traffic_percent: int | None = None,
                      namespace: str = NAMESPACE,
                      extra_annotations: Mapping[str, str] | None = None
                      ) -> V1beta1InferenceService:
    """One InferenceService around `container` (GPU placement when `gpu`)."""
    from kserve import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1PredictorSpec,
        constants,
    )
    from kubernetes.client import V1ObjectMeta, V1Toleration

    startup = container.startup_probe
    deadline = startup.period_seconds * startup.failure_threshold + PROGRESS_DEADLINE_MARGIN_SECONDS
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(name=name, namespace=namespace, labels=dict(PART_OF),
                              annotations={**annotations(profile), **(extra_annotations or {})}),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            annotations={ANNOTATION_PROGRESS_DEADLINE: f"{deadline}s"},
            containers=[container], min_replicas=min_replicas, max_replicas=max_replicas,
            service_account_name=SERVICE_ACCOUNT, security_context=restricted_pod_security(),
            canary_traffic_percent=canary_traffic_percent,
            tolerations=[V1Toleration(key=GPU_RESOURCE, operator="Exists",
                                      effect="NoSchedule")] if gpu else None,
            node_selector=dict(GPU_NODE_SELECTOR) if gpu else None)),
    )


def classifier(name: str, storage_uri: str, profile: str = "default",
               registry: str | None = None, tag: str | None = None,
               canary_traffic_percent: int | None = None,
               namespace: str = NAMESPACE) -> V1beta1InferenceService:
    """The lstm or lora InferenceService serving the model directory at `storage_uri`.

    The lora directory is self-contained (lora-train saves the merged weights, tokenizer and
    model_info.json), so serving needs no hub access and no base-model reference.
    """
    if name not in ("lstm", "lora"):
        raise ValueError(f"expected a classifier (lstm or lora), got {name!r}")
    image = images.image(IMAGES[name], registry, tag)
    args = ["--model_dir", MODEL_MOUNT, *(LORA_ARGS if name == "lora" else ())]
    return inference_service(
        name, predictor_container(name, args, SIZES[name], image, storage_uri=storage_uri,
                                  threads=THREADS_ENV.get(name)),
        profile=profile, canary_traffic_percent=canary_traffic_percent, namespace=namespace)


def offline_guard(storage_uri: str, profile: str = "default", registry: str | None = None,
                  tag: str | None = None, canary_traffic_percent: int | None = None,
                  namespace: str = NAMESPACE, deployment_card: Mapping[str, Any] | None = None,
                  annotations: Mapping[str, str] | None = None) -> V1beta1InferenceService:
    """The guard InferenceService on its offline backend: the guard pipeline's lora model
    directory at `storage_uri`, in the OFFLINE_GUARD_IMAGE, no GPU.

    Args:
        storage_uri: bucket URI of the model directory.
        profile: manifests profile (deployment mode).
        registry: image registry.
        tag: image tag.
        canary_traffic_percent: the canary's share (Knative mode), None for none.
        namespace: the InferenceService's namespace.
        deployment_card: what the rollout tells about this guard (run, gate figures, sources),
            as JSON in DEPLOYMENT_ENV.
        annotations: further metadata annotations (the rollout's run and figures).
    """
    env = {DEPLOYMENT_ENV: json.dumps(deployment_card, sort_keys=True, separators=(",", ":"))
           } if deployment_card is not None else None
    container = predictor_container(
        "guard", ["--backend", "classifier", "--classifier_dir", MODEL_MOUNT,
                  *OFFLINE_GUARD_ARGS], SIZES["guard-cpu"],
        images.image(OFFLINE_GUARD_IMAGE, registry, tag), storage_uri=storage_uri, env=env,
        threads=THREADS_ENV["guard-cpu"])
    return inference_service("guard", container, profile=profile,
                             canary_traffic_percent=canary_traffic_percent, namespace=namespace,
                             extra_annotations=annotations)


def build(profile: str = "default", registry: str | None = None, tag: str | None = None,
          models_uri: str = MODELS_URI) -> list[V1beta1InferenceService]:
    """The four InferenceServices of a profile.

    default: Knative mode; the guard runs Llama Guard 3 (hub id, HF_TOKEN) on a GPU node with
    the `serving-gpu` (CUDA) image. cpu-local (kind/minikube): Standard mode, no GPU; the guard
    runs its offline backend on the prompt-guard classifier at <models_uri>/guard.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    models = models_uri.rstrip("/")
    out = [classifier("lstm", f"{models}/lstm", profile, registry, tag),
           classifier("lora", f"{models}/lora", profile, registry, tag)]
    if profile == "default":
        guard = inference_service("guard", predictor_container(
            "guard", ["--model_dir", LLAMA_GUARD, "--exclude_categories", "S14"], SIZES["guard"],
            images.image(IMAGES["guard"], registry, tag), hub=True, threads=THREADS_ENV["guard"]),
            profile=profile, max_replicas=1, gpu=True)
    else:
        guard = offline_guard(f"{models}/guard", profile, registry, tag)
    caption = inference_service("caption", predictor_container(
        "caption", ["--model_dir", BLIP], SIZES["caption"], images.image(IMAGES["caption"],
                                                                           registry, tag),
        hub=True, threads=THREADS_ENV["caption"]),
        profile=profile, max_replicas=2)
    return [*out, guard, caption]


def to_dict(obj: Any) -> dict:
    """A KServe/Kubernetes model object as the plain dict kubectl would send."""
    from kserve import ApiClient

    return ApiClient().sanitize_for_serialization(obj)
