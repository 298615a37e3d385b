"""A tiny fake of the Kubernetes API for InferenceServices, over HTTP on 127.0.0.1.

The deploy steps of a kfp.local run execute in subprocesses with the real `kserve.KServeClient`
and kubernetes client: pointing $KUBECONFIG at `FakeKubeApi.kubeconfig()` makes them talk to this
server, which stores InferenceServices like the API server (resourceVersion, 404/409 Status
answers, JSON merge patch, optimistic concurrency on PUT) and records every request it was sent.
It does not validate: the tests check what it received against the CRD (manifests/validate.py).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from pathlib import Path
from typing import Any

import yaml
from fake_http import FakeHTTPService, QuietHandler

ISVC_PATH = re.compile(r"^/apis/serving\.kserve\.io/(?P<version>v1beta1)/namespaces/(?P<ns>[^/]+)"
                       r"/inferenceservices(?:/(?P<name>[^/?]+))?(?:\?.*)?$")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class FakeKubeApi(FakeHTTPService):
    """InferenceServices in memory behind an HTTP server; `requests` lists what was sent."""

    def __init__(self, objects: list[dict[str, Any]] = ()):
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._versions = itertools.count(1)
        self._lock = threading.Lock()
        for obj in objects:
            self._store(copy.deepcopy(obj))
        api = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                code, answer = api.handle(self.command, self.path,
                                          self.headers.get("Content-Type"), body)
                self.send_json(code, answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        super().__init__(Handler)

    def kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Write a kubeconfig whose current context is this server."""
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                  "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                  "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                             "namespace": namespace}}]}
        Path(path).write_text(yaml.safe_dump(config))
        return Path(path)

    def writes(self) -> list[dict[str, Any]]:
        """The requests that change something (everything but GET)."""
        return [r for r in self.requests if r["method"] != "GET"]

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        meta["generation"] = int(meta.get("generation", 0)) + 1
        self.objects[(meta.get("namespace", "default"), meta["name"])] = obj
        return obj

    def handle(self, method: str, path: str, content_type: str | None,
               body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "content_type": content_type,
                                  "body": copy.deepcopy(body)})
            m = ISVC_PATH.match(path)
            if not m:
                return 404, _status(404, "NotFound", f"the fake serves InferenceServices only: "
                                                     f"{method} {path}")
            ns, name = m["ns"], m["name"]
            current = self.objects.get((ns, name)) if name else None
            if method == "GET" and name:
                if current is None:
                    return 404, _status(404, "NotFound", f'inferenceservices.serving.kserve.io '
                                                         f'"{name}" not found')
                return 200, current
            if method == "POST" and not name:
                name = (body.get("metadata") or {}).get("name")
                if (ns, name) in self.objects:
                    return 409, _status(409, "AlreadyExists", f'"{name}" already exists')
                obj = copy.deepcopy(body)
                obj["metadata"]["namespace"] = ns
                return 201, self._store(obj)
            if current is None:
                return 404, _status(404, "NotFound", f'"{name}" not found')
            if method == "PUT":
                sent = (body.get("metadata") or {}).get("resourceVersion")
                if sent != current["metadata"]["resourceVersion"]:
                    return 409, _status(409, "Conflict", f"resourceVersion {sent!r} is not the "
                                                         f"current {current['metadata']['resourceVersion']!r}")
                obj = copy.deepcopy(body)
                obj["metadata"]["generation"] = current["metadata"]["generation"]
                obj["status"] = current.get("status", {})
                return 200, self._store(obj)
            if method == "PATCH":
                if content_type != "application/merge-patch+json":
                    return 415, _status(415, "UnsupportedMediaType", str(content_type))
                obj = merge_patch(current, body)
                obj["metadata"]["generation"] = current["metadata"]["generation"]
                return 200, self._store(obj)
            return 405, _status(405, "MethodNotAllowed", f"{method} {path}")
