"""Guard InferenceService: Llama Guard 3 safety assessment, or the lora classifiers offline.

    python -m serving.guard --model_dir meta-llama/Llama-Guard-3-1B      # Llama Guard (dir or hub id)
    python -m serving.guard --classifier_dir DIR                         # offline: prompt model
    python -m serving.guard --classifier_dir DIR --response_classifier_dir DIR2   # + replies
    python -m serving.guard --classifier_dir DIR --engine torch          # ... on torch fp32

The last turn decides what is judged, as in Llama Guard: a user message is judged as a prompt,
an assistant's reply as a reply in the context of its prompt (and earlier turns); only the last
turn is judged. Offline, a prompt goes to the prompt model and a reply to the response model
(`--response_classifier_dir`, trained by `pipeline.py run-response`): a refusal is safe. A guard
without a response model answers a reply `safe: null` with the reason: it never judges a reply
with the prompt model.

Input (v1): `{"instances": ["user message", {"user": "...", "assistant": "..."},
{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."},
...]}, ...]}`: a string is a user message; `user`/`assistant` one exchange (without `assistant`
the user message is judged); `messages` a whole conversation, roles alternating from the user's.
Output (v1): `{"predictions": [{"safe": bool | null, "categories": ["S1", ...],
"category_names": [...], "backend": "llama-guard" | "lora-classifier", "judged": "prompt" |
"response", ...}]}` (+ `refused` for a reply judged by the response model); `safe` is null and
`error` or `reason` says why when the guard gives no verdict.
v2: BYTES inputs `user` [N], optional `assistant` [N] ("" = no reply) and optional `history`
[N] (the earlier turns of each row as a JSON list of {"role", "content"}; "" = none); BYTES
outputs `verdict` ("safe" / "unsafe" / "error"), `categories` (comma-separated codes), `error`,
`judged` ("prompt" / "response"), `refused` ("true" / "false" / "" when not known), and FP32
`unsafe_score` (NaN when the backend has none); parameter `backend`.

Concurrent requests are merged into one backend call by `serving.batching.MicroBatcher`
(`--max_batch_size`, `--max_batch_wait_ms`), as on the classifier servers.

This module is the KServe model and its CLI; the parts: `serving.guard_request` (conversations
and request parsing), `serving.guard_llama` (the Llama Guard backend), `serving.guard_classifier`
(the offline backend), `serving.llama_guard` (the Llama Guard 3 prompt, taxonomy and parser).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest

from components.core.contract import DEPLOYMENT_ENV
from components.core.errors import ModelDirError, ResourceMissingError
from components.core.predict import ENGINES
from serving import common
from serving.batching import BatchSettings, MicroBatcher, add_batch_arguments
from serving.classifier import WARMUP_TEXTS
from serving.guard_classifier import (
    THRESHOLD,
    UNREADABLE_POLICIES,
    ClassifierGuardBackend,
    RoutingBackend,
)
from serving.guard_llama import (
    BATCH_SIZE,
    LLAMA_GUARD_BACKEND,
    MAX_NEW_TOKENS,
    MAX_PROMPT_TOKENS,
    LlamaGuardBackend,
)
from serving.guard_request import (
    PROMPT,
    RESPONSE,
    Conversation,
    GuardBackend,
    parse_conversations_v1,
    parse_conversations_v2,
)
from serving.llama_guard import Verdict, check_categories

log = logging.getLogger("serving.guard")  # not "__main__" under python -m

SERVER = "guard"
FULL_GUARD_COMMAND = "make run-guard"
# Which guard answers, from the model directory (`guard_identity`): kind -> what it is called.
GUARD_KINDS = {"quick": "quick guard", "full": "full guard",
               "seed-classifier": "seed classifier (reads prompts poorly)",
               "classifier": "classifier", "llama-guard": "Llama Guard"}
MAX_INSTANCES = 32  # a guard LLM is slow: smaller batches than the classifiers


def guard_identity(card: dict[str, Any], model_dir: str | None) -> dict[str, Any]:
    """Which guard a classifier model directory is, for people: kind ("quick": built by
    components.training.quick_guard; "full": a `make run-guard` run's model; "seed-classifier": the seed
    pipeline's model; "classifier": another directory), its run id (the pipeline run directory,
    or the quick guard's cache directory), when it was trained, and the command that builds the
    full guard when this is not it.

    Args:
        card: the model card (model_info.json + trained_at).
        model_dir: the model directory.
    """
    from pathlib import Path

    from serving.launch_plan import GUARD_RUN_PREFIX, RUN_PREFIX

    path = Path(model_dir).resolve() if model_dir else None
    run = path.parents[1].name if path is not None and len(path.parents) > 1 else ""
    if card.get("guard_kind") == "quick":
        kind, run = "quick", path.name if path is not None else ""
    elif run.startswith(GUARD_RUN_PREFIX):
        kind = "full"
    elif run.startswith(RUN_PREFIX):
        kind = "seed-classifier"
    else:
        kind, run = "classifier", path.name if path is not None else ""
    identity = {"kind": kind, "label": GUARD_KINDS[kind], "run_id": run,
                "trained_at": card.get("built_at") or card.get("trained_at"),
                "model_type": card.get("model_type"), "base_model": card.get("base_model")}
    if kind != "full":
        identity["full_guard_command"] = FULL_GUARD_COMMAND
    return identity


def deployment_card(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The guard pipeline's deployment card (run, gate figures, sources and their licences),
    which its deploy step puts in the container's environment (DEPLOYMENT_ENV); None when the
    guard was not rolled out by the pipeline.

    Raises:
        ValueError: the variable is set but does not hold a JSON object.
    """
    text = (os.environ if environ is None else environ).get(DEPLOYMENT_ENV)
    if text is None:
        return None
    try:
        card = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{DEPLOYMENT_ENV} is not JSON ({exc}): {text[:80]!r}") from exc
    if not isinstance(card, dict):
        raise ValueError(f"{DEPLOYMENT_ENV} must hold a JSON object, got {type(card).__name__}")
    return card


# --------------------------------------------------------------------------- the model
class GuardModel(common.ServingModel):
    """KServe model answering the Llama Guard 3 contract with a pluggable backend."""

    INPUTS = (common.TensorSpec("user", "BYTES"), common.TensorSpec("assistant", "BYTES"),
              common.TensorSpec("history", "BYTES"))
    OUTPUTS = (common.TensorSpec("verdict", "BYTES"), common.TensorSpec("categories", "BYTES"),
               common.TensorSpec("unsafe_score", "FP32"), common.TensorSpec("error", "BYTES"),
               common.TensorSpec("judged", "BYTES"), common.TensorSpec("refused", "BYTES"))

    def __init__(self, name: str, backend_loader: Any,
                 limits: common.RequestLimits | None = None, batch: BatchSettings | None = None,
                 deployment: Mapping[str, Any] | None = None):
        """Args:
            name: model name on the endpoints.
            backend_loader: a GuardBackend, or a zero-argument callable returning one (called
                by load()).
            limits: request limits.
            batch: how concurrent requests are merged into one backend call.
            deployment: the rollout's deployment card (`deployment_card`), shown by
                model_info().
        """
        super().__init__(name, limits or common.RequestLimits(max_instances=MAX_INSTANCES))
        self.deployment = dict(deployment) if deployment is not None else None
        self._loader = backend_loader
        self.batch_settings = batch or BatchSettings()
        self.backend: GuardBackend | None = None
        self.batcher: MicroBatcher | None = None

    def load(self) -> bool:
        self.backend = self._loader() if callable(self._loader) else self._loader
        self.batcher = MicroBatcher(self.infer, self.batch_settings, self.name)
        # one verdict before ready: the model's first call, the homoglyph table and the
        # language model load now, not during the first request (seconds on a busy node)
        warm = [Conversation(user=text) for text in WARMUP_TEXTS]
        if isinstance(self.backend, RoutingBackend) and self.backend.response is not None:
            warm += [Conversation(user=WARMUP_TEXTS[0], assistant=text) for text in WARMUP_TEXTS]
        self.infer(warm)
        self.ready = True
        return self.ready

    def parse_v1(self, payload: Any) -> list[Conversation]:
        return parse_conversations_v1(payload, self.limits)

    def parse_v2(self, request: InferRequest) -> list[Conversation]:
        return parse_conversations_v2(request, self.limits)

    def infer(self, items: list[Conversation]) -> list[Verdict]:
        """The backend's verdicts, each saying what it judged (the last turn decides) and the
        script and language of that turn."""
        assert self.backend is not None, "load() first"
        from components.core.language import identify

        verdicts = self.backend.assess(items)
        out = []
        for item, verdict in zip(items, verdicts, strict=True):
            lang = identify(item.assistant if item.assistant is not None else item.user)
            out.append(dataclasses.replace(verdict, judged=item.judged, script=lang.script,
                                           language=lang.language,
                                           language_confidence=lang.confidence))
        return out

    async def predict(self, payload: common.Batch, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> common.Batch:
        """Verdicts through the micro-batcher: concurrent requests share one backend call."""
        return dataclasses.replace(payload, results=await self.batcher.submit(payload.items))

    def model_info(self) -> dict[str, Any]:
        """`GET /v2/models/guard/info`: the backend and which model judges each kind of turn
        (`judges`); for the classifier backend the prompt model's card (model_info.json:
        calibration, scripts, base model; training date; test metrics) with the threshold and
        unreadable policy in force, and the response model's the same way (`response_model`);
        `guard`: which guard this is; `deployment`: the guard pipeline's rollout (run id, the
        figures its gate saw, the data sources and their licences)."""
        backend = self.backend
        info: dict[str, Any] = {"backend": getattr(backend, "name", None)}
        if isinstance(backend, ClassifierGuardBackend):
            backend = RoutingBackend(backend, None) if backend.task == PROMPT else \
                RoutingBackend(None, backend)
        if isinstance(backend, RoutingBackend):
            info["judges"] = {task: f"{task} model" if backend.backend_for(task) else None
                              for task in (PROMPT, RESPONSE)}
            if backend.prompt is not None:
                info.update(_card(backend.prompt))
                info["guard"] = guard_identity(info, backend.prompt.model_dir)
            info["backend"] = backend.name  # model_info's own keys must not hide it
            info["response_model"] = (_card(backend.response) if backend.response is not None
                                      else None)
        elif isinstance(backend, LlamaGuardBackend):
            info["judges"] = {PROMPT: backend.name, RESPONSE: backend.name}
            info["guard"] = {"kind": "llama-guard", "label": GUARD_KINDS["llama-guard"],
                             "model": getattr(backend.model, "name_or_path", None)}
        elif backend is not None:
            info["judges"] = {PROMPT: backend.name, RESPONSE: backend.name}
        if self.deployment is not None:
            info["deployment"] = self.deployment
            if isinstance(info.get("guard"), dict):  # rolled out by the guard pipeline
                info["guard"].update(kind="full", label=GUARD_KINDS["full"],
                                     run_id=self.deployment.get("run_name")
                                     or self.deployment.get("run_id"))
                info["guard"].pop("full_guard_command", None)
        return info

    def v1_prediction(self, result: Verdict) -> dict[str, Any]:
        return result.to_dict(self.backend.name)

    def v2_outputs(self, results: list[Verdict]) -> list[InferOutput]:
        verdicts = ["error" if r.safe is None else "safe" if r.safe else "unsafe"
                    for r in results]
        scores = np.array([math.nan if r.unsafe_score is None else r.unsafe_score
                           for r in results], dtype=np.float32)
        refused = ["" if r.refused is None else str(r.refused).lower() for r in results]
        return [common.bytes_output("verdict", verdicts),
                common.bytes_output("categories", [",".join(r.categories) for r in results]),
                common.fp32_output("unsafe_score", scores),
                common.bytes_output("error", [r.error or r.reason or "" for r in results]),
                common.bytes_output("judged", [r.judged or "" for r in results]),
                common.bytes_output("refused", refused)]

    def v2_parameters(self, results: list[Verdict]) -> dict[str, Any]:
        return {"backend": self.backend.name}


def _card(backend: ClassifierGuardBackend) -> dict[str, Any]:
    """A classifier backend's model card with the threshold and unreadable policy in force."""
    from serving.classifier import model_card

    info = model_card(getattr(backend.predictor, "info", {}), backend.model_dir, "lora")
    return {**info, "threshold": backend.threshold, "unreadable": backend.unreadable_policy,
            "excluded_categories": list(backend.excluded_categories),
            "engine": getattr(backend.predictor, "engine", None)}


# --------------------------------------------------------------------------- CLI
def build_parser():
    """`python -m serving.guard` flags: serving.common's plus the backend choice."""
    parser = common.build_parser(
        SERVER, "Guard model server (Llama Guard 3 contract).", model_dir_required=False,
        model_dir_help="Llama Guard model: local directory or hub id "
                       "(e.g. meta-llama/Llama-Guard-3-1B); selects the llama-guard backend",
        max_instances=MAX_INSTANCES)
    parser.add_argument("--classifier_dir", default=None,
                        help="lora classifier directory of the pipeline: the offline backend's "
                             "prompt model (`make run-guard`)")
    parser.add_argument("--response_classifier_dir", default=None,
                        help="the offline backend's response model (`make run-response`): it "
                             "judges assistant replies; without it a reply gets safe null")
    parser.add_argument("--response_threshold", type=float, default=None,
                        help="response model: unsafe when P(unsafe) >= threshold (default: "
                             "the threshold saved with the model)")
    parser.add_argument("--backend", choices=["auto", LLAMA_GUARD_BACKEND, "classifier"],
                        default="auto",
                        help="auto: llama-guard when --model_dir is given, else classifier")
    parser.add_argument("--threshold", type=float, default=None,
                        help="classifier backend: unsafe when P(unsafe) >= threshold "
                             f"(default: the threshold saved with the model, else {THRESHOLD})")
    parser.add_argument("--unreadable", choices=UNREADABLE_POLICIES, default="abstain",
                        help="classifier backend, a text the model cannot read (empty after "
                             "cleaning, unknown script): abstain = safe null with the reason; "
                             "unsafe = block it")
    parser.add_argument("--max_new_tokens", type=common._positive_int, default=MAX_NEW_TOKENS,
                        help="llama-guard backend: most tokens generated per answer (it stops "
                             "at EOS); the default fits a verdict listing all 14 categories")
    parser.add_argument("--max_prompt_tokens", type=common._positive_int,
                        default=MAX_PROMPT_TOKENS,
                        help="llama-guard backend: longer prompts are refused (400)")
    parser.add_argument("--batch_size", type=common._positive_int, default=BATCH_SIZE,
                        help="llama-guard backend: conversations per generate() call")
    parser.add_argument("--exclude_categories", default="",
                        help="comma-separated hazard codes left out of the policy (e.g. S14 "
                             "for Llama-Guard-3-1B; S6 on a clinical product, S12 on an adult "
                             "one): llama-guard leaves them out of its prompt, the classifier "
                             "counts their probability as safe; never reported")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="classifier backend: onnx = the directory's ONNX int8 export on "
                             "ONNX Runtime, torch = its fp32 weights, auto = onnx when the "
                             "directory has its export (a broken one stops the server)")
    parser.add_argument("--threads", type=int, default=0,
                        help="classifier backend: intra-op threads of the engine (0: "
                             "$ORT_NUM_THREADS / $TORCH_NUM_THREADS, else the container's CPUs)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_batch_arguments(parser, BatchSettings(), what="conversations")
    return parser


def make_backend(args: Any) -> GuardBackend:
    """The backend chosen by the command line.

    Raises:
        ModelDirError: the chosen model cannot be loaded.
        ValueError: the flags do not name a usable backend.
    """
    excluded = check_categories(args.exclude_categories.split(","))
    backend = args.backend
    if backend == "auto":
        backend = LLAMA_GUARD_BACKEND if args.model_dir else "classifier"
    if backend == LLAMA_GUARD_BACKEND:
        if not args.model_dir:
            raise ValueError("--backend llama-guard needs --model_dir (directory or hub id)")
        if args.response_classifier_dir:
            raise ValueError("--response_classifier_dir is for the classifier backend: Llama "
                             "Guard judges replies itself")
        return LlamaGuardBackend.load(
            args.model_dir, device=args.device, max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size, max_prompt_tokens=args.max_prompt_tokens,
            excluded_categories=excluded)
    if not args.classifier_dir and not args.response_classifier_dir:
        raise ValueError("no guard model: give --model_dir (Llama Guard directory or hub id) "
                         "or --classifier_dir (the pipeline's lora classifier directory)")
    engine = {"engine": args.engine, "threads": args.threads or None}
    prompt = (ClassifierGuardBackend.load(args.classifier_dir, threshold=args.threshold,
                                          unreadable=args.unreadable,
                                          excluded_categories=excluded, **engine)
              if args.classifier_dir else None)
    if not args.response_classifier_dir:
        return prompt  # a prompt model alone answers a reply safe null itself
    response = ClassifierGuardBackend.load(args.response_classifier_dir,
                                           threshold=args.response_threshold,
                                           unreadable=args.unreadable,
                                           excluded_categories=excluded, **engine)
    return RoutingBackend(prompt, response)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, load the backend, serve until SIGTERM/SIGINT."""
    parser = build_parser()
    args = common.parse_args(parser, argv)
    common.configure_logging(args.log_level)
    try:
        batch = BatchSettings(args.max_batch_size, args.max_batch_wait_ms)
        deployment = deployment_card()
        backend = make_backend(args)
    except (ModelDirError, ResourceMissingError, ValueError, ImportError) as exc:
        log.error("cannot start the guard server: %s", exc)
        return 2
    model = GuardModel(args.model_name, backend, common.limits_from_args(args), batch,
                       deployment=deployment)
    model.load()
    log.info("guard backend: %s%s", backend.name, f" (pipeline run {deployment.get('run_id')})"
             if deployment else "")
    common.serve_from_args([model], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
