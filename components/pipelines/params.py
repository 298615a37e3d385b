"""Step parameters: one frozen dataclass per step holds the defaults; KFP calls are built from it.

Every step module defines its parameters once, as a frozen dataclass (`PreprocessParams`,
`AugmentParams`, `LstmParams`, `LoraParams`, `IngestParams`, `LosoParams`, `DeployParams`,
`GuardDeployParams`).
The KFP components declare the same names and types WITHOUT defaults (KFP ships a component's
source to its container, where a default written as `PreprocessParams.seed` would not resolve),
and `step_inputs` fills every call from the dataclass: the pipeline parameter of that name when
the pipeline exposes it, else the dataclass value, which compiles to a constant input. The
pipelines' own signatures take their defaults from the same dataclass instances; the CLI flags
and docs/pipeline.md's parameter table are derived from the pipelines (tests check all of it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# KFP's parameter type names -> Python types
KFP_TYPES: dict[str, type] = {"String": str, "Integer": int, "Float": float, "Boolean": bool}
SEED = 42  # every step's default seed (splits, samples, training, generated data)
# Fields that one pipeline parameter sets in every step that has them (never prefixed).
SHARED = ("seed", "target_false_flag_rate")


def pipeline_name(field: str, prefix: str = "") -> str:
    """The pipeline parameter that sets a step's `field`: `prefix + field` (lstm_epochs), unless
    the field is shared (seed), already carries the prefix (lstm_units) or is the prefix (deploy).
    """
    if not prefix or field in SHARED or field.startswith(prefix) or field == prefix.rstrip("_"):
        return field
    return prefix + field


def component_parameters(component: Any) -> dict[str, type]:
    """A KFP component's parameter inputs (not artifacts): name -> Python type."""
    return {name: KFP_TYPES[spec.type] for name, spec in component.component_spec.inputs.items()
            if spec.type in KFP_TYPES}


def check_component(component: Any, params_cls: type, given: tuple[str, ...] = ()) -> None:
    """Every parameter of `component` (except `given`) is a field of `params_cls`, same type.

    Raises:
        TypeError: naming the parameter that has no field, or whose type differs.
    """
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    name = getattr(component, "name", component)
    for param, typ in component_parameters(component).items():
        if param in given:
            continue
        if param not in fields:
            raise TypeError(f"component {name}: parameter {param!r} is not a field of "
                            f"{params_cls.__name__} (fields: {sorted(fields)})")
        default = getattr(params_cls(), param)
        if type(default) is not typ:
            raise TypeError(f"component {name}: parameter {param!r} is {typ.__name__} but "
                            f"{params_cls.__name__}.{param} is {type(default).__name__}")


def step_inputs(component: Any, defaults: Any, pipeline_params: Mapping[str, Any],
                prefix: str = "", **given: Any) -> dict[str, Any]:
    """Keyword arguments of one component call inside a pipeline.

    Args:
        component: the KFP component.
        defaults: the step's dataclass instance holding this pipeline's defaults.
        pipeline_params: the pipeline's parameters (its `locals()` while compiling).
        prefix: the step's pipeline-parameter prefix (`lstm_`), see `pipeline_name`.
        **given: inputs passed as they are (data, upstream artifacts).

    Returns:
        `given` plus, for every other parameter of the component, the pipeline parameter named
        `pipeline_name(param, prefix)` when the pipeline has it, else the dataclass value.
    """
    check_component(component, type(defaults), tuple(given))
    out = dict(given)
    for param in component_parameters(component):
        if param in given:
            continue
        name = pipeline_name(param, prefix)
        out[param] = pipeline_params[name] if name in pipeline_params else getattr(defaults, param)
    return out
