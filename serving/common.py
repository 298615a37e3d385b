"""Shared foundation of the KServe model servers: limits, v1/v2 parsing, model base class, app, CLI.

Every server (lstm, lora, guard, caption) is a thin `ServingModel` subclass: it parses a request
with the pure helpers below, runs inference in a worker thread (the event loop stays free for
health checks), and shapes the answer for KServe v1 (`{"predictions": [...]}`) or v2 (Open
Inference Protocol `InferResponse`). Bad requests raise `kserve.errors.InvalidInput` (HTTP 400
`{"error": "..."}`) with a message that says what was expected and what was found.

`ModelServer` is kserve's, started by kserve's `start()`; it adds our data plane, error handlers,
bind address and connection limits where kserve 0.21 has no option for them.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import copy
import dataclasses
import logging
import math
import struct
from collections.abc import Sequence
from typing import Any, ClassVar

import kserve
import numpy as np
import orjson
from fastapi import FastAPI
from kserve import Model
from kserve.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.utils.utils import generate_uuid

from serving import connections

log = logging.getLogger(__name__)

# Local ports of the four servers (127.0.0.1:<port>); in a cluster each is its own
# InferenceService on the runtime's port.
PORTS: dict[str, int] = {"lstm": 8001, "lora": 8002, "guard": 8003, "caption": 8004}

DEFAULT_BIND_ADDRESS = "127.0.0.1"  # containers pass --bind_address 0.0.0.0
MAX_INSTANCES = 256  # instances (v1) or tensor rows (v2) per request
MAX_TEXT_CHARS = 100_000  # characters per text; transformer servers truncate to tokens anyway
MAX_TOTAL_CHARS = 2_000_000  # characters per request, all texts together
GRACE_PERIOD_S = 30  # graceful shutdown: in-flight requests may finish within this time
LOGGED_MESSAGE_CHARS = 300  # a rejected request logs one line, its message clipped to this
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")


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


# --------------------------------------------------------------------------- model base
@dataclasses.dataclass
class Batch:
    """What flows from preprocess to postprocess: parsed items, results, and the v2 request.

    Attributes:
        items: parsed, validated inputs (one per instance / row).
        request: the v2 request, or None for v1.
        results: one result per item, set by predict.
    """

    items: list[Any]
    request: InferRequest | None = None
    results: list[Any] | None = None


def json_body(body: bytes | str) -> Any:
    """Decode a v1 body sent without a JSON content type (e.g. `curl -d`).

    Raises:
        InvalidInput: the body is not JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f'expected a JSON body {{"instances": [...]}}, could not parse it: '
                           f"{exc}") from exc


class ServingModel(Model, abc.ABC):
    """A kserve.Model whose pre/post-processing is shared and whose work runs off the event loop.

    Subclasses implement `load` (set `self.ready = True`), `parse_v1`, `parse_v2`, `infer`
    (synchronous: it runs in a worker thread), `v1_prediction` and `v2_outputs`, and declare
    `INPUTS` / `OUTPUTS` for v2 model metadata.
    """

    INPUTS: ClassVar[tuple[TensorSpec, ...]] = ()
    OUTPUTS: ClassVar[tuple[TensorSpec, ...]] = ()

    def __init__(self, name: str, limits: RequestLimits | None = None):
        super().__init__(name)
        self.limits = limits or RequestLimits()

    # -- hooks for subclasses
    @abc.abstractmethod
    def load(self) -> bool:
        """Load weights; set and return `self.ready`."""

    @abc.abstractmethod
    def parse_v1(self, payload: Any) -> list[Any]:
        """Validated items of a v1 request body (raise InvalidInput otherwise)."""

    @abc.abstractmethod
    def parse_v2(self, request: InferRequest) -> list[Any]:
        """Validated items of a v2 request (raise InvalidInput otherwise)."""

    @abc.abstractmethod
    def infer(self, items: list[Any]) -> list[Any]:
        """Run the model on parsed items: one result per item. Runs in a worker thread."""

    @abc.abstractmethod
    def v1_prediction(self, result: Any) -> Any:
        """One element of the v1 `predictions` list."""

    @abc.abstractmethod
    def v2_outputs(self, results: list[Any]) -> list[InferOutput]:
        """The v2 output tensors for all results."""

    def v2_parameters(self, results: list[Any]) -> dict[str, Any] | None:
        """Response-level v2 parameters (none by default)."""
        return None

    # -- kserve handlers (thin)
    def get_input_types(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.INPUTS]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.OUTPUTS]

    def validate(self, payload: Any) -> Any:
        # Requests are validated in preprocess; kserve's own check assumes a dict body.
        return payload

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Batch:
        if isinstance(payload, InferRequest):
            return Batch(items=self.parse_v2(payload), request=payload)
        if isinstance(payload, bytes | str):  # kserve passes non-JSON content types as-is
            payload = json_body(payload)
        return Batch(items=self.parse_v1(payload))

    async def predict(self, payload: Batch, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Batch:
        results = await asyncio.to_thread(self.infer, payload.items)
        if len(results) != len(payload.items):
            raise RuntimeError(f"{type(self).__name__}.infer returned {len(results)} results "
                               f"for {len(payload.items)} inputs")
        return dataclasses.replace(payload, results=results)

    async def postprocess(self, result: Batch, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> Any:
        results = result.results or []
        request = result.request
        if request is None:
            return {"predictions": [self.v1_prediction(r) for r in results]}
        return InferResponse(
            response_id=request.id or generate_uuid(), model_name=self.name,
            infer_outputs=self.v2_outputs(results), parameters=self.v2_parameters(results),
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs)



# --------------------------------------------------------------------------- errors
class RepositoryDisabled(Exception):
    """The model repository API (load/unload) is off on this server."""


def _json_safe(value: Any) -> Any:
    """`value` with NaN/Infinity floats as strings: JSON responses cannot hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _rejected(request: Any, status: int, body: dict[str, Any]) -> Any:
    """A JSON error response, logged as one line (no traceback: the request was at fault)."""
    from fastapi.responses import JSONResponse

    message = str(body.get("error", body.get("detail", "")))
    if len(message) > LOGGED_MESSAGE_CHARS:
        message = message[:LOGGED_MESSAGE_CHARS] + "..."
    log.warning("%s %s -> %d: %s", request.method, request.url.path, status, message)
    return JSONResponse(_json_safe(body), status_code=status)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every client mistake with a 4xx and a message, logged in one line.

    Replaces kserve 0.21's handlers, which log a full traceback for every rejected request and
    answer unimplemented verbs and model versions 501, and FastAPI's validation handler, which
    answers 500 when the rejected body holds NaN or Infinity (its echo of the input is not valid
    JSON). Failures of the server itself stay 500 and keep their traceback in the log.
    """
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.requests import ClientDisconnect

    async def invalid_input(request: Any, exc: Exception) -> Any:
        return _rejected(request, 400, {"error": str(exc)})

    async def validation_error(request: Any, exc: Exception) -> Any:
        from fastapi.encoders import jsonable_encoder

        errors = _json_safe(jsonable_encoder(exc.errors()))  # type: ignore[attr-defined]
        return _rejected(request, 422, {"detail": errors})

    async def not_found(request: Any, exc: Exception) -> Any:
        return _rejected(request, 404, {"error": str(exc)})

    async def not_ready(request: Any, exc: Exception) -> Any:
        return _rejected(request, 503, {"error": str(exc)})

    async def repository_disabled(request: Any, exc: Exception) -> Any:
        return _rejected(request, 403, {"error": str(exc)})

    async def not_supported(request: Any, exc: Exception) -> Any:
        path = request.url.path
        if "/versions/" in path:
            message = ("model versions are not supported: each model has one version here; "
                       "use the path without /versions/<version>")
        elif path.endswith(":explain"):
            message = f"{path.rsplit('/', 1)[-1].split(':')[0]!r} has no explain endpoint"
        else:
            message = f"not supported by this server: {exc}"
        return _rejected(request, 404, {"error": message})

    async def client_gone(request: Any, exc: Exception) -> Any:
        # The connection layer has logged why (408/503) if it cut the request off.
        log.debug("%s %s: client disconnected before its request was read", request.method,
                  request.url.path)
        return JSONResponse({"error": "client disconnected"}, status_code=400)

    async def server_error(request: Any, exc: Exception) -> Any:
        log.error("%s %s -> 500: %s", request.method, request.url.path, exc, exc_info=exc)
        return JSONResponse({"error": _json_safe(str(exc))}, status_code=500)

    from kserve.errors import ServerNotLive, ServerNotReady, UnsupportedProtocol

    for exc_class, handler in [
            (InvalidInput, invalid_input), (UnsupportedProtocol, invalid_input),
            (RequestValidationError, validation_error), (ModelNotFound, not_found),
            (ModelNotReady, not_ready), (ServerNotReady, not_ready), (ServerNotLive, not_ready),
            (RepositoryDisabled, repository_disabled), (NotImplementedError, not_supported),
            (ClientDisconnect, client_gone), (InferenceError, server_error),
            (Exception, server_error)]:
        app.add_exception_handler(exc_class, handler)


def _add_model_info_route(app: FastAPI, server: kserve.ModelServer) -> None:
    """`GET /v2/models/<name>/info`: the model's `model_info()` dict (404 if it has none).

    v2 model metadata has fixed fields (name, platform, inputs, outputs); this is where a model
    says what it is (e.g. the classifiers' model_info.json, training date, test metrics).
    """
    from fastapi.responses import JSONResponse

    @app.get("/v2/models/{model_name}/info")
    async def model_info(model_name: str) -> JSONResponse:
        model = server.registered_models.get_model(model_name)
        describe_model = getattr(model, "model_info", None)
        if model is None or describe_model is None:
            return JSONResponse({"error": f"model {model_name!r} has no info"}, status_code=404)
        return JSONResponse(describe_model())


class CheckedDataPlane(DataPlane):
    """kserve's DataPlane, with malformed binary v2 requests answered 400 instead of 500, and a
    server readiness (`/v2/health/ready`) that is true only while every served model is ready.

    kserve 0.21 decodes a binary-extension request (`Inference-Header-Content-Length`) without
    checking it: a missing tensor field, a bad header length or a truncated tensor raise
    KeyError / ValueError / InferenceError, which kserve answers 500. Any exception while
    decoding a request is the client's: we turn it into InvalidInput. kserve's server readiness
    is always true; ours checks the models this server was started with (`served`).
    """

    served: tuple[str, ...] = ()
    repository_enabled: bool = False

    def decode_inference_request(self, body: Any, headers: dict, model_name: str) -> InferRequest:
        try:
            return super().decode_inference_request(body, headers, model_name)
        except InvalidInput:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, InferenceError,
                struct.error) as exc:
            raise InvalidInput(f"malformed v2 request: {type(exc).__name__}: {exc}") from exc

    async def ready(self) -> bool:
        return all([await self._model_registry.is_model_ready(name) for name in self.served])

    def metadata(self) -> dict:
        meta = super().metadata()
        if not self.repository_enabled:
            meta["extensions"] = []
        return meta


class ServedModels(ModelRepositoryExtension):
    """kserve's model repository extension (`POST /v2/repository/models/<name>/load|unload`)
    restricted to the models this server process was started with.

    Off (the default) both answer 403: nobody who can reach a server can take its model out
    of service. On (`--enable_model_repository`), unload takes a model out of service (its
    readiness and `/v2/health/ready` then answer 503, liveness stays 200: the process can load
    it again) and load loads it again the way it was loaded at start; other names are 404.
    """

    def __init__(self, registry: Any, models: Sequence[Model], enabled: bool = False):
        super().__init__(registry)
        self.models = {model.name: model for model in models}
        self.enabled = enabled
        self._lock = asyncio.Lock()

    def _served(self, name: str) -> Model:
        if not self.enabled:
            raise RepositoryDisabled("the model repository API (load/unload) is off on this "
                                     "server: start it with --enable_model_repository")
        if name not in self.models:
            raise ModelNotFound(name)
        return self.models[name]

    async def load(self, model_name: str) -> None:
        model = self._served(model_name)
        async with self._lock:
            if self._model_registry.get_model(model_name) is None or not model.ready:
                log.info("loading %s (model repository API)", model_name)
                try:
                    await asyncio.to_thread(model.load)
                except Exception as exc:
                    raise ModelNotReady(model_name, f"load failed: {exc}") from exc
                self._model_registry.update(model)
        if not model.ready:
            raise ModelNotReady(model_name)

    async def unload(self, model_name: str) -> None:
        self._served(model_name)
        async with self._lock:
            if self._model_registry.get_model(model_name) is not None:
                self._model_registry.unload(model_name)
                log.warning("%s unloaded (model repository API): not ready until loaded again",
                            model_name)



# --------------------------------------------------------------------------- server
class ModelServer(kserve.ModelServer):
    """kserve's ModelServer, started by kserve's own `start()`, plus what kserve 0.21 has no option for.

    - Our data plane (`CheckedDataPlane`) and repository extension (`ServedModels`).
    - The REST listener on `bind_address` (kserve always binds 0.0.0.0) with `ConnectionLimits`
      (head size, head/body deadlines, body size -> 413 for plain and chunked bodies alike).
      Both are set on the uvicorn config kserve builds, in `setup_event_loop()`: the hook
      `start()` calls after building its servers and before running them.
    - Our error handlers and `GET /v2/models/<name>/info` on kserve's app, after kserve's own.

    Every other option (TLS, access log format, event loop, keep-alive, gRPC, latency logging,
    asyncio workers, docs URL, log config) is kserve's and passed through unchanged.
    """

    def __init__(self, models: Sequence[Model], *, bind_address: str = DEFAULT_BIND_ADDRESS,
                 connection_limits: connections.ConnectionLimits | None = None,
                 enable_model_repository: bool = False, **options: Any):
        options.setdefault("enable_grpc", False)
        options.setdefault("grace_period", GRACE_PERIOD_S)
        options.setdefault("http_port", 0)
        super().__init__(**options)
        self.models = list(models)
        self.bind_address = bind_address
        self.connection_limits = connection_limits or connections.ConnectionLimits()
        self.dataplane = CheckedDataPlane(model_registry=self.registered_models)
        self.dataplane.served = tuple(model.name for model in self.models)
        self.dataplane.repository_enabled = enable_model_repository
        self.model_repository_extension = ServedModels(self.registered_models, self.models,
                                                       enabled=enable_model_repository)
        for model in self.models:
            if not model.ready:
                raise RuntimeError(f"model {model.name!r} is not ready: call load() before serving")
            self.register_model(model)
            model.enable_latency_logging = self.enable_latency_logging

    def start(self, models: Sequence[Model] | None = None) -> None:
        """Serve until SIGINT/SIGTERM (kserve's `ModelServer.start`)."""
        scheme = "https" if self.ssl_certfile else "http"
        log.info("serving %s on %s://%s:%d (model repository API %s)",
                 ", ".join(m.name for m in self.models), scheme, self.bind_address,
                 self.http_port, "ON: load/unload allowed"
                 if self.dataplane.repository_enabled else "off")
        if self.enable_grpc and self.bind_address not in {"0.0.0.0", "::"}:
            log.warning("gRPC listens on [::]:%d (kserve has no bind option); "
                        "--bind_address %s applies to HTTP only", self.grpc_port,
                        self.bind_address)
        super().start(list(models) if models is not None else self.models)

    def setup_event_loop(self) -> None:
        super().setup_event_loop()
        rest = self._rest_server  # built by start() (one uvicorn worker) just before this call
        if rest is None:
            raise RuntimeError("only one uvicorn worker is supported (--workers 1)")
        rest.config.host = self.bind_address
        rest.config.http = connections.protocol_class(self.connection_limits)
        kserve_create_application = rest.create_application

        def create_application() -> None:
            kserve_create_application()  # kserve's middlewares, endpoints, exception handlers
            from kserve.model_server import app

            self.customize(app)

        rest.create_application = create_application

    def customize(self, app: FastAPI) -> None:
        """Our exception handlers (replacing kserve's) and the model-info route on `app`."""
        add_error_handlers(app)
        _add_model_info_route(app, self)

    def app(self) -> FastAPI:
        """A fresh app with the endpoints, middlewares and handlers `start()` serves, for
        in-process tests (starlette's TestClient). The connection limits (body size, deadlines)
        live in the HTTP protocol and apply only to a started server."""
        from kserve.protocol.rest.server import RESTServer

        app = FastAPI(title="toxic-filter model server", docs_url=None, redoc_url=None)
        rest = RESTServer("unused", self.dataplane, self.model_repository_extension,
                          http_port=self.http_port)
        rest._add_middlewares(app)  # kserve 0.21 (pinned): what create_application() adds
        rest._register_endpoints(app)
        self.customize(app)
        return app


# --------------------------------------------------------------------------- CLI
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser(server: str, description: str, *, model_dir_required: bool = True,
                 model_dir_help: str = "model directory (or hub id where the server says so)",
                 max_instances: int = MAX_INSTANCES, max_body_bytes: int = connections.MAX_BODY_BYTES,
                 text_limits: bool = True) -> argparse.ArgumentParser:
    """The CLI of `python -m serving.<server>`: kserve's model-server flags plus ours.

    Args:
        server: server key in PORTS; also the default model name.
        description: parser description.
        model_dir_required: whether --model_dir must be given.
        model_dir_help: help text of --model_dir.
        max_instances: default of --max_instances.
        max_body_bytes: default of --max_body_bytes.
        text_limits: add --max_text_chars / --max_total_chars.

    Returns:
        The parser; callers add their own flags and parse inside main().
    """
    from kserve.model_server import parser as kserve_parser

    # A copy: argparse shares parent actions, and set_defaults below would otherwise change
    # kserve's global parser (and every other server's defaults in this process).
    parser = argparse.ArgumentParser(prog=f"python -m serving.{server}", description=description,
                                     parents=[copy.deepcopy(kserve_parser)],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.set_defaults(model_name=server, http_port=PORTS[server], enable_grpc=False)
    parser.add_argument("--model_dir", required=model_dir_required, default=None,
                        help=model_dir_help)
    parser.add_argument("--bind_address", default=DEFAULT_BIND_ADDRESS,
                        help="interface to listen on; 0.0.0.0 inside a container")
    parser.add_argument("--max_body_bytes", type=_positive_int, default=max_body_bytes,
                        help="larger request bodies are answered 413")
    parser.add_argument("--max_instances", type=_positive_int, default=max_instances,
                        help="most instances / tensor rows per request")
    if text_limits:
        parser.add_argument("--max_text_chars", type=_positive_int, default=MAX_TEXT_CHARS,
                            help="most characters per text")
        parser.add_argument("--max_total_chars", type=_positive_int, default=MAX_TOTAL_CHARS,
                            help="most characters per request, all texts together")
    parser.add_argument("--max_header_bytes", type=_positive_int,
                        default=connections.MAX_HEADER_BYTES,
                        help="request line + headers larger than this are answered 431")
    parser.add_argument("--timeout_headers", type=_positive_float,
                        default=connections.TIMEOUT_HEADERS_S,
                        help="seconds to receive a request's line and headers (from the "
                             "connection opening or the next request's first byte); then 408")
    parser.add_argument("--timeout_body", type=_positive_float,
                        default=connections.TIMEOUT_BODY_S,
                        help="seconds to receive a request body once its headers are in; "
                             "then 408")
    parser.add_argument("--enable_model_repository", action="store_true",
                        help="allow POST /v2/repository/models/<name>/load|unload (off: 403, "
                             "nobody can take the model out of service)")
    parser.add_argument("--log_level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="our loggers' level")
    return parser


# kserve's flags that configure a kserve *transformer*'s calls to its predictor: these servers are
# predictors, so a value other than the default is refused rather than ignored.
TRANSFORMER_FLAGS = ("predictor_host", "protocol", "predictor_protocol", "predictor_use_ssl",
                     "predictor_request_timeout_seconds", "predictor_request_retries",
                     "enable_predictor_health_check")


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse argv; refuse the kserve flags these servers cannot honour, with a reason.

    Raises:
        SystemExit: (argparse) on bad flags: --workers other than 1, a transformer-only flag,
            half a TLS key pair, a missing file, --access_log_format without asgi-logger.
    """
    import importlib.util
    from pathlib import Path

    args = parser.parse_args(argv)
    if args.workers != 1:
        parser.error("--workers must be 1: scale with more replicas (InferenceService "
                     "minReplicas/maxReplicas) instead of uvicorn workers")
    for name in TRANSFORMER_FLAGS:
        if getattr(args, name) != parser.get_default(name):
            parser.error(f"--{name} configures a kserve transformer's calls to its predictor; "
                         "this server is a predictor and has no predictor to call")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        parser.error("TLS needs both --ssl_certfile and --ssl_keyfile (or KSERVE_TLS_CERT_FILE "
                     "and KSERVE_TLS_KEY_FILE); with one of them the server would serve plain "
                     "HTTP")
    for flag in ("ssl_certfile", "ssl_keyfile", "log_config_file"):
        path = getattr(args, flag)
        if path and not Path(path).is_file():
            parser.error(f"--{flag}: no such file: {path}")
    if args.access_log_format and importlib.util.find_spec("asgi_logger") is None:
        parser.error("--access_log_format needs the asgi-logger package, which is not installed "
                     "here (pip install asgi-logger); uvicorn's access log is on without it")
    return args


def limits_from_args(args: argparse.Namespace) -> RequestLimits:
    """RequestLimits from parsed CLI flags (defaults where a flag is absent)."""
    return RequestLimits(
        max_instances=args.max_instances,
        max_text_chars=getattr(args, "max_text_chars", MAX_TEXT_CHARS),
        max_total_chars=getattr(args, "max_total_chars", MAX_TOTAL_CHARS))


def configure_logging(level: str = "INFO") -> None:
    """Log our `serving.*` / `components.*` loggers to stderr (kserve configures its own)."""
    logging.basicConfig(level=getattr(logging, level), format=LOG_FORMAT)


def serve_from_args(models: Sequence[Model], args: argparse.Namespace) -> None:
    """Serve `models` with the options of a parsed `build_parser()` command line."""
    limits = connections.ConnectionLimits(
        max_header_bytes=args.max_header_bytes, max_body_bytes=args.max_body_bytes,
        timeout_headers=args.timeout_headers, timeout_body=args.timeout_body)
    ModelServer(
        models, bind_address=args.bind_address, connection_limits=limits,
        enable_model_repository=args.enable_model_repository, http_port=args.http_port,
        grpc_port=args.grpc_port, enable_grpc=args.enable_grpc, workers=1,
        max_threads=args.max_threads, max_asyncio_workers=args.max_asyncio_workers,
        enable_docs_url=args.enable_docs_url, enable_latency_logging=args.enable_latency_logging,
        access_log_format=args.access_log_format, event_loop=args.event_loop,
        timeout_keep_alive=args.timeout_keep_alive, ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile).start()
