"""The probe set's figures (`components.evaluation.probes.probe_metrics`) as report tables and sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.evaluation.probes import LANGUAGES


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _shift(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "-"
    return f"{before:.3f} -> {after:.3f} ({after - before:+.3f})"


def language_rows(probes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per model and language: the probe set's figures."""
    return [{"model": model, "language": f"{v['language']} ({lang})", "script": v["script"],
             "unsafe recall": _f(v["unsafe_recall"]), "passed as safe": _f(v["passed_as_safe"]),
             "false-flag rate": _f(v["false_flag_rate"]),
             "look-alike false flags": _f(v["lookalike_false_flag_rate"]),
             "AUROC": _f(v["auroc"]), "cannot assess": f"{v['cannot_assess']} / {v['unsafe'] + v['safe']}"}
            for model, fig in probes.items() for lang, v in fig["per_language"].items()]


def obfuscation_rows(probes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per model and transform: recall plain -> transformed, cannot assess, benign false flags."""
    rows = []
    for model, fig in probes.items():
        for kind, e in fig["per_obfuscation"].items():
            b = e.get("benign", {})
            rows.append({
                "model": model, "kind": kind,
                "probe prompts (en): recall": _shift(e["probe"]["plain_recall"], e["probe"]["recall"]),
                "test prompts: recall": _shift(e["test"]["plain_recall"], e["test"]["recall"]),
                "rows (probe / test)": f"{e['probe']['rows']} / {e['test']['rows']}",
                "passed as safe (probe / test)": f"{_f(e['probe']['passed_as_safe'])} / "
                                                 f"{_f(e['test']['passed_as_safe'])}",
                "cannot assess (probe / test)": f"{e['probe']['cannot_assess']} / "
                                                f"{e['test']['cannot_assess']}",
                "benign false flags (probe / test)": (
                    f"{_shift(b['probe']['plain_false_flag_rate'], b['probe']['false_flag_rate'])}"
                    f" / {_shift(b['test']['plain_false_flag_rate'], b['test']['false_flag_rate'])}"
                    if b else "")})
    return rows


def _markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


LANGUAGE_NOTE = ("Probe set (components/evaluation/probe_data/multilingual.csv: the team's own prompts in "
                 "{n} languages) at each model's saved threshold, fitted on the run's validation "
                 "split; 'cannot assess' answers are neither caught nor passed")
OBFUSCATION_NOTE = ("Obfuscated and wrapped forms of the probe set's English harmful prompts "
                    "and of a seeded sample of the test split's harmful prompts (recall plain -> "
                    "transformed); benign false flags under the transforms that keep a prompt "
                    "benign")


def probe_tables(probes: Mapping[str, Any]) -> str:
    """Both tables in Markdown (printed with evaluate's comparison)."""
    text = (LANGUAGE_NOTE.format(n=len(LANGUAGES)) + ":\n\n" + _markdown(language_rows(probes))
            + "\n\n" + OBFUSCATION_NOTE + ":\n\n" + _markdown(obfuscation_rows(probes)))
    for model, fig in probes.items():
        if fig.get("excluded_ids"):
            text += (f"\n\n{model}: {len(fig['excluded_ids'])} probe ids left out (in its "
                     "training split)")
        for kind, why in fig.get("skipped", {}).items():
            text += f"\n\n{model}: {kind} not measured: {why}"
    return text


def report_sections(probes: Mapping[str, Any], out: Path) -> list[tuple[str, str]]:
    """HTML report sections with plots (PNG files written into `out`)."""
    from components.evaluation import plots

    sections = [("Probe set: per language", f"<p>{LANGUAGE_NOTE.format(n=len(LANGUAGES))}.</p>"
                 + plots.table(language_rows(probes))),
                ("Probe set: obfuscated and wrapped prompts", f"<p>{OBFUSCATION_NOTE}.</p>"
                 + plots.table(obfuscation_rows(probes)))]
    for model, fig in probes.items():
        langs = fig["per_language"]
        png = plots.grouped_bars(
            {"unsafe recall": {k: v["unsafe_recall"] or 0.0 for k, v in langs.items()},
             "false-flag rate": {k: v["false_flag_rate"] or 0.0 for k, v in langs.items()},
             "cannot assess": {k: v["cannot_assess"] / max(1, v["unsafe"] + v["safe"])
                               for k, v in langs.items()}},
            f"{model}: probe set per language (saved threshold)",
            out / f"probes_languages_{model}.png", "share of prompts")
        obf = fig["per_obfuscation"]
        bars = {f"{form} ({name})": {k: (e[name]["plain_recall"] if form == "plain"
                                         else e[name]["recall"]) or 0.0 for k, e in obf.items()}
                for name in ("probe", "test") for form in ("plain", "transformed")}
        png2 = plots.grouped_bars(bars, f"{model}: unsafe recall, plain vs transformed",
                                  out / f"probes_obfuscation_{model}.png", "unsafe recall")
        notes = "".join(f"<p>{kind} not measured: {why}</p>"
                        for kind, why in fig.get("skipped", {}).items())
        sections.append((f"{model} on the probe set", plots.img_tag(png, model)
                         + plots.img_tag(png2, model) + notes))
    return sections
