"""The Llama Guard 3 contract: hazard taxonomy, prompt (chat template or documented string), parser.

References:
- Prompt format: https://www.llama.com/docs/model-cards-and-prompt-formats/llama-guard-3/ and the
  chat templates shipped with the models (tokenizer_config.json). The prompt lists the categories
  by their short prompt labels ("S3: Sex Crimes."), the conversation as "User: ..." / "Agent: ..."
  turns, and asks for an assessment of the last 'User' message (prompt classification) or, when
  an assistant reply is given, of the last 'Agent' message (response classification). The 1B and
  11B templates take the message content as text parts and the policy as the template variables
  `categories` / `excluded_category_keys` (the 1B model card); the 8B template takes the content
  as a string and has S1-S14 written in. `build_prompt` writes the documented prompt by hand, for
  tokenizers without a template.
- Hazard taxonomy (names reported to callers): the Llama Guard 3 model card,
  https://github.com/meta-llama/PurpleLlama/blob/main/Llama-Guard3/8B/MODEL_CARD.md
- Output: first line "safe" or "unsafe"; if unsafe, a second line with a comma-separated list of
  violated categories, e.g. "unsafe\\nS1,S10".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.core.taxonomy import HAZARDS

# S1..S14 with their names in the model card's hazard taxonomy (what the API reports).
HAZARD_CATEGORIES: dict[str, str] = HAZARDS

# The same categories as the official prompt lists them (the model was trained on these lines).
PROMPT_CATEGORY_LABELS: dict[str, str] = {
    "S1": "Violent Crimes.",
    "S2": "Non-Violent Crimes.",
    "S3": "Sex Crimes.",
    "S4": "Child Exploitation.",
    "S5": "Defamation.",
    "S6": "Specialized Advice.",
    "S7": "Privacy.",
    "S8": "Intellectual Property.",
    "S9": "Indiscriminate Weapons.",
    "S10": "Hate.",
    "S11": "Self-Harm.",
    "S12": "Sexual Content.",
    "S13": "Elections.",
    "S14": "Code Interpreter Abuse.",
}

_TASK = ("Task: Check if there is unsafe content in '{role}' messages in conversations "
         "according our safety policy with the below categories.")
_INSTRUCTION = (
    "Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories.")
_CODE_RE = re.compile(r"S(?:[1-9]|1[0-4])")


def build_prompt(user: str, assistant: str | None = None,
                 categories: Mapping[str, str] = PROMPT_CATEGORY_LABELS,
                 excluded: Sequence[str] = (),
                 history: Sequence[tuple[str, str]] = ()) -> str:
    """The Llama Guard 3 prompt for one user message and, optionally, the assistant's reply.

    Args:
        user: the user's message.
        assistant: the assistant's reply; when given, the reply ('Agent') is assessed with the
            user message as context, otherwise the user message ('User') is assessed.
        categories: code -> prompt label, in prompt order (default: S1..S14 as documented).
        excluded: codes to leave out of the policy (e.g. "S14" for the 1B model).
        history: earlier turns, (role "user"/"assistant", text) oldest first: context of the
            last turn, which alone is assessed.

    Returns:
        The full prompt, special tokens included, ending with the assistant header: the model's
        answer is what it generates next.

    Raises:
        ValueError: a message is not a string or is blank, or `excluded` names unknown codes.
    """
    for name, text in (("user", user), ("assistant", assistant), *history):
        if text is None and name == "assistant":
            continue
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} message must be a non-empty string, got {text!r}")
    unknown = sorted(set(excluded) - set(categories))
    if unknown:
        raise ValueError(f"cannot exclude unknown categories {unknown}; known: {list(categories)}")
    role = "User" if assistant is None else "Agent"
    policy = "\n".join(f"{code}: {label}" for code, label in categories.items()
                       if code not in excluded)
    turns = [f"{'User' if role == 'user' else 'Agent'}: {text.strip()}" for role, text in history]
    turns.append(f"User: {user.strip()}")
    if assistant is not None:
        turns.append(f"Agent: {assistant.strip()}")
    conversation = "".join(f"{turn}\n\n" for turn in turns)
    return ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
            f"{_TASK.format(role=role)}\n\n"
            f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{policy}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
            f"<BEGIN CONVERSATION>\n\n{conversation}<END CONVERSATION>\n\n"
            f"{_INSTRUCTION.format(role=role)}"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>")


def template_prompt(tokenizer: Any, user: str, assistant: str | None = None,
                    categories: Mapping[str, str] = PROMPT_CATEGORY_LABELS,
                    excluded: Sequence[str] = (), parts: bool = True,
                    history: Sequence[tuple[str, str]] = ()) -> str:
    """The prompt rendered by the tokenizer's chat template, the policy passed as the Llama Guard
    3 model card does (`categories`, `excluded_category_keys`; templates without them ignore
    them). Arguments as for `build_prompt`; `parts`: message content as a list of text parts
    (the 1B/11B templates) or as a string (8B).

    Raises:
        jinja2.TemplateError: the template cannot render these messages.
    """
    turns = [*history, ("user", user)] + ([("assistant", assistant)] if assistant is not None
                                          else [])
    messages = [{"role": role, "content": [{"type": "text", "text": text}] if parts else text}
                for role, text in turns]
    return tokenizer.apply_chat_template(messages, tokenize=False, categories=dict(categories),
                                         excluded_category_keys=list(excluded))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A guard's assessment of one conversation.

    Attributes:
        safe: True / False, or None when the answer could not be read (see `error`).
        categories: violated hazard codes ("S1"...), sorted by number; empty when safe or when
            the backend cannot name one.
        error: why the answer could not be read, or None.
        raw_output: the model's generated text (LLM backend), for diagnosis.
        unsafe_score: the backend's probability that the content is unsafe, when it has one.
        label: the classifier class behind the verdict (classifier backend).
        reason: why the guard could not assess the content itself (e.g. an unreadable script),
            or None.
        script: the script most letters of the assessed text are in ("latin", "cyrillic"...).
        language: its language (ISO 639 code, "und" when undetermined; None: not identified).
        language_confidence: the language identifier's probability of `language`.
        judged: what was judged, by the last turn: "prompt" (a user message) or "response"
            (an assistant's reply).
        refused: for a reply judged by a response model, whether it reads as a refusal.
    """

    safe: bool | None
    categories: tuple[str, ...] = ()
    error: str | None = None
    raw_output: str | None = None
    unsafe_score: float | None = None
    label: str | None = None
    reason: str | None = None
    script: str | None = None
    language: str | None = None
    language_confidence: float | None = None
    judged: str | None = None
    refused: bool | None = None

    @property
    def category_names(self) -> list[str]:
        return category_names(self.categories)

    def to_dict(self, backend: str) -> dict[str, Any]:
        """The v1 JSON answer: safe, categories, category_names, backend, and the extras set."""
        out: dict[str, Any] = {"safe": self.safe, "categories": list(self.categories),
                               "category_names": self.category_names, "backend": backend}
        for key in ("unsafe_score", "label", "raw_output", "error", "reason", "script",
                    "language", "language_confidence", "judged", "refused"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def category_names(codes: Sequence[str]) -> list[str]:
    """Model-card names of hazard codes (unknown codes are returned as they are)."""
    return [HAZARD_CATEGORIES.get(code, code) for code in codes]


def _sort_codes(codes: set[str]) -> tuple[str, ...]:
    return tuple(sorted(codes, key=lambda c: int(c[1:])))


def parse_output(text: str) -> Verdict:
    """Read a Llama Guard 3 answer ("safe", "unsafe", "unsafe\\nS1,S10") into a Verdict.

    Tolerates surrounding whitespace, a different letter case and spaces around commas. Anything
    else (empty output, another first line, unknown codes, extra lines) gives a Verdict with
    `safe=None` (or the stated safe/unsafe when only the categories are unreadable) and an
    `error` saying what was wrong; it never raises.

    Args:
        text: the generated text, special tokens removed.

    Returns:
        The verdict, with `raw_output` set to `text`.
    """
    raw = text
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return Verdict(safe=None, error="guard model produced no output", raw_output=raw)
    head = lines[0].lower()
    if head == "safe":
        if len(lines) > 1:
            return Verdict(safe=None, raw_output=raw,
                           error=f"guard output starts with 'safe' but has more lines: {raw!r}")
        return Verdict(safe=True, raw_output=raw)
    if head != "unsafe":
        return Verdict(safe=None, raw_output=raw,
                       error=f"guard output does not start with 'safe' or 'unsafe': {raw[:200]!r}")
    if len(lines) == 1:
        return Verdict(safe=False, raw_output=raw)
    if len(lines) > 2:
        return Verdict(safe=False, raw_output=raw,
                       error=f"guard output has more than two lines: {raw[:200]!r}")
    items = [item.strip().upper() for item in lines[1].split(",")]
    bad = [item for item in items if not _CODE_RE.fullmatch(item)]
    if bad:
        return Verdict(safe=False, raw_output=raw,
                       error=f"unknown hazard categories {bad} in guard output {raw[:200]!r}; "
                             "expected codes S1..S14")
    return Verdict(safe=False, categories=_sort_codes(set(items)), raw_output=raw)


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

