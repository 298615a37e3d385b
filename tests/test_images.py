"""Dockerfiles, checked statically (no Docker engine here): one per image, buildable paths."""

import ast
import re
import sys
from pathlib import Path

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


def _imports(path: Path, module: str, everywhere: bool) -> set[str]:
    """Absolute names imported by a module: all of them, or those run at import time."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if everywhere else [
        n for top in tree.body for n in ast.walk(top)
        if not isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = module.rsplit(".", node.level)[0]
                node_module = f"{base}.{node.module}" if node.module else base
            else:
                node_module = node.module
            names.add(node_module)
            names.update(f"{node_module}.{alias.name}" for alias in node.names)
    return names


def _project_file(name: str) -> Path | None:
    for candidate in (ROOT / f"{name.replace('.', '/')}.py",
                      ROOT / name.replace(".", "/") / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_ui_image_holds_everything_the_console_imports_and_no_ml_framework():
    """Every third-party package the console's code imports (all imports of serving/ui, the
    import-time ones of the project modules it loads) is installed by ui.Dockerfile."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    text = (ROOT / images.DOCKERFILES["ui"]).read_text()
    (line,) = re.findall(r"pip install -c requirements/constraints.txt ([^\n\\]+)", text)
    wanted, closure = line.split(), set()
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in closure:
            continue
        closure.add(name)
        for spec in md.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                wanted.append(req.name)
    todo, seen, third_party = ["serving.ui.app", "serving.ui.demo"], set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _project_file(module)
        everywhere = module.startswith("serving.ui")
        for name in _imports(path, module, everywhere):
            top = name.split(".")[0]
            if top in {"components", "serving"}:
                parts = name.split(".")
                todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1)
                            if _project_file(".".join(parts[:i])))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    dists = md.packages_distributions()
    used = {d.lower().replace("_", "-") for top in third_party for d in dists.get(top, [top])}
    assert "streamlit" in used and "httpx" in used
    missing = used - closure
    assert not missing, f"the console imports {sorted(missing)}, not installed in ui.Dockerfile"
    assert not closure & {"torch", "tensorflow", "tensorflow-cpu", "transformers", "keras"}
