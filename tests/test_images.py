"""Dockerfiles, checked statically (no Docker engine here): one per image, buildable paths."""

import re

import pytest
from conftest import ROOT

from components import images


@pytest.mark.parametrize("name", sorted(images.DOCKERFILES))
def test_dockerfile_exists_and_copies_existing_paths(name):
    path = ROOT / images.DOCKERFILES[name]
    text = path.read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        *sources, _dest = line.split()
        for src in sources:
            assert (ROOT / src).exists(), f"{path.name}: COPY {src} does not exist"


@pytest.mark.parametrize("name", sorted(images.DOCKERFILES))
def test_dockerfile_runs_as_non_root_with_pinned_installs(name):
    text = (ROOT / images.DOCKERFILES[name]).read_text()
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE)
    assert text.count("FROM ") >= 2  # multi-stage: build tools stay out of the runtime image
    installs = re.findall(r"pip install (?!--no-deps)(?!torch==)[^\n\\]*(?:\\\n[^\n\\]*)*", text)
    assert installs
    for install in installs:
        assert "-c requirements/constraints.txt" in install, install


def test_pipeline_components_use_the_registered_images():
    import pipeline

    for comp in (pipeline.preprocess, pipeline.augment, pipeline.lstm_train, pipeline.lora_train,
                 pipeline.evaluate):
        image = comp.component_spec.implementation.container.image
        assert image in {images.image(n) for n in images.DOCKERFILES}, image
