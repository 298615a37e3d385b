"""What the model servers read and write: request limits, checked v1 bodies and v2 tensors, output tensors.

Pure helpers, no server: a bad request raises `kserve.errors.InvalidInput` (HTTP 400) with a
message that says what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from kserve.errors import InferenceError, InvalidInput
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest

from serving import connections

MAX_INSTANCES = 256  # instances (v1) or tensor rows (v2) per request
MAX_TEXT_CHARS = 100_000  # characters per text; transformer servers truncate to tokens anyway
MAX_TOTAL_CHARS = 2_000_000  # characters per request, all texts together


# --------------------------------------------------------------------------- limits
@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Per-request limits; anything beyond them is answered with a 4xx, never processed.

    Attributes:
        max_instances: most instances (v1) or tensor rows (v2) in one request.
        max_text_chars: most characters in one text field.
        max_total_chars: most characters in all text fields of one request together.
    """

    max_instances: int = MAX_INSTANCES
    max_text_chars: int = MAX_TEXT_CHARS
    max_total_chars: int = MAX_TOTAL_CHARS

    def __post_init__(self) -> None:
        connections.require_positive(self, integers=True)


# --------------------------------------------------------------------------- v1 parsing
def describe(value: Any, limit: int = 40) -> str:
    """Say briefly what a JSON value is, for error messages: type and a clipped repr."""
    kind = type(value).__name__
    if isinstance(value, list | tuple | dict):
        return f"{kind} of {len(value)}"
    text = repr(value)
    return f"{kind} {text[:limit]}{'...' if len(text) > limit else ''}"


def check_count(n: int, limits: RequestLimits, what: str = "instances") -> None:
    """Require 1 <= n <= limits.max_instances.

    Raises:
        InvalidInput: n is zero or above the limit.
    """
    if n == 0:
        raise InvalidInput(f"expected at least one item in {what}, got an empty list")
    if n > limits.max_instances:
        raise InvalidInput(f"too many {what}: {n}, this server accepts at most "
                           f"{limits.max_instances} per request (split the batch)")


def v1_instances(payload: Any, limits: RequestLimits) -> list[Any]:
    """The `instances` list of a v1 request body, checked for presence, type and length.

    Args:
        payload: the decoded request body.
        limits: request limits (`max_instances`).

    Returns:
        The instances, unchanged.

    Raises:
        InvalidInput: the body is not an object with a non-empty `instances` list within limits.
    """
    if not isinstance(payload, dict):
        raise InvalidInput('expected a JSON object {"instances": [...]}, '
                           f"got {describe(payload)}")
    if "instances" not in payload:
        keys = ", ".join(sorted(map(str, payload))) or "none"
        raise InvalidInput(f'expected a JSON object with an "instances" list, found keys: {keys}')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InvalidInput(f'expected "instances" to be a list, got {describe(instances)}')
    check_count(len(instances), limits)
    return instances


def check_text(value: Any, where: str, limits: RequestLimits) -> str:
    """Require a non-blank string of at most `limits.max_text_chars` characters.

    Args:
        value: the candidate text.
        where: where it was found, for the message (e.g. "instances[3]").
        limits: request limits.

    Returns:
        The text, unchanged.

    Raises:
        InvalidInput: not a string, blank, or too long.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: expected a string, got {describe(value)}")
    if not value.strip():
        raise InvalidInput(f"{where}: expected a non-empty text, got {value!r}")
    if len(value) > limits.max_text_chars:
        raise InvalidInput(f"{where}: text has {len(value)} characters, this server accepts at "
                           f"most {limits.max_text_chars}")
    return value


def check_total_chars(texts: Sequence[str], limits: RequestLimits) -> None:
    """Require the texts of one request to hold at most `limits.max_total_chars` characters.

    Raises:
        InvalidInput: the request holds more text than allowed.
    """
    total = sum(len(t) for t in texts)
    if total > limits.max_total_chars:
        raise InvalidInput(f"request holds {total} characters of text, this server accepts at "
                           f"most {limits.max_total_chars} per request (split the batch)")


def parse_text_instances(payload: Any, limits: RequestLimits) -> list[str]:
    """Texts of a v1 request `{"instances": ["text", ...]}`.

    Raises:
        InvalidInput: see `v1_instances`, `check_text` and `check_total_chars`.
    """
    texts = [check_text(item, f"instances[{i}]", limits)
             for i, item in enumerate(v1_instances(payload, limits))]
    check_total_chars(texts, limits)
    return texts


# --------------------------------------------------------------------------- v2 parsing
@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One v2 input or output tensor, for model metadata (`GET /v2/models/<name>`).

    Attributes:
        name: tensor name.
        datatype: Open Inference Protocol datatype (BYTES, FP32, BOOL...).
        shape: shape, -1 for variable dimensions.
    """

    name: str
    datatype: str
    shape: tuple[int, ...] = (-1,)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def v2_inputs(request: InferRequest, required: Sequence[str],
              optional: Sequence[str] = ()) -> dict[str, InferInput]:
    """The request's input tensors by name, checked against the names this model takes.

    Args:
        request: the v2 request.
        required: names that must be present.
        optional: names that may be present.

    Returns:
        name -> InferInput for every input present.

    Raises:
        InvalidInput: an input is missing, unknown or given twice.
    """
    expected = list(required) + list(optional)
    found: dict[str, InferInput] = {}
    for tensor in request.inputs:
        if tensor.name in found:
            raise InvalidInput(f"input tensor {tensor.name!r} is given twice")
        if tensor.name not in expected:
            raise InvalidInput(f"unknown input tensor {tensor.name!r}: this model takes "
                               f"{', '.join(map(repr, expected))}")
        found[tensor.name] = tensor
    missing = [name for name in required if name not in found]
    if missing:
        got = ", ".join(repr(t.name) for t in request.inputs) or "none"
        raise InvalidInput(f"missing input tensor {', '.join(map(repr, missing))}: "
                           f"this model takes {', '.join(map(repr, expected))}, got {got}")
    return found


def _flatten(data: Any, depth: int = 0) -> list[Any]:
    if isinstance(data, np.ndarray):
        return list(data.reshape(-1))
    if isinstance(data, list | tuple):
        if depth > 8:
            raise InvalidInput("tensor data is nested too deeply")
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item, depth + 1) if isinstance(item, list | tuple) else [item])
        return out
    raise InvalidInput(f"expected tensor data to be a list, got {describe(data)}")


def v2_bytes_values(tensor: InferInput, limits: RequestLimits, *,
                    decode: bool = True) -> list[Any]:
    """The elements of a BYTES tensor of shape [N] or [N, 1], one per row.

    JSON requests carry strings; binary requests (the tensor binary extension) carry bytes,
    which are decoded as UTF-8 when `decode` is set. Numbers, booleans and nulls are refused:
    kserve itself would accept them as text.

    Args:
        tensor: the input tensor.
        limits: request limits (`max_instances`).
        decode: decode bytes elements to str.

    Returns:
        N elements (str, or str/bytes when `decode` is false).

    Raises:
        InvalidInput: wrong datatype, shape, element count or element type.
    """
    name = tensor.name
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input {name!r}: expected datatype BYTES, got {tensor.datatype}")
    shape = list(tensor.shape or [])
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or any(
            not isinstance(d, int) or d < 0 for d in shape):
        raise InvalidInput(f"input {name!r}: expected shape [N] or [N, 1], got {shape}")
    if getattr(tensor, "_raw_data", None) is not None:
        # gRPC raw_input_contents (binary tensors) stay undecoded in kserve 0.21's InferInput.
        try:
            data: Any = tensor.as_numpy()
        except (ValueError, TypeError, struct.error, InferenceError, InvalidInput) as exc:
            raise InvalidInput(f"input {name!r}: raw tensor contents do not match shape "
                               f"{shape}: {exc}") from exc
    else:
        data = tensor.data if tensor.data is not None else []
    values = _flatten(data)
    if len(values) != math.prod(shape):
        raise InvalidInput(f"input {name!r}: shape {shape} needs {math.prod(shape)} elements, "
                           f"data holds {len(values)}")
    check_count(len(values), limits, what=f"input {name!r} rows")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes) and decode:
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"input {name!r}[{i}]: bytes are not valid UTF-8 text "
                                   f"({exc.reason} at byte {exc.start})") from exc
        if not isinstance(value, str | bytes):
            raise InvalidInput(f"input {name!r}[{i}]: expected a string element, "
                               f"got {describe(value)}")
        out.append(value)
    return out


def parse_text_tensor(request: InferRequest, name: str, limits: RequestLimits) -> list[str]:
    """Texts of a v2 request whose single input is the BYTES tensor `name`.

    Raises:
        InvalidInput: see `v2_inputs`, `v2_bytes_values`, `check_text`, `check_total_chars`.
    """
    tensor = v2_inputs(request, required=[name])[name]
    texts = [check_text(v, f"input {name!r}[{i}]", limits)
             for i, v in enumerate(v2_bytes_values(tensor, limits))]
    check_total_chars(texts, limits)
    return texts


# Output tensors hold plain lists (row-major), not numpy arrays: kserve 0.21 serialises lists for
# REST JSON, REST binary and gRPC alike, while numpy data breaks its gRPC encoder.
def bytes_output(name: str, values: Sequence[str]) -> InferOutput:
    """A BYTES output tensor of shape [N] holding `values`."""
    return InferOutput(name=name, shape=[len(values)], datatype="BYTES", data=list(values))


def fp32_output(name: str, array: Any) -> InferOutput:
    """An FP32 output tensor with the array's shape (e.g. [N] or [N, C])."""
    array = np.asarray(array, dtype=np.float32)
    return InferOutput(name=name, shape=list(array.shape), datatype="FP32",
                       data=array.reshape(-1).tolist())


def bool_output(name: str, values: Sequence[bool]) -> InferOutput:
    """A BOOL output tensor of shape [N]."""
    return InferOutput(name=name, shape=[len(values)], datatype="BOOL",
                       data=[bool(v) for v in values])

