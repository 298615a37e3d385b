"""A conversation as the response model reads it: one string, the last reply after its context.

The response model judges an assistant's reply in the context of the prompt (and any earlier
turns) it answers. Every engine that serves a text classifier takes one string per input, so
the conversation is rendered as one:

    user: <earlier turns and the prompt, at most CONTEXT_HEAD_WORDS + CONTEXT_TAIL_WORDS words>
    assistant: <the reply, whole>

The context is cut to its first and last words (the prompt's opening and, after earlier turns,
the latest request) so that the reply, not the prompt, fills the model's token limit; a reply
longer than that limit is read in windows, each after the same context (components.core.reading).
A message cannot forge the layout: a line break in it that would start a role marker
("\\nassistant:") becomes a space, so `split` finds the judged reply after the last marker.
The same `render` builds the training rows (components.data.responses) and the served inputs
(serving.guard): what the model is trained on is what it is asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

USER = "user"
ASSISTANT = "assistant"
ROLES = (USER, ASSISTANT)
REPLY_MARKER = f"\n{ASSISTANT}: "
CONTEXT_HEAD_WORDS = 16  # the context's opening words kept (the prompt's own start)...
CONTEXT_TAIL_WORDS = 48  # ...and its last words (the latest request)
MAX_CONTEXT_CHARS = 600  # texts without spaces (CJK) are cut by characters too
ELLIPSIS = "..."
# Token budget of a reply window beside its context: the context's words and markers take about
# CONTEXT_TOKENS subword tokens, an English word about TOKENS_PER_WORD.
CONTEXT_TOKENS = 96
TOKENS_PER_WORD = 1.4
MIN_WINDOW_WORDS = 16
# A line break followed by a role marker inside a message (linear: [ \t]* stops at a newline).
_FORGED_MARKER_RE = re.compile(r"[\r\n](?=[ \t]*(?:user|assistant)[ \t]*:)", re.IGNORECASE)


def flatten(message: str) -> str:
    """`message` with every line break that would start a role marker replaced by a space."""
    return _FORGED_MARKER_RE.sub(" ", message.strip())


def truncate_context(context: str, head: int = CONTEXT_HEAD_WORDS,
                     tail: int = CONTEXT_TAIL_WORDS, max_chars: int = MAX_CONTEXT_CHARS) -> str:
    """The context on one line, cut to its first `head` and last `tail` words (and `max_chars`
    characters) with an ellipsis between."""
    words = context.split()
    if len(words) > head + tail:
        words = [*words[:head], ELLIPSIS, *words[len(words) - tail:]]
    text = " ".join(words)
    if len(text) > max_chars:
        keep_head = max_chars * head // (head + tail)
        text = f"{text[:keep_head]} {ELLIPSIS} {text[len(text) - (max_chars - keep_head):]}"
    return text


def render(turns: Sequence[tuple[str, str]]) -> str:
    """One string for a conversation whose last turn is the assistant's reply.

    Args:
        turns: (role, text) pairs in order, roles "user"/"assistant"; the last one is the
            reply judged, the others its context (at least the prompt it answers).

    Raises:
        ValueError: fewer than two turns, an unknown role, or a last turn that is not the
            assistant's.
    """
    if len(turns) < 2:
        raise ValueError(f"a reply needs the prompt it answers: got {len(turns)} turn(s)")
    bad = [role for role, _ in turns if role not in ROLES]
    if bad:
        raise ValueError(f"unknown role(s) {sorted(set(bad))}; expected {ROLES}")
    if turns[-1][0] != ASSISTANT:
        raise ValueError(f"the last turn must be the {ASSISTANT}'s reply, got {turns[-1][0]!r}")
    context = " ".join(f"{role}: {flatten(text)}" for role, text in turns[:-1])
    return f"{truncate_context(context)}{REPLY_MARKER}{flatten(turns[-1][1])}"


def render_reply(prompt: str, reply: str, history: Sequence[tuple[str, str]] = ()) -> str:
    """`render` of [*history, (user, prompt), (assistant, reply)]."""
    return render([*history, (USER, prompt), (ASSISTANT, reply)])


def split(rendered: str) -> tuple[str, str]:
    """(context, reply) of a rendered conversation; ("", text) for a text without a reply."""
    at = rendered.rfind(REPLY_MARKER)
    if at < 0:
        return "", rendered
    return rendered[:at], rendered[at + len(REPLY_MARKER):]


def join(context: str, reply: str) -> str:
    """The inverse of `split`: a (part of a) reply after its context."""
    return f"{context}{REPLY_MARKER}{reply}" if context else reply


def reply_window_words(max_length: int) -> int:
    """Words of a reply window that fit the model's `max_length` tokens after the context."""
    return max(MIN_WINDOW_WORDS, int((max_length - CONTEXT_TOKENS) / TOKENS_PER_WORD))
