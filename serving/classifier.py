"""The lstm and lora classifier servers: one KServe model class over the pipeline's predictors.

    python -m serving.lstm --model_dir .../lstm-train/model     # 127.0.0.1:8001
    python -m serving.lora --model_dir .../lora-train/model     # 127.0.0.1:8002

A model directory written by the pipeline (`components.training.lstm_train` / `components.training.lora_train`)
carries its labels and text settings (model_info.json); the predictors apply the training-time
text preprocessing (`components.core.text`) and the LoRA adapter is merged into its base model.

v1: `{"instances": ["text", ...]}` or objects keyed by the model's text columns,
`{"instances": [{"query": "...", "image descriptions": "..."}]}` (joined as in training), ->
`{"predictions": [{"label": "...", "probabilities": {"<class>": p, ...}}, ...]}`.
v2: BYTES input `text` [N] (or [N, 1]) -> BYTES output `label` [N] and FP32 `probabilities`
[N, C] (columns in the order of the response parameter `labels`, a JSON list).

Explain (v1 only): `POST /v1/models/<name>:explain` with the same instances ->
`{"predictions": [...], "explanations": [{"label", "probability", "text", "words": [{"word",
"start", "end", "attribution", "unsafe_attribution"}, ...], "words_total", "method":
"occlusion"}]}`: each word's attribution is how much the predicted class's probability drops
when that word is removed, and (models with a Safe class) its unsafe_attribution how much
P(unsafe) drops (word occlusion, all variants in the same batched forward pass).
`GET /v2/models/<name>/info`: the model directory's model_info.json, its training date and the
pipeline's test metrics when the run's evaluate summary is beside it.

Concurrent requests are merged into one forward pass by `serving.batching.MicroBatcher`
(`--max_batch_size`, `--max_batch_wait_ms`); the forward pass runs in a worker thread.

lora engines (`--engine`): the directory's ONNX int8 export on ONNX Runtime (no torch or
transformers imported) or the merged fp32 weights on torch; `auto` takes ONNX when the directory
has it (components.core.predict.load_predictor). `/v2/models/<name>/info` says which (`engine`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest

from components.core.errors import ModelDirError, ResourceMissingError
from components.core.model_info import MODEL_INFO
from components.core.predict import ENGINES, Predictor
from components.core.text import TextSettings, join_fields
from serving import common
from serving.batching import BatchSettings, MicroBatcher, add_batch_arguments

log = logging.getLogger("serving.classifier")

INPUT = "text"
LABEL_OUTPUT = "label"
PROBA_OUTPUT = "probabilities"
# Per server: the LSTM forward pass is ~2 ms, so it never waits for company (it still merges
# what queues up while a pass runs); the transformer waits up to 2 ms to fill a batch.
DEFAULT_BATCH: dict[str, BatchSettings] = {
    "lstm": BatchSettings(max_batch_size=64, max_wait_ms=0.0),
    "lora": BatchSettings(max_batch_size=32, max_wait_ms=2.0),
}
# lora: a merged batch runs as length-sorted forward passes of this many texts (less padding);
# the ONNX engine sorts by token count itself (components.core.predict.OnnxPredictor).
SUB_BATCH_SIZE = {"lstm": 0, "lora": 8}
# Warm-up before ready: the first calls trace/allocate, and the second text has a look-alike
# letter (a Cyrillic e) so that the homoglyph table is loaded before the first request too.
WARMUP_TEXTS = ("warm up the model", "a s\u0435cond text, so batch shapes are traced too")
# Explain: every word of a text is removed in turn, so a text of W words costs W + 1 forward
# texts. Words after the first MAX_EXPLAIN_WORDS get no attribution (the models truncate long
# texts anyway: 18 LSTM tokens, 48 lora tokens on the real data); at most MAX_EXPLAIN_INSTANCES
# texts per explain request.
MAX_EXPLAIN_WORDS = 128
MAX_EXPLAIN_INSTANCES = 8
EXPLAIN_METHOD = "occlusion"
# A word: letters/digits of any script, with an inner apostrophe ("don't").
_WORD_RE = re.compile(r"\w+(?:'\w+)*")
# Where the kfp.local pipeline writes the evaluate step's summary, relative to a model dir
# (<run>/<model>-train/model -> <run>/evaluate/summary).
EVALUATE_SUMMARY = Path("..") / ".." / "evaluate" / "summary"
# the response-guard pipeline's evaluate step (`pipeline.py run-response`)
RESPONSE_EVALUATE_SUMMARY = Path("..") / ".." / "evaluate-response" / "summary"


# --------------------------------------------------------------------------- pure helpers
def instance_text(item: Any, where: str, settings: TextSettings,
                  limits: common.RequestLimits) -> str:
    """The text of one v1 instance: a string, or an object keyed by the model's text columns.

    An object's values are joined in the model's column order with its separator, exactly as
    the pipeline built the training text (components.core.text.join_fields); missing, null and empty
    fields are skipped.

    Args:
        item: the instance.
        where: its position, for messages (e.g. "instances[2]").
        settings: the model's text settings (text_columns, separator).
        limits: request limits.

    Returns:
        The text.

    Raises:
        InvalidInput: not a string or object, unknown keys, non-string values, blank or too long.
    """
    if not isinstance(item, dict):
        if isinstance(item, str):
            return common.check_text(item, where, limits)
        columns = " or ".join(repr(c) for c in settings.text_columns)
        raise InvalidInput(f"{where}: expected a string or an object with keys {columns}, "
                           f"got {common.describe(item)}")
    columns = settings.text_columns
    unknown = [k for k in item if k not in columns]
    if unknown:
        raise InvalidInput(f"{where}: unknown key {unknown[0]!r}, expected keys among "
                           f"{', '.join(map(repr, columns))}")
    for key, value in item.items():
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{where}[{key!r}]: expected a string, got {common.describe(value)}")
    text = join_fields([item.get(c) for c in columns], settings.separator)
    if not text:
        raise InvalidInput(f"{where}: expected a non-empty text in at least one of "
                           f"{', '.join(map(repr, columns))}")
    return common.check_text(text, where, limits)


def length_sorted_chunks(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices of `texts` sorted by length, in chunks of `size`.

    A transformer pads a batch to its longest text: on the real prompts (median 26 tokens, max
    length 48) one padded batch of 32 costs more per text than length-sorted sub-batches of 8.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i:i + size] for i in range(0, len(order), size)]


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """The result for a text the model cannot read (components.core.text.unreadable_reason)."""

    reason: str


def prediction(labels: Sequence[str], probabilities: np.ndarray) -> dict[str, Any]:
    """One v1 prediction: the most probable label and every class probability."""
    return {"label": labels[int(np.argmax(probabilities))],
            "probabilities": {name: float(p) for name, p in zip(labels, probabilities, strict=True)}}


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the words of `text`, in order."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def without_span(text: str, start: int, end: int) -> str:
    """`text` with [start, end) removed, and a space next to it (no double space, no space
    before punctuation)."""
    before, after = text[:start], text[end:]
    if before.endswith(" ") and (not after or after[0] == " " or not after[0].isalnum()):
        before = before[:-1]
    elif not before and after.startswith(" "):
        after = after[1:]
    return before + after


def occlusion_texts(text: str, max_words: int = MAX_EXPLAIN_WORDS
                    ) -> tuple[list[tuple[int, int]], list[str]]:
    """The spans of the first `max_words` words and the text with each of them removed."""
    spans = word_spans(text)[:max_words]
    return spans, [without_span(text, start, end) for start, end in spans]


def explanation(text: str, spans: Sequence[tuple[int, int]], labels: Sequence[str],
                full: np.ndarray, occluded: Sequence[np.ndarray],
                words_total: int) -> dict[str, Any]:
    """Per-word attributions for the predicted class of one text.

    Args:
        text: the text that was classified.
        spans: (start, end) of each explained word.
        labels: class names, in the order of the probabilities.
        full: class probabilities of the whole text.
        occluded: class probabilities of the text without each word (one per span).
        words_total: how many words the text has (more than `spans` when it was cut).

    Returns:
        {"label", "probability", "text", "words": [{"word", "start", "end", "attribution"}],
        "words_total", "method"}; attribution = P(label | text) - P(label | text without the
        word): positive when the word pushes towards the label. With a Safe class, each word
        also has `unsafe_attribution` = P(unsafe | text) - P(unsafe | text without the word)
        (P(unsafe) = 1 - P(Safe)): positive when it pushes towards unsafe, whatever the label.
    """
    from components.core.calibration import safe_index

    top = int(np.argmax(full))
    p = float(full[top])
    safe = safe_index(labels)
    words = [{"word": text[start:end], "start": start, "end": end,
              "attribution": p - float(row[top])}
             for (start, end), row in zip(spans, occluded, strict=True)]
    if safe is not None:
        for word, row in zip(words, occluded, strict=True):
            word["unsafe_attribution"] = float(row[safe]) - float(full[safe])
    return {"label": labels[top], "probability": p, "text": text, "words": words,
            "words_total": words_total, "method": EXPLAIN_METHOD}


def model_card(info: dict[str, Any], model_dir: str | Path | None,
               model_type: str | None = None) -> dict[str, Any]:
    """What `GET /v2/models/<name>/info` answers: model_info.json plus the training date and
    the test metrics of the pipeline run the model came from, when they can be found (and for
    a response model its figures on the test split and the held-out groups: `response_metrics`).

    Args:
        info: the model's model_info.json.
        model_dir: its directory (None: unknown).
        model_type: the model's key in the evaluate summary (default: info["model_type"]).
    """
    card = dict(info)
    if model_dir is None:
        return card
    path = Path(model_dir) / MODEL_INFO
    if path.is_file() and "trained_at" not in card:
        mtime = path.stat().st_mtime
        card["trained_at"] = datetime.datetime.fromtimestamp(
            mtime, tz=datetime.UTC).isoformat(timespec="seconds")
    summary_path = Path(model_dir) / EVALUATE_SUMMARY
    if not summary_path.is_file():
        summary_path = Path(model_dir) / RESPONSE_EVALUATE_SUMMARY
    key = model_type or info.get("model_type")
    if summary_path.is_file() and "test_metrics" not in card:
        try:
            summary = json.loads(summary_path.read_text())
            metrics = summary["models"][key]
            card["test_metrics"] = {k: metrics[k] for k in ("accuracy", "macro_f1", "weighted_f1")
                                    if k in metrics}
            card["champion"] = summary.get("champion") == key
            if summary.get("response", {}).get(key):
                card["response_metrics"] = summary["response"][key]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("no test metrics from %s: %s", summary_path, exc)
    return card


@dataclasses.dataclass
class Explained:
    """What flows from explain to postprocess: one prediction and one explanation per text."""

    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]]


# --------------------------------------------------------------------------- model
class ClassifierModel(common.ServingModel):
    """A text classifier served over KServe v1/v2 with micro-batched forward passes.

    Args:
        name: model name in the URLs.
        load_predictor: returns the loaded predictor (called by `load()`).
        limits: request limits.
        batch: micro-batching settings.
        sub_batch_size: run a merged batch as length-sorted forward passes of this many texts
            (0: one forward pass).
        model_dir: the model directory, for `model_info()` (training date, test metrics).
        max_explain_words: explain at most this many words per text (the first ones).
        max_explain_instances: most texts per explain request.
    """

    INPUTS = (common.TensorSpec(INPUT, "BYTES", (-1,)),)

    def __init__(self, name: str, load_predictor: Callable[[], Predictor],
                 limits: common.RequestLimits | None = None, batch: BatchSettings | None = None,
                 sub_batch_size: int = 0, *, model_dir: str | None = None,
                 max_explain_words: int = MAX_EXPLAIN_WORDS,
                 max_explain_instances: int = MAX_EXPLAIN_INSTANCES):
        super().__init__(name, limits)
        self._load_predictor = load_predictor
        self.batch_settings = batch or BatchSettings()
        self.sub_batch_size = sub_batch_size
        self.model_dir = model_dir
        self.max_explain_words = max_explain_words
        self.max_explain_instances = max_explain_instances
        self.card: dict[str, Any] = {}
        self.predictor: Predictor | None = None
        self.labels: list[str] = []
        self.settings = TextSettings()
        self.batcher: MicroBatcher | None = None

    def load(self) -> bool:
        start = time.perf_counter()
        predictor = self._load_predictor()
        self.predictor = predictor
        self.labels = list(predictor.labels)
        self.settings = predictor.settings
        self.batcher = MicroBatcher(self.infer, self.batch_settings, self.name)
        for n in (1, 2):  # first calls trace/allocate: keep that out of the first requests
            predictor.predict_proba(list(WARMUP_TEXTS[:n]))
        info = getattr(predictor, "info", None) or {"labels": self.labels}
        self.card = model_card(info, self.model_dir)
        self.ready = True
        log.info("%s ready in %.1f s: %d classes %s, engine %s, batching %s", self.name,
                 time.perf_counter() - start, len(self.labels), self.labels,
                 getattr(predictor, "engine", "?"), self.batch_settings)
        return self.ready

    def get_output_types(self) -> list[dict[str, Any]]:
        # The class count is known once the model directory is loaded.
        return [common.TensorSpec(LABEL_OUTPUT, "BYTES", (-1,)).to_dict(),
                common.TensorSpec(PROBA_OUTPUT, "FP32", (-1, len(self.labels))).to_dict()]

    # -- parsing
    def parse_v1(self, payload: Any) -> list[str]:
        texts = [instance_text(item, f"instances[{i}]", self.settings, self.limits)
                 for i, item in enumerate(common.v1_instances(payload, self.limits))]
        common.check_total_chars(texts, self.limits)
        return texts

    def parse_v2(self, request: InferRequest) -> list[str]:
        return common.parse_text_tensor(request, INPUT, self.limits)

    # -- inference
    def infer(self, items: list[str]) -> list[np.ndarray]:
        """Probabilities [C] per text (runs in a worker thread).

        With `sub_batch_size`, the texts are sorted by length and run in sub-batches of that
        many, so each forward pass pads to a similar length (see `length_sorted_chunks`), unless
        the predictor does that itself, by token count (the ONNX engine).
        """
        if (not self.sub_batch_size or len(items) <= self.sub_batch_size
                or getattr(self.predictor, "sorts_by_length", False)):
            return list(self.predictor.predict_proba(items))
        results: list[np.ndarray] = [np.empty(0)] * len(items)
        for chunk in length_sorted_chunks(items, self.sub_batch_size):
            for i, row in zip(chunk, self.predictor.predict_proba([items[i] for i in chunk]),
                              strict=True):
                results[i] = row
        return results

    async def predict(self, payload: common.Batch, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> common.Batch:
        """Probabilities per text; a text the model cannot read (nothing left after cleaning,
        or a script it was not trained on) gets an `Unreadable` instead, never a class."""
        check = getattr(self.predictor, "unreadable", None)
        reasons = check(payload.items) if check else [None] * len(payload.items)
        readable = [t for t, r in zip(payload.items, reasons, strict=True) if r is None]
        probs = iter(await self.batcher.submit(readable) if readable else [])
        results = [next(probs) if r is None else Unreadable(r) for r in reasons]
        return dataclasses.replace(payload, results=results)

    async def explain(self, payload: common.Batch,
                      headers: dict[str, str] | None = None) -> Explained:
        """Word-occlusion attributions: each text and its one-word-removed variants run as one
        request through the micro-batcher (the same forward pass as predict)."""
        texts = payload.items
        if len(texts) > self.max_explain_instances:
            raise InvalidInput(f"too many instances to explain: {len(texts)}, this server "
                               f"explains at most {self.max_explain_instances} per request "
                               f"(each costs one forward text per word)")
        check = getattr(self.predictor, "unreadable", None)
        reasons = check(texts) if check else [None] * len(texts)
        batch: list[str] = []
        plans = []
        for text, reason in zip(texts, reasons, strict=True):
            if reason is not None:  # like predict: no class, hence nothing to attribute
                continue
            spans, variants = occlusion_texts(text, self.max_explain_words)
            plans.append((text, spans, len(batch), len(word_spans(text))))
            batch.append(text)
            # A variant with no word left (a one-word text) is the empty prompt: its
            # probabilities are the model's for a text without that word, like any variant.
            batch.extend(variants)
        probs = await self.batcher.submit(batch) if batch else []
        done = iter(plans)
        predictions, explanations = [], []
        for text, reason in zip(texts, reasons, strict=True):
            if reason is not None:
                predictions.append(self.v1_prediction(Unreadable(reason)))
                explanations.append({"label": None, "probability": None, "text": text,
                                     "words": [], "words_total": len(word_spans(text)),
                                     "method": EXPLAIN_METHOD, "readable": False,
                                     "reason": reason})
                continue
            _, spans, at, total = next(done)
            predictions.append(prediction(self.labels, probs[at]))
            explanations.append(explanation(text, spans, self.labels, probs[at],
                                            probs[at + 1:at + 1 + len(spans)], total))
        return Explained(predictions, explanations)

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> Any:
        if isinstance(result, Explained):
            return {"predictions": result.predictions, "explanations": result.explanations}
        return await super().postprocess(result, headers, response_headers)

    def model_info(self) -> dict[str, Any]:
        """The model's self-description (`GET /v2/models/<name>/info`)."""
        return self.card

    # -- answers
    def v1_prediction(self, result: np.ndarray | Unreadable) -> dict[str, Any]:
        if isinstance(result, Unreadable):
            return {"label": None, "probabilities": None, "readable": False,
                    "reason": result.reason}
        return prediction(self.labels, result)

    def v2_outputs(self, results: list[np.ndarray | Unreadable]) -> list[InferOutput]:
        nan_row = np.full(len(self.labels), np.nan, dtype=np.float32)
        probabilities = np.stack([nan_row if isinstance(r, Unreadable) else r for r in results])
        labels = ["" if isinstance(r, Unreadable) else self.labels[int(np.argmax(r))]
                  for r in results]
        return [common.bytes_output(LABEL_OUTPUT, labels),
                common.fp32_output(PROBA_OUTPUT, probabilities)]

    def v2_parameters(self, results: list[Any]) -> dict[str, Any]:
        unreadable = {i: r.reason for i, r in enumerate(results) if isinstance(r, Unreadable)}
        if unreadable:  # rows with label "" and NaN probabilities, and why
            return {"labels": json.dumps(self.labels), "unreadable": json.dumps(unreadable)}
        return {"labels": json.dumps(self.labels)}


# --------------------------------------------------------------------------- loaders
def lstm_model(model_dir: str, name: str = "lstm", limits: common.RequestLimits | None = None,
               batch: BatchSettings | None = None, **explain: int) -> ClassifierModel:
    """A ClassifierModel over an lstm-train model directory (not loaded yet).

    Args:
        model_dir: the model directory.
        name: model name.
        limits: request limits.
        batch: micro-batching settings.
        **explain: max_explain_words / max_explain_instances.
    """

    def load() -> Predictor:
        from components.core.predict import LstmPredictor

        return LstmPredictor.load(model_dir)

    return ClassifierModel(name, load, limits, batch or DEFAULT_BATCH["lstm"],
                           model_dir=model_dir, **explain)


def lora_model(model_dir: str, name: str = "lora", limits: common.RequestLimits | None = None,
               batch: BatchSettings | None = None, device: str | None = None,
               base_model: str | None = None, sub_batch_size: int = SUB_BATCH_SIZE["lora"],
               threads: int | None = None, engine: str = "auto",
               **explain: int) -> ClassifierModel:
    """A ClassifierModel over a lora-train model directory.

    Args:
        model_dir: the model directory.
        name: model name.
        limits: request limits.
        batch: micro-batching settings.
        device: torch: "cpu", "cuda", "cuda:N"; None: cuda when available (onnx: the CPU).
        base_model: torch, adapter-only directories: base model instead of model_info.json's.
        sub_batch_size: length-sorted forward passes of this many texts (0: one pass).
        threads: intra-op threads of the engine on the CPU (None: $ORT_NUM_THREADS /
            $TORCH_NUM_THREADS, else the container's CPUs).
        engine: "onnx", "torch" or "auto" (onnx when the directory has its export).
        **explain: max_explain_words / max_explain_instances.
    """

    def load() -> Predictor:
        from components.core.predict import ONNX_ENGINE, load_predictor, lora_engine

        if lora_engine(model_dir, engine) == ONNX_ENGINE:
            size = sub_batch_size or (batch or DEFAULT_BATCH["lora"]).max_batch_size
            return load_predictor(model_dir, ONNX_ENGINE, device=device, base_model=base_model,
                                  threads=threads, batch_size=size)
        return load_predictor(model_dir, engine, device=device, base_model=base_model,
                              threads=threads)

    return ClassifierModel(name, load, limits, batch or DEFAULT_BATCH["lora"], sub_batch_size,
                           model_dir=model_dir, **explain)


# --------------------------------------------------------------------------- CLI
def build_parser(server: str) -> argparse.ArgumentParser:
    """`python -m serving.<server>` flags: serving.common's plus batching (and lora's device).

    Args:
        server: "lstm" or "lora".
    """
    kind = "LSTM (TensorFlow/Keras)" if server == "lstm" else "LoRA transformer (merged adapter)"
    parser = common.build_parser(
        server, f"{kind} toxic-prompt classifier server (KServe v1 + v2).",
        model_dir_help=f"model directory written by the pipeline's {server}-train step "
                       f"(local_outputs/<run>/{server}-train/model)")
    batch = DEFAULT_BATCH[server]
    add_batch_arguments(parser, batch)
    parser.add_argument("--max_explain_words", type=common._positive_int,
                        default=MAX_EXPLAIN_WORDS,
                        help=":explain attributes the first this many words of a text (each "
                             "costs one more forward text)")
    parser.add_argument("--max_explain_instances", type=common._positive_int,
                        default=MAX_EXPLAIN_INSTANCES,
                        help="most texts per :explain request")
    if server == "lora":
        parser.add_argument("--device", default=None,
                            help="cpu, cuda or cuda:N (default: cuda when available)")
        parser.add_argument("--base_model", default=None,
                            help="base model (directory or hub id) instead of the one in "
                                 "model_info.json")
        parser.add_argument("--sub_batch_size", type=int, default=SUB_BATCH_SIZE[server],
                            help="run a merged batch as forward passes of this many texts, "
                                 "sorted by length so that little padding is computed (0: one "
                                 "forward pass per batch)")
        parser.add_argument("--engine", choices=ENGINES, default="auto",
                            help="onnx: the directory's ONNX int8 export on ONNX Runtime; torch: "
                                 "the merged fp32 weights; auto: onnx when the directory has "
                                 "its export (a broken one stops the server), else torch")
        parser.add_argument("--threads", "--torch_threads", dest="threads", type=int, default=0,
                            help="intra-op threads of the engine (0: $ORT_NUM_THREADS for "
                                 "onnx, $TORCH_NUM_THREADS for torch, else the container's CPU "
                                 "count from its cgroup quota)")
    return parser


def make_model(server: str, args: argparse.Namespace) -> ClassifierModel:
    """The (not yet loaded) model a parsed command line asks for."""
    limits = common.limits_from_args(args)
    batch = BatchSettings(args.max_batch_size, args.max_batch_wait_ms)
    explain = {"max_explain_words": args.max_explain_words,
               "max_explain_instances": args.max_explain_instances}
    if server == "lstm":
        return lstm_model(args.model_dir, args.model_name, limits, batch, **explain)
    return lora_model(args.model_dir, args.model_name, limits, batch, device=args.device,
                      base_model=args.base_model, sub_batch_size=args.sub_batch_size,
                      threads=args.threads or None, engine=args.engine, **explain)


def main(server: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m serving.lstm` / `serving.lora`: load, then serve until SIGTERM.

    Returns:
        2 when the model directory cannot be loaded (the reason is logged), else 0.
    """
    args = common.parse_args(build_parser(server), argv)
    common.configure_logging(args.log_level)
    model = make_model(server, args)
    try:
        model.load()
    except (ModelDirError, ResourceMissingError, OSError, ValueError) as exc:
        log.error("cannot start the %s server: %s", server, exc)
        return 2
    common.serve_from_args([model], args)
    return 0
