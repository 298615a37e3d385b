"""A frozen encoder's sentence embeddings and the logistic-regression head fitted on them.

Shared by the leave-one-source-out step (its stand-in for the served model) and the quick guard
(`components.training.quick_guard`), which serves the same kind of model: the encoder's mean-pooled,
L2-normalised last hidden states, and a class-balanced logistic regression over the classes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAX_LENGTH = 64
BATCH_SIZE = 64
HEAD_C = 4.0  # inverse L2 strength of the logistic regression
HEAD_MAX_ITER = 2000
LOG_EVERY_BATCHES = 20
# Logit of a class the head never saw in training (no row of it): never predicted.
ABSENT_CLASS_LOGIT = -1e4

# The model directory of an encoder + head (the quick guard): model_info.json names the encoder,
# HEAD_FILE holds the head (safetensors).
MODEL_TYPE = "frozen-encoder-lr"
HEAD_FILE = "head.safetensors"

Progress = Callable[[int, int], None]  # (texts embedded so far, texts in all)


class FrozenEncoder:
    """A transformers encoder and its tokenizer, loaded once, used without gradients.

    Args:
        tokenizer: the encoder's tokenizer.
        model: the encoder (AutoModel, no head).
        max_length: tokens read per text (the rest is truncated).
        batch_size: texts per forward pass.
        prefix: put before every text (e5 reads "query: " + text).
        path: where the encoder was loaded from.
    """

    def __init__(self, tokenizer: Any, model: Any, max_length: int = MAX_LENGTH,
                 batch_size: int = BATCH_SIZE, prefix: str = "", path: str = ""):
        self.tokenizer, self.model = tokenizer, model.eval()
        self.max_length, self.batch_size = max_length, batch_size
        self.prefix, self.path = prefix, path

    @classmethod
    def load(cls, base_model: str, max_length: int = MAX_LENGTH, batch_size: int = BATCH_SIZE,
             prefix: str = "auto") -> FrozenEncoder:
        """Load `base_model` ("offline", "offline-multilingual", a directory or a hub id; see
        `components.core.predict.resolve_base_model`).

        Args:
            prefix: the text prefix; "auto": the encoder's own (`lora_train.text_prefix_for`:
                its encoder.json, or by name), as lora-train reads it.

        Raises:
            ModelDirError: the encoder cannot be loaded from where `base_model` points.
        """
        from transformers import AutoModel, AutoTokenizer

        from components.core.errors import ModelDirError
        from components.core.predict import resolve_base_model

        path = resolve_base_model(base_model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
        except OSError as exc:
            raise ModelDirError(f"cannot load the encoder {base_model!r} from {path}: {exc}"
                                ) from exc
        if prefix == "auto":
            from components.training.lora_train import text_prefix_for

            prefix = text_prefix_for(base_model, path)
        return cls(tokenizer, model, max_length, batch_size, prefix, path)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Mean-pooled last hidden states, L2-normalised [N, H] (float32).

        Args:
            texts: the texts, already cleaned as the model expects.
            progress: called with (done, total) after each batch.
        """
        import torch

        if self.prefix:
            texts = [self.prefix + t for t in texts]
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        out = np.zeros((len(texts), self.hidden_size), dtype=np.float32)
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                enc = self.tokenizer([texts[j] for j in idx], truncation=True,
                                     max_length=self.max_length, padding=True,
                                     return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().numpy()
                done = min(i + self.batch_size, len(texts))
                if progress is not None:
                    progress(done, len(texts))
                if (i // self.batch_size) % LOG_EVERY_BATCHES == 0 and len(texts) > 1000:
                    log.info("embedded %d/%d texts (%.0f s)", done, len(texts),
                             time.perf_counter() - start)
        return out


def embed(texts: Sequence[str], base_model: str, max_length: int = MAX_LENGTH,
          batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> np.ndarray:
    """Mean-pooled last hidden states of the frozen encoder `base_model` (reading its text
    prefix, e.g. e5's "query: ", as the served model does), L2-normalised [N, H]."""
    return FrozenEncoder.load(base_model, max_length, batch_size).embed(texts, progress)


def fit_head(x: np.ndarray, y: np.ndarray, seed: int, c: float = HEAD_C, init: Any = None):
    """A class-balanced logistic regression on the embeddings (sklearn estimator).

    `init`: a head fitted on similar rows (e.g. all of them, when this fit leaves a group out)
    whose weights start the solver (sklearn's warm start) when it saw the same classes: the
    same convex problem, solved to the same tolerance in about half the iterations
    (leave-one-source-out's hundred fits); ignored when the classes differ.
    """
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=HEAD_MAX_ITER,
                             random_state=seed)
    if init is not None and np.array_equal(np.unique(y), init.classes_):
        clf.set_params(warm_start=True)
        clf.coef_, clf.intercept_ = init.coef_.copy(), init.intercept_.copy()
    return clf.fit(x, y)


def p_unsafe(clf: Any, x: np.ndarray, safe: int | Sequence[int]) -> np.ndarray:
    """1 - P(the safe classes) per row (`components.core.calibration.p_unsafe` over the safe classes
    the head saw: Safe, and Refusal for a response model); 1 everywhere when it saw none."""
    from components.core.calibration import p_unsafe as p_unsafe_of

    safe = {int(safe)} if isinstance(safe, int | np.integer) else {int(c) for c in safe}
    cols = [i for i, c in enumerate(clf.classes_) if int(c) in safe]
    return np.ones(len(x)) if not cols else p_unsafe_of(clf.predict_proba(x), cols)


def head_weights(clf: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The fitted head as softmax weights over all `n_classes` (coef [C, H], intercept [C]).

    softmax(x @ coef.T + intercept) equals `clf.predict_proba(x)` on the classes it saw; a
    binary head (sklearn's one sigmoid row w, b) becomes rows (0, 0) and (w, b), since
    softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]; classes absent from training get
    ABSENT_CLASS_LOGIT.
    """
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    seen = [int(c) for c in clf.classes_]
    if len(seen) == 2 and coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    full_coef = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    full_intercept = np.full(n_classes, ABSENT_CLASS_LOGIT, dtype=np.float32)
    for row, cls in enumerate(seen):
        full_coef[cls] = coef[row]
        full_intercept[cls] = intercept[row]
    return full_coef, full_intercept


def head_proba(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """softmax(x @ coef.T + intercept) [N, C]."""
    z = x.astype(np.float64) @ coef.T.astype(np.float64) + intercept.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def save_head(model_dir: str | os.PathLike[str], coef: np.ndarray, intercept: np.ndarray) -> Path:
    """Write the head as safetensors (coef [C, H], intercept [C], float32)."""
    from safetensors.numpy import save_file

    path = Path(model_dir) / HEAD_FILE
    save_file({"coef": np.ascontiguousarray(coef, dtype=np.float32),
               "intercept": np.ascontiguousarray(intercept, dtype=np.float32)}, str(path))
    return path


def load_head(model_dir: str | os.PathLike[str], n_classes: int,
              hidden_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the head.

    Raises:
        ModelDirError: missing file, missing tensors or shapes that do not fit the labels.
    """
    from safetensors.numpy import load_file

    from components.core.errors import ModelDirError

    path = Path(model_dir) / HEAD_FILE
    if not path.is_file():
        raise ModelDirError(f"{model_dir}: {HEAD_FILE} not found (a {MODEL_TYPE} model keeps "
                            "its head there)")
    tensors = load_file(str(path))
    if set(tensors) != {"coef", "intercept"}:
        raise ModelDirError(f"{path}: expected tensors coef and intercept, found "
                            f"{sorted(tensors)}")
    coef, intercept = tensors["coef"], tensors["intercept"]
    if coef.ndim != 2 or coef.shape[0] != n_classes or intercept.shape != (n_classes,):
        raise ModelDirError(f"{path}: coef {coef.shape} / intercept {intercept.shape} do not "
                            f"fit {n_classes} labels")
    if hidden_size is not None and coef.shape[1] != hidden_size:
        raise ModelDirError(f"{path}: coef has {coef.shape[1]} columns, the encoder gives "
                            f"{hidden_size} dimensions: another encoder than the one it was "
                            "fitted on?")
    return coef, intercept
