"""The guard's offline backend: the pipeline's classifiers (a prompt model, a response model)
mapped onto the Llama Guard 3 taxonomy, and the routing of each turn to the model for it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from components.core.calibration import (
    SAFE_LABEL,
    p_unsafe,
    refusal_decisions,
    refusal_index,
    safe_columns,
    safe_index,
)
from components.core.conversation import render as render_conversation
from components.core.errors import ModelDirError
from components.core.predict import Predictor
from serving.guard_request import PROMPT, RESPONSE, Conversation
from serving.llama_guard import HAZARD_CATEGORIES, Verdict, check_categories

log = logging.getLogger("serving.guard")

CLASSIFIER_BACKEND = "lora-classifier"
QUICK_BACKEND = "quick-guard"  # the classifier backend on a quick guard (components.training.quick_guard)
THRESHOLD = 0.5  # classifier backend without a saved calibration: unsafe when P(not Safe) >= this
# What the classifier backend answers for a text its model cannot read: "abstain" = safe null
# with the reason (the caller decides), "unsafe" = block it (safe false, with the reason).
UNREADABLE_POLICIES = ("abstain", "unsafe")
# Classifier classes (lower-cased) that name a Llama Guard 3 hazard: the hazard names (the
# prompt guard's classes) and the seed dataset's; other non-safe classes ("unsafe",
# "Unknown S-Type", "other") are unsafe without a specific code.
CLASS_TO_CATEGORY: dict[str, str] = {name.lower(): code
                                     for code, name in HAZARD_CATEGORIES.items()}
NO_RESPONSE_MODEL = ("this guard has no response model (start it with "
                     "--response_classifier_dir): a reply is not judged by the prompt model")
NO_PROMPT_MODEL = "this guard has no prompt model (--classifier_dir): a prompt is not judged"


class ClassifierGuardBackend:
    """The pipeline's text classifier as a guard, mapped onto the Llama Guard 3 taxonomy.

    Unsafe when P(unsafe) >= threshold, P(unsafe) being 1 - P(the classes that count as safe)
    (components.core.calibration: Safe, and Refusal for a response model): the threshold saved
    with the model (chosen on validation for a target false-flag rate, probabilities
    temperature-calibrated), else THRESHOLD. The hazard code is that of the most probable
    unsafe class when it has one (CLASS_TO_CATEGORY); other classes are unsafe without a code.
    Excluded categories (a deployment's policy, e.g. S6 on a clinical product, S12 on an adult
    one) are out of the policy: their probability counts as safe when the verdict is made, and
    their code is never reported.

    A model judges one kind of turn (`task`): a prompt model (no Refusal class) the user's
    message, a response model (a Refusal class) the assistant's reply, read in the context of
    the conversation before it (components.core.conversation); its verdicts also say whether the
    reply reads as a refusal (`refused`). A turn of the other kind is not judged (`safe` null
    with the reason): `RoutingBackend` sends each turn to the model for it. A text the model
    cannot read (nothing left after cleaning, a script it was not trained on) is never answered
    safe: `safe` null with the reason, or unsafe with `unreadable="unsafe"`.
    """

    name = CLASSIFIER_BACKEND

    def __init__(self, predictor: Predictor, threshold: float | None = None,
                 unreadable: str = "abstain", excluded_categories: Sequence[str] = ()):
        if threshold is None:
            threshold = getattr(predictor, "threshold", None) or THRESHOLD
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if unreadable not in UNREADABLE_POLICIES:
            raise ValueError(f"unreadable must be one of {UNREADABLE_POLICIES}, got {unreadable!r}")
        self.unreadable_policy = unreadable
        self.model_dir: str | None = None  # set by load()
        labels = list(predictor.labels)
        if safe_index(labels) is None:
            raise ModelDirError(f"a guard classifier needs exactly one {SAFE_LABEL!r} class "
                                f"(case-insensitive), this one has labels {labels}")
        self.predictor = predictor
        self.threshold = threshold
        self.labels = labels
        self.safe_index = safe_index(labels)
        self.safe_columns = safe_columns(labels)  # Safe (and Refusal): P(unsafe) = 1 - these
        self.task = PROMPT if refusal_index(labels) is None else RESPONSE
        self.codes = [CLASS_TO_CATEGORY.get(label.strip().lower()) for label in labels]
        self.excluded_categories = check_categories(excluded_categories)
        self._counted = np.array([i not in self.safe_columns
                                  and code not in self.excluded_categories
                                  for i, code in enumerate(self.codes)])
        unmapped = [label for i, (label, code) in enumerate(zip(labels, self.codes, strict=True))
                    if code is None and i not in self.safe_columns]
        if unmapped:
            log.info("classifier classes without a hazard code (unsafe, no category): %s",
                     unmapped)

    @classmethod
    def load(cls, model_dir: str, threshold: float | None = None,
             unreadable: str = "abstain",
             excluded_categories: Sequence[str] = (), engine: str = "auto",
             threads: int | None = None) -> ClassifierGuardBackend:
        """Load the lora classifier directory written by the pipeline.

        Args:
            model_dir: the model directory (its saved threshold is used unless `threshold`:
                the one calibrated for the engine that serves).
            threshold: override of the threshold on P(unsafe).
            unreadable: "abstain" or "unsafe" (see the class).
            excluded_categories: hazard codes left out of the policy (see the class).
            engine: "onnx" (ONNX Runtime, the int8 export), "torch" (fp32) or "auto" (onnx
                when the directory has its export).
            threads: intra-op threads of the engine (None: from the environment / the CPUs).

        Raises:
            ModelDirError: the directory is not a usable classifier (or its ONNX file is
                missing, truncated or another model's).
        """
        from components.core.predict import load_predictor

        predictor = load_predictor(model_dir, engine, threads=threads)
        backend = cls(predictor, threshold, unreadable, excluded_categories)
        backend.model_dir = model_dir
        if getattr(predictor, "info", {}).get("guard_kind") == "quick":
            backend.name = QUICK_BACKEND
        log.info("loaded classifier guard (%s model) from %s (engine %s, labels %s, threshold "
                 "%.4f%s, unreadable texts: %s, excluded categories: %s)", backend.task,
                 model_dir, getattr(predictor, "engine", "?"), predictor.labels,
                 backend.threshold, "" if threshold is not None
                 else " saved with the model" if getattr(predictor, "threshold", None)
                 else " default", unreadable, ",".join(backend.excluded_categories) or "none")
        return backend

    def text_of(self, conversation: Conversation) -> str:
        """What the model reads: the user's message (prompt model), or the conversation
        rendered as one text, the reply after its context (response model)."""
        if self.task == PROMPT:
            return conversation.user
        return render_conversation(conversation.turns())

    def assess(self, conversations: Sequence[Conversation]) -> list[Verdict]:
        ours = [c.judged == self.task for c in conversations]
        own = [c for c, mine in zip(conversations, ours, strict=True) if mine]
        texts = [self.text_of(c) for c in own]
        check = getattr(self.predictor, "unreadable", None)
        # the judged turn must be readable (a reply in a script the model never saw is not
        # assessed from its English prompt)
        judged = [c.user if self.task == PROMPT else c.assistant for c in own]
        reasons = check(judged) if check else [None] * len(texts)
        readable = [t for t, r in zip(texts, reasons, strict=True) if r is None]
        probs = np.zeros((0, len(self.labels)))
        if readable:
            probs = np.asarray(self.predictor.predict_proba(readable), dtype=np.float64)
        if probs.shape != (len(readable), len(self.labels)):
            raise RuntimeError(f"classifier returned probabilities of shape {probs.shape}, "
                               f"expected {(len(readable), len(self.labels))}")
        rows = iter(probs)
        verdicts = iter([self.verdict(next(rows)) if r is None else self.unreadable_verdict(r)
                         for r in reasons])
        return [next(verdicts) if mine else self.not_ours_verdict() for mine in ours]

    def not_ours_verdict(self) -> Verdict:
        """A turn this model does not judge: no verdict, with the reason."""
        if self.task == PROMPT:
            return Verdict(safe=None, reason=NO_RESPONSE_MODEL)
        return Verdict(safe=None, reason="this is a response model: it judges assistant replies, "
                                         "not user prompts (" + NO_PROMPT_MODEL + ")")

    def unreadable_verdict(self, reason: str) -> Verdict:
        """Never "safe": abstain (safe null) or block, with the reason either way."""
        return Verdict(safe=None if self.unreadable_policy == "abstain" else False,
                       reason=f"cannot assess: {reason}")

    def verdict(self, probs: np.ndarray) -> Verdict:
        """The verdict for one row of class probabilities: P(unsafe) is the probability of the
        classes the policy counts (not Safe or Refusal, not an excluded category)."""
        score = float(np.sum(probs[self._counted])) if self.excluded_categories \
            else float(p_unsafe(probs, self.safe_columns))
        refused = None
        if self.task == RESPONSE:
            refused = bool(refusal_decisions(probs[None, :], self.labels, self.threshold,
                                             scores=np.array([score]))[0])
        if score < self.threshold:
            best_safe = max(self.safe_columns, key=lambda i: probs[i])
            return Verdict(safe=True, unsafe_score=round(score, 6), label=self.labels[best_safe],
                           refused=refused)
        masked = np.where(self._counted, probs, -1.0)
        top = int(np.argmax(masked))
        code = self.codes[top]
        return Verdict(safe=False, categories=(code,) if code else (),
                       unsafe_score=round(score, 6), label=self.labels[top], refused=refused)


class RoutingBackend:
    """The offline guard with a model per kind of turn: the last turn decides, a user message
    goes to the prompt model, an assistant's reply to the response model. A kind without a
    model is not judged (`safe` null with the reason), never by the other model.

    Args:
        prompt: the prompt model's backend, or None.
        response: the response model's backend, or None.

    Raises:
        ValueError: neither is given.
        ModelDirError: a model given for the other kind of turn.
    """

    def __init__(self, prompt: ClassifierGuardBackend | None,
                 response: ClassifierGuardBackend | None):
        if prompt is None and response is None:
            raise ValueError("a routing guard needs a prompt model, a response model or both")
        for backend, task, flag in ((prompt, PROMPT, "--classifier_dir"),
                                    (response, RESPONSE, "--response_classifier_dir")):
            if backend is not None and backend.task != task:
                raise ModelDirError(
                    f"{flag} {backend.model_dir or ''}: expected a {task} model, this one is a "
                    f"{backend.task} model (labels {backend.labels}); a response model has a "
                    "Refusal class, a prompt model has none")
        self.prompt, self.response = prompt, response
        # the prompt model's backend name (a quick guard's, or the lora classifier's)
        self.name = (prompt or response).name

    def backend_for(self, task: str) -> ClassifierGuardBackend | None:
        return self.prompt if task == PROMPT else self.response

    def assess(self, conversations: Sequence[Conversation]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(conversations)
        for task, missing in ((PROMPT, NO_PROMPT_MODEL), (RESPONSE, NO_RESPONSE_MODEL)):
            idx = [i for i, c in enumerate(conversations) if c.judged == task]
            if not idx:
                continue
            backend = self.backend_for(task)
            verdicts = (backend.assess([conversations[i] for i in idx]) if backend is not None
                        else [Verdict(safe=None, reason=missing)] * len(idx))
            for i, v in zip(idx, verdicts, strict=True):
                out[i] = v
        return out

