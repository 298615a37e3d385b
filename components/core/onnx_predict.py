"""The lora engine of the torch-free serving image: a lora-train directory's ONNX int8 export
(components.training.export) run by ONNX Runtime with the fast tokenizer (`tokenizers`) alone."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.core.errors import ModelDirError
from components.core.files import sha256_of as file_sha256
from components.core.model_info import load_model_info
from components.core.predict import (
    ONNX_ENGINE,
    ONNX_FILE,
    ONNX_INPUTS,
    ONNX_LABELS_KEY,
    ONNX_OUTPUT,
    Predictor,
    engine_info,
    ort_threads,
)

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"  # the fast tokenizer, read by `tokenizers` alone
# Texts per ONNX forward pass: a call's texts run sorted by token count in sub-batches of this
# many (seed model, in-process, 32 texts: 4: 9.0, 8: 8.6, 16: 10.1, 32: 15.1 ms per text).
ONNX_BATCH_SIZE = 8


def _ort_errors() -> tuple[type[BaseException], ...]:
    """The exceptions ONNX Runtime raises for a file it cannot load (not RuntimeError's)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidProtobuf", "InvalidGraph", "NoSuchFile", "InvalidArgument",
             "RuntimeException", "NotImplemented")
    return (OSError, *(getattr(state, n) for n in names if hasattr(state, n)))


class OnnxPredictor(Predictor):
    """A lora-train directory's ONNX int8 export run by ONNX Runtime (no torch, no transformers).

    The texts of a call are tokenized together (`tokenizers`, truncated to the model's
    max_length), sorted by token count and run in sub-batches of `batch_size`, each padded to its
    own longest text: little padding is computed, and the results come back in input order.

    Dynamic int8 quantizes each forward pass's activations with one scale for the whole batch,
    so a text's probabilities move slightly with the texts it shares a pass with (seed model:
    3 of 609 guard decisions differ between alone and in server-like batches); batch_size=1
    answers every text alone, reproducibly, at about 1.5x the cost per text under load.
    components.training.export checks both layouts against fp32.
    """

    engine = ONNX_ENGINE
    sorts_by_length = True  # servers need not sort a merged batch into sub-batches

    def __init__(self, session: Any, tokenizer: Any, info: dict[str, Any], pad_id: int = 0,
                 batch_size: int = ONNX_BATCH_SIZE):
        super().__init__(info)
        self.session, self.tokenizer, self.pad_id = session, tokenizer, pad_id
        self.batch_size = batch_size
        self.input_names = [i.name for i in session.get_inputs()]
        self.max_length = int(info["max_length"])

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], threads: int | None = None,
             batch_size: int = ONNX_BATCH_SIZE,
             onnx_file: str | os.PathLike[str] | None = None
             ) -> OnnxPredictor:
        """Load the ONNX model and the tokenizer of a lora directory.

        Args:
            model_dir: a directory written by lora-train (or completed by components.training.export).
            threads: ONNX Runtime intra-op threads; default: `ort_threads()`.
            batch_size: texts per forward pass (sub-batches of a call, sorted by length).
            onnx_file: another ONNX file than the directory's (components.training.export checks the
                files it is writing); its checksum is not compared with model_info.json's.

        Raises:
            ModelDirError: the ONNX file is missing, unreadable (truncated), or not this
                directory's export (checksum, class names, class count or input names differ);
                the tokenizer file is missing.
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info = load_model_info(model_dir, "lora")
        recorded = (info.get("engines") or {}).get(ONNX_ENGINE) or {}
        path = Path(model_dir) / recorded.get("file", ONNX_FILE)
        if onnx_file is not None:
            path, recorded = Path(onnx_file), {}
        if not path.is_file():
            raise ModelDirError(f"{path}: ONNX model not found (export it with `python -m "
                                f"components.training.export {model_dir}`, or serve with --engine torch)")
        if recorded.get("sha256") and file_sha256(path) != recorded["sha256"]:
            raise ModelDirError(
                f"{path}: not the ONNX model exported for this directory (sha256 differs from "
                f"model_info.json's; {path.stat().st_size} bytes, {recorded.get('bytes')} "
                f"recorded): truncated or from another model; export it again")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or ort_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: they share the pod's CPUs with the event
        # loop (2 spinning threads ran 2x slower than 1 thread on a busy 2-core machine; not
        # spinning, no slower than 1 thread).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: the load failures below say the rest
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except _ort_errors() as exc:
            raise ModelDirError(f"{path}: not a loadable ONNX model (truncated or damaged?): "
                                f"{str(exc).strip()[:300]}") from exc
        check_onnx_session(session, info["labels"], path)
        tokenizer_path = Path(model_dir) / TOKENIZER_FILE
        if not tokenizer_path.is_file():
            raise ModelDirError(f"{tokenizer_path}: tokenizer not found (the ONNX engine reads "
                                f"the fast tokenizer's {TOKENIZER_FILE})")
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(info["max_length"]))
        pad_id = _pad_id(model_dir, tokenizer)
        log.info("loaded lora model from %s with ONNX Runtime %s (%s, %d classes, %d threads)",
                 path.parent, ort.__version__, path.name, len(info["labels"]),
                 options.intra_op_num_threads)
        return cls(session, tokenizer, engine_info(info, ONNX_ENGINE), pad_id, batch_size)

    def _forward(self, prepared: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(prepared)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(encodings), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            out[chunk] = softmax(self.run([encodings[i] for i in chunk]))
        return out

    def run(self, encodings: Sequence[Any]) -> np.ndarray:
        """Logits [N, C] of tokenized texts, padded to the longest of them."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        logits = self.session.run([ONNX_OUTPUT], {k: feeds[k] for k in self.input_names})[0]
        if logits.shape != (len(encodings), len(self.labels)):
            raise RuntimeError(f"the ONNX model returned logits of shape {logits.shape}, "
                               f"expected {(len(encodings), len(self.labels))}")
        return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_onnx_session(session: Any, labels: Sequence[str], path: Path) -> None:
    """Require an ONNX session to be this model's classifier: the class names it was exported
    with (its metadata), a `logits` output with one column per class, token inputs only.

    Raises:
        ModelDirError: what differs, naming the file.
    """
    inputs = [i.name for i in session.get_inputs()]
    unknown = sorted(set(inputs) - set(ONNX_INPUTS))
    if unknown or "input_ids" not in inputs:
        raise ModelDirError(f"{path}: inputs {inputs}, expected input_ids and some of "
                            f"{list(ONNX_INPUTS[1:])} (not an export of a lora classifier)")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if ONNX_OUTPUT not in outputs:
        raise ModelDirError(f"{path}: outputs {sorted(outputs)}, expected {ONNX_OUTPUT!r} "
                            f"(not an export of a lora classifier)")
    width = outputs[ONNX_OUTPUT][-1] if outputs[ONNX_OUTPUT] else None
    if isinstance(width, int) and width != len(labels):
        raise ModelDirError(f"{path}: the model has {width} classes, model_info.json "
                            f"{len(labels)} ({list(labels)}): exported from another model")
    meta = session.get_modelmeta().custom_metadata_map.get(ONNX_LABELS_KEY)
    if meta is None or json.loads(meta) != list(labels):
        raise ModelDirError(f"{path}: exported for the classes {meta or '(not recorded)'}, "
                            f"model_info.json has {list(labels)}: from another model")


def _pad_id(model_dir: str | os.PathLike[str], tokenizer: Any) -> int:
    """The pad token's id (tokenizer_config.json's pad_token), 0 when it names none.

    Padded positions are masked: the id changes nothing but must be a valid one."""
    config = Path(model_dir) / "tokenizer_config.json"
    token = None
    if config.is_file():
        token = json.loads(config.read_text()).get("pad_token")
        if isinstance(token, dict):
            token = token.get("content")
    pad = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return int(pad) if pad is not None else 0
