"""Export a lora model directory to ONNX int8, check it against fp32, calibrate what will serve.

lora-train's last step, and a command for a directory trained before it existed (the export and
quantization themselves: components.training.onnx_export):

    python -m components.training.export local_outputs/<run>/lora-train/model [--val VAL_SPLIT]

1. Export the merged fp32 model with the legacy (TorchScript) exporter, opset 17, dynamic batch
   and sequence axes (it quantized better than the dynamo exporter), the wrapper in eval mode;
   the fp32 ONNX model must reproduce torch's probabilities (`EXPORT_ATOL`).
2. Quantize it dynamically with ONNX Runtime: int8 weights per output channel, uint8
   activations scaled per batch; the word-embedding Gather too (per tensor), unless
   `quantize_embeddings` is off (for multilingual-e5-small's 250,037 x 384 table: ~118 MB
   instead of ~400 MB). Which weights: the first of `RECIPES` (all MatMuls; the attention
   projections only; the embeddings only) whose model passes the check of step 3.
3. Check the int8 model against torch fp32 on the validation split, both through the serving
   path (`components.core.predict`, uncalibrated), the int8 model in the two layouts a server runs
   it in: each text alone (concurrency 1) and in batches as the micro-batcher merges them under
   load (random batches of `SERVER_BATCH` texts, sorted into sub-batches): dynamic int8 scales
   a pass's activations per batch, so a text's answer moves a little with its batch mates.
   Each layout must reach argmax agreement >= `MIN_ARGMAX_AGREEMENT` and, for a guard (a Safe
   class), flip at most `MAX_FLIP_RATE` of the guard decisions among unsafe and among benign
   rows, each model at its own threshold (at least one row may change: `allowance`; a change
   within `TIE_MARGIN` of where the answer turns is a tie, reported, not counted: a barely
   trained test model whose probabilities hardly move between texts has only ties). Why these:
   every changed argmax changes at most one prediction's correctness, so 99% agreement bounds
   the accuracy change on validation by 1 point; every flipped decision moves unsafe recall
   (or the false-flag rate) by one row, so 1% flips per side bound both changes by 1 point:
   the quality targets of the serving work (issue 20), checked before the model can ship.
   A recipe that falls short is logged and the next one tried; when the last falls short too,
   `QualityCheckError`: the step fails, nothing is served. A recipe is dropped as soon as the
   check cannot pass (`screen_alone`: more argmax changes on the rows run alone so far than the
   check allows on all of them; then the batched layout is not run at all), which saves minutes
   on the e5 guard, whose all-int8 and attention recipes fall short. A recipe that quantizes no
   activation (the embeddings only: `scales_per_batch`) gives a text the same answer in any
   batch, so one batched run stands for both layouts (the e5 guard's export: 2 minutes less).
4. Fit the int8 model's own calibration (temperature, threshold for the target false-flag rate)
   on its validation probabilities and record everything in model_info.json: `engines.onnx`
   (file, checksum, quantization, check, calibration, validation metrics), `engines.torch`
   (fp32's calibration and metrics, kept beside it) and the top-level `calibration`, which is
   the served model's.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.core.calibration import (
    TARGET_FALSE_FLAG_RATE,
    apply_temperature,
    guard_calibration,
    safe_index,
)
from components.core.errors import ModelDirError, QualityCheckError
from components.core.files import read_json, sha256_of, write_json
from components.core.model_info import MODEL_INFO, load_model_info
from components.core.onnx_predict import OnnxPredictor
from components.core.predict import (
    ONNX_ENGINE,
    ONNX_FILE,
    ONNX_OUTPUT,
    TORCH_ENGINE,
    LoraPredictor,
)
from components.training.onnx_export import (
    FP32_FILE,
    MAX_FLIP_RATE,
    MIN_ARGMAX_AGREEMENT,
    RECIPES,
    ExportParams,
    export_fp32,
    label_model,
    quantize,
    scales_per_batch,
)

log = logging.getLogger(__name__)

TIE_MARGIN = 1e-3  # a change this close to where the answer turns is a tie (see `compare`)
EXPORT_ATOL = 1e-4  # fp32 ONNX vs torch, largest probability difference
SCREEN_CHUNK = 128  # rows run alone between two looks at the argmax changes (`screen_alone`)
EXPORT_CHECK_ROWS = 64  # validation rows the fp32 export must reproduce
SPLIT_NAME = "val_data"  # where kfp.local writes the validation split: <run>/preprocess*/val_data
SERVER_BATCH = 32  # texts per merged forward pass of the lora server under load (max_batch_size)


# --------------------------------------------------------------------------- the check
def compare(reference: np.ndarray, candidate: np.ndarray, y: Sequence[int],
            labels: Sequence[str], reference_calibration: dict[str, Any],
            candidate_calibration: dict[str, Any],
            params: ExportParams = ExportParams()) -> dict[str, Any]:  # noqa: B008 (frozen)
    """How far the candidate (int8) model's validation answers are from the reference's (fp32).

    Args:
        reference: uncalibrated validation probabilities of the fp32 model [N, C].
        candidate: the same of the int8 model.
        y: true class ids.
        labels: class names.
        reference_calibration: fp32's calibration ({} when it is no guard).
        candidate_calibration: int8's own ({} when it is no guard).
        params: the thresholds.

    A change is a tie, reported but not counted against the thresholds, when it happens within
    `TIE_MARGIN` of where the answer turns: fp32's two most probable classes closer than that,
    or P(unsafe) that close to the model's threshold. Below that resolution any rounding turns
    the answer (a barely trained model whose probabilities hardly move between texts has only
    ties); a trained model has few rows there.

    Returns:
        {"rows", "argmax_agreement", "argmax_changed" (counted), "argmax_ties",
        "max_abs_diff", "accuracy", "macro_f1" (each {"fp32", "int8"}), for a guard
        "guard_flips" {"unsafe", "benign" (counted), "ties", "unsafe_rate", "benign_rate",
        "at_fp32_threshold"}, "thresholds", "passed", "failures" (messages)}.
    """
    y = np.asarray(y)
    ref_pred, cand_pred = reference.argmax(axis=1), candidate.argmax(axis=1)
    agreement = float(np.mean(ref_pred == cand_pred)) if len(y) else 1.0
    near = _near_tie(reference)
    changed = int(np.sum((ref_pred != cand_pred) & ~near))
    out: dict[str, Any] = {
        "rows": len(y), "argmax_agreement": round(agreement, 6), "argmax_changed": changed,
        "argmax_ties": int(np.sum((ref_pred != cand_pred) & near)),
        "max_abs_diff": round(float(np.abs(reference - candidate).max()), 6) if len(y) else 0.0,
        "accuracy": {"fp32": _accuracy(y, ref_pred), "int8": _accuracy(y, cand_pred)},
        "macro_f1": {"fp32": _macro_f1(y, ref_pred, len(labels)),
                     "int8": _macro_f1(y, cand_pred, len(labels))},
        "thresholds": {"min_argmax_agreement": params.min_agreement,
                       "max_flip_rate": params.max_flip_rate, "tie_margin": TIE_MARGIN}}
    failures = []
    if changed > allowance(1.0 - params.min_agreement, len(y)):
        failures.append(f"argmax agreement with fp32 {agreement:.4f} < {params.min_agreement} "
                        f"on {len(y)} validation rows ({changed} changed)")
    safe = safe_index(labels)
    if safe is not None and reference_calibration and candidate_calibration:
        def margin(probs: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
            """P(unsafe) - threshold: >= 0 flags."""
            calibrated = apply_temperature(probs, float(calibration["temperature"]))
            return (1.0 - calibrated[:, safe].astype(np.float64)
                    - float(calibration["threshold"]))

        ref_margin = margin(reference, reference_calibration)
        cand_margin = margin(candidate, candidate_calibration)
        flipped = (ref_margin >= 0) != (cand_margin >= 0)
        tie = (np.abs(ref_margin) < TIE_MARGIN) | (np.abs(cand_margin) < TIE_MARGIN)
        counted = flipped & ~tie
        same_cal = (ref_margin >= 0) != (margin(candidate, reference_calibration) >= 0)
        unsafe = y != safe
        n_unsafe, n_benign = int(unsafe.sum()), int((~unsafe).sum())
        flips = {"unsafe": int(counted[unsafe].sum()), "benign": int(counted[~unsafe].sum()),
                 "ties": int((flipped & tie).sum()),
                 "unsafe_rows": n_unsafe, "benign_rows": n_benign,
                 "unsafe_rate": round(float(counted[unsafe].mean()), 6) if n_unsafe else 0.0,
                 "benign_rate": round(float(counted[~unsafe].mean()), 6) if n_benign else 0.0,
                 "at_fp32_threshold": int(same_cal.sum())}
        out["guard_flips"] = flips
        for side in ("unsafe", "benign"):
            if flips[side] > allowance(params.max_flip_rate, flips[f"{side}_rows"]):
                failures.append(f"{flips[side]} of {flips[f'{side}_rows']} {side} validation "
                                f"rows change their guard decision ({flips[f'{side}_rate']:.4f} "
                                f"> {params.max_flip_rate})")
    out["passed"] = not failures
    out["failures"] = failures
    return out


def _near_tie(reference: np.ndarray) -> np.ndarray:
    """Rows whose fp32 two most probable classes are within `TIE_MARGIN` (see `compare`)."""
    if reference.shape[1] < 2:
        return np.zeros(len(reference), bool)
    top2 = np.sort(reference, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0] < TIE_MARGIN


def screen_alone(predictor: Any, texts: Sequence[str], reference: np.ndarray,
                 allowed: int, chunk: int = SCREEN_CHUNK) -> tuple[np.ndarray | None, int, int]:
    """Run the int8 model on each text alone, `chunk` rows at a time, and stop as soon as more
    rows have changed their argmax (ties aside, as `compare` counts them) than the check allows
    on all rows: changes only add up, so the check cannot pass then.

    Returns:
        (the uncalibrated probabilities of every text, or None when stopped; rows run; rows
        changed among them).
    """
    out = np.empty((len(texts), reference.shape[1]), dtype=np.float32)
    near, changed = _near_tie(reference), 0
    for start in range(0, len(texts), chunk):
        stop = min(start + chunk, len(texts))
        out[start:stop] = predictor.raw_proba(list(texts[start:stop]))
        moved = out[start:stop].argmax(axis=1) != reference[start:stop].argmax(axis=1)
        changed += int(np.sum(moved & ~near[start:stop]))
        if changed > allowed:
            return None, stop, changed
    return out, len(texts), changed


def allowance(rate: float, rows: int) -> int:
    """How many of `rows` may change at `rate`: floor(rate * rows), but at least one when the
    rate allows any change (with fewer than 1 / rate rows, one row is more than the rate, and
    one row's change cannot be told from noise)."""
    if rate <= 0:
        return 0
    return max(1, math.floor(rate * rows + 1e-9))


def _accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return round(float(accuracy_score(y, pred)), 6) if len(y) else 0.0


def _macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    from sklearn.metrics import f1_score

    return round(float(f1_score(y, pred, labels=list(range(n_classes)), average="macro",
                                zero_division=0)), 6) if len(y) else 0.0


# --------------------------------------------------------------------------- the step
def validation_texts(val: Any) -> list[str]:
    """The validation prompts as a server receives them (`raw_text`), for calibration and the
    check; the cleaned `text` for splits without it."""
    return (val["raw_text"] if "raw_text" in val.columns else val["text"]).tolist()


def batched_probs(predictor: Any, texts: Sequence[str], batch: int = SERVER_BATCH,
                  seed: int = 0) -> np.ndarray:
    """Uncalibrated probabilities of `texts` run as a server under load runs them: in random
    (seeded) batches of `batch` texts, each one call (sorted into the predictor's sub-batches)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    out = np.empty((len(texts), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        out[chunk] = predictor.raw_proba([texts[i] for i in chunk])
    return out


def check_layouts(reference: np.ndarray, layouts: dict[str, np.ndarray], y: np.ndarray,
                  labels: Sequence[str], fp32_calibration: dict[str, Any],
                  int8_calibration: dict[str, Any], params: ExportParams) -> dict[str, Any]:
    """`compare` for each layout of the int8 model; passed when every layout passes."""
    out: dict[str, Any] = {name: compare(reference, probs, y, labels, fp32_calibration,
                                         int8_calibration, params)
                           for name, probs in layouts.items()}
    out["failures"] = [f"{name}: {f}" for name in layouts for f in out[name]["failures"]]
    out["passed"] = not out["failures"]
    out["rows"] = len(y)
    out["thresholds"] = {"min_argmax_agreement": params.min_agreement,
                         "max_flip_rate": params.max_flip_rate}
    return out


def export_model(model_dir: str | os.PathLike[str], val_texts: Sequence[str],
                 val_labels: Sequence[int],
                 params: ExportParams = ExportParams(),  # noqa: B008 (frozen)
                 reference: np.ndarray | None = None) -> dict[str, Any]:
    """Export, quantize, check and calibrate; record it all in the directory's model_info.json.

    Args:
        model_dir: a lora model directory (merged weights, tokenizer, model_info.json).
        val_texts: the validation prompts as a server receives them (`validation_texts`:
            lora-train calibrates fp32 on the same).
        val_labels: their class ids.
        params: quantization and thresholds.
        reference: the torch model's uncalibrated probabilities of `val_texts`, when the caller
            has them (lora-train calibrates on them): not computed a second time.

    Returns:
        The updated model_info.

    Raises:
        QualityCheckError: the int8 model falls short of fp32 (nothing is written then).
        ModelDirError: the fp32 export does not reproduce torch, or the directory is unusable.
    """
    model_dir = Path(model_dir)
    start = time.perf_counter()
    info = load_model_info(model_dir, "lora")
    labels = info["labels"]
    texts, y = list(val_texts), np.asarray(val_labels, dtype=np.int64)
    if len(texts) != len(y) or not texts:
        raise ValueError(f"expected as many validation labels as texts (and some), got "
                         f"{len(texts)} texts and {len(y)} labels")
    torch_own = (info.get("engines") or {}).get(TORCH_ENGINE) or {}
    fp32_calibration = torch_own.get("calibration", info.get("calibration") or {})
    target = float(fp32_calibration.get("target_false_flag_rate")
                   or info.get("params", {}).get("target_false_flag_rate")
                   or TARGET_FALSE_FLAG_RATE)
    torch_predictor = LoraPredictor.load(model_dir, device="cpu")
    if reference is None:
        reference = torch_predictor.raw_proba(texts)  # uncalibrated: what calibration fits
    reference = np.asarray(reference)
    if reference.shape != (len(texts), len(labels)):
        raise ValueError(f"expected reference probabilities of shape {(len(texts), len(labels))}, "
                         f"got {reference.shape}")
    int8_path = model_dir / ONNX_FILE
    with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
        fp32_path, staged = Path(tmp) / FP32_FILE, Path(tmp) / ONNX_FILE
        inputs = export_fp32(torch_predictor, fp32_path, params.opset)
        del torch_predictor  # a large encoder's weights, its graph and its sessions: one at a time
        gc.collect()
        matmuls = label_model(fp32_path, labels)
        fp32_onnx = OnnxPredictor.load(model_dir, onnx_file=fp32_path, threads=1)
        head = texts[:EXPORT_CHECK_ROWS]
        export_diff = float(np.abs(fp32_onnx.raw_proba(head)
                                   - reference[:len(head)]).max())
        del fp32_onnx
        if not export_diff <= EXPORT_ATOL:
            raise ModelDirError(f"{model_dir}: the fp32 ONNX export does not reproduce the torch "
                                f"model (largest probability difference {export_diff:.2e} > "
                                f"{EXPORT_ATOL:g} on {len(head)} validation rows)")
        attempts: list[dict[str, Any]] = []
        allowed = allowance(1.0 - params.min_agreement, len(y))
        for recipe in params.recipes:
            quantization = quantize(fp32_path, staged, labels, params, recipe, matmuls)
            per_batch = scales_per_batch(quantization["op_types"])
            if per_batch:
                alone, rows_run, changed = screen_alone(
                    OnnxPredictor.load(model_dir, onnx_file=staged, batch_size=1), texts,
                    reference, allowed)
            else:  # one text's answer is the same in any batch: one batched run is both
                alone, rows_run, changed = batched_probs(
                    OnnxPredictor.load(model_dir, onnx_file=staged), texts), len(texts), 0
            if alone is None:
                failure = (f"alone: {changed} of the first {rows_run} validation rows changed "
                           f"their argmax, more than the {allowed} the check allows on all "
                           f"{len(y)} (argmax agreement < {params.min_agreement}; stopped there)")
                attempts.append({"recipe": recipe, "passed": False,
                                 "bytes": staged.stat().st_size, "screened_out_after": rows_run,
                                 "failures": [failure]})
                log.warning("%s: the %s ONNX model falls short of fp32 (%s)%s", model_dir, recipe,
                            failure, "" if recipe == params.recipes[-1]
                            else ": trying the next recipe")
                continue
            # Calibrated on each text's own answer (alone); the check bounds what batching adds.
            int8_calibration = guard_calibration(alone, y, labels, target)
            layouts = {"alone": alone}
            check = check_layouts(reference, layouts, y, labels, fp32_calibration,
                                  int8_calibration, params)
            if check["passed"] and per_batch:  # batched only for a recipe that can pass
                batched = OnnxPredictor.load(model_dir, onnx_file=staged)
                layouts["batched"] = batched_probs(batched, texts)
                del batched
                check = check_layouts(reference, layouts, y, labels, fp32_calibration,
                                      int8_calibration, params)
            elif not per_batch:  # run in batches of SERVER_BATCH: what a lone text gets too
                layouts["batched"] = alone
                check = check_layouts(reference, layouts, y, labels, fp32_calibration,
                                      int8_calibration, params)
                check["layouts"] = ("one batched run stands for both: no activation is "
                                    "quantized, so a text's answer does not depend on its "
                                    "batch mates")
            for name in layouts:
                c = check[name]
                log.info("%s (%s) vs fp32 on %d validation rows: argmax agreement %.4f, largest "
                         "probability difference %.4f%s", recipe, name, len(y),
                         c["argmax_agreement"], c["max_abs_diff"], "" if "guard_flips" not in c
                         else ", guard decisions flipped: {unsafe}/{unsafe_rows} unsafe, "
                         "{benign}/{benign_rows} benign".format(**c["guard_flips"]))
            attempts.append({"recipe": recipe, "passed": check["passed"],
                             "bytes": staged.stat().st_size,
                             "argmax_agreement": {n: check[n]["argmax_agreement"]
                                                  for n in layouts},
                             "failures": check["failures"]})
            if check["passed"]:
                break
            log.warning("%s: the %s ONNX model falls short of fp32 (%s)%s", model_dir, recipe,
                        "; ".join(check["failures"]),
                        "" if recipe == params.recipes[-1] else ": trying the next recipe")
        else:
            raise QualityCheckError(
                f"{model_dir}: no quantized ONNX model keeps to fp32 ("
                + "; ".join(f"{a['recipe']}: " + "; ".join(a["failures"]) for a in attempts)
                + ")")
        os.replace(staged, int8_path)
        if params.keep_fp32:
            os.replace(fp32_path, model_dir / FP32_FILE)
    import onnxruntime

    record = {
        "file": ONNX_FILE, "precision": quantization["recipe"], "attempts": attempts,
        "bytes": int8_path.stat().st_size,
        "sha256": sha256_of(int8_path), "inputs": inputs, "output": ONNX_OUTPUT,
        "opset": params.opset, "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "onnxruntime": onnxruntime.__version__, "quantization": quantization,
        "fp32_export_max_abs_diff": round(export_diff, 8), "check": check,
        "calibration": int8_calibration, "val_accuracy": check["alone"]["accuracy"]["int8"],
        "val_macro_f1": check["alone"]["macro_f1"]["int8"],
        "export_seconds": round(time.perf_counter() - start, 2)}
    if params.keep_fp32:
        record["fp32_file"] = FP32_FILE
    engines = dict(info.get("engines") or {})
    engines[TORCH_ENGINE] = {"precision": "fp32", **torch_own, "calibration": fp32_calibration,
                             "val_accuracy": check["alone"]["accuracy"]["fp32"],
                             "val_macro_f1": check["alone"]["macro_f1"]["fp32"]}
    engines[ONNX_ENGINE] = record
    info = {**read_json(model_dir / MODEL_INFO), "engines": engines,
            "calibration": int8_calibration, "serving_engine": ONNX_ENGINE}
    write_json(model_dir / MODEL_INFO, info)
    log.info("wrote %s (%.1f MB, %s: %s); calibration refitted on its validation "
             "probabilities: %s (%.1f s)", int8_path, record["bytes"] / 1e6,
             quantization["recipe"], quantization["description"],
             _describe(int8_calibration), record["export_seconds"])
    return info


def _describe(calibration: dict[str, Any]) -> str:
    if not calibration:
        return "none (no Safe class)"
    return (f"temperature {calibration['temperature']:.3f}, threshold "
            f"{calibration['threshold']:.4f}")


# --------------------------------------------------------------------------- CLI
def find_val_split(model_dir: Path) -> Path:
    """The validation split of the kfp.local run a model directory belongs to
    (<run>/<step>/model -> <run>/preprocess*/val_data).

    Raises:
        ModelDirError: none or several found.
    """
    run = model_dir.resolve().parent.parent
    found = sorted(run.glob(f"preprocess*/{SPLIT_NAME}"))
    if len(found) != 1:
        raise ModelDirError(f"{model_dir}: expected one validation split at "
                            f"{run}/preprocess*/{SPLIT_NAME}, found {len(found)}: pass --val")
    return found[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.training.export",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model_dir", help="a lora model directory (lora-train's `model`)")
    parser.add_argument("--val", default=None,
                        help="validation split (Parquet with text and label_id); default: the "
                             "run's preprocess*/val_data beside the model directory")
    parser.add_argument("--keep_fp32", action="store_true",
                        help=f"keep the fp32 ONNX model too ({FP32_FILE})")
    parser.add_argument("--no_quantize_embeddings", action="store_true",
                        help="keep the word-embedding table in fp32")
    parser.add_argument("--reduce_range", action="store_true",
                        help="7-bit weights (CPUs without VNNI)")
    parser.add_argument("--recipes", default=",".join(RECIPES),
                        help="quantization recipes tried in order until one passes the check "
                             f"(some of {', '.join(RECIPES)})")
    parser.add_argument("--min_agreement", type=float, default=MIN_ARGMAX_AGREEMENT)
    parser.add_argument("--max_flip_rate", type=float, default=MAX_FLIP_RATE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import pandas as pd

    model_dir = Path(args.model_dir)
    try:
        val = pd.read_parquet(args.val or find_val_split(model_dir))
        params = ExportParams(reduce_range=args.reduce_range,
                              quantize_embeddings=not args.no_quantize_embeddings,
                              recipes=tuple(r.strip() for r in args.recipes.split(",")
                                            if r.strip()),
                              min_agreement=args.min_agreement, max_flip_rate=args.max_flip_rate,
                              keep_fp32=args.keep_fp32)
        info = export_model(model_dir, validation_texts(val), val["label_id"].to_numpy(), params)
    except (ModelDirError, QualityCheckError, ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    print(json.dumps(info["engines"][ONNX_ENGINE], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
