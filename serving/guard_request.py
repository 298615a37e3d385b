"""What the guard is asked: a conversation (its last turn is judged), the backend protocol, and
the parsing of v1/v2 guard requests into conversations (`serving.guard` documents the formats)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, Protocol

from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest

from serving import common
from serving.llama_guard import Verdict

PROMPT, RESPONSE = "prompt", "response"  # what a verdict judged (`Verdict.judged`)
ROLES = ("user", "assistant")


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

