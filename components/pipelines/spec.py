"""What a pipeline is made of, for its builder, the CLI and the parameter table: each step's
defaults (a step dataclass), the prefix of its pipeline parameters, and the pipeline's entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from components.data.augment import AugmentParams
from components.data.ingest import IngestParams
from components.data.preprocess import PreprocessParams
from components.data.responses import ResponseIngestParams
from components.deploy.deploy import DeployParams, GuardDeployParams
from components.pipelines.params import step_inputs
from components.training.lora_train import LoraParams
from components.training.loso import LosoParams
from components.training.lstm_train import LstmParams


@dataclasses.dataclass(frozen=True)
class PipelineDefaults:
    """The step dataclasses holding one pipeline's defaults (see components/pipelines/params.py)."""

    preprocess: PreprocessParams
    augment: AugmentParams
    lstm: LstmParams
    lora: LoraParams
    ingest: IngestParams | None = None
    loso: LosoParams | None = None
    deploy: DeployParams | GuardDeployParams | None = None
    gate: GuardDeployParams | None = None  # the guard's gate step: the deploy parameters
    responses: ResponseIngestParams | None = None


# The pipeline parameter that sets a step's field is prefix + field (components.pipelines.params).
STEP_PREFIX = {"preprocess": "", "augment": "", "lstm": "lstm_", "lora": "lora_", "ingest": "",
               "loso": "lora_", "deploy": "deploy_", "gate": "deploy_", "responses": ""}


def step_call(component: Any, step: str, defaults: PipelineDefaults, params: Mapping[str, Any],
              **given: Any) -> dict[str, Any]:
    """A component call's inputs: `given`, then each parameter from the pipeline parameter of
    its name (components.pipelines.params.pipeline_name) or else the step dataclass's value."""
    return step_inputs(component, getattr(defaults, step), params, STEP_PREFIX[step], **given)


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """One pipeline as the CLI and the parameter table see it.

    Attributes:
        name: the KFP pipeline name (and the prefix of its run directories).
        build: the builder; takes a components.pipelines.resources.GpuConfig.
        pipeline: the pipeline built with the default GPU placement.
        defaults: its step dataclasses.
        steps: step (a PipelineDefaults field) -> the component that takes its parameters.
        local_base_model: lora-train's encoder on a local run (kfp.local).
    """

    name: str
    build: Callable[..., Any]
    pipeline: Any
    defaults: PipelineDefaults
    steps: Mapping[str, Any]
    local_base_model: str
