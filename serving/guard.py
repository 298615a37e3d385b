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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest

from components.calibration import (
    SAFE_LABEL,
    p_unsafe,
    refusal_decisions,
    refusal_index,
    safe_columns,
    safe_index,
)
from components.conversation import render as render_conversation
from components.errors import ModelDirError, ResourceMissingError
from components.kserve_spec import DEPLOYMENT_ENV
from components.predict import ENGINES, Predictor
from serving import common
from serving.batching import BatchSettings, MicroBatcher, add_batch_arguments
from serving.classifier import WARMUP_TEXTS
from serving.llama_guard import (
    HAZARD_CATEGORIES,
    PROMPT_CATEGORY_LABELS,
    Verdict,
    build_prompt,
    parse_output,
    template_prompt,
)

log = logging.getLogger("serving.guard")  # not "__main__" under python -m

SERVER = "guard"
LLAMA_GUARD_BACKEND = "llama-guard"
CLASSIFIER_BACKEND = "lora-classifier"
QUICK_BACKEND = "quick-guard"  # the classifier backend on a quick guard (components.quick_guard)
FULL_GUARD_COMMAND = "make run-guard"
# Which guard answers, from the model directory (`guard_identity`): kind -> what it is called.
GUARD_KINDS = {"quick": "quick guard", "full": "full guard",
               "seed-classifier": "seed classifier (reads prompts poorly)",
               "classifier": "classifier", "llama-guard": "Llama Guard"}
# The longest verdict, "\n\nunsafe\nS1,S2,...,S14", is 55 bytes (68 with ", "): at most as many
# tokens in Llama 3's byte-level BPE, + EOS. Generation stops at EOS: short verdicts cost no more.
MAX_NEW_TOKENS = 72
MAX_PROMPT_TOKENS = 8192  # longer conversations get 400 (the prompt must not be truncated)
BATCH_SIZE = 4  # conversations per generate() call
MAX_INSTANCES = 32  # a guard LLM is slow: smaller batches than the classifiers
THRESHOLD = 0.5  # classifier backend without a saved calibration: unsafe when P(not Safe) >= this
# What the classifier backend answers for a text its model cannot read: "abstain" = safe null
# with the reason (the caller decides), "unsafe" = block it (safe false, with the reason).
UNREADABLE_POLICIES = ("abstain", "unsafe")
# Classifier classes (lower-cased) that name a Llama Guard 3 hazard: the hazard names (the
# prompt guard's classes) and the seed dataset's; other non-safe classes ("unsafe",
# "Unknown S-Type", "other") are unsafe without a specific code.
CLASS_TO_CATEGORY: dict[str, str] = {name.lower(): code
                                     for code, name in HAZARD_CATEGORIES.items()}


PROMPT, RESPONSE = "prompt", "response"  # what a verdict judged (`Verdict.judged`)
ROLES = ("user", "assistant")
NO_RESPONSE_MODEL = ("this guard has no response model (start it with "
                     "--response_classifier_dir): a reply is not judged by the prompt model")
NO_PROMPT_MODEL = "this guard has no prompt model (--classifier_dir): a prompt is not judged"


@dataclasses.dataclass(frozen=True)
class Conversation:
    """What the guard assesses: a user message and, optionally, the assistant's reply, after
    any earlier turns.

    Attributes:
        user: the user's message (the last one).
        assistant: the assistant's reply to it, or None to assess the user message itself.
        history: the turns before `user`, (role, text) oldest first: context, never judged.
    """

    user: str
    assistant: str | None = None
    history: tuple[tuple[str, str], ...] = ()

    @property
    def judged(self) -> str:
        """The last turn decides: "response" with a reply, else "prompt"."""
        return PROMPT if self.assistant is None else RESPONSE

    def turns(self) -> list[tuple[str, str]]:
        """Every turn, (role, text) oldest first."""
        return [*self.history, ("user", self.user)] + (
            [("assistant", self.assistant)] if self.assistant is not None else [])


class GuardBackend(Protocol):
    """What answers for the guard: a name for the response and an `assess` method."""

    name: str

    def assess(self, conversations: Sequence[Conversation]) -> list[Verdict]:
        """One verdict per conversation."""
        ...


def check_categories(codes: Sequence[str]) -> tuple[str, ...]:
    """Hazard codes as given to --exclude_categories, normalised ("s6 " -> "S6"), in order.

    Raises:
        ValueError: a code is not one of S1..S14.
    """
    out = tuple(dict.fromkeys(c.strip().upper() for c in codes if c.strip()))
    unknown = sorted(set(out) - set(HAZARD_CATEGORIES))
    if unknown:
        raise ValueError(f"--exclude_categories: unknown codes {unknown}, expected S1..S14")
    return out


# --------------------------------------------------------------------------- backends
class LlamaGuardBackend:
    """A causal LM that follows the Llama Guard 3 contract (prompt in, "safe"/"unsafe\\nS.." out).

    The prompt is rendered by the tokenizer's chat template when it has one that renders the
    conversation and honours the excluded categories, else built as documented (`build_prompt`).
    Generation is greedy, stops at EOS or after `max_new_tokens`; only the new tokens are
    decoded. When the tokenizer has single tokens for "safe" and "unsafe", `unsafe_score` is the
    probability of "unsafe" at the step where the verdict token is generated (the model card's
    classifier score).
    """

    name = LLAMA_GUARD_BACKEND

    def __init__(self, tokenizer: Any, model: Any, *, max_new_tokens: int = MAX_NEW_TOKENS,
                 batch_size: int = BATCH_SIZE, max_prompt_tokens: int = MAX_PROMPT_TOKENS,
                 excluded_categories: Sequence[str] = (), device: str = "cpu"):
        self.tokenizer = tokenizer
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_prompt_tokens = max_prompt_tokens
        self.excluded_categories = tuple(excluded_categories)
        self.device = device
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._verdict_ids = self._single_token_ids("safe", "unsafe")
        eos = model.generation_config.eos_token_id  # an id, a list of ids or None
        self._stop_ids = sorted({*([eos] if isinstance(eos, int) else eos or []),
                                 tokenizer.eos_token_id} - {None})
        self.template_style = self._template_style()
        # Special-token strings (<|eot_id|>, <|start_header_id|>...), longest first: a message
        # that spells one must not become prompt structure when the prompt is tokenized.
        added = getattr(tokenizer, "added_tokens_decoder", {}).values()
        self._special = sorted({*tokenizer.all_special_tokens,
                                *(t.content for t in added if getattr(t, "special", False))},
                               key=len, reverse=True)

    @classmethod
    def load(cls, model_id: str, *, device: str = "auto", **kwargs: Any) -> LlamaGuardBackend:
        """Load tokenizer and causal LM from a local directory or a hub id.

        Args:
            model_id: directory with config, weights and tokenizer, or a hub id (e.g.
                meta-llama/Llama-Guard-3-1B: gated, needs network access and HF_TOKEN).
            device: "auto" (cuda when available), "cpu", "cuda", "cuda:1"...
            **kwargs: passed to the constructor (max_new_tokens, batch_size...).

        Raises:
            ModelDirError: the model or tokenizer cannot be loaded from `model_id`.
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        if device == "cpu":
            from components.predict import torch_threads

            torch.set_num_threads(torch_threads())  # $TORCH_NUM_THREADS or the container's CPUs
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_id)
            model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelDirError(
                f"cannot load a Llama Guard model from {model_id!r}: {exc}. Give a local "
                "directory holding config.json, the weights and the tokenizer, or a hub id "
                "with network access (meta-llama models are gated: set HF_TOKEN).") from exc
        model.to(device).eval()
        log.info("loaded Llama Guard model %s on %s (%s, %d torch threads)", model_id, device,
                 dtype, torch.get_num_threads())
        return cls(tokenizer, model, device=device, **kwargs)

    def _single_token_ids(self, *words: str) -> dict[str, int] | None:
        ids = {}
        for word in words:
            tokens = self.tokenizer.encode(word, add_special_tokens=False)
            if len(tokens) != 1 or tokens[0] == self.tokenizer.unk_token_id:
                return None
            ids[word] = tokens[0]
        return ids

    def _template_style(self) -> str | None:
        """How the chat template takes message content ("parts" or "text"); None (build the
        documented prompt) without a template, or when it drops the message or lists an excluded
        category (the 8B template has S1-S14 written in)."""
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        probe = "Is this message in the prompt?"
        for style in ("text", "parts"):  # text first: `| trim` renders a list of parts too
            try:
                prompt = template_prompt(self.tokenizer, probe, None, PROMPT_CATEGORY_LABELS,
                                         self.excluded_categories, parts=style == "parts")
            except Exception:  # a template's own errors (jinja2, TypeError...)
                continue
            if probe in prompt and not any(f"\n{code}: " in prompt
                                           for code in self.excluded_categories):
                log.info("Llama Guard prompt: the tokenizer's chat template (%s)", style)
                return style
        log.warning("the tokenizer's chat template does not render a Llama Guard conversation "
                    "with categories %s excluded: building the documented prompt instead",
                    list(self.excluded_categories))
        return None

    def defang(self, text: str | None) -> str | None:
        """`text` with every special-token string broken by a zero-width space after its first
        character: read as the same text by the model, never tokenized as a special token."""
        if text is None:
            return None
        for token in self._special:
            if token in text:
                text = text.replace(token, f"{token[0]}\u200b{token[1:]}")
        return text

    def prompts(self, conversations: Sequence[Conversation]) -> list[str]:
        """The Llama Guard 3 prompt of each conversation (see the class); the messages' own
        text cannot close a turn or open a new one (`defang`)."""
        conversations = [dataclasses.replace(c, user=self.defang(c.user),
                                             assistant=self.defang(c.assistant),
                                             history=tuple((r, self.defang(t))
                                                           for r, t in c.history))
                         for c in conversations]
        if self.template_style is None:
            return [build_prompt(c.user, c.assistant, PROMPT_CATEGORY_LABELS,
                                 self.excluded_categories, c.history) for c in conversations]
        return [template_prompt(self.tokenizer, c.user, c.assistant, PROMPT_CATEGORY_LABELS,
                                self.excluded_categories, self.template_style == "parts",
                                c.history)
                for c in conversations]

    def assess(self, conversations: Sequence[Conversation]) -> list[Verdict]:
        """Run the guard on each conversation.

        Raises:
            InvalidInput: a conversation's prompt is longer than `max_prompt_tokens`.
        """
        prompts = self.prompts(conversations)
        verdicts: list[Verdict] = []
        for start in range(0, len(prompts), self.batch_size):
            verdicts.extend(self._generate(prompts[start:start + self.batch_size], start))
        return verdicts

    def _generate(self, prompts: list[str], offset: int) -> list[Verdict]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=False)  # the prompt holds <|begin_of_text|>
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        for i, n in enumerate(lengths):
            if n > self.max_prompt_tokens:
                raise InvalidInput(f"instance {offset + i}: the guard prompt is {n} tokens, "
                                   f"this guard accepts at most {self.max_prompt_tokens}")
        enc = enc.to(self.device)
        with torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                eos_token_id=self._stop_ids, pad_token_id=self.tokenizer.pad_token_id,
                output_scores=True, return_dict_in_generate=True)
        new_tokens = out.sequences[:, enc["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        verdicts = []
        for row, text in enumerate(texts):
            verdict = parse_output(text)
            score = self._unsafe_score(new_tokens[row], out.scores, row)
            verdicts.append(dataclasses.replace(verdict, unsafe_score=score))
        return verdicts

    def _unsafe_score(self, tokens: Any, scores: Sequence[Any], row: int) -> float | None:
        if self._verdict_ids is None:
            return None
        wanted = set(self._verdict_ids.values())
        for step, token in enumerate(tokens.tolist()):
            if token in wanted and step < len(scores):
                probs = scores[step][row].float().softmax(dim=-1)
                return round(float(probs[self._verdict_ids["unsafe"]]), 6)
        return None


class ClassifierGuardBackend:
    """The pipeline's text classifier as a guard, mapped onto the Llama Guard 3 taxonomy.

    Unsafe when P(unsafe) >= threshold, P(unsafe) being 1 - P(the classes that count as safe)
    (components.calibration: Safe, and Refusal for a response model): the threshold saved
    with the model (chosen on validation for a target false-flag rate, probabilities
    temperature-calibrated), else THRESHOLD. The hazard code is that of the most probable
    unsafe class when it has one (CLASS_TO_CATEGORY); other classes are unsafe without a code.
    Excluded categories (a deployment's policy, e.g. S6 on a clinical product, S12 on an adult
    one) are out of the policy: their probability counts as safe when the verdict is made, and
    their code is never reported.

    A model judges one kind of turn (`task`): a prompt model (no Refusal class) the user's
    message, a response model (a Refusal class) the assistant's reply, read in the context of
    the conversation before it (components.conversation); its verdicts also say whether the
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
        from components.predict import load_predictor

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


def guard_identity(card: dict[str, Any], model_dir: str | None) -> dict[str, Any]:
    """Which guard a classifier model directory is, for people: kind ("quick": built by
    components.quick_guard; "full": a `make run-guard` run's model; "seed-classifier": the seed
    pipeline's model; "classifier": another directory), its run id (the pipeline run directory,
    or the quick guard's cache directory), when it was trained, and the command that builds the
    full guard when this is not it.

    Args:
        card: the model card (model_info.json + trained_at).
        model_dir: the model directory.
    """
    from pathlib import Path

    from serving.launch import GUARD_RUN_PREFIX, RUN_PREFIX

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


# --------------------------------------------------------------------------- request parsing
def conversation_from_messages(messages: Any, where: str,
                               limits: common.RequestLimits) -> Conversation:
    """A conversation from a list of {"role", "content"} messages, roles alternating from the
    user's; the last message is the one judged, the others its context.

    Raises:
        InvalidInput: not a non-empty list of such messages (a reply without the prompt it
            answers included), or a bad text.
    """
    if not isinstance(messages, list) or not messages:
        raise InvalidInput(f'{where}: expected a non-empty list of {{"role": "user" | '
                           f'"assistant", "content": text}} messages, got '
                           f'{common.describe(messages)}')
    turns: list[tuple[str, str]] = []
    for j, message in enumerate(messages):
        at = f"{where}[{j}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise InvalidInput(f'{at}: expected {{"role": "user" | "assistant", "content": '
                               f'text}}, got {common.describe(message)}'
                               + (f" with keys {sorted(message)}" if isinstance(message, dict)
                                  else ""))
        role, expected = message["role"], ROLES[j % 2]
        if role not in ROLES:
            raise InvalidInput(f"{at}.role: expected 'user' or 'assistant', got {role!r}")
        if role != expected:
            raise InvalidInput(
                f"{at}.role: roles must alternate from the user's (user, assistant, user, ...), "
                f"got {role!r} where {expected!r} belongs"
                + ("; a reply is judged with the prompt it answers" if j == 0 else ""))
        turns.append((role, common.check_text(message["content"], f"{at}.content", limits)))
    if turns[-1][0] == "assistant":
        return Conversation(turns[-2][1], turns[-1][1], tuple(turns[:-2]))
    return Conversation(turns[-1][1], None, tuple(turns[:-1]))


def parse_conversations_v1(payload: Any, limits: common.RequestLimits) -> list[Conversation]:
    """Conversations of a v1 request: strings (user messages), {"user", "assistant"} objects or
    {"messages": [...]} objects (see `conversation_from_messages`).

    Raises:
        InvalidInput: bad envelope, item type, keys or texts (see serving.common).
    """
    out = []
    for i, item in enumerate(common.v1_instances(payload, limits)):
        where = f"instances[{i}]"
        if isinstance(item, str):
            out.append(Conversation(common.check_text(item, where, limits)))
            continue
        if not isinstance(item, dict):
            raise InvalidInput(f'{where}: expected a string or an object {{"user": ..., '
                               f'"assistant": ...}} or {{"messages": [...]}}, got '
                               f'{common.describe(item)}')
        if "messages" in item:
            if set(item) != {"messages"}:
                raise InvalidInput(f'{where}: "messages" holds the whole conversation; unknown '
                                   f'keys beside it: {sorted(set(item) - {"messages"})}')
            out.append(conversation_from_messages(item["messages"], f"{where}.messages", limits))
            continue
        unknown = sorted(set(item) - {"user", "assistant"})
        if unknown:
            raise InvalidInput(f'{where}: unknown keys {unknown}; expected "user" and '
                               'optionally "assistant", or "messages"')
        if "user" not in item:
            raise InvalidInput(f'{where}: missing "user" (the user message)')
        user = common.check_text(item["user"], f"{where}.user", limits)
        assistant = item.get("assistant")
        if assistant is not None:
            assistant = common.check_text(assistant, f"{where}.assistant", limits)
        out.append(Conversation(user, assistant))
    _check_total(out, limits)
    return out


def parse_conversations_v2(request: InferRequest,
                           limits: common.RequestLimits) -> list[Conversation]:
    """Conversations of a v2 request: BYTES `user` [N], optional `assistant` [N] ("" = no
    reply) and optional `history` [N] (each row's earlier turns as a JSON list of {"role",
    "content"} messages, ending with the assistant's; "" = none).

    Raises:
        InvalidInput: bad tensors, lengths, texts or histories (see serving.common).
    """
    tensors = common.v2_inputs(request, required=["user"], optional=["assistant", "history"])
    users = [common.check_text(v, f"input 'user'[{i}]", limits)
             for i, v in enumerate(common.v2_bytes_values(tensors["user"], limits))]
    replies: list[str | None] = [None] * len(users)
    if "assistant" in tensors:
        values = common.v2_bytes_values(tensors["assistant"], limits)
        if len(values) != len(users):
            raise InvalidInput(f"input 'assistant' has {len(values)} rows, 'user' has "
                               f"{len(users)}: give one reply per message (\"\" for none)")
        replies = [common.check_text(v, f"input 'assistant'[{i}]", limits) if v.strip() else None
                   for i, v in enumerate(values)]
    out = [Conversation(u, a) for u, a in zip(users, replies, strict=True)]
    if "history" in tensors:
        values = common.v2_bytes_values(tensors["history"], limits)
        if len(values) != len(users):
            raise InvalidInput(f"input 'history' has {len(values)} rows, 'user' has "
                               f"{len(users)}: give one per message (\"\" for none)")
        out = [_with_history(c, h, f"input 'history'[{i}]", limits) if h.strip() else c
               for i, (c, h) in enumerate(zip(out, values, strict=True))]
    _check_total(out, limits)
    return out


def _with_history(conversation: Conversation, history: str, where: str,
                  limits: common.RequestLimits) -> Conversation:
    try:
        earlier = json.loads(history)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: expected a JSON list of {{\"role\", \"content\"}} "
                           f"messages, got text that is not JSON ({exc.msg})") from exc
    if not isinstance(earlier, list):
        raise InvalidInput(f"{where}: expected a JSON list of messages, got "
                           f"{common.describe(earlier)}")
    last = [{"role": r, "content": t} for r, t in conversation.turns()]
    return conversation_from_messages([*earlier, *last], where, limits)


def _check_total(conversations: list[Conversation], limits: common.RequestLimits) -> None:
    common.check_total_chars([t for c in conversations for _, t in c.turns()], limits)


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
        from components.language import identify

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
