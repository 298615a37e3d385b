"""Moderation console: check a prompt or a CSV file against the guard and both classifiers.

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

from serving.ui import client
from serving.ui import moderation as mod

log = logging.getLogger("serving.ui")
esc = mod.md_escape  # every text from a user or a service goes through it before markdown

TITLE = "Toxic-prompt moderation console"
STATUS_BADGE = {"ready": ":green-badge[ready]", "not ready": ":orange-badge[not ready]",
                "slow": ":red-badge[no answer]", "down": ":red-badge[down]"}
VERDICT_BOX = {"unsafe": st.error, "safe": st.success, "unassessed": st.warning,
               "error": st.error}


# --------------------------------------------------------------------------- sidebar
def sidebar(settings: client.Settings) -> None:
    """Each service's readiness (per-model ready endpoint) and what its model is."""
    bar = st.sidebar
    bar.header("Services")
    healths = client.in_parallel({
        name: functools.partial(client.health, service, settings.health_timeout_s)
        for name, service in settings.services.items()})
    for name, health in healths.items():
        bar.markdown(f"**{name}** {STATUS_BADGE[health.status]} "
                     f"({health.seconds * 1000:.0f} ms)")
        bar.caption(esc(health.service.url))
        if health.error:
            note = " Images then need a typed description." if name == "caption" else ""
            bar.caption(f"{esc(health.error)}.{note}")
        lines = mod.model_card_lines(health)
        if lines:
            with bar.expander(f"{name}: model"):
                st.markdown("\n".join(f"- {esc(line)}" for line in lines))
    bar.button("Refresh", key="refresh", help="ask every service again")
    bar.caption(f"Timeouts: {settings.timeout_s:g} s per prompt call, "
                f"{settings.batch_timeout_s:g} s per file batch.")


# --------------------------------------------------------------------------- one prompt
def prompt_tab(settings: client.Settings) -> None:
    with st.form("check-prompt"):
        prompt = st.text_area("Prompt", key="prompt", height=120,
                              placeholder="The user's prompt to check",
                              help=f"at most {mod.MAX_PROMPT_CHARS:,} characters")
        image = st.file_uploader(
            "Image (optional): PNG, JPEG or WebP, at most "
            f"{mod.MAX_IMAGE_BYTES // 1024 // 1024} MB; the caption service describes it",
            type=list(mod.IMAGE_TYPES), key="image")
        typed = st.text_input("Image description (used when no caption service answers)",
                              key="description")
        submitted = st.form_submit_button("Check", type="primary")
    if submitted:
        try:
            text = mod.check_prompt(prompt)
            data = None
            if image is not None:
                data = image.getvalue()
                mod.check_image(image.name, data)
        except mod.InputError as exc:
            st.session_state.pop("last_check", None)
            st.warning(esc(exc))
            return
        with st.spinner("Asking the guard and both classifiers..."):
            check = mod.check_prompt_with_services(settings, text, data, typed)
        st.session_state["last_check"] = check
        st.session_state.setdefault("history", []).append(mod.history_row(check))
    check = st.session_state.get("last_check")
    if check is not None:
        render_check(check)


def render_check(check: mod.Check) -> None:
    if check.caption is not None:
        if check.caption.ok:
            st.info(f"Image caption (caption service): **{esc(check.description)}**")
        else:
            then = ("your typed description is used instead." if check.description
                    else "type an image description to include the image.")
            st.warning(f"No caption: {esc(check.caption.error)}. Without the caption service, "
                       f"{then}")
    if check.description_source == "typed":
        st.info(f"Image description (typed): **{esc(check.description)}**")
    st.caption(f"Checked text: {esc(check.text)}")
    render_guard(mod.guard_view(check.guard))
    columns = st.columns(len(check.predictions))
    for column, (name, reply) in zip(columns, check.predictions.items(), strict=True):
        with column:
            render_classifier(name, reply, check.explanations[name])


def render_guard(view: mod.GuardView) -> None:
    lines = [f"### Guard verdict: {view.headline}"]
    if view.categories:
        lines.append("Categories: " + ", ".join(f"**{esc(c)}**" for c in view.categories))
    if view.detail:
        lines.append(esc(view.detail))
    VERDICT_BOX[view.level]("\n\n".join(lines))
    if view.level != "error":
        score, backend = st.columns(2)
        score.metric("unsafe_score (P(unsafe))",
                     "-" if view.unsafe_score is None else f"{view.unsafe_score:.3f}")
        backend.metric("guard backend", view.backend or "-")


def render_classifier(name: str, reply: client.Reply, why: client.Reply) -> None:
    st.subheader(name)
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
    st.markdown("**Why**: words that pushed the model towards its label (red) or away "
                "from it (blue)")
    if why.ok:
        st.markdown(mod.highlight_html(why.value), unsafe_allow_html=True)
        top = mod.top_words(why.value)
        if top:
            st.caption("Top words: " + ", ".join(f"{esc(w)} (+{a:.3f})" for w, a in top))
        else:
            st.caption(f"No word changes P({esc(label)}) by {mod.MIN_ATTRIBUTION} or more.")
    else:
        st.caption(f"Explanation unavailable: {esc(why.error)}")


# --------------------------------------------------------------------------- a file
def file_tab(settings: client.Settings) -> None:
    upload = st.file_uploader(
        f"CSV of prompts (UTF-8, header row, at most {mod.MAX_CSV_ROWS:,} rows and "
        f"{mod.MAX_CSV_BYTES // 1024 // 1024} MB)", type=["csv"], key="csv")
    if upload is None:
        st.caption("Every row goes through the guard and both classifiers, "
                   f"{mod.BATCH_ROWS} rows per call.")
        return
    try:
        df = mod.read_csv(upload.getvalue(), upload.name)
    except mod.InputError as exc:
        st.warning(esc(exc))
        return
    columns = mod.text_columns(df)
    text_column = st.selectbox("Text column", columns, key="csv_text_column")
    others = [mod.NO_COLUMN] + [c for c in columns if c != text_column]
    description_column = st.selectbox("Image description column (optional, joined to the "
                                      "text as in training)", others, key="csv_desc_column")
    description_column = None if description_column == mod.NO_COLUMN else description_column
    st.caption(esc(f"{upload.name}: {len(df):,} rows, columns "
                   f"{', '.join(map(str, df.columns))}"))
    run_key = (upload.file_id, text_column, description_column)
    if st.button(f"Moderate {len(df):,} rows", key="moderate", type="primary"):
        texts = mod.row_texts(df, text_column, description_column)
        progress = st.progress(0.0, text="starting")

        def advance(done: int, total: int) -> None:
            progress.progress(done / total, text=f"{done:,} of {total:,} rows")

        results, notes = mod.moderate_texts(settings, texts, advance)
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
    st.title(TITLE)
    sidebar(settings)
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
