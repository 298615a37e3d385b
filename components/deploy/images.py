"""Container image names and tags: the ONE place the pipeline, manifests and Makefile read them.

Override the registry and tag with TOXIC_FILTER_REGISTRY / TOXIC_FILTER_TAG (read when
`pipeline.py` is imported, i.e. at compile time) or `make images REGISTRY=... TAG=...`.

Usage:
    python -m components.deploy.images [NAME]          one image reference, or all as NAME=REF FILE lines
    python -m components.deploy.images build [NAME ...] [--base-image REF] [--torch-index-url URL] ...
    python -m components.deploy.images push [NAME ...] [--registry R] [--tag T]
    python -m components.deploy.images sizes [NAME ...] [--json PATH]  compressed size (gzip of `docker
        save`) of each built image, and what it adds to the base image (--base-image)

`build` and `push` talk to the Docker engine through the `docker` Python SDK (DOCKER_HOST or
the default socket) and stop with a clear message when no engine answers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from components import __version__

DEFAULT_REGISTRY = "ghcr.io/toxic-filter"
ROOT = Path(__file__).resolve().parents[2]
# image name -> Dockerfile under images/
DOCKERFILES = {
    "data": "images/data.Dockerfile",          # preprocess, augment (+ ingest: guard pipeline)
    "trainer-tf": "images/trainer-tf.Dockerfile",  # lstm-train (TensorFlow CPU)
    "trainer-gpu": "images/trainer-gpu.Dockerfile",  # lora-train, leave-one-source-out (CUDA)
    "serving": "images/serving.Dockerfile",    # KServe model servers and evaluate (CPU torch)
    "serving-gpu": "images/serving.Dockerfile",  # the same servers with CUDA torch (guard on GPU)
    "serving-onnx": "images/serving-onnx.Dockerfile",  # lora + guard offline on ONNX Runtime, no torch
    "ui": "images/ui.Dockerfile",              # Streamlit moderation console
}
# The torch build each image holds ("cpu" / "cuda"; absent: no torch). The build passes the
# matching index (--torch-index-url / --torch-cuda-index-url) as the TORCH_INDEX_URL build arg.
TORCH = {"trainer-gpu": "cuda", "serving": "cpu", "serving-gpu": "cuda"}
# Fixed build args of an image (a variant of another image's Dockerfile).
BUILD_ARGS = {"serving-gpu": {"TORCH_DEVICE": "cuda", "TORCH_INDEX_URL": "https://pypi.org/simple"}}
DEFAULT_BASE_IMAGE = "python:3.11-slim"  # the Dockerfiles' own default (ARG BASE_IMAGE)
STAGE = re.compile(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def image(name: str, registry: str | None = None, tag: str | None = None) -> str:
    """Full reference of one of the project's images, e.g. ghcr.io/toxic-filter/data:0.1.0."""
    if name not in DOCKERFILES:
        raise KeyError(f"unknown image {name!r}; expected one of {sorted(DOCKERFILES)}")
    registry = registry or os.environ.get("TOXIC_FILTER_REGISTRY", DEFAULT_REGISTRY)
    tag = tag or os.environ.get("TOXIC_FILTER_TAG", __version__)
    return f"{registry.rstrip('/')}/toxic-filter-{name}:{tag}"


def build_args(name: str, base_image: str | None = None, torch_index_url: str | None = None,
               torch_cuda_index_url: str | None = None) -> dict[str, str]:
    """The --build-arg values of one image: the base image, its torch index, its fixed args."""
    args: dict[str, str] = {}
    if base_image:
        args["BASE_IMAGE"] = base_image
    index = {"cpu": torch_index_url, "cuda": torch_cuda_index_url}.get(TORCH.get(name, ""))
    args.update(BUILD_ARGS.get(name, {}))
    if index:
        args["TORCH_INDEX_URL"] = index
    return args


class EngineUnavailable(RuntimeError):
    """No Docker engine answers."""


def engine() -> Any:
    """A docker SDK client whose engine answered a ping.

    Raises:
        EngineUnavailable: the SDK is missing or nothing answers at DOCKER_HOST / the socket.
    """
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        import docker
    except ImportError as exc:
        raise EngineUnavailable("the docker Python SDK is not installed (make setup)") from exc
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, ...
        raise EngineUnavailable(
            f"no Docker engine answers at {where} ({type(exc).__name__}: {exc}). Start one "
            f"(on the project's build machines: ../shared/tools/container-engine.sh up) or "
            f"point DOCKER_HOST at it") from exc
    return client


def missing_images(client: Any, names: list[str] | tuple[str, ...], registry: str | None = None,
                   tag: str | None = None) -> list[str]:
    """References of the images among `names` that the engine does not have (looked up one by
    one: listing every image races with a concurrent prune)."""
    import docker

    missing = []
    for name in names:
        try:
            client.images.get(image(name, registry, tag))
        except docker.errors.ImageNotFound:
            missing.append(image(name, registry, tag))
    return missing


def _stream(lines, what: str) -> None:
    """Print a build/push progress stream; raise on an error entry."""
    for chunk in lines:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
            raise RuntimeError(f"{what} failed: {detail}")
        text = chunk.get("stream")
        if text:
            print(text, end="", flush=True)


def _image_id(client: Any, ref: str) -> str | None:
    import docker
    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def _remove_superseded(client: Any, old_id: str | None, ref: str) -> None:
    """Delete the image `ref` named before this build, now untagged, with its layers no other
    image uses: a GPU image is 7-8 GB, and every rebuild of one would otherwise leave that much
    behind as a dangling image until the engine's disk fills. An image still in use (a
    container, another tag, a child image) is kept."""
    import docker
    if old_id is None or old_id == _image_id(client, ref):
        return
    try:
        client.images.remove(old_id)
        print(f"== removed the image {ref} named before ({old_id[:19]})", flush=True)
    except docker.errors.APIError:
        pass


def build(names: list[str], registry: str | None = None, tag: str | None = None,
          base_image: str | None = None, torch_index_url: str | None = None,
          torch_cuda_index_url: str | None = None, network: str | None = "host",
          client: Any = None) -> dict[str, float]:
    """Build images from the repository root with the engine's layer cache.

    Returns:
        image reference -> build seconds.
    """
    client = client or engine()
    seconds = {}
    for name in names:
        ref = image(name, registry, tag)
        args = build_args(name, base_image, torch_index_url, torch_cuda_index_url)
        print(f"== {ref} <- {DOCKERFILES[name]} {args or ''}", flush=True)
        start = time.perf_counter()
        # The named stages first, each tagged <ref>-<stage>: untagged, their layers (the pip
        # installs) would be dangling images that `docker image prune` deletes, and with them
        # the layer cache. The final build then takes them from the cache.
        stages = STAGE.findall((ROOT / DOCKERFILES[name]).read_text())
        for target, stage_ref in [*((st, f"{ref}-{st}") for st in stages), (None, ref)]:
            before = _image_id(client, stage_ref)
            _stream(client.api.build(path=str(ROOT), dockerfile=DOCKERFILES[name], tag=stage_ref,
                                     target=target, buildargs=args, network_mode=network,
                                     rm=True, forcerm=True, decode=True),
                    f"docker build of {stage_ref}")
            _remove_superseded(client, before, stage_ref)
        seconds[ref] = round(time.perf_counter() - start, 1)
        print(f"== built {ref} in {seconds[ref]} s", flush=True)
    return seconds


def push(names: list[str], registry: str | None = None, tag: str | None = None,
         client: Any = None) -> None:
    """Push images already built (and tagged for `registry`)."""
    import docker

    client = client or engine()
    for name in names:
        ref = image(name, registry, tag)
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound:  # built for the default registry: retag it
            built = image(name, DEFAULT_REGISTRY, tag)
            try:
                client.images.get(built).tag(*built_ref_parts(ref))
            except docker.errors.ImageNotFound:
                raise RuntimeError(f"{ref} (or {built}) is not built: run `make images`") from None
        repo, _, ref_tag = ref.rpartition(":")
        print(f"== push {ref}", flush=True)
        for chunk in client.images.push(repo, tag=ref_tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                raise RuntimeError(f"docker push of {ref} failed: {detail}")
            if chunk.get("status") and chunk.get("id") is None:
                print(chunk["status"], flush=True)


def built_ref_parts(ref: str) -> tuple[str, str]:
    """("registry/name", "tag") of an image reference."""
    repo, _, tag = ref.rpartition(":")
    return repo, tag


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes) -> int:
        self.n += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def compressed_size(ref: str, client: Any = None) -> tuple[int, int]:
    """(uncompressed, gzip-compressed) bytes of `docker save REF`: what a registry stores is
    about the compressed figure (layers are pushed gzipped)."""
    client = client or engine()
    raw, counter = 0, _Counter()
    with gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6) as gz:
        for chunk in client.images.get(ref).save(chunk_size=1 << 20):
            raw += len(chunk)
            gz.write(chunk)
    return raw, counter.n


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"build", "push", "sizes"}:
        if argv and argv[0] in {"-h", "--help"}:
            print(__doc__)
        elif argv:
            print(image(argv[0]))
        else:
            for name, dockerfile in DOCKERFILES.items():
                print(f"{name}={image(name)} {dockerfile}")
        return 0
    parser = argparse.ArgumentParser(prog="python -m components.deploy.images",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "push", "sizes"])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {list(DOCKERFILES)}")
    parser.add_argument("--registry", default=None, help=f"default: {DEFAULT_REGISTRY}")
    parser.add_argument("--tag", default=None, help=f"default: {__version__}")
    parser.add_argument("--base-image", default=None,
                        help=f"BASE_IMAGE build arg (the Dockerfiles default to {DEFAULT_BASE_IMAGE})")
    parser.add_argument("--torch-index-url", default=None,
                        help="TORCH_INDEX_URL of the CPU-torch images (default: the PyTorch CPU index)")
    parser.add_argument("--torch-cuda-index-url", default=None,
                        help="TORCH_INDEX_URL of the CUDA-torch images (default: PyPI)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="sizes: write the figures as JSON (benchmarks/results.py reads it)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(DOCKERFILES))
    if unknown:
        parser.error(f"unknown image(s) {unknown}; expected some of {list(DOCKERFILES)}")
    names = args.names or list(DOCKERFILES)
    try:
        client = engine()
        if args.command == "build":
            seconds = build(names, args.registry, args.tag, args.base_image, args.torch_index_url,
                            args.torch_cuda_index_url, client=client)
            for ref, s in seconds.items():
                print(f"{ref}: {s} s")
        elif args.command == "push":
            push(names, args.registry, args.tag, client=client)
        else:
            result = sizes(names, args.registry, args.tag, args.base_image or DEFAULT_BASE_IMAGE,
                           client=client)
            print("| image | size | compressed |\n|---|---:|---:|")
            for i in result["images"]:
                print(f"| {i['name']} | {i['size_gb']:.2f} GB | {i['compressed_gb']:.2f} GB |")
            if result["missing"]:
                print(f"not built: {', '.join(result['missing'])}")
    except (EngineUnavailable, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.command == "sizes" and args.json:
            Path(args.json).write_text(json.dumps({"error": str(exc), "images": [],
                                                   "missing": names}, indent=1) + "\n")
        return 2
    if args.command == "sizes" and args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def sizes(names: list[str], registry: str | None = None, tag: str | None = None,
          base_image: str | None = None, client: Any = None) -> dict[str, Any]:
    """Size and compressed size of each built image among `names` (the others listed as
    missing), and of `base_image` when the engine has it: compressed minus the base's is what
    an image adds to it."""
    import docker

    client = client or engine()
    missing = set(missing_images(client, names, registry, tag))
    base = None
    if base_image:
        try:
            raw, packed = compressed_size(base_image, client)
            base = {"ref": base_image, "size_gb": round(raw / 1e9, 3),
                    "compressed_gb": round(packed / 1e9, 3)}
        except docker.errors.ImageNotFound:
            print(f"base image {base_image} not found: no 'added' figures", file=sys.stderr)
    out = []
    for name in names:
        ref = image(name, registry, tag)
        if ref in missing:
            continue
        raw, packed = compressed_size(ref, client)
        out.append({"name": name, "ref": ref, "size_gb": round(raw / 1e9, 3),
                    "compressed_gb": round(packed / 1e9, 3),
                    "added_gb": round((packed / 1e9) - base["compressed_gb"], 3) if base else None})
    return {"images": out, "missing": [n for n in names if image(n, registry, tag) in missing],
            "base": base}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
