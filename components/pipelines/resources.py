"""Where the pipelines' steps run on a cluster: CPU/memory requests and limits, a non-root
security context, and lora-train's GPU request and node placement (set at compile time)."""

from __future__ import annotations

import dataclasses
from typing import Any

from kfp import kubernetes

from components.deploy.kserve_spec import RUN_AS_USER


@dataclasses.dataclass(frozen=True)
class StepSize:
    """CPU/memory requests and limits of one pipeline step on a cluster (docs/cluster.md,
    "Resources")."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


# Sized from the peak RSS of each step in local runs on the full seed dataset, the larger of the
# two pipelines (scripts/measure_step_memory.py; docs/cluster.md "Resources"): memory request =
# the peak plus a margin, limit = twice the request; CPU by what the step parallelises.
STEP_SIZES = {
    "preprocess": StepSize("500m", "512Mi", "1", "1Gi"),  # peak 294 MiB
    "augment": StepSize("500m", "768Mi", "1", "1536Mi"),  # peak 457 MiB (seed), 275 (guard)
    "lstm-train": StepSize("1", "2Gi", "2", "4Gi"),  # peak 836 MiB (seed), 1,717 (guard)
    # peak 1,028 MiB (seed), 1,590 (guard) on CPU; on a GPU node the CUDA libraries add host
    # memory (not measured here: no GPU)
    "lora-train": StepSize("2", "3Gi", "4", "6Gi"),
    "evaluate": StepSize("1", "2Gi", "2", "4Gi"),  # peak 1,290 MiB (seed), 1,461 (guard)
    # peak 202 MiB (KServe SDK); the guard's deploy-guard 224 MiB
    "deploy": StepSize("100m", "256Mi", "500m", "512Mi"),
    "guard-gate": StepSize("100m", "384Mi", "500m", "768Mi"),  # peak 321 MiB (+ evaluate's stack)
    # the guard pipeline's own steps
    "ingest": StepSize("500m", "768Mi", "1", "1536Mi"),  # peak 484 MiB
    "preprocess-prompts": StepSize("500m", "512Mi", "1", "1Gi"),  # peak 404 MiB
    "leave-one-source-out": StepSize("2", "1536Mi", "4", "3Gi"),  # peak 1,066 MiB
    # the response pipeline's own step (ShareGPT's 125 MB JSON is parsed in memory)
    "ingest-responses": StepSize("500m", "1536Mi", "1", "3Gi"),
}


def size_step(task: Any, name: str) -> None:
    """A step's requests and limits, and a non-root security context (the KFP backend adds
    allowPrivilegeEscalation=false, drop ALL and seccomp RuntimeDefault itself)."""
    s = STEP_SIZES[name]
    task.set_cpu_request(s.cpu_request).set_memory_request(s.memory_request)
    task.set_cpu_limit(s.cpu_limit).set_memory_limit(s.memory_limit)
    kubernetes.set_security_context(task, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER,
                                    run_as_non_root=True)


@dataclasses.dataclass(frozen=True)
class GpuConfig:
    """Where lora-train runs on a cluster (set at compile time; ignored by kfp.local)."""

    enabled: bool = True
    accelerator: str = "nvidia.com/gpu"
    count: int = 1
    node_selector: tuple[tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
    tolerations: tuple[tuple[str, str], ...] = (("nvidia.com/gpu", "NoSchedule"),)  # key, effect
    # a GPU does the work: the CPU side tokenizes and feeds it (peak RSS: docs/cluster.md)
    cpu_limit: str = STEP_SIZES["lora-train"].cpu_limit
    memory_limit: str = STEP_SIZES["lora-train"].memory_limit


def place_on_gpu(task: Any, gpu: GpuConfig) -> None:
    """lora-train's resources, GPU request and GPU-node placement."""
    size_step(task, "lora-train")
    task.set_cpu_limit(gpu.cpu_limit).set_memory_limit(gpu.memory_limit)
    if gpu.enabled:
        task.set_accelerator_type(gpu.accelerator).set_accelerator_limit(gpu.count)
        for key, value in gpu.node_selector:
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for key, effect in gpu.tolerations:
            kubernetes.add_toleration(task, key=key, operator="Exists", effect=effect)
