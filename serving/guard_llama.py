"""The guard's Llama Guard backend: a causal LM that follows the Llama Guard 3 contract
(`serving.llama_guard`), run with transformers."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from kserve.errors import InvalidInput

from components.core.errors import ModelDirError
from serving.guard_request import Conversation
from serving.llama_guard import (
    PROMPT_CATEGORY_LABELS,
    Verdict,
    build_prompt,
    parse_output,
    template_prompt,
)

log = logging.getLogger("serving.guard")

LLAMA_GUARD_BACKEND = "llama-guard"
# The longest verdict, "\n\nunsafe\nS1,S2,...,S14", is 55 bytes (68 with ", "): at most as many
# tokens in Llama 3's byte-level BPE, + EOS. Generation stops at EOS: short verdicts cost no more.
MAX_NEW_TOKENS = 72
MAX_PROMPT_TOKENS = 8192  # longer conversations get 400 (the prompt must not be truncated)
BATCH_SIZE = 4  # conversations per generate() call


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
            from components.core.predict import torch_threads

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

