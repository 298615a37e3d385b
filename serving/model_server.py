"""The model servers' HTTP side: kserve's ModelServer with our data plane, error handlers,
model-info route, bind address and connection limits, where kserve 0.21 has no option for them."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Sequence
from typing import Any

import kserve
from fastapi import FastAPI
from kserve import Model
from kserve.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

from serving import connections

log = logging.getLogger(__name__)

DEFAULT_BIND_ADDRESS = "127.0.0.1"  # containers pass --bind_address 0.0.0.0
GRACE_PERIOD_S = 30  # graceful shutdown: in-flight requests may finish within this time
LOGGED_MESSAGE_CHARS = 300  # a rejected request logs one line, its message clipped to this


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

