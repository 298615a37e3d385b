"""Moderation console: check a prompt (and an assistant's reply to it) or a CSV file against the
guard and both classifiers.

    streamlit run serving/ui/app.py          # or `make demo`: the servers and this app

It talks to the KServe services over HTTP only (URLs: TOXIC_FILTER_<NAME>_URL, default the
`make serve` ports; see serving/ui/client.py). A service that is down or slow is shown as such
with its error while the rest of the page keeps working; no stack trace reaches the page.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pandas as pd
import streamlit as st

from serving.ui import client, highlight, inputs
from serving.ui import moderation as mod

log = logging.getLogger("serving.ui")
esc = inputs.md_escape  # every text from a user or a service goes through it before markdown

TITLE = "Toxic-prompt moderation console"
STATUS_BADGE = {"ready": ":green-badge[ready]", "not ready": ":orange-badge[not ready]",
                "slow": ":red-badge[no answer]", "down": ":red-badge[down]",
                "starting": ":blue-badge[starting]", "not started": ":gray-badge[not started]"}
VERDICT_BOX = {"unsafe": st.error, "safe": st.success, "unassessed": st.warning,
               "error": st.error}
BANNER_BOX = {"warning": st.warning, "error": st.error, "info": st.info}
REFRESH_S = 2.0  # while a service starts, the status parts of the page refresh this often
WAS_STARTING = "services_were_starting"  # session key: a full redraw once they have started


def healths(settings: client.Settings) -> dict[str, client.Health]:
    return client.in_parallel({
        name: functools.partial(client.health, service, settings.health_timeout_s)
        for name, service in settings.services.items()})


def _redraw_when_started(launch: client.LaunchInfo) -> None:
    """Once nothing is starting any more, redraw the whole page (banner, checks) once."""
    if launch.starting:
        st.session_state[WAS_STARTING] = True
    elif st.session_state.pop(WAS_STARTING, False):
        st.rerun(scope="app")


# --------------------------------------------------------------------------- sidebar
def sidebar(settings: client.Settings, launch: client.LaunchInfo) -> None:
    """The services panel; while the launcher says a service is starting, it refreshes
    itself every REFRESH_S seconds (a fragment) until they all answer."""
    panel = st.fragment(services_panel, run_every=REFRESH_S if launch.starting else None)
    with st.sidebar:
        panel(settings)


def services_panel(settings: client.Settings) -> None:
    """Each service's readiness (per-model ready endpoint, or what the launcher says while it
    starts), and what its model is."""
    launch = client.launch_info(settings)
    st.header("Services")
    for name, health in healths(settings).items():
        state, why = mod.service_state(health, launch)
        st.markdown(f"**{name}** {STATUS_BADGE[state]} ({health.seconds * 1000:.0f} ms)")
        st.caption(esc(health.service.url))
        if why:
            note = (" Images then need a typed description."
                    if name == "caption" and state != "starting" else "")
            st.caption(f"{esc(why)}.{note}")
        lines = mod.model_card_lines(health)
        if lines:
            with st.expander(f"{name}: model"):
                st.markdown("\n".join(f"- {esc(line)}" for line in lines))
    if launch.starting:
        st.caption(f"Starting: {', '.join(launch.starting)}. This panel refreshes itself "
                   f"every {REFRESH_S:g} s.")
    st.button("Refresh", key="refresh", help="ask every service again")
    st.caption(f"Timeouts: {settings.timeout_s:g} s per prompt call, "
               f"{settings.batch_timeout_s:g} s per file batch.")
    _redraw_when_started(launch)


# --------------------------------------------------------------------------- banner
def banner(settings: client.Settings, launch: client.LaunchInfo) -> None:
    """Which guard answers (quick or full, run id, date) and the launcher's warnings; refreshes
    itself while a service starts."""
    st.fragment(banner_panel, run_every=REFRESH_S if launch.starting else None)(settings)


def banner_panel(settings: client.Settings) -> None:
    launch = client.launch_info(settings)
    guard = client.health(settings.services["guard"], settings.health_timeout_s)
    line = mod.guard_banner(guard, launch)
    if line is not None:
        BANNER_BOX[line.level](line.text)
    if launch.warnings:
        st.warning("**The launcher warns** (`make demo`):\n"
                   + "\n".join(f"- {esc(w)}" for w in launch.warnings))
    _redraw_when_started(launch)


# --------------------------------------------------------------------------- one prompt
def prompt_tab(settings: client.Settings) -> None:
    with st.form("check-prompt"):
        prompt = st.text_area("Prompt", key="prompt", height=120,
                              placeholder="The user's prompt to check",
                              help=f"at most {inputs.MAX_PROMPT_CHARS:,} characters")
        reply = st.text_area("Assistant reply (optional)", key="reply", height=100,
                             placeholder="An assistant's reply to this prompt: the guard judges "
                                         "it in the context of the prompt",
                             help=f"at most {inputs.MAX_REPLY_CHARS:,} characters; a refusal is "
                                  "safe")
        image = st.file_uploader(
            "Image (optional): PNG, JPEG or WebP, at most "
            f"{inputs.MAX_IMAGE_BYTES // 1024 // 1024} MB; the caption service describes it",
            type=list(inputs.IMAGE_TYPES), key="image")
        typed = st.text_input("Image description (used when no caption service answers)",
                              key="description")
        submitted = st.form_submit_button("Check", type="primary")
    if submitted:
        try:
            text = inputs.check_prompt(prompt)
            answer = inputs.check_reply(reply)
            data = None
            if image is not None:
                data = image.getvalue()
                inputs.check_image(image.name, data)
        except inputs.InputError as exc:
            st.session_state.pop("last_check", None)
            st.warning(esc(exc))
            return
        skip = client.launch_info(settings).not_started()
        with st.spinner("Asking the guard and both classifiers..."):
            check = mod.check_prompt_with_services(settings, text, data, typed, skip,
                                                   reply=answer)
        st.session_state["last_check"] = check
        st.session_state.setdefault("history", []).append(mod.history_row(check))
    check = st.session_state.get("last_check")
    if check is not None:
        render_check(check)


def render_check(check: mod.Check) -> None:
    if check.caption is not None:
        if check.caption.skipped:
            then = ("your typed description is used instead." if check.description
                    else "type an image description to include the image.")
            st.info(f"No caption: {esc(check.caption.error)}; {then}")
        elif check.caption.ok:
            st.info(f"Image caption (caption service): **{esc(check.description)}**")
        else:
            then = ("your typed description is used instead." if check.description
                    else "type an image description to include the image.")
            st.warning(f"No caption: {esc(check.caption.error)}. Without the caption service, "
                       f"{then}")
    if check.description_source == "typed":
        st.info(f"Image description (typed): **{esc(check.description)}**")
    st.caption(f"Checked text: {esc(check.text)}")
    if check.reply:  # a verdict for each side: the prompt, then the reply after it
        render_guard(mod.guard_view(check.guard), "on the prompt")
        st.caption(f"Assistant reply: {esc(check.reply)}")
        render_guard(mod.guard_view(check.reply_guard), "on the reply")
    else:
        render_guard(mod.guard_view(check.guard))
    columns = st.columns(len(check.predictions))
    for column, (name, reply) in zip(columns, check.predictions.items(), strict=True):
        with column:
            render_classifier(name, reply, check.explanations[name])


def render_guard(view: mod.GuardView, side: str = "") -> None:
    lines = [f"### Guard verdict{' ' + side if side else ''}: {view.headline}"]
    if view.categories:
        lines.append("Categories: " + ", ".join(f"**{esc(c)}**" for c in view.categories))
    if view.detail:
        lines.append(esc(view.detail))
    if view.language:
        lines.append(f"Written in: **{esc(view.language)}**")
    VERDICT_BOX[view.level]("\n\n".join(lines))
    if view.level != "error":
        score, backend = st.columns(2)
        score.metric("unsafe_score (P(unsafe))",
                     "-" if view.unsafe_score is None else f"{view.unsafe_score:.3f}")
        backend.metric("guard backend", view.backend or "-")
    if view.refused is not None:
        st.caption("Refused: **yes** (the reply declines)" if view.refused
                   else "Refused: **no** (the reply does not decline)")


def render_classifier(name: str, reply: client.Reply, why: client.Reply) -> None:
    st.subheader(name)
    if reply.skipped:
        st.info(esc(reply.error))
        return
    if not reply.ok:
        st.error(esc(reply.error))
        return
    pred = reply.value[0]
    reason = mod.unreadable_reason(pred)
    if reason is not None:
        st.warning(f"{name} cannot read this text: {esc(reason)}")
        return
    probs: dict[str, Any] = pred.get("probabilities") or {}
    label, probability = mod.label_and_probability(pred)
    st.metric(f"{name} label", label, help="the most probable class")
    st.caption(f"P({esc(label)}) = {'-' if probability is None else f'{probability:.3f}'}")
    if probs:
        chart = pd.DataFrame({"class": list(probs), "probability": list(probs.values())})
        st.bar_chart(chart, x="class", y="probability", horizontal=True, sort="-probability",
                     height=60 + 28 * len(chart))
    st.markdown("**Why**: words that pushed the model towards unsafe (red) or towards safe "
                "(blue)")
    if why.ok:
        st.markdown(highlight.highlight_html(why.value), unsafe_allow_html=True)
        parts = []
        for towards in ("unsafe", "safe"):
            top = highlight.top_words(why.value, towards=towards)
            if top:
                parts.append(f"towards {towards}: "
                             + ", ".join(f"{esc(w)} (+{a:.3f})" for w, a in top))
        if parts:
            st.caption("Top words " + "; ".join(parts))
        else:
            st.caption(f"No word changes P(unsafe) by {highlight.MIN_ATTRIBUTION} or more.")
    else:
        st.caption(f"Explanation unavailable: {esc(why.error)}")


# --------------------------------------------------------------------------- a file
def file_tab(settings: client.Settings) -> None:
    upload = st.file_uploader(
        f"CSV of prompts (UTF-8, header row, at most {inputs.MAX_CSV_ROWS:,} rows and "
        f"{inputs.MAX_CSV_BYTES // 1024 // 1024} MB)", type=["csv"], key="csv")
    if upload is None:
        st.caption("Every row goes through the guard and both classifiers, "
                   f"{mod.BATCH_ROWS} rows per call.")
        return
    try:
        df = inputs.read_csv(upload.getvalue(), upload.name)
    except inputs.InputError as exc:
        st.warning(esc(exc))
        return
    columns = inputs.text_columns(df)
    text_column = st.selectbox("Text column", columns, key="csv_text_column")
    others = [inputs.NO_COLUMN] + [c for c in columns if c != text_column]
    description_column = st.selectbox("Image description column (optional, joined to the "
                                      "text as in training)", others, key="csv_desc_column")
    description_column = None if description_column == inputs.NO_COLUMN else description_column
    st.caption(esc(f"{upload.name}: {len(df):,} rows, columns "
                   f"{', '.join(map(str, df.columns))}"))
    run_key = (upload.file_id, text_column, description_column)
    if st.button(f"Moderate {len(df):,} rows", key="moderate", type="primary"):
        texts = mod.row_texts(df, text_column, description_column)
        progress = st.progress(0.0, text="starting")

        def advance(done: int, total: int) -> None:
            progress.progress(done / total, text=f"{done:,} of {total:,} rows")

        results, notes = mod.moderate_texts(settings, texts, advance,
                                            skip=client.launch_info(settings).not_started())
        st.session_state["file_results"] = {"key": run_key, "name": upload.name,
                                            "results": results, "notes": notes}
    stored = st.session_state.get("file_results")
    if stored is not None and stored["key"] == run_key:
        render_file_results(stored)


def render_file_results(stored: dict[str, Any]) -> None:
    results: pd.DataFrame = stored["results"]
    for note in stored["notes"]:
        st.warning(esc(note))
    verdicts = results["guard_verdict"]
    done, flagged, unsure, errors = st.columns(4)
    done.metric("rows", f"{len(results):,}")
    flagged.metric("flagged unsafe by the guard", f"{int((verdicts == 'unsafe').sum()):,}")
    unsure.metric("not verified (cannot assess / no guard)",
                  f"{int((~verdicts.isin(['safe', 'unsafe'])).sum()):,}")
    errors.metric("rows with an error note", f"{int((results['error'] != '').sum()):,}")
    rates = mod.flag_rates(results)
    st.markdown("**Flag rate per category** (share of the rows the guard assessed)")
    st.bar_chart(rates, x="category", y="flag_rate", horizontal=True, sort="-flag_rate",
                 height=60 + 28 * len(rates))
    st.dataframe(results, hide_index=True)
    st.download_button("Download the results (CSV)", mod.to_csv(results),
                       file_name=f"moderated-{stored['name']}", mime="text/csv",
                       key="download_results", on_click="ignore")


# --------------------------------------------------------------------------- history
def history_tab() -> None:
    history = st.session_state.get("history") or []
    if not history:
        st.caption("Prompts checked in this session appear here.")
        return
    table = pd.DataFrame(history)
    st.dataframe(table, hide_index=True)
    left, right = st.columns(2)
    left.download_button("Download the history (CSV)", mod.to_csv(table),
                         file_name="moderation-history.csv", mime="text/csv",
                         key="download_history", on_click="ignore")
    if right.button("Clear the history", key="clear_history"):
        st.session_state["history"] = []
        st.rerun()


# --------------------------------------------------------------------------- page
def main() -> None:
    st.set_page_config(page_title=TITLE, layout="wide")
    settings = client.settings_from_env()
    launch = client.launch_info(settings)
    st.title(TITLE)
    banner(settings, launch)
    sidebar(settings, launch)
    prompt, file, history = st.tabs(["Check a prompt", "Check a file", "History"])
    with prompt:
        prompt_tab(settings)
    with file:
        file_tab(settings)
    with history:
        history_tab()


def run() -> None:
    """The page, behind an error boundary: a bug shows one line and goes to the log."""
    from streamlit.errors import StreamlitAPIException

    try:
        main()
    except StreamlitAPIException as exc:  # e.g. an upload whose extension is not allowed
        log.warning("refused by Streamlit: %s", exc)
        st.error(f"Refused: {esc(exc)}")
    except Exception as exc:
        log.exception("console error")
        st.error(f"Something went wrong on this page ({type(exc).__name__}); the details are "
                 "in the console's log. The services are not affected: try again.")


if __name__ == "__main__":
    run()
