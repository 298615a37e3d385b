"""Container image names and tags: the ONE place the pipeline, manifests and Makefile read them.

Override the registry and tag with TOXIC_FILTER_REGISTRY / TOXIC_FILTER_TAG (read when
`pipeline.py` is imported, i.e. at compile time) or `make images REGISTRY=... TAG=...`.
Usage: `python -m components.images [NAME]` prints one image reference, or all as NAME=REF lines.
"""

from __future__ import annotations

import os
import sys

from components import __version__

DEFAULT_REGISTRY = "ghcr.io/toxic-filter"
# image name -> Dockerfile under images/
DOCKERFILES = {
    "data": "images/data.Dockerfile",          # preprocess, augment, evaluate
    "trainer-tf": "images/trainer-tf.Dockerfile",  # lstm-train (TensorFlow CPU)
    "trainer-gpu": "images/trainer-gpu.Dockerfile",  # lora-train (PyTorch CUDA)
    "serving": "images/serving.Dockerfile",    # KServe model servers and evaluate
    "ui": "images/ui.Dockerfile",              # Streamlit moderation console
}


def image(name: str, registry: str | None = None, tag: str | None = None) -> str:
    """Full reference of one of the project's images, e.g. ghcr.io/toxic-filter/data:0.1.0."""
    if name not in DOCKERFILES:
        raise KeyError(f"unknown image {name!r}; expected one of {sorted(DOCKERFILES)}")
    registry = registry or os.environ.get("TOXIC_FILTER_REGISTRY", DEFAULT_REGISTRY)
    tag = tag or os.environ.get("TOXIC_FILTER_TAG", __version__)
    return f"{registry.rstrip('/')}/toxic-filter-{name}:{tag}"


def main(argv: list[str]) -> int:
    if argv:
        print(image(argv[0]))
    else:
        for name, dockerfile in DOCKERFILES.items():
            print(f"{name}={image(name)} {dockerfile}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
