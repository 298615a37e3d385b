"""A lora model directory's merged model as ONNX: the fp32 export and its dynamic int8
quantization by the `RECIPES`, with the parameters of both and of their check
(`components.training.export`, which runs the step)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.core.errors import ModelDirError
from components.core.predict import ONNX_INPUTS, ONNX_LABELS_KEY, ONNX_OUTPUT, LoraPredictor

OPSET = 17
FP32_FILE = "model.fp32.onnx"  # kept only with keep_fp32 (the merged weights are the fp32 model)
MIN_ARGMAX_AGREEMENT = 0.99  # int8 vs fp32 on validation: bounds |accuracy change| by 1 point
MAX_FLIP_RATE = 0.01  # guard decisions flipped, per side: bounds recall / false-flag changes
# Quantization recipes, tried in this order until one passes the check (`ExportParams.recipes`).
# Weight MatMuls in int8 are where the speed comes from; how many of them a model can take
# depends on its activations: MiniLM-L6 keeps 99.7% argmax agreement with all of them, the
# 12-layer multilingual-e5-small guard (run-guard, 2026-12-06) only 95% (its feed-forward
# layers, fed by the GELU's long-tailed outputs, lose the most: 95.3% with only them in int8,
# 99.8% with only the attention output projections, 99.0% with the attention projections,
# 99.7% with only the word embeddings).
RECIPES: dict[str, str] = {
    "int8": "every weight MatMul and the word embeddings in int8",
    "int8-attention": "the attention projections and the word embeddings in int8, the "
                      "feed-forward layers in fp32",
    "int8-embeddings": "the word embeddings in int8, every MatMul in fp32",
}
ATTENTION_NODE = "/attention/"  # exporter node names of BERT's and DistilBERT's attention blocks


@dataclasses.dataclass(frozen=True)
class ExportParams:
    """How the ONNX model is quantized and how close to fp32 it must stay.

    Attributes:
        opset: ONNX opset of the export.
        per_channel: int8 weights with one scale per output channel (else per tensor).
        reduce_range: 7-bit weights: avoids the u8 x s8 saturation of CPUs without VNNI
            (AVX2 only) at some cost in accuracy on VNNI/AMX CPUs.
        quantize_embeddings: quantize the word-embedding Gather too (a quarter of the size).
        recipes: the `RECIPES` tried in order until one passes the check; the first that
            passes serves (the step fails when none does). ("int8",): all or nothing.
        min_agreement: least argmax agreement with fp32 on validation.
        max_flip_rate: most guard decisions flipped, per side (unsafe / benign rows).
        keep_fp32: keep the fp32 ONNX model beside the int8 one (FP32_FILE).
    """

    opset: int = OPSET
    per_channel: bool = True
    reduce_range: bool = False
    quantize_embeddings: bool = True
    recipes: tuple[str, ...] = tuple(RECIPES)
    min_agreement: float = MIN_ARGMAX_AGREEMENT
    max_flip_rate: float = MAX_FLIP_RATE
    keep_fp32: bool = False

    def __post_init__(self) -> None:
        unknown = [r for r in self.recipes if r not in RECIPES]
        if unknown or not self.recipes:
            raise ValueError(f"recipes must be some of {list(RECIPES)}, got {list(self.recipes)}")
        for name in ("min_agreement", "max_flip_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")


# --------------------------------------------------------------------------- export (torch)
def export_fp32(predictor: LoraPredictor, path: Path, opset: int = OPSET) -> list[str]:
    """Write the merged model's logits as an ONNX graph with dynamic batch and sequence axes.

    Args:
        predictor: the torch predictor of the model directory (merged weights, tokenizer).
        path: the ONNX file to write.
        opset: ONNX opset.

    Returns:
        The graph's input names (those of ONNX_INPUTS the tokenizer produces).
    """
    import torch

    model, tokenizer = predictor.model, predictor.tokenizer
    names = [n for n in ONNX_INPUTS if n in tokenizer.model_input_names]
    if "input_ids" not in names or "attention_mask" not in names:
        raise ModelDirError(f"the tokenizer's inputs {tokenizer.model_input_names} lack "
                            f"input_ids or attention_mask: cannot export")

    class Logits(torch.nn.Module):
        """The classifier's logits from positional token tensors (in `names` order)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, tensors, strict=True))).logits

    wrapper = Logits().eval()  # a fresh module is in train mode: dropout would be exported on
    enc = tokenizer(["a short text", "a second, somewhat longer text to pad the first one"],
                    padding=True, return_tensors="pt")
    args = tuple(enc[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[ONNX_OUTPUT] = {0: "batch"}
    with torch.inference_mode():
        torch.onnx.export(wrapper, args, str(path), input_names=names,
                          output_names=[ONNX_OUTPUT], dynamic_axes=axes, opset_version=opset,
                          dynamo=False, do_constant_folding=True)
    return names


# --------------------------------------------------------------------------- quantization
def label_model(fp32: Path, labels: Sequence[str]) -> list[str]:
    """Write the class names into an fp32 ONNX classifier's metadata (quantization keeps them:
    a load refuses a file exported for other classes).

    Returns:
        The names of its MatMul nodes (what a recipe quantizes or leaves in fp32).
    """
    import onnx

    model = onnx.load(str(fp32))
    onnx.helper.set_model_props(model, {ONNX_LABELS_KEY: json.dumps(list(labels))})
    onnx.save(model, str(fp32))
    return [n.name for n in model.graph.node if n.op_type == "MatMul"]


def quantize(fp32: Path, int8: Path, labels: Sequence[str],
             params: ExportParams = ExportParams(),  # noqa: B008 (frozen)
             recipe: str = "int8", matmuls: Sequence[str] | None = None) -> dict[str, Any]:
    """Dynamic int8 quantization of an fp32 ONNX classifier by one of the `RECIPES`, class
    names in its metadata.

    Args:
        fp32: the fp32 ONNX model.
        int8: the file to write.
        labels: class names.
        params: per channel, reduce range, embeddings.
        recipe: which weights to quantize (`RECIPES`).
        matmuls: the fp32 model's MatMul node names (`label_model`'s; labels it when None).

    Returns:
        What was done, for model_info.json.
    """
    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    if matmuls is None:
        matmuls = label_model(fp32, labels)
    ops = ["Gather"] if params.quantize_embeddings else []
    excluded: list[str] = []
    if recipe != "int8-embeddings":
        ops.insert(0, "MatMul")
    if recipe == "int8-attention":
        excluded = [n for n in matmuls if ATTENTION_NODE not in n]
    record = {"method": "dynamic", "recipe": recipe, "description": RECIPES[recipe],
              "weights": "int8 (QInt8), per output channel" if params.per_channel
              else "int8 (QInt8), per tensor",
              "activations": "uint8, scaled per batch" if scales_per_batch(ops)
              else "fp32 (weights only: the Gather dequantizes its int8 table)",
              "op_types": ops, "fp32_matmuls": len(excluded) if ops[:1] == ["MatMul"]
              else len(matmuls), "reduce_range": params.reduce_range}
    if not ops:  # nothing of this recipe to quantize: the fp32 model
        shutil.copyfile(fp32, int8)
        return record
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # the quantizer logs a line per tensor at INFO
    try:
        quantize_dynamic(str(fp32), str(int8), op_types_to_quantize=ops,
                         per_channel=params.per_channel, reduce_range=params.reduce_range,
                         weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    finally:
        root.setLevel(level)
    return record


def scales_per_batch(op_types: Sequence[str]) -> bool:
    """Whether a dynamic quantization of these op types scales activations per forward pass:
    a quantized MatMul does (DynamicQuantizeLinear on its input), so a text's answer moves a
    little with its batch mates; a quantized Gather (the word embeddings) only dequantizes its
    int8 weights, and leaves every activation fp32, so a text's answer does not depend on the
    batch it runs in."""
    return "MatMul" in op_types
