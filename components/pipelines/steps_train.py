"""The training steps as KFP components: lstm-train, lora-train, leave-one-source-out
(how the steps are declared: components/pipelines/__init__.py)."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.deploy import images

tf_step = dsl.component(base_image=images.image("trainer-tf"), install_kfp_package=False)
gpu_step = dsl.component(base_image=images.image("trainer-gpu"), install_kfp_package=False)


@tf_step
def lstm_train(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    label_map: Input[Artifact],
    length_stats: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    training_report: Output[HTML],
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
    from components.pipelines.kfp_io import publish_model, start_step
    from components.training.lstm_train import REPORT_FILE, LstmParams, train_lstm

    start_step()
    params = LstmParams(epochs=epochs, embedding_dim=embedding_dim, lstm_units=lstm_units,
                        dense_units=dense_units, dropout=dropout, l2=l2,
                        learning_rate=learning_rate, batch_size=batch_size, patience=patience,
                        seed=seed, target_false_flag_rate=target_false_flag_rate)
    info = train_lstm(train_data.path, val_data.path, label_map.path, length_stats.path,
                      model.path, params)
    publish_model(model, training_report, metrics, info, REPORT_FILE, framework="keras",
                  model_type="lstm")


@gpu_step
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
    from components.pipelines.kfp_io import log_metrics, publish_model, start_step
    from components.training.lora_train import REPORT_FILE, LoraParams, train_lora

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
    publish_model(model, training_report, metrics, info, REPORT_FILE, framework="peft",
                  model_type="lora", base_model=base_model, device=info["device"])
    if info.get("calibration"):  # the served (int8 ONNX) model's
        log_metrics(metrics, info["calibration"], ("temperature", "threshold"))
    onnx = info["engines"]["onnx"]  # components.training.export: checked against fp32
    model.metadata.update(serving_engine="onnx", onnx_mb=round(onnx["bytes"] / 1e6, 1))
    for layout in ("alone", "batched"):
        metrics.log_metric(f"int8_agreement_{layout}", onnx["check"][layout]["argmax_agreement"])


@gpu_step
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
    from components.pipelines.kfp_io import log_loso_worst, log_metrics, run_step
    from components.training.loso import FILES
    from components.training.loso import leave_one_source_out as run

    res = run_step(run, {"summary": loso, "report": loso_report},
                   [train_data.path, val_data.path, test_data.path], label_map.path, files=FILES,
                   base_model=base_model, group_column=group_column,
                   target_false_flag_rate=target_false_flag_rate, max_length=max_length, seed=seed)
    log_loso_worst(metrics, res)
    for group, r in res["groups"].items():
        log_metrics(metrics, r, ("unsafe_recall", "false_flag_rate"), prefix=f"{group}_")
