"""The self-description every model directory carries (`model_info.json`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from components.core.errors import ModelDirError
from components.core.files import read_json, write_json

MODEL_INFO = "model_info.json"
FORMAT_VERSION = 1


def save_model_info(model_dir: str | os.PathLike[str], model_type: str, labels: list[str],
                    text_settings: dict[str, Any], input_field: str, max_length: int,
                    **extra: Any) -> dict[str, Any]:
    """Write model_info.json: what a server needs to rebuild the model's exact preprocessing.

    Args:
        model_dir: the model directory.
        model_type: "lstm" or "lora".
        labels: class names in the order of the model's outputs.
        text_settings: components.core.text.TextSettings as a dict.
        input_field: "text_lstm" (stemmed) or "text" (cleaned) - what the model was trained on.
        max_length: sequence length (LSTM) / tokenizer max length (transformer).
        **extra: anything else worth keeping (hyper-parameters, metrics, base model).
    """
    info = {"format_version": FORMAT_VERSION, "model_type": model_type, "labels": list(labels),
            "text_settings": text_settings, "input_field": input_field,
            "max_length": int(max_length), **extra}
    write_json(Path(model_dir) / MODEL_INFO, info)
    return info


def load_model_info(model_dir: str | os.PathLike[str], model_type: str | None = None) -> dict[str, Any]:
    """Read and check model_info.json.

    Raises:
        ModelDirError: the directory or file is missing, or it holds another model type/version.
    """
    path = Path(model_dir) / MODEL_INFO
    if not path.is_file():
        raise ModelDirError(f"{model_dir} is not a model directory: {MODEL_INFO} not found")
    info = read_json(path)
    if info.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(f"{path}: format_version {info.get('format_version')!r}, "
                            f"this code reads {FORMAT_VERSION}")
    if model_type and info.get("model_type") != model_type:
        raise ModelDirError(f"{model_dir} holds a {info.get('model_type')!r} model, "
                            f"expected {model_type!r}")
    return info
