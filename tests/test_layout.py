"""The layout issue 22 set: components/ is one package per stage, and the serve-time core
(components/core, what the servers import) depends on nothing of the other stages when a
server starts, so the serving images need only it of components/."""

import ast
from pathlib import Path

from sample_rows import ROOT

STAGES = ("core", "data", "training", "evaluation", "deploy", "pipelines")
# Imports of other stages that the core and the servers make inside a function, and why. Each
# runs only on the path named; a new one has to be listed here with its reason.
LAZY_ALLOWED = {
    ("components/core/predict.py", "components.training.encoders"):
        "a torch-engine lora directory whose base is the offline encoder: where it is provisioned",
    ("components/core/frozen_encoder.py", "components.training.lora_train"):
        "prefix='auto' (leave-one-source-out and the quick guard's build): lora-train's rule for "
        "an encoder's text prefix; a server passes the prefix its model_info recorded",
    ("serving/launch_plan.py", "components.training.quick_guard"):
        "`make demo` builds the quick guard when no guard run exists (the dev launcher only)",
}


def _component_imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level) for every import of components.* in a file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("components"):
            names = ([f"{node.module}.{a.name}" for a in node.names]
                     if node.module.count(".") <= 1 else [node.module])
            out += [(n, id(node) in top) for n in names]
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names
                    if a.name.startswith("components")]
    return out


def _is_core(module: str) -> bool:
    return module.startswith("components.core") or module == "components.__version__"


def _served_files() -> list[Path]:
    return sorted([*(ROOT / "components" / "core").rglob("*.py"),
                   *(ROOT / "serving").rglob("*.py")])


def test_components_is_one_package_per_stage():
    top = sorted(p.name for p in (ROOT / "components").iterdir()
                 if p.name != "__pycache__" and p.name != "__init__.py")
    assert top == sorted(STAGES), f"components/ holds {top}: every module belongs to a stage"
    for stage in STAGES:
        init = ROOT / "components" / stage / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init}: say what the stage is"


def test_the_core_and_the_servers_import_only_the_core_when_they_load():
    outside = {f"{p.relative_to(ROOT)}: {m}" for p in _served_files()
               for m, at_top in _component_imports(p) if at_top and not _is_core(m)}
    assert not outside, (f"module-level imports of other stages from the serve-time code: "
                         f"{sorted(outside)} (the serving images need only components/core)")


def test_lazy_imports_of_other_stages_are_the_listed_ones():
    lazy = {(str(p.relative_to(ROOT)), m.rsplit(".", 1)[0] if m.count(".") > 2 else m)
            for p in _served_files() for m, at_top in _component_imports(p)
            if not at_top and not _is_core(m)}
    assert lazy == set(LAZY_ALLOWED), (f"unlisted: {sorted(lazy - set(LAZY_ALLOWED))}; "
                                       f"listed but gone: {sorted(set(LAZY_ALLOWED) - lazy)}")


def test_the_finder_sees_module_level_and_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from components.core import text\nimport components.data.ingest\n"
                 "def f():\n    from components.training.encoders import X\n")
    assert _component_imports(f) == [("components.core.text", True),
                                     ("components.data.ingest", True),
                                     ("components.training.encoders", False)]


def test_every_data_file_of_components_is_package_data():
    """A file the code reads beside it (the probe set, the translations, the encoder's reference
    embeddings) must be in the installed package: the images install it, not the source tree."""
    import fnmatch
    import subprocess
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = {pkg.replace(".", "/"): globs for pkg, globs in data["package-data"].items()}
    files = subprocess.run(["git", "ls-files", "components"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    missing = []
    for f in (f for f in files if not f.endswith(".py")):
        covered = any(f.startswith(pkg + "/") and any(
            fnmatch.fnmatch(f[len(pkg) + 1:], g) for g in globs) for pkg, globs in patterns.items())
        if not covered:
            missing.append(f)
    assert not missing, f"not package data in pyproject.toml (the images would lack them): {missing}"
