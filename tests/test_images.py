"""Dockerfiles and the image tooling, checked statically (no engine needed; test_containers.py
builds on the real images)."""

import ast
import json
import re
import sys
from pathlib import Path

import pytest
from sample_rows import ROOT

from components.deploy import images


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
    installs = re.findall(r"pip install (?!--no-deps)[^\n\\]*(?:\\\n[^\n\\]*)*", text)
    assert installs
    for install in installs:
        if "torch==" in install:  # torch first and alone, from the index given as a build arg
            assert re.search(r'--index-url "\$\{TORCH_INDEX_URL\}" torch==2\.13\.0\b', install), install
        else:
            assert re.search(r"-c \S*requirements/constraints\.txt|-c /tmp/constraints\.txt",
                             install), install


# What each step's code needs from its image: the distributions its image must install.
STEP_NEEDS = {"preprocess": {"pandas", "nltk"}, "augment": {"pandas", "nltk"},
              "lstm_train": {"tensorflow-cpu"}, "lora_train": {"torch", "transformers", "peft"},
              "evaluate": {"torch", "tensorflow-cpu", "transformers", "scikit-learn"}}


@pytest.mark.parametrize("step", sorted(STEP_NEEDS))
def test_each_step_runs_in_an_image_that_installs_its_framework(step):
    import pipeline

    ref = getattr(pipeline, step).component_spec.implementation.container.image
    by_ref = {images.image(n): n for n in images.DOCKERFILES}
    assert ref in by_ref, f"{step}: {ref} is none of the project's images"
    installed = _installed_by(by_ref[ref])
    if re.search(r"pip install [^\n]*torch==", (ROOT / images.DOCKERFILES[by_ref[ref]]).read_text()):
        installed.add("torch")  # installed first and alone, from the torch index
    missing = STEP_NEEDS[step] - installed
    assert not missing, f"{step} runs in {by_ref[ref]}, which does not install {sorted(missing)}"


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


def _installed_by(name: str) -> set[str]:
    """The distributions an image's `pip install -c requirements/constraints.txt ...` lines
    install, with their dependencies (as this venv's metadata declares them)."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    text = (ROOT / images.DOCKERFILES[name]).read_text()
    lines = re.findall(r"pip install -c requirements/constraints.txt ((?:[^\n\\]|\\\n)+)", text)
    wanted = [Requirement(r) for line in lines  # up to a following `&& <command>`
              for r in line.replace("\\\n", " ").split("&&")[0].split()]
    closure: set[str] = set()
    seen: set[tuple[str, str]] = set()
    while wanted:
        req = wanted.pop()
        name = req.name.lower().replace("_", "-")
        for extra in ["", *sorted(req.extras)]:  # uvicorn[standard] brings httptools...
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            closure.add(name)
            for spec in md.requires(name) or []:
                dep = Requirement(spec)
                if dep.marker is None or dep.marker.evaluate({"extra": extra}):
                    wanted.append(dep)
    return closure


def test_ui_image_holds_everything_the_console_imports_and_no_ml_framework():
    """Every third-party package the console's code imports (all imports of serving/ui, the
    import-time ones of the project modules it loads) is installed by ui.Dockerfile."""
    import importlib.metadata as md

    closure = _installed_by("ui")
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


@pytest.mark.parametrize("name", sorted(images.DOCKERFILES))
def test_dockerfile_takes_the_base_image_and_torch_index_as_build_args(name):
    text = (ROOT / images.DOCKERFILES[name]).read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms and all(f in {"${BASE_IMAGE}"} for f in froms), froms
    assert ("ARG TORCH_INDEX_URL=" in text) == (name in images.TORCH), name
    if name in images.TORCH:  # the build checks it got the torch build it was asked for
        assert "torch.version.cuda" in text


def test_nltk_data_comes_from_the_projects_provisioning():
    """The images that need NLTK data run components/data/nltk_setup.py (as `make setup` does)."""
    for name in ("data", "trainer-tf", "serving"):
        text = (ROOT / images.DOCKERFILES[name]).read_text()
        assert "COPY components/data/nltk_setup.py" in text and "nltk.downloader" not in text
        assert "COPY --from=nltk /nltk_data /opt/venv/nltk_data" in text


def test_build_args_per_image():
    cpu, cuda = "https://cpu.example/simple", "https://cuda.example/simple"
    assert images.build_args("data", "base:1", cpu, cuda) == {"BASE_IMAGE": "base:1"}
    assert images.build_args("serving", None, cpu, cuda) == {"TORCH_INDEX_URL": cpu}
    assert images.build_args("trainer-gpu", None, cpu, cuda) == {"TORCH_INDEX_URL": cuda}
    assert images.build_args("serving-gpu", "b") == {
        "BASE_IMAGE": "b", "TORCH_DEVICE": "cuda", "TORCH_INDEX_URL": "https://pypi.org/simple"}
    assert images.TORCH["serving-gpu"] == "cuda" and images.TORCH["serving"] == "cpu"
    assert images.DOCKERFILES["serving-gpu"] == images.DOCKERFILES["serving"]


@pytest.mark.parametrize("argv", [["-m", "components.deploy.images", "build", "data"],
                                  ["-m", "components.deploy.images", "push", "--registry", "r.example"],
                                  pytest.param(["pipeline.py", "run", "--runner", "docker"],
                                               marks=pytest.mark.slow)])  # imports kfp
def test_no_engine_gives_a_clear_error(argv, tmp_path):
    import os
    import subprocess

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    res = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "error: no Docker engine answers at unix://" in res.stderr, res.stderr
    assert res.stderr.count("error:") == 1 and "Traceback" not in res.stderr


def test_push_retags_the_built_images_for_the_registry_and_pushes_them():
    import docker

    class FakeImage:
        def __init__(self, ref):
            self.ref, self.tags = ref, []

        def tag(self, repo, tag):
            self.tags.append(f"{repo}:{tag}")

    class FakeImages:
        def __init__(self, built):
            self.built = {ref: FakeImage(ref) for ref in built}
            self.pushed = []

        def get(self, ref):
            if ref not in self.built:
                raise docker.errors.ImageNotFound(ref)
            return self.built[ref]

        def push(self, repo, tag, stream, decode):
            self.pushed.append(f"{repo}:{tag}")
            return iter([{"status": "Pushed", "id": "abc"}, {"status": f"{tag}: digest: sha256:0"}])

    class FakeClient:
        def __init__(self, built):
            self.images = FakeImages(built)

    built = images.image("data", images.DEFAULT_REGISTRY, "1.0")
    client = FakeClient([built])
    images.push(["data"], "registry.example.com/ml", "1.0", client=client)
    assert client.images.built[built].tags == ["registry.example.com/ml/toxic-filter-data:1.0"]
    assert client.images.pushed == ["registry.example.com/ml/toxic-filter-data:1.0"]
    with pytest.raises(RuntimeError, match=r"toxic-filter-ui:1.0 .*is not built: run `make images`"):
        images.push(["ui"], "registry.example.com/ml", "1.0", client=FakeClient([]))


def _image_name(ref: str) -> str:
    """The components/deploy/images.py name of a project image reference."""
    match = re.fullmatch(r".*/toxic-filter-([a-z0-9-]+):[^:/]+", ref)
    assert match and match.group(1) in images.DOCKERFILES, ref
    return match.group(1)


def _containers(node):
    """Every container spec (a dict with an `image`) in a parsed manifest."""
    if isinstance(node, dict):
        if isinstance(node.get("image"), str):
            yield node
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def test_gpu_is_requested_only_for_images_with_the_cuda_build(tmp_path):
    """The manifests (base and overlays) and the compiled pipelines ask for a GPU only where
    the image holds the CUDA build of torch (images.TORCH; test_containers checks the images)."""
    import yaml

    import pipeline

    cuda = {name for name, build in images.TORCH.items() if build == "cuda"}
    gpu_users = set()
    for path in sorted((ROOT / "manifests").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for c in _containers(doc):
                resources = json.dumps(c.get("resources") or {})
                if "nvidia.com/gpu" in resources:
                    name = _image_name(c["image"])
                    assert name in cuda, f"{path.name}: a GPU for {c['image']} (no CUDA torch)"
                    gpu_users.add(name)
    for which in ("toxic", "guard"):
        out = tmp_path / f"{which}.yaml"
        pipeline.cmd_compile(str(out), which=which)
        spec = next(yaml.safe_load_all(out.read_text()))
        for task, executor in spec["deploymentSpec"]["executors"].items():
            container = executor["container"]
            if (container.get("resources") or {}).get("accelerator"):
                name = _image_name(container["image"])
                assert name in cuda, f"{which} pipeline: {task} asks a GPU on {container['image']}"
                gpu_users.add(name)
    assert gpu_users == {"serving-gpu", "trainer-gpu"}, gpu_users


class _FakeEngine:
    """An engine's tags and images: each build gives its tag a new image; `remove` refuses an
    image another tag or a container still uses, as the engine does."""

    def __init__(self, tags=None, in_use=()):
        import docker
        self.calls, self.tags, self.in_use, self.removed = [], dict(tags or {}), set(in_use), []
        self.errors = docker.errors
        engine = self

        class API:
            def build(self, **kw):
                engine.calls.append((kw["tag"], kw["target"], kw["dockerfile"], kw["buildargs"],
                                     kw["network_mode"]))
                engine.tags[kw["tag"]] = f"sha256:new-{len(engine.calls)}"
                return iter([{"stream": "Step 1/1\n"}])

        class Images:
            def get(self, ref):
                if ref not in engine.tags:
                    raise engine.errors.ImageNotFound(ref)
                return type("Image", (), {"id": engine.tags[ref]})()

            def remove(self, image_id):
                if image_id in engine.in_use or image_id in engine.tags.values():
                    raise engine.errors.APIError(f"conflict: {image_id} is in use")
                engine.removed.append(image_id)

        self.api, self.images = API(), Images()


def test_build_tags_every_stage_so_that_a_prune_keeps_the_layer_cache():
    client = _FakeEngine()
    calls = client.calls
    images.build(["serving-gpu"], "r.example", "1", base_image="b:1", client=client)
    ref = "r.example/toxic-filter-serving-gpu:1"
    assert [(tag, target) for tag, target, *_ in calls] == [
        (f"{ref}-nltk", "nltk"), (f"{ref}-build", "build"), (ref, None)]
    assert {c[2] for c in calls} == {"images/serving.Dockerfile"}
    assert all(c[3] == images.build_args("serving-gpu", "b:1") and c[4] == "host" for c in calls)
    assert client.removed == []  # nothing was named before


def test_rebuild_removes_the_image_each_tag_named_before_unless_in_use():
    """A rebuild leaves no multi-GB dangling image behind (CI's engine disk filled with them),
    but never deletes an image a container or another tag still uses."""
    ref = "r.example/toxic-filter-trainer-gpu:1"
    client = _FakeEngine(tags={f"{ref}-build": "sha256:old-build", ref: "sha256:old",
                               "someone/else:latest": "sha256:old"})
    images.build(["trainer-gpu"], "r.example", "1", client=client)
    assert client.tags[ref] != "sha256:old" and client.tags[f"{ref}-build"] != "sha256:old-build"
    # the old build stage went; the old final image is still tagged someone/else: kept
    assert client.removed == ["sha256:old-build"]


@pytest.mark.slow  # a fresh interpreter loading and serving a tiny model
def test_serving_onnx_image_installs_what_the_onnx_servers_load_and_no_torch(tiny_lora_dir):
    """Every distribution the lora server and the guard's offline backend load while serving
    the ONNX engine (read from sys.modules of a fresh interpreter that answered requests) is
    installed by serving-onnx.Dockerfile, and torch, transformers and TensorFlow are not."""
    import importlib.metadata as md

    from serving_utils import onnx_serving_modules

    closure = _installed_by("serving-onnx")
    dists = md.packages_distributions()
    probe = onnx_serving_modules(tiny_lora_dir)
    # What our code loads beyond kserve's own imports (kserve imports optional packages when
    # they happen to be installed, as in this venv: google-cloud-storage, pyarrow, rich...).
    loaded = set(probe["modules"]) - set(probe["kserve_modules"])
    third_party = {m for m in loaded if m not in sys.stdlib_module_names
                   and m not in {"components", "serving", "serving_utils", "__main__", "_distutils_hack"}
                   and not m.startswith("_")}
    used = {d.lower().replace("_", "-") for top in third_party for d in dists.get(top, [])}
    assert {"onnxruntime", "tokenizers", "confusable-homoglyphs"} <= used and "kserve" in closure
    missing = used - closure
    assert not missing, f"the ONNX servers load {sorted(missing)}, not installed in serving-onnx"
    assert not closure & {"torch", "transformers", "tensorflow", "tensorflow-cpu", "keras",
                          "peft", "onnx"}
