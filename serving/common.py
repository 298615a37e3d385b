"""Shared foundation of the KServe model servers: the model base class and the CLI.

Every server (lstm, lora, guard, caption) is a thin `ServingModel` subclass: it parses a request
with the pure helpers of `serving.payloads` (limits, v1 bodies, v2 tensors, output tensors), runs
inference in a worker thread (the event loop stays free for health checks), and shapes the answer
for KServe v1 (`{"predictions": [...]}`) or v2 (Open Inference Protocol `InferResponse`). Bad
requests raise `kserve.errors.InvalidInput` (HTTP 400 `{"error": "..."}`) with a message that
says what was expected and what was found.

`serving.model_server.ModelServer` is kserve's, started by kserve's `start()`; it adds our data
plane, error handlers, bind address and connection limits where kserve 0.21 has no option for
them. The servers reach both modules' names through this one (`common.RequestLimits`,
`common.ModelServer`...).
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import copy
import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid

from serving import connections
from serving.model_server import (
    DEFAULT_BIND_ADDRESS,
    GRACE_PERIOD_S,
    CheckedDataPlane,
    ModelServer,
    RepositoryDisabled,
    ServedModels,
    add_error_handlers,
)
from serving.payloads import (
    MAX_INSTANCES,
    MAX_TEXT_CHARS,
    MAX_TOTAL_CHARS,
    RequestLimits,
    TensorSpec,
    bool_output,
    bytes_output,
    check_count,
    check_text,
    check_total_chars,
    describe,
    fp32_output,
    parse_text_instances,
    parse_text_tensor,
    v1_instances,
    v2_bytes_values,
    v2_inputs,
)

__all__ = [  # this module's own names and those the servers reach through it
    "DEFAULT_BIND_ADDRESS", "GRACE_PERIOD_S", "LOG_FORMAT", "MAX_INSTANCES", "MAX_TEXT_CHARS",
    "MAX_TOTAL_CHARS", "PORTS", "TRANSFORMER_FLAGS", "Batch", "CheckedDataPlane", "ModelServer",
    "RepositoryDisabled", "RequestLimits", "ServedModels", "ServingModel", "TensorSpec",
    "add_error_handlers", "bool_output", "build_parser", "bytes_output", "check_count",
    "check_text", "check_total_chars", "configure_logging", "describe", "fp32_output",
    "json_body", "limits_from_args", "parse_args", "parse_text_instances", "parse_text_tensor",
    "serve_from_args", "v1_instances", "v2_bytes_values", "v2_inputs"]

log = logging.getLogger(__name__)

# Local ports of the four servers (127.0.0.1:<port>); in a cluster each is its own
# InferenceService on the runtime's port.
PORTS: dict[str, int] = {"lstm": 8001, "lora": 8002, "guard": 8003, "caption": 8004}

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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




# --------------------------------------------------------------------------- CLI
def _number(text: str, convert: type, valid: Any, expected: str) -> Any:
    """`text` as a `convert` (int or float) that `valid` accepts, else argparse's error."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a positive number")


def _non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, "a number >= 0")


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


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
