"""lora-train step: a pretrained encoder + LoRA adapter (transformers + peft) for classification."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from components.core.calibration import TARGET_FALSE_FLAG_RATE, guard_calibration
from components.core.errors import DatasetError
from components.core.files import atomic_dir, read_json, read_training_splits, write_json
from components.core.model_info import save_model_info
from components.core.predict import (  # noqa: F401 (CLUSTER_BASE_MODEL: re-exported for pipeline.py)
    CLUSTER_BASE_MODEL,
    OFFLINE_BASE_MODEL,
    TORCH_ENGINE,
    load_predictor,
    pick_device,
    resolve_base_model,
    verify_saved,
)
from components.core.reading import Reading
from components.core.scripts import readable_scripts
from components.core.text import reader_settings, texts_as_read
from components.evaluation import plots
from components.training.export import export_model, validation_texts
from components.training.onnx_export import ExportParams

log = logging.getLogger(__name__)

# LoRA target modules by architecture (config.model_type).
TARGET_MODULES = {
    "distilbert": ["q_lin", "v_lin"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "deberta-v2": ["query_proj", "value_proj"],
}
# Randomly initialised head modules, trained fully and saved with the adapter.
HEAD_MODULES = ("pre_classifier", "classifier", "score")
# BERT-style encoders classify from the [CLS] vector through a pooler (dense + tanh) that a
# sentence-embedding model such as all-MiniLM never trained (it pools by mean): train it fully
# with the head, as full fine-tuning would.
POOLER_MODULES = ("pooler",)
VERIFY_ROWS = 64  # validation rows the reloaded model must reproduce
HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
REPORT_FILE = "training_report.html"
MAX_LENGTH_CAP = 512


@dataclasses.dataclass(frozen=True)
class LoraParams:
    """Hyper-parameters of LoRA fine-tuning."""

    base_model: str = OFFLINE_BASE_MODEL
    target_modules: str = "auto"  # comma-separated, or "auto" (by architecture)
    r: int = 16  # 0: full fine-tuning of the encoder layers instead of an adapter
    alpha: int = 32
    dropout: float = 0.1
    learning_rate: float = 1e-3
    epochs: int = 6  # chosen on validation macro-F1 (6: 0.697, 8: 0.687, 10 @ lr 5e-4: 0.694)
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06  # fraction of steps (TrainingArguments.warmup_steps < 1)
    max_length: int = 0  # 0: from the length analysis (percentile of tokenized training texts)
    seed: int = 42
    mixed_precision: bool = True  # bf16/fp16 autocast when a CUDA GPU is present
    class_weight: str = "none"  # "balanced" (per class, as scikit-learn) or "safe_unsafe"
    target_false_flag_rate: float = TARGET_FALSE_FLAG_RATE  # guard threshold (Safe class only)
    # what the encoder expects before each text: "auto" = its encoder.json ("query: " for e5)
    text_prefix: str = "auto"
    reading: str = "text"  # guard models: "text,deobfuscated,segments" (components.core.reading)
    top_layers: int = 0  # LoRA on the top N encoder layers only (0: all); the rest stay frozen
    group_by_length: bool = False  # batches of similar lengths: less padding, faster on CPU
    # BERT-style encoders: train the [CLS] pooler (POOLER_MODULES) fully with the head
    train_pooler: bool = True
    export: ExportParams = dataclasses.field(default_factory=ExportParams)  # components.training.onnx_export


def target_modules_for(model_type: str, spec: str = "auto") -> list[str]:
    """LoRA target modules: explicit comma-separated names, or by architecture when "auto"."""
    if spec and spec != "auto":
        return [m.strip() for m in spec.split(",") if m.strip()]
    if model_type not in TARGET_MODULES:
        raise ValueError(f"no default LoRA target modules for model_type {model_type!r}; "
                         f"pass target_modules explicitly (known: {sorted(TARGET_MODULES)})")
    return TARGET_MODULES[model_type]


# Encoders trained with an instruction prefix (multilingual-e5: "query: " for a query, which a
# prompt to classify is). A converted offline directory says so in its encoder.json.
PREFIXES = {"e5": "query: "}


def text_prefix_for(base_model: str, base_path: str, spec: str = "auto") -> str:
    """The text prefix of an encoder: `spec` unless "auto"; else its encoder.json's
    `text_prefix`, else by name (hub ids of the e5 family), else ""."""
    if spec != "auto":
        return spec
    from components.training.encoders import base_model_provenance

    provenance = base_model_provenance(base_path)
    if provenance is not None:
        return str(provenance.get("text_prefix") or "")
    name = base_model.lower().rsplit("/", 1)[-1]
    return next((p for key, p in PREFIXES.items() if key in name.split("-")), "")


def lora_layers(config: Any, top_layers: int) -> list[int] | None:
    """peft's `layers_to_transform` for LoRA on the top `top_layers` layers (None: all)."""
    n = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layers", 0))
    if top_layers <= 0 or not n or top_layers >= n:
        return None
    return list(range(n - top_layers, n))


def freeze_below(model: Any, layers: list[int] | None) -> None:
    """For full fine-tuning (r=0): freeze the embeddings (the multilingual vocabulary, 96M of
    e5's 118M parameters, stays as pretrained) and the encoder layers not in `layers`."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    base.embeddings.requires_grad_(False)
    blocks = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is not None and blocks is not None:
        for i, block in enumerate(blocks):
            block.requires_grad_(i in layers)


def load_base_classifier(base_model: str, labels: Sequence[str], quiet: bool = False):
    """AutoModelForSequenceClassification + AutoTokenizer with our label names.

    Args:
        base_model: hub id, local directory or "offline".
        labels: class names (the head is new: transformers reports it as missing weights).
        quiet: silence that report, for loads where the adapter supplies the head.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_base_model(base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    verbosity = hf_logging.get_verbosity()
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)})
    finally:
        if quiet:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
    return model, tokenizer, path


def length_at_percentile(tokenizer, texts: Sequence[str], percentile: float) -> int:
    """Tokenized length at `percentile` of `texts`, rounded up to a multiple of 8, capped."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    cap = min(MAX_LENGTH_CAP, getattr(tokenizer, "model_max_length", MAX_LENGTH_CAP) or MAX_LENGTH_CAP)
    n = int(math.ceil(np.percentile(lengths, percentile) / 8) * 8)
    return max(8, min(n, cap))


class _Encoded:
    """A map-style torch dataset of tokenized texts (dynamic padding by the collator)."""

    def __init__(self, enc: dict[str, list], labels: np.ndarray):
        self.enc, self.labels = enc, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**{k: v[i] for k, v in self.enc.items()}, "labels": int(self.labels[i])}


CLASS_WEIGHTS = ("none", "balanced", "safe_unsafe")


def class_weights(label_ids: np.ndarray, labels: Sequence[str], mode: str) -> np.ndarray | None:
    """Per-class loss weights.

    Args:
        label_ids: training class ids.
        labels: class names.
        mode: "none"; "balanced" = n / (k * n_class) per class (scikit-learn's formula);
            "safe_unsafe" = the safe classes (Safe, and Refusal for a response model) and all
            unsafe classes together weigh half each, with no reweighting within either side
            (a guard's decision is safe vs unsafe: per-class balancing of ten hazard classes
            hurt its ranking on validation).
    """
    from components.core.calibration import safe_columns

    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be one of {CLASS_WEIGHTS}, got {mode!r}")
    if mode == "none":
        return None
    counts = np.bincount(label_ids, minlength=len(labels)).astype(np.float64)
    n = len(label_ids)
    if mode == "balanced":
        return np.where(counts > 0, n / (len(labels) * np.maximum(counts, 1)), 0.0)
    safe = safe_columns(labels)
    if not safe:
        raise ValueError(f"class_weight='safe_unsafe' needs a Safe class; labels are {list(labels)}")
    n_safe = counts[safe].sum()
    n_unsafe = n - n_safe
    if not n_safe or not n_unsafe:
        raise DatasetError("class_weight='safe_unsafe' needs both safe and unsafe training rows")
    weights = np.full(len(labels), n / (2 * n_unsafe))
    weights[safe] = n / (2 * n_safe)
    return weights


def _weighted_loss(weights: np.ndarray):
    """Trainer `compute_loss_func`: cross-entropy with per-class weights."""
    import torch

    w = torch.tensor(weights, dtype=torch.float32)

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        return torch.nn.functional.cross_entropy(logits, labels, weight=w.to(logits.device))

    return loss


def _metrics_fn(num_labels: int):
    from sklearn.metrics import accuracy_score, f1_score

    def compute(pred) -> dict[str, float]:
        y_pred = np.asarray(pred.predictions).argmax(axis=-1)
        y = np.asarray(pred.label_ids)
        return {"accuracy": float(accuracy_score(y, y_pred)),
                "macro_f1": float(f1_score(y, y_pred, average="macro",
                                           labels=list(range(num_labels)), zero_division=0))}

    return compute


def train_lora(
    train_path: str | os.PathLike[str],
    val_path: str | os.PathLike[str],
    label_map_path: str | os.PathLike[str],
    length_stats_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    params: LoraParams = LoraParams(),  # noqa: B008 (frozen dataclass)
) -> dict[str, Any]:
    """Fine-tune a LoRA adapter for sequence classification; keep the best epoch by val macro-F1.

    Args:
        train_path: (augmented) training split, Parquet with `text` and `label_id`.
        val_path: validation split, evaluated every epoch.
        label_map_path: preprocess's label_map.json.
        length_stats_path: preprocess's length_stats.json (its percentile sets max_length).
        out_dir: model directory to create atomically: adapter (safetensors), tokenizer, info.
        params: hyper-parameters.

    Returns:
        model_info (also written to out_dir/model_info.json).
    """
    import tempfile

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from torch.utils.data import SequentialSampler
    from transformers import (
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    label_map, train, val = read_training_splits(train_path, val_path, label_map_path)
    labels = label_map["labels"]
    set_seed(params.seed)
    device = pick_device()
    model, tokenizer, base_path = load_base_classifier(params.base_model, labels)
    targets = target_modules_for(model.config.model_type, params.target_modules)
    heads = [name for name, _ in model.named_children() if name in HEAD_MODULES]
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if params.train_pooler:
        heads += [name for name in POOLER_MODULES if getattr(base, name, None) is not None]
    from components.training.encoders import base_model_provenance

    prefix = text_prefix_for(params.base_model, base_path, params.text_prefix)
    settings = reader_settings(tokenizer, label_map["text_settings"])
    if settings != label_map["text_settings"]:
        try:
            train, val = (df.assign(text=texts_as_read(df, label_map["text_settings"], tokenizer))
                          for df in (train, val))
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc
        log.info("lora: the encoder's tokenizer keeps case and accents: the text keeps them too")
    reading = Reading.parse(params.reading)
    percentile = read_json(length_stats_path)["percentile"] if length_stats_path else 95.0
    max_length = params.max_length or length_at_percentile(
        tokenizer, [prefix + t for t in train["text"]], percentile)
    layers = lora_layers(model.config, params.top_layers)
    if reading.conversation:  # a long reply is read in windows that fit beside its context
        from components.core.conversation import reply_window_words

        reading = dataclasses.replace(reading, window_words=reply_window_words(max_length))

    if params.r > 0:
        lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=params.r, lora_alpha=params.alpha,
                          lora_dropout=params.dropout, target_modules=targets,
                          layers_to_transform=layers,
                          modules_to_save=list(heads))  # peft extends the list it is given
        model = get_peft_model(model, lora)
        trainable, total = model.get_nb_trainable_parameters()
    else:  # full fine-tuning of the encoder layers (of the top ones), embeddings frozen
        freeze_below(model, layers)
        for name in POOLER_MODULES if not params.train_pooler else ():
            if getattr(base, name, None) is not None:
                getattr(base, name).requires_grad_(False)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        targets = ["all"]
    log.info("lora: base %s (%s), %s%s, heads %s, %d/%d trainable params (%.2f%%), "
             "max_length %d (p%g), prefix %r, device %s", params.base_model,
             model.config.model_type, f"LoRA r={params.r} on {targets}" if params.r > 0 else
             "full fine-tuning", f" in layers {layers}" if layers else "", heads,
             trainable, total, 100 * trainable / total, max_length, percentile, prefix, device)

    def encode(df: pd.DataFrame) -> _Encoded:
        enc = tokenizer([prefix + t for t in df["text"]], truncation=True, max_length=max_length)
        return _Encoded(dict(enc), df["label_id"].to_numpy())

    cuda = device == "cuda"
    bf16 = cuda and params.mixed_precision and torch.cuda.is_bf16_supported()
    fp16 = cuda and params.mixed_precision and not bf16

    class EpochLog(TrainerCallback):
        """One log line per epoch (replaces the Trainer's dict printing and progress bars)."""

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            m = metrics or {}
            train_loss = next((e["loss"] for e in reversed(state.log_history) if "loss" in e),
                              float("nan"))
            log.info("lora epoch %d/%d: train_loss=%.4f eval_loss=%.4f eval_accuracy=%.4f "
                     "eval_macro_f1=%.4f", round(state.epoch or 0), params.epochs, train_loss,
                     m.get("eval_loss", float("nan")), m.get("eval_accuracy", float("nan")),
                     m.get("eval_macro_f1", float("nan")))

    with atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory() as ckpt_dir:
        args = TrainingArguments(
            output_dir=ckpt_dir, eval_strategy="epoch", save_strategy="epoch",
            logging_strategy="epoch", load_best_model_at_end=True,
            metric_for_best_model="macro_f1", greater_is_better=True, save_total_limit=2,
            learning_rate=params.learning_rate, num_train_epochs=params.epochs,
            per_device_train_batch_size=params.batch_size,
            per_device_eval_batch_size=max(32, params.batch_size), weight_decay=params.weight_decay,
            warmup_steps=params.warmup_ratio, seed=params.seed, bf16=bf16, fp16=fp16,
            use_cpu=not cuda, report_to="none", disable_tqdm=True, dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if params.group_by_length else "random",
        )
        weights = class_weights(train["label_id"].to_numpy(), labels, params.class_weight)
        if weights is not None:
            log.info("lora class weights: %s", dict(zip(labels, np.round(weights, 3), strict=True)))
        val_ds = encode(val)
        class InOrderEval(Trainer):
            """Evaluation and prediction in dataset order: transformers 5 applies the training
            sampler's length grouping to evaluation too, which would shuffle the validation
            predictions away from their rows."""

            def _get_eval_sampler(self, eval_dataset):
                return None if eval_dataset is None else SequentialSampler(eval_dataset)

        trainer = InOrderEval(model=model, args=args, train_dataset=encode(train),
                          eval_dataset=val_ds, data_collator=DataCollatorWithPadding(tokenizer),
                          compute_metrics=_metrics_fn(len(labels)), callbacks=[EpochLog()],
                          compute_loss_func=None if weights is None else _weighted_loss(weights))
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        trainer.train()  # load_best_model_at_end: `model` now holds the best epoch
        train_seconds = time.perf_counter() - start
        history = _history(trainer.state.log_history)
        best_i = int(np.argmax(history["eval_macro_f1"]))
        best = {k: history[k][best_i] for k in ("eval_accuracy", "eval_macro_f1")}
        log.info("lora best epoch %d of %d: val accuracy %.4f macro-F1 %.4f (%.1f s)",
                 best_i + 1, len(history["eval_macro_f1"]), best["eval_accuracy"],
                 best["eval_macro_f1"], train_seconds)

        val_logits = np.asarray(trainer.predict(val_ds).predictions, dtype=np.float64)
        val_probs = np.exp(val_logits - val_logits.max(axis=1, keepdims=True))
        val_probs /= val_probs.sum(axis=1, keepdims=True)

        # Merged weights (the adapter folded into the base, heads included): the directory
        # loads with transformers alone, no base model, hub or peft (components.core.predict).
        (model.merge_and_unload() if params.r > 0 else model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / HISTORY_FILE, history)
        plots.curves({k: v for k, v in history.items() if v}, "LoRA training curves",
                     tmp / CURVES_FILE)
        fields = dict(
            input_field="text", max_length=max_length, base_model=params.base_model,
            base_model_path=base_path, architecture=model.config.model_type,
            target_modules=targets, lora_layers=layers, modules_to_save=heads,
            params=dataclasses.asdict(params), device=device,
            mixed_precision="bf16" if bf16 else "fp16" if fp16 else "fp32",
            trainable_params=int(trainable), total_params=int(total),
            train_seconds=round(train_seconds, 2), train_rows=len(train),
            best_epoch=best_i + 1, val_accuracy=float(best["eval_accuracy"]),
            val_macro_f1=float(best["eval_macro_f1"]), text_prefix=prefix,
            base_model_provenance=base_model_provenance(base_path),
            reading=reading.to_dict(),
            # what it reads: its encoder's vocabulary (pretrained reading), or the training
            # scripts the tokenizer represents where the vocabulary is too small to tell
            scripts=readable_scripts(train["text"], tokenizer))
        save_model_info(tmp, "lora", labels, settings, **fields)
        # What a server loads is what was trained: the reloaded directory reproduces the
        # trainer's probabilities (whole texts)...
        verify_saved(tmp, val["text"].tolist()[:VERIFY_ROWS], val_probs[:VERIFY_ROWS],
                     atol=5e-2 if bf16 or fp16 else 1e-3,  # half precision vs fp32 reload
                     engine=TORCH_ENGINE, prepared=True)
        # ...and is calibrated on its own validation answers, read as it will read prompts.
        raw = load_predictor(tmp, TORCH_ENGINE).raw_proba(validation_texts(val))
        calibration = calibrate_saved(raw, val, labels, params.target_false_flag_rate)
        info = save_model_info(tmp, "lora", labels, settings, **fields,
                               calibration=calibration)
        # The model that serves: ONNX int8, checked against fp32 on the same validation answers
        # (not computed again) and calibrated on its own (components.training.export); a shortfall fails
        # the step.
        info = export_model(tmp, validation_texts(val), val["label_id"].to_numpy(),
                            params.export, reference=raw)
        (tmp / REPORT_FILE).write_text(plots.training_report("lora-train", info, tmp / CURVES_FILE))
    return info


def calibrate_saved(raw: np.ndarray, val: pd.DataFrame, labels: Sequence[str],
                    target_false_flag_rate: float) -> dict[str, Any]:
    """Temperature and threshold of a saved guard model from its own uncalibrated validation
    answers `raw` (the reloaded directory's, the prompts read as the model reads them:
    components.core.reading); {} without a Safe class."""
    from components.core.calibration import safe_columns

    if not safe_columns(labels):
        return {}
    calibration = guard_calibration(raw, val["label_id"].to_numpy(), labels,
                                    target_false_flag_rate)
    log.info("lora calibration on validation: temperature %.3f, threshold %.4f on P(unsafe) -> "
             "false-flag rate %.4f, unsafe recall %.4f", calibration["temperature"],
             calibration["threshold"], calibration["val"]["false_flag_rate"] or 0,
             calibration["val"]["unsafe_recall"] or 0)
    return calibration


def _history(log_history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-epoch curves from the Trainer's log history."""
    out: dict[str, list[float]] = {"train_loss": [], "eval_loss": [], "eval_accuracy": [],
                                   "eval_macro_f1": []}
    for entry in log_history:
        if "loss" in entry:
            out["train_loss"].append(float(entry["loss"]))
        if "eval_macro_f1" in entry:
            for k in ("eval_loss", "eval_accuracy", "eval_macro_f1"):
                out[k].append(float(entry[k]))
    return out
