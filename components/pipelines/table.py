"""The parameter table of docs/pipeline.md (`pipeline.py params`), from the pipelines and their
step dataclasses: one row per pipeline parameter, its default in each pipeline and its meaning."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from components.pipelines.params import pipeline_name
from components.pipelines.spec import STEP_PREFIX, PipelineSpec

# Meanings of the parameters no component takes (they steer the pipeline itself).
PARAM_NOTES = {
    "data": "CSV/Parquet path or URI of the labelled dataset (required)",
    "seed_data": "the seed dataset ('' leaves it out; `run-guard`: ../shared/data/toxic_data.csv)",
    "seed": "seed of the split, the augmentation and the training (every step)",
    "deploy": "roll the champion (toxic-filter) or the lora guard (toxic-guard) out to KServe "
              "after evaluate (a canary, behind a quality gate; needs a cluster)",
}
REQUIRED = object()  # marks a parameter without a default in parameter_rows()


def parameter_sources(spec: PipelineSpec) -> dict[str, list[tuple[str, str]]]:
    """pipeline parameter -> the (step, dataclass field) pairs it sets, for one pipeline."""
    out: dict[str, list[tuple[str, str]]] = {n: [] for n in spec.pipeline.component_spec.inputs}
    for step in spec.steps:
        for field in dataclasses.fields(getattr(spec.defaults, step)):
            name = pipeline_name(field.name, STEP_PREFIX[step])
            if name in out:
                out[name].append((step, field.name))
    return out


def parameter_rows(pipelines: Mapping[str, PipelineSpec]) -> list[dict[str, Any]]:
    """One row per pipeline parameter: its default in each pipeline (keyed by the pipeline's
    name; absent: not a parameter of it) and its meaning (the docstring of the component that
    takes it)."""
    rows: dict[str, dict[str, Any]] = {}
    for spec in pipelines.values():
        for name, sources in parameter_sources(spec).items():
            given = spec.pipeline.component_spec.inputs[name]
            row = rows.setdefault(name, {"parameter": name, "meaning": PARAM_NOTES.get(name)})
            row[spec.name] = REQUIRED if given.default is None else given.default
            for step, field in sources:
                comp_input = spec.steps[step].component_spec.inputs.get(field)
                if row["meaning"] is None and comp_input is not None and comp_input.description:
                    row["meaning"] = comp_input.description
    if "lora_base_model" in rows:
        rows["lora_base_model"]["meaning"] += (
            f" (`run` default: `{pipelines['toxic'].local_base_model}`, "
            f"`run-guard`/`run-response`: `{pipelines['guard'].local_base_model}`)")
    return list(rows.values())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if value is REQUIRED:
        return "required"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def parameter_table(pipelines: Mapping[str, PipelineSpec]) -> str:
    """docs/pipeline.md's parameter table, from the pipelines and their step dataclasses."""
    names = [spec.name for spec in pipelines.values()]
    lines = ["| parameter | " + " | ".join(names) + " | meaning |",
             "|---|" + "---|" * len(names) + "---|"]
    for r in parameter_rows(pipelines):
        meaning = " ".join((r["meaning"] or "").split()).replace("|", "\\|")
        lines.append(f"| `{r['parameter']}` | "
                     + " | ".join(_cell(r.get(name)) for name in names) + f" | {meaning} |")
    return "\n".join(lines)
