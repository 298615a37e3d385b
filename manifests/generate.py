"""Generate the KServe InferenceService manifests with the KServe SDK (the CRD's own model classes).

    python -m manifests.generate [--registry R] [--tag T] [--models-uri URI] [--out DIR]

writes manifests/inferenceservices.yaml (lstm, lora, guard, caption), ui.yaml (the moderation
console's Deployment + Service) and kustomization.yaml.
Each server is the project's serving image running `python -m serving.<name>` as a custom
predictor container named `kserve-container`; KServe's storage initializer downloads
`STORAGE_URI` (the pipeline's model directories, copied to a bucket) to /mnt/models.
The console (ui image, `streamlit run`) reaches each InferenceService at its cluster URL
(`--isvc-url`, default http://<name>.<namespace>.svc.cluster.local, the InferenceService's
status.address.url in KServe's default serverless mode).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from kserve import (
    ApiClient,
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1PredictorSpec,
    constants,
)
from kubernetes.client import (
    V1Capabilities,
    V1Container,
    V1ContainerPort,
    V1Deployment,
    V1DeploymentSpec,
    V1EnvVar,
    V1EnvVarSource,
    V1HTTPGetAction,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodSecurityContext,
    V1PodSpec,
    V1PodTemplateSpec,
    V1Probe,
    V1ResourceRequirements,
    V1SecretKeySelector,
    V1SecurityContext,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
    V1Toleration,
)

from components import images
from serving.ui import demo as ui_demo

HERE = Path(__file__).resolve().parent
NAMESPACE = "toxic-filter"
MODELS_URI = "s3://toxic-filter/models"  # <MODELS_URI>/lstm and <MODELS_URI>/lora
CONTAINER_PORT = 8080
MODEL_MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI
KSERVE_CONTAINER = "kserve-container"  # the name KServe injects the storage initializer for
LLAMA_GUARD = "meta-llama/Llama-Guard-3-1B"
BLIP = "Salesforce/blip-image-captioning-base"
HF_TOKEN_SECRET = "hf-token"  # Llama Guard is gated on the hub: a secret with key HF_TOKEN
SERVERS = ("lstm", "lora", "guard", "caption")
# The console: where the InferenceServices answer inside the cluster, its name and port.
ISVC_URL = "http://{name}.{namespace}.svc.cluster.local"
UI_NAME = "moderation-console"
UI_PORT = 8501
UI_SCRIPT = "/home/app/app.py"  # where images/ui.Dockerfile puts serving/ui/app.py
UI_SERVICE_PORT = 80


def _container(name: str, args: list[str], env: list[V1EnvVar], resources: dict[str, Any],
               image: str) -> V1Container:
    return V1Container(
        name=KSERVE_CONTAINER,
        image=image,
        command=["python", "-m", f"serving.{name}"],
        args=["--model_name", name, "--http_port", str(CONTAINER_PORT),
              "--bind_address", "0.0.0.0", *args],
        env=[V1EnvVar(name="HF_HOME", value="/tmp/hf"), *env],
        ports=[V1ContainerPort(container_port=CONTAINER_PORT, protocol="TCP")],
        readiness_probe=V1Probe(http_get=V1HTTPGetAction(path=f"/v2/models/{name}/ready",
                                                         port=CONTAINER_PORT),
                                initial_delay_seconds=10, period_seconds=10),
        resources=V1ResourceRequirements(**resources),
    )


def inference_service(name: str, container: V1Container, *, min_replicas: int = 1,
                      max_replicas: int = 3, tolerations: list[V1Toleration] | None = None,
                      node_selector: dict[str, str] | None = None) -> V1beta1InferenceService:
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(name=name, namespace=NAMESPACE,
                              labels={"app.kubernetes.io/part-of": "toxic-filter"},
                              annotations={"serving.kserve.io/enable-prometheus-scraping": "true"}),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            containers=[container], min_replicas=min_replicas, max_replicas=max_replicas,
            tolerations=tolerations, node_selector=node_selector)),
    )


def build(registry: str | None = None, tag: str | None = None,
          models_uri: str = MODELS_URI) -> list[V1beta1InferenceService]:
    """The four InferenceServices."""
    image = images.image("serving", registry, tag)
    cpu = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    gpu_tol = [V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]
    hf_token = V1EnvVar(name="HF_TOKEN", value_from=V1EnvVarSource(
        secret_key_ref=V1SecretKeySelector(name=HF_TOKEN_SECRET, key="HF_TOKEN", optional=True)))
    models = models_uri.rstrip("/")
    return [
        inference_service("lstm", _container(
            "lstm", ["--model_dir", MODEL_MOUNT],
            [V1EnvVar(name="STORAGE_URI", value=f"{models}/lstm")], cpu, image)),
        inference_service("lora", _container(
            "lora", ["--model_dir", MODEL_MOUNT],
            [V1EnvVar(name="STORAGE_URI", value=f"{models}/lora")],
            {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
            image)),
        inference_service("guard", _container(
            "guard", ["--model_dir", LLAMA_GUARD, "--exclude_categories", "S14"], [hf_token],
            {"requests": {"cpu": "2", "memory": "8Gi"},
             "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}}, image),
            max_replicas=1, tolerations=gpu_tol),
        inference_service("caption", _container(
            "caption", ["--model_dir", BLIP], [hf_token],
            {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
            image), max_replicas=2),
    ]


def ui(registry: str | None = None, tag: str | None = None,
       isvc_url: str = ISVC_URL) -> list[Any]:
    """The moderation console: a Deployment (ui image, `streamlit run`) and its Service.

    Args:
        registry: image registry (default: components.images).
        tag: image tag.
        isvc_url: URL template of an InferenceService inside the cluster ({name}, {namespace}).
    """
    labels = {"app.kubernetes.io/name": UI_NAME, "app.kubernetes.io/part-of": "toxic-filter"}
    env = [V1EnvVar(name=f"TOXIC_FILTER_{name.upper()}_URL",
                    value=isvc_url.format(name=name, namespace=NAMESPACE))
           for name in SERVERS]
    health = V1HTTPGetAction(path="/_stcore/health", port=UI_PORT)
    container = V1Container(
        name="console", image=images.image("ui", registry, tag),
        command=["python", "-m", "streamlit", "run", UI_SCRIPT],
        args=ui_demo.streamlit_flags(UI_PORT, "0.0.0.0"),
        env=env, ports=[V1ContainerPort(name="http", container_port=UI_PORT, protocol="TCP")],
        readiness_probe=V1Probe(http_get=health, initial_delay_seconds=5, period_seconds=10),
        liveness_probe=V1Probe(http_get=health, initial_delay_seconds=20, period_seconds=20),
        resources=V1ResourceRequirements(requests={"cpu": "250m", "memory": "512Mi"},
                                         limits={"cpu": "1", "memory": "1Gi"}),
        security_context=V1SecurityContext(allow_privilege_escalation=False,
                                           capabilities=V1Capabilities(drop=["ALL"])))
    deployment = V1Deployment(
        api_version="apps/v1", kind="Deployment",
        metadata=V1ObjectMeta(name=UI_NAME, namespace=NAMESPACE, labels=labels),
        spec=V1DeploymentSpec(
            replicas=1, selector=V1LabelSelector(match_labels=labels),
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(labels=labels),
                spec=V1PodSpec(containers=[container], security_context=V1PodSecurityContext(
                    run_as_non_root=True, run_as_user=1000)))))
    service = V1Service(
        api_version="v1", kind="Service",
        metadata=V1ObjectMeta(name=UI_NAME, namespace=NAMESPACE, labels=labels),
        spec=V1ServiceSpec(selector=labels, ports=[V1ServicePort(
            name="http", port=UI_SERVICE_PORT, target_port="http", protocol="TCP")]))
    return [deployment, service]


def to_yaml(objs: list[Any]) -> str:
    client = ApiClient()
    return yaml.safe_dump_all([client.sanitize_for_serialization(o) for o in objs],
                              sort_keys=False)


KUSTOMIZATION = f"""\
# kubectl apply -k manifests/   (namespace, the four InferenceServices, the moderation console)
# Edit STORAGE_URI / images with a kustomize overlay, or regenerate:
#   python -m manifests.generate --registry REG --tag TAG --models-uri s3://bucket/models
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {NAMESPACE}
resources:
  - namespace.yaml
  - inferenceservices.yaml
  - ui.yaml
"""
NAMESPACE_YAML = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    serving.kserve.io/inferenceservice: enabled
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=None, help="image registry (default: components.images)")
    parser.add_argument("--tag", default=None, help="image tag (default: the package version)")
    parser.add_argument("--models-uri", default=MODELS_URI,
                        help="bucket prefix holding lstm/ and lora/ model dirs (default: %(default)s)")
    parser.add_argument("--isvc-url", default=ISVC_URL,
                        help="URL of an InferenceService inside the cluster, for the console "
                             "({name}, {namespace}; e.g. http://{name}-predictor.{namespace}"
                             ".svc.cluster.local in RawDeployment mode) (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE, help="default: manifests/")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `python -m manifests.generate`: edit the generator, not this file.\n"
    (args.out / "inferenceservices.yaml").write_text(
        header + to_yaml(build(args.registry, args.tag, args.models_uri)))
    (args.out / "ui.yaml").write_text(header + to_yaml(ui(args.registry, args.tag,
                                                          args.isvc_url)))
    (args.out / "kustomization.yaml").write_text(KUSTOMIZATION)
    (args.out / "namespace.yaml").write_text(NAMESPACE_YAML)
    print(f"wrote {args.out}/inferenceservices.yaml, ui.yaml, kustomization.yaml, "
          "namespace.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
