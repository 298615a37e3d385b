"""The evaluation and deployment steps as KFP components: evaluate(-response), guard-gate,
deploy (how the steps are declared: components/pipelines/__init__.py)."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)

from components.deploy import images

# evaluate loads both models (TensorFlow and PyTorch): the serving image has both stacks.
serving_step = dsl.component(base_image=images.image("serving"), install_kfp_package=False)


@serving_step
def evaluate(
    test_data: Input[Dataset],
    train_data: Input[Dataset],
    label_map: Input[Artifact],
    lstm_model: Input[Model],
    lora_model: Input[Model],
    summary: Output[Artifact],
    report: Output[HTML],
    report_md: Output[Markdown],
    lstm_metrics: Output[Metrics],
    lora_metrics: Output[Metrics],
    lstm_confusion: Output[ClassificationMetrics],
    lora_confusion: Output[ClassificationMetrics],
    guard_metrics: Output[Metrics],
    loso: Input[Artifact] = None,
    holdout_data: Input[Dataset] = None,
) -> NamedTuple("EvaluateOutputs", [("champion", str), ("champion_macro_f1", float)]):
    """Evaluate both models and a majority baseline on the untouched test split; for a guard
    (a Safe class) also unsafe recall and false-flag rate per source at the saved thresholds,
    the same on the held-out groups when `holdout_data` is given (out of source), and the
    leave-one-source-out table when `loso` is given.

    Returns:
        champion: the model with the best test macro-F1.
        champion_macro_f1: its test macro-F1 (the deploy step's quality gate).
    """
    from collections import namedtuple

    from components.evaluation.probes import headline  # the multilingual / obfuscation probe set
    from components.pipelines import kfp_io

    res = kfp_io.evaluate_step({"summary": summary, "report": report, "markdown": report_md},
                               test_data, train_data, label_map,
                               {"lstm": lstm_model, "lora": lora_model}, loso, holdout_data)
    for name, m_out, cm_out in [("lstm", lstm_metrics, lstm_confusion),
                                ("lora", lora_metrics, lora_confusion)]:
        kfp_io.log_model(m_out, cm_out, res["models"][name], res["labels"])
        if name in res["ablation"]:  # the prompt alone (first text column)
            kfp_io.log_metrics(m_out, {f"{key}_first_column_only": res["ablation"][name][key]
                                       for key in ("accuracy", "macro_f1")})
    for name, g in res.get("guard", {}).items():
        kfp_io.log_metrics(guard_metrics, g, ("threshold", "unsafe_recall", "false_flag_rate"),
                           prefix=f"{name}_")
    for name, h in res.get("holdout", {}).get("models", {}).items():
        kfp_io.log_metrics(guard_metrics, h["all"], ("unsafe_recall", "false_flag_rate"),
                           prefix=f"{name}_holdout_")
    kfp_io.log_loso_worst(guard_metrics, res.get("loso", {}), prefix="loso_")
    for name, figures in res.get("probes", {}).items():
        kfp_io.log_metrics(guard_metrics, headline(figures), prefix=f"{name}_")
    summary.metadata["champion"] = res["champion"]
    kfp_io.record_container(summary)
    return namedtuple("EvaluateOutputs", ["champion", "champion_macro_f1"])(
        res["champion"], float(res["models"][res["champion"]]["macro_f1"]))


@serving_step
def evaluate_response(
    test_data: Input[Dataset],
    train_data: Input[Dataset],
    label_map: Input[Artifact],
    lora_model: Input[Model],
    summary: Output[Artifact],
    report: Output[HTML],
    report_md: Output[Markdown],
    lora_metrics: Output[Metrics],
    lora_confusion: Output[ClassificationMetrics],
    guard_metrics: Output[Metrics],
    loso: Input[Artifact] = None,
    holdout_data: Input[Dataset] = None,
):
    """Evaluate the response model and a majority baseline on the untouched test split: its
    classes, its guard figures per source at the saved threshold, the response targets
    (refusals to harmful prompts judged safe, harmful compliance flagged, false flags on safe
    replies, refusal detection) on the test split and on the held-out groups, and the
    leave-one-source-out table."""
    import re

    from components.pipelines import kfp_io

    res = kfp_io.evaluate_step({"summary": summary, "report": report, "markdown": report_md},
                               test_data, train_data, label_map, {"lora": lora_model}, loso,
                               holdout_data)
    kfp_io.log_model(lora_metrics, lora_confusion, res["models"]["lora"], res["labels"])
    kfp_io.log_metrics(guard_metrics, res["guard"]["lora"],
                       ("threshold", "unsafe_recall", "false_flag_rate"), prefix="lora_")
    for split, figures in res.get("response", {}).get("lora", {}).items():
        # held-out group names hold '/' and ':'
        kfp_io.log_metrics(guard_metrics, {re.sub(r"\W+", "_", f"{split}_{key}"): value
                                           for key, value in figures.items()
                                           if isinstance(value, float)}, prefix="lora_")
    kfp_io.log_loso_worst(guard_metrics, res.get("loso", {}), prefix="loso_")
    kfp_io.record_container(summary)


@serving_step
def deploy_model(
    champion: str,
    champion_macro_f1: float,
    lstm_model: Input[Model],
    lora_model: Input[Model],
    deployment: Output[Artifact],
    min_macro_f1: float,
    canary_traffic_percent: int,
    namespace: str,
    profile: str,
):
    """Roll the champion out to KServe: create its InferenceService, or patch it with this
    run's model as a canary (KServe Python SDK, in-cluster credentials).

    Args:
        champion: the model evaluate chose.
        champion_macro_f1: its test macro-F1.
        min_macro_f1: quality gate: deploy only at or above this test macro-F1 (the pipeline's
            dsl.If skips the step below it; checked here again).
        canary_traffic_percent: share of the traffic the new model gets while the previous one
            keeps the rest (Knative mode); `pipeline.py promote|rollback` ends the canary.
        namespace: namespace of the InferenceServices.
        profile: manifests profile of the services: "default" (Knative) or "cpu-local"
            (Standard mode: no traffic split, the patch rolls out to 100%).
    """
    from components.deploy.deploy import DeployParams, deploy_champion, kserve_client
    from components.pipelines.kfp_io import publish_record, start_step

    start_step()
    model = lora_model if champion == "lora" else lstm_model
    params = DeployParams(deploy=True, min_macro_f1=min_macro_f1,
                          canary_traffic_percent=canary_traffic_percent, namespace=namespace,
                          profile=profile)
    record = deploy_champion(kserve_client(), champion, champion_macro_f1, model.uri, params)
    publish_record(record, deployment, metadata_leaves_out=("applied",))


@serving_step
def guard_gate(
    summary: Input[Artifact],
    prompts: Input[Dataset],
    gate: Output[Artifact],
    gate_metrics: Output[Metrics],
    run_id: str,
    run_name: str,
    min_unsafe_recall: float,
    max_false_flag_rate: float,
    min_language_unsafe_recall: float,
    max_language_false_flag_rate: float,
    max_regression: float,
    namespace: str,
) -> bool:
    """The guard's deployment gate: its figures out of source (held-out groups when the run has
    them, else the stratified test split; per language when measured) against the thresholds,
    and against the guard serving now (its InferenceService's annotations). The `gate` record
    says which figure passed or failed and holds the deployment card (run, figures, sources and
    their licences).

    Args:
        run_id: the pipeline run's id (recorded on the guard it deploys).
        run_name: the pipeline run's name.
        min_unsafe_recall: gate: the guard's worst held-out unsafe recall (else the stratified
            one) must be at least this.
        max_false_flag_rate: gate: its worst held-out false-flag rate (else the stratified one)
            must be at most this.
        min_language_unsafe_recall: gate: the unsafe recall in each language the run measured
            (multilingual probes) must be at least this.
        max_language_false_flag_rate: gate: the false-flag rate in each language the run
            measured must be at most this.
        max_regression: gate: no figure worse than the serving guard's (same basis) by more
            than this.
        namespace: namespace of the InferenceServices.

    Returns:
        Every check passed (the deploy step's condition).
    """
    import json

    from components.deploy.deploy import GUARD_MODEL, GuardDeployParams, kserve_client
    from components.deploy.deploy import guard_gate as run
    from components.evaluation.evaluate import gate_figures
    from components.pipelines.kfp_io import publish_record, start_step

    start_step()
    with open(summary.path) as f:
        figures = gate_figures(json.load(f), GUARD_MODEL)
    params = GuardDeployParams(
        deploy=True, min_unsafe_recall=min_unsafe_recall, max_false_flag_rate=max_false_flag_rate,
        min_language_unsafe_recall=min_language_unsafe_recall,
        max_language_false_flag_rate=max_language_false_flag_rate, max_regression=max_regression,
        namespace=namespace)
    record = run(figures, prompts.metadata.get("rows_per_source") or {}, run_id, run_name,
                 kserve_client(), params)
    publish_record(record, gate)
    gate.metadata.update(passed=record["passed"], basis=figures["basis"],
                         failed=record["gate"]["failed"])
    for key in ("unsafe_recall", "false_flag_rate"):
        if figures[key] is not None:
            gate_metrics.log_metric(key, figures[key])
        for lang, f in figures["languages"].items():
            if f[key] is not None:
                gate_metrics.log_metric(f"{lang}_{key}", f[key])
    return bool(record["passed"])


@serving_step
def deploy_guard(
    lora_model: Input[Model],
    gate: Input[Artifact],
    deployment: Output[Artifact],
    min_unsafe_recall: float,
    max_false_flag_rate: float,
    min_language_unsafe_recall: float,
    max_language_false_flag_rate: float,
    max_regression: float,
    canary_traffic_percent: int,
    namespace: str,
    profile: str,
    local_models_uri: str,
):
    """Roll the guard out to KServe: check the gate again, then create the `guard`
    InferenceService, or replace it (offline backend on this run's lora model, its deployment
    card in the model card) as a canary.

    Args:
        canary_traffic_percent: share of the traffic the new guard gets while the previous one
            keeps the rest (Knative mode); `pipeline.py promote|rollback guard` ends the canary.
        namespace: namespace of the InferenceServices.
        profile: manifests profile of the services: "default" (Knative) or "cpu-local"
            (Standard mode: no traffic split, the rollout goes to 100%).
        local_models_uri: a kfp.local run (`run-guard --deploy true`): the URI under which the
            cluster sees the local pipeline root (a bucket it was copied to, or pvc://CLAIM);
            '' refuses local model paths.
    """
    import json

    from components.deploy.deploy import GuardDeployParams, deploy_guard, kserve_client
    from components.pipelines.kfp_io import publish_record, start_step

    start_step()
    params = GuardDeployParams(
        deploy=True, min_unsafe_recall=min_unsafe_recall, max_false_flag_rate=max_false_flag_rate,
        min_language_unsafe_recall=min_language_unsafe_recall,
        max_language_false_flag_rate=max_language_false_flag_rate, max_regression=max_regression,
        canary_traffic_percent=canary_traffic_percent, namespace=namespace, profile=profile,
        local_models_uri=local_models_uri)
    with open(gate.path) as f:
        gate_record = json.load(f)
    record = deploy_guard(kserve_client(), lora_model.uri, gate_record, params)
    publish_record(record, deployment, metadata_leaves_out=("applied", "card", "gate"))
    deployment.metadata["gate_passed"] = record["gate"]["passed"]
