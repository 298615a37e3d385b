"""The console's logic without Streamlit: one prompt, a file in batches, the guard's verdict, history.

Input checks are `serving.ui.inputs`, the "why" shading `serving.ui.highlight`. A file is
moderated BATCH_ROWS rows per call.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from serving.ui import client
from serving.ui.inputs import joined_text, md_escape

BATCH_ROWS = 32  # the guard's per-request limit (its --max_instances)


# --------------------------------------------------------------------------- the guard verdict
@dataclasses.dataclass(frozen=True)
class GuardView:
    """How a guard answer is shown.

    Attributes:
        level: "unsafe", "safe", "unassessed" (safe: null) or "error" (no usable answer).
        headline: the verdict in words.
        categories: "S1 Violent Crimes"-style strings.
        detail: reason / error / backend line.
        unsafe_score: P(unsafe) when the guard gave one.
        backend: the backend that answered.
        language: what the text is written in, in words ("Italian (Latin script)"), when the
            guard said.
        judged: what the guard judged: "prompt", "response" or "" (an older guard).
        refused: for a reply, whether the guard read it as a refusal (None: not said).
    """

    level: str
    headline: str
    categories: tuple[str, ...] = ()
    detail: str = ""
    unsafe_score: float | None = None
    backend: str = ""
    language: str = ""
    judged: str = ""
    refused: bool | None = None

    @property
    def verdict(self) -> str:
        return {"unsafe": "unsafe", "safe": "safe", "unassessed": "cannot assess"}.get(
            self.level, "error")


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def guard_view(reply: client.Reply | None, index: int = 0) -> GuardView:
    """The verdict of one text from a guard reply (documented contract in docs/serving.md).

    `safe: null` (the guard could not read the text) is "cannot assess" with the guard's
    reason, never safe; a failed call or a malformed answer is an error, never safe.
    """
    if reply is None or not reply.ok:
        why = reply.error if reply is not None else "the guard was not called"
        return GuardView("error", "Guard unavailable: not verified", detail=why)
    pred = reply.value[index]
    safe = pred.get("safe", "missing")
    backend = str(pred.get("backend") or "")
    score = _score(pred.get("unsafe_score"))
    codes = [str(c) for c in pred.get("categories") or []]
    names = [str(n) for n in pred.get("category_names") or []]
    if len(names) != len(codes):
        names = [""] * len(codes)
    categories = tuple(f"{c} {n}".strip() for c, n in zip(codes, names, strict=True))
    language = language_text(pred)
    judged = str(pred.get("judged") or "")
    refused = pred.get("refused") if isinstance(pred.get("refused"), bool) else None
    if safe is None:
        reason = pred.get("reason") or pred.get("error") or "no reason given"
        return GuardView("unassessed", "Cannot assess: not verified", categories,
                         f"The guard could not assess this text: {reason}", score, backend,
                         language, judged, refused)
    if safe is True:
        return GuardView("safe", "Safe", categories, "", score, backend, language, judged,
                         refused)
    if safe is False:
        return GuardView("unsafe", "Unsafe", categories, "", score, backend, language, judged,
                         refused)
    return GuardView("error", "Guard answer unreadable: not verified",
                     detail=f"expected 'safe' to be true, false or null, got {safe!r}",
                     backend=backend)


def language_text(pred: Mapping[str, Any]) -> str:
    """What a guard verdict says the text is written in, in words: "Italian (Latin script,
    87%)", "language undetermined (Latin script)"; "" when the guard did not say."""
    from components.core.language import LANGUAGE_NAMES, UNDETERMINED

    script = pred.get("script")
    code = pred.get("language")
    script_text = f"{str(script).title()} script" if isinstance(script, str) and script else ""
    if not isinstance(code, str) or not code:
        return f"script: {script_text}" if script_text else ""
    confidence = _score(pred.get("language_confidence"))
    if code == UNDETERMINED:
        name = "language undetermined"
        extra = [script_text] if script_text else ["no letters"]
    else:
        name = LANGUAGE_NAMES.get(code, code)
        extra = [script_text] if script_text else []
        if confidence is not None:
            extra.append(f"{confidence:.0%}")
    return f"{name} ({', '.join(extra)})" if extra else name


# --------------------------------------------------------------------------- which guard
# Names people know for the offline encoders (components.core.predict.resolve_base_model).
ENCODER_NAMES = {"offline": "all-MiniLM-L6-v2",
                 "offline-multilingual": "multilingual-e5-small"}


@dataclasses.dataclass(frozen=True)
class Banner:
    """A line at the top of the page: its level ("warning", "error", "info") and text
    (markdown; values from services already escaped)."""

    level: str
    text: str


def guard_banner(health: client.Health | None, launch: client.LaunchInfo) -> Banner | None:
    """Which guard answers, from its info endpoint (`guard`: kind, run id, date), or what the
    launcher says while it starts; None when neither says anything."""
    info = (health.info or {}) if health is not None and health.ready else {}
    identity = info.get("guard") if isinstance(info.get("guard"), dict) else None
    if identity is None:
        if launch.states.get("guard") == "starting":
            detail = launch.details.get("guard") or "starting"
            return Banner("info", f"**The guard is starting**: {md_escape(detail)}. This page "
                                  "refreshes itself until it answers.")
        return None
    kind = str(identity.get("kind", ""))
    run = md_escape(identity.get("run_id") or "-")
    when = md_escape(identity.get("trained_at") or "unknown date")
    command = md_escape(identity.get("full_guard_command") or "make run-guard")
    if kind == "quick":
        encoder = md_escape(ENCODER_NAMES.get(str(identity.get("base_model")),
                                              identity.get("base_model") or "sentence"))
        return Banner("warning", (
            f"**The quick guard answers** (built {when}, `{run}`): a frozen {encoder} encoder + "
            "logistic regression trained in minutes on the public (English) prompt sets, weaker "
            f"than the full guard. For the full guard run `{command}` "
            "(about 20-40 minutes on 2 cores), then restart `make demo`: it is picked up by "
            "itself."))
    if kind == "seed-classifier":
        return Banner("error", (
            f"**The guard runs on the seed classifier** (`{run}`, {when}), which reads prompts "
            f"poorly: its verdicts mean little. Build the full guard with `{command}`, or "
            "leave GUARD_FALLBACK unset for the quick guard."))
    label = md_escape(identity.get("label") or kind)
    if kind == "llama-guard":
        return Banner("info", f"Guard: **{label}** ({md_escape(identity.get('model') or '-')}).")
    return Banner("info", f"Guard: **{label}**, run `{run}`, trained {when}.")


def service_state(health: client.Health, launch: client.LaunchInfo) -> tuple[str, str | None]:
    """A service's state for the sidebar, and why: its readiness, unless the launcher says it
    is still starting ("starting", not "down") or that it was not started (and why)."""
    if health.ready:
        return "ready", None
    state = launch.states.get(health.service.name)
    if state == "starting":
        return "starting", launch.details.get(health.service.name) or None
    if state == "not started":
        return "not started", launch.details.get(health.service.name) or None
    return health.status, health.error


# --------------------------------------------------------------------------- classifiers
def unreadable_reason(prediction: Mapping[str, Any]) -> str | None:
    """Why a classifier could not read the text (`"readable": false` or no label), else None."""
    if prediction.get("readable") is False or prediction.get("label") is None:
        return str(prediction.get("reason") or "no label in the answer")
    return None


def label_and_probability(prediction: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The predicted label and its probability (None, None when the text was not readable)."""
    if unreadable_reason(prediction) is not None:
        return None, None
    label = str(prediction["label"])
    probability = _score((prediction.get("probabilities") or {}).get(label))
    return label, probability


# --------------------------------------------------------------------------- one prompt
@dataclasses.dataclass
class Check:
    """Everything the console learnt about one prompt.

    Attributes:
        prompt: the prompt as typed.
        description: the image caption or typed description ("" when none).
        description_source: "caption", "typed" or "".
        text: the text sent to the services (prompt + description, joined).
        guard: the guard's reply.
        predictions: classifier name -> predict reply.
        explanations: classifier name -> explain reply.
        caption: the caption service's reply (None when no image was given).
        at: when it was checked (UTC, ISO).
        reply: the assistant's reply to the prompt ("" when none was given).
        reply_guard: the guard's verdict on the reply, judged after the prompt (None when
            there is no reply).
    """

    prompt: str
    description: str
    description_source: str
    text: str
    guard: client.Reply
    predictions: dict[str, client.Reply]
    explanations: dict[str, client.Reply]
    caption: client.Reply | None = None
    at: str = ""
    reply: str = ""
    reply_guard: client.Reply | None = None


def _skipped(name: str, why: str) -> client.Reply:
    return client.Reply(name, error=f"{name} not started: {why or 'see the launcher'}",
                        skipped=True)


def check_prompt_with_services(settings: client.Settings, prompt: str,
                               image: bytes | None = None,
                               typed_description: str = "",
                               skip: Mapping[str, str] | None = None, reply: str = "") -> Check:
    """Caption the image (if any), join, then ask the guard and both classifiers at once; with
    an assistant's reply, the guard also judges the reply after the prompt.

    The caption is used when the caption service answers; otherwise the typed description.
    Services in `skip` (name -> why: the launcher did not start them) are not called.
    """
    skip = dict(skip or {})
    services = settings.services
    timeout = settings.timeout_s
    caption = None
    description, source = "", ""
    if image is not None:
        caption = (_skipped("caption", skip["caption"]) if "caption" in skip
                   else client.caption(services["caption"], image, timeout))
        if caption.ok and caption.value:
            description, source = caption.value, "caption"
    typed = (typed_description or "").strip()
    if not description and typed:
        description, source = typed, "typed"
    text = joined_text(prompt, description)
    calls: dict[str, Callable[[], client.Reply]] = {
        "guard": functools.partial(client.guard, services["guard"], [text], timeout)}
    if reply:
        calls["guard:reply"] = functools.partial(
            client.guard, services["guard"], [{"user": text, "assistant": reply}], timeout)
    for name in client.CLASSIFIERS:
        if name in skip:
            calls[f"predict:{name}"] = calls[f"explain:{name}"] = functools.partial(
                _skipped, name, skip[name])
            continue
        calls[f"predict:{name}"] = functools.partial(client.classify, services[name], [text],
                                                     timeout)
        calls[f"explain:{name}"] = functools.partial(client.explain, services[name], text,
                                                     timeout)
    replies = client.in_parallel(calls)
    return Check(prompt, description, source, text, replies["guard"],
                 {n: replies[f"predict:{n}"] for n in client.CLASSIFIERS},
                 {n: replies[f"explain:{n}"] for n in client.CLASSIFIERS}, caption,
                 datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                 reply, replies.get("guard:reply"))


def history_row(check: Check) -> dict[str, Any]:
    """One row of the session history."""
    view = guard_view(check.guard)
    row: dict[str, Any] = {
        "checked_at": check.at, "prompt": check.prompt, "image_description": check.description,
        "description_source": check.description_source, "guard_verdict": view.verdict,
        "guard_categories": ", ".join(view.categories), "guard_unsafe_score": view.unsafe_score,
        "guard_backend": view.backend, "language": view.language}
    if check.reply:
        answer = guard_view(check.reply_guard)
        row.update(reply=check.reply, reply_guard_verdict=answer.verdict,
                   reply_guard_categories=", ".join(answer.categories),
                   reply_guard_unsafe_score=answer.unsafe_score, reply_refused=answer.refused)
    errors = [] if check.guard.ok else [check.guard.error]
    for name, reply in check.predictions.items():
        if reply.ok:
            pred = reply.value[0]
            row[f"{name}_label"], row[f"{name}_probability"] = label_and_probability(pred)
            reason = unreadable_reason(pred)
            if reason:
                errors.append(f"{name} cannot read the text: {reason}")
        else:
            row[f"{name}_label"], row[f"{name}_probability"] = None, None
            errors.append(reply.error)
    if view.level == "unassessed":
        errors.append(view.detail)
    if check.reply and guard_view(check.reply_guard).level in ("error", "unassessed"):
        errors.append(f"reply: {guard_view(check.reply_guard).detail}")
    row["errors"] = "; ".join(e for e in errors if e)
    return row


def to_csv(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> bytes:
    """CSV bytes (UTF-8) of rows or a table."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return df.to_csv(index=False).encode("utf-8")


# --------------------------------------------------------------------------- a file
def row_texts(df: pd.DataFrame, text_column: str, description_column: str | None) -> list[str]:
    """The text of each row: its text column, joined with its description column if any."""
    texts = df[text_column].astype(str)
    descriptions = (df[description_column].astype(str) if description_column
                    else pd.Series([""] * len(df), index=df.index))
    return [joined_text(t, d) if t.strip() else "" for t, d in zip(texts, descriptions,
                                                                    strict=True)]


def moderate_texts(settings: client.Settings, texts: Sequence[str],
                   progress: Callable[[int, int], None] | None = None,
                   batch_rows: int = BATCH_ROWS,
                   skip: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Moderate texts through the guard and both classifiers, batch_rows at a time.

    Empty texts are skipped (noted in `error`). A service that is down or times out is not
    called again for the rest of the file; its columns stay empty and the notes say why.

    Args:
        settings: services and timeouts (`batch_timeout_s` per call).
        texts: one text per row ("" for an empty row).
        progress: called with (rows done, rows total) after each batch.
        batch_rows: rows per call.
        skip: services not to call (name -> why: the launcher did not start them).

    Returns:
        (one result row per text, notes about services that failed or were skipped).
    """
    services = settings.services
    names = ("guard", *client.CLASSIFIERS)
    given_up: dict[str, str] = {}
    notes: list[str] = []
    for name, why in (skip or {}).items():
        if name in names:
            given_up[name] = f"{name} not started: {why or 'see the launcher'}"
            notes.append(f"{given_up[name]}; its columns stay empty.")
    rows: list[dict[str, Any]] = []
    total = len(texts)
    for start in range(0, total, batch_rows):
        chunk = list(texts[start:start + batch_rows])
        todo = [i for i, t in enumerate(chunk) if t.strip()]
        batch = [chunk[i] for i in todo]
        calls: dict[str, Callable[[], client.Reply]] = {}
        if batch:
            timeout = settings.batch_timeout_s
            if "guard" not in given_up:
                calls["guard"] = functools.partial(client.guard, services["guard"], batch,
                                                   timeout)
            for n in client.CLASSIFIERS:
                if n not in given_up:
                    calls[n] = functools.partial(client.classify, services[n], batch, timeout)
        replies = client.in_parallel(calls)
        for name in names:
            reply = replies.get(name)
            if reply is not None and reply.down:
                given_up[name] = reply.error or "down"
                notes.append(f"{reply.error}: {name} skipped for rows {start + 1}-{total}.")
        chunk_rows = [{"row": start + i + 1, "text": t} for i, t in enumerate(chunk)]
        for i, row in enumerate(chunk_rows):
            row["guard_verdict"], row["guard_categories"], row["guard_unsafe_score"] = (
                None, "", None)
            for n in client.CLASSIFIERS:
                row[f"{n}_label"], row[f"{n}_probability"] = None, None
            row["error"] = "" if chunk[i].strip() else "empty text: skipped"
        for k, i in enumerate(todo):
            row = chunk_rows[i]
            errors = []
            reply = replies.get("guard")
            if reply is not None:
                view = guard_view(reply, k) if reply.ok else guard_view(reply)
                row["guard_verdict"] = view.verdict
                row["guard_categories"] = ", ".join(view.categories)
                row["guard_unsafe_score"] = view.unsafe_score
                if view.level in ("error", "unassessed"):
                    errors.append(view.detail)
            else:
                errors.append(f"guard: {given_up.get('guard', 'not called')}")
            for n in client.CLASSIFIERS:
                reply = replies.get(n)
                if reply is not None and reply.ok:
                    pred = reply.value[k]
                    row[f"{n}_label"], row[f"{n}_probability"] = label_and_probability(pred)
                    reason = unreadable_reason(pred)
                    if reason:
                        errors.append(f"{n} cannot read the text: {reason}")
                elif reply is not None:
                    errors.append(reply.error)
                else:
                    errors.append(f"{n}: {given_up.get(n, 'not called')}")
            row["error"] = "; ".join(dict.fromkeys(e for e in errors if e))
        rows.extend(chunk_rows)
        if progress is not None:
            progress(min(start + batch_rows, total), total)
    return pd.DataFrame(rows), notes


def flag_rates(results: pd.DataFrame) -> pd.DataFrame:
    """Share of assessed rows the guard flagged, overall and per hazard category.

    Returns:
        Columns `category` and `flag_rate` (0..1) and `rows`; the first row is "any (unsafe)".
        Rows the guard did not assess (errors, safe: null, empty) are left out of the rates.
    """
    assessed = results[results["guard_verdict"].isin(["safe", "unsafe"])]
    n = len(assessed)
    unsafe = assessed[assessed["guard_verdict"] == "unsafe"]
    counts: dict[str, int] = {"any (unsafe)": len(unsafe)}
    for cats in unsafe["guard_categories"]:
        for cat in [c.strip() for c in str(cats).split(",") if c.strip()] or ["no category"]:
            counts[cat] = counts.get(cat, 0) + 1
    return pd.DataFrame({"category": list(counts),
                         "flag_rate": [c / n if n else 0.0 for c in counts.values()],
                         "rows": list(counts.values())})


# --------------------------------------------------------------------------- the sidebar
def _metrics(values: Mapping[str, Any], keys: Sequence[tuple[str, str]]) -> str:
    parts = [f"{label} {float(values[key]):.3f}" for key, label in keys
             if isinstance(values.get(key), int | float)]
    return ", ".join(parts)


def model_card_lines(health: client.Health) -> list[str]:
    """What a model is, in a few lines: from its info endpoint, else its v2 metadata."""
    info, lines = health.info or {}, []
    identity = info.get("guard") if isinstance(info.get("guard"), dict) else None
    if identity is not None:
        built = "built" if identity.get("kind") == "quick" else "trained"
        lines.append(f"guard: {identity.get('label') or identity.get('kind')}"
                     + (f", run {identity['run_id']}" if identity.get("run_id") else "")
                     + (f", {built} {identity['trained_at']}" if identity.get("trained_at")
                        else ""))
    if info:
        kind = str(info.get("model_type", "model"))
        if info.get("architecture"):
            kind += f" ({info['architecture']})"
        lines.append(f"model: {kind}")
        if info.get("base_model"):
            lines.append(f"base model: {info['base_model']}")
        if info.get("trained_at"):
            lines.append(f"trained: {info['trained_at']}")
        if info.get("train_rows"):
            lines.append(f"training rows: {info['train_rows']:,}")
        val = _metrics(info, [("val_accuracy", "accuracy"), ("val_macro_f1", "macro-F1")])
        if val:
            lines.append(f"validation: {val}")
        test = _metrics(info.get("test_metrics") or {},
                        [("accuracy", "accuracy"), ("macro_f1", "macro-F1")])
        if test:
            lines.append(f"test: {test}" + (" (champion)" if info.get("champion") else ""))
        if info.get("labels"):
            lines.append(f"classes: {', '.join(map(str, info['labels']))}")
        for key in ("backend", "threshold"):
            if key in info:
                lines.append(f"{key}: {info[key]}")
    meta = health.metadata or {}
    if meta:
        ins = ", ".join(str(t.get("name")) for t in meta.get("inputs") or [])
        outs = ", ".join(str(t.get("name")) for t in meta.get("outputs") or [])
        lines.append(f"v2 tensors: in {ins or '-'}; out {outs or '-'}")
    return lines
