"""HTTP client of the console: the four KServe services, every call with a timeout, no raise.

Each call returns a `Reply`: the decoded answer, or a one-line error a person can read ("guard is
down: cannot connect to http://127.0.0.1:8003", "lora did not answer within 10 s", "lstm refused
the request (400): ..."). Nothing here imports Streamlit: the app renders what comes back.

Service URLs come from the environment, with `make serve`'s ports as defaults:
TOXIC_FILTER_GUARD_URL, TOXIC_FILTER_LSTM_URL, TOXIC_FILTER_LORA_URL, TOXIC_FILTER_CAPTION_URL;
TOXIC_FILTER_TIMEOUT_S (one prompt), TOXIC_FILTER_BATCH_TIMEOUT_S (one batch of a file).
Under `make demo`, TOXIC_FILTER_LAUNCH_STATUS names the launcher's status file (its warnings,
each service starting / ready / not started and why: `serving.launch.LaunchStatus`).
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from serving.common import PORTS

log = logging.getLogger("serving.ui")

SERVICES = ("guard", "lstm", "lora", "caption")
CLASSIFIERS = ("lstm", "lora")
ENV_PREFIX = "TOXIC_FILTER_"
TIMEOUT_S = 10.0  # one prompt: predict, explain, guard, caption
BATCH_TIMEOUT_S = 60.0  # one batch of a file (up to BATCH_ROWS texts)
HEALTH_TIMEOUT_S = 2.0  # readiness and model info, for the sidebar
CONNECT_TIMEOUT_S = 2.0  # a service that does not accept the connection in 2 s is down


@dataclasses.dataclass(frozen=True)
class Service:
    """One KServe service as the console sees it.

    Attributes:
        name: model name in the URLs (lstm, lora, guard, caption).
        url: base URL, e.g. http://127.0.0.1:8001.
    """

    name: str
    url: str

    def endpoint(self, path: str) -> str:
        return f"{self.url.rstrip('/')}{path}"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where the services are and how long the console waits for them.

    Attributes:
        services: name -> Service.
        timeout_s: read timeout of one prompt's calls.
        batch_timeout_s: read timeout of one batch of a file.
        health_timeout_s: timeout of readiness and info calls.
        status_path: the launcher's status file (`make demo`), or None.
    """

    services: Mapping[str, Service]
    timeout_s: float = TIMEOUT_S
    batch_timeout_s: float = BATCH_TIMEOUT_S
    health_timeout_s: float = HEALTH_TIMEOUT_S
    status_path: str | None = None


def _env_float(env: Mapping[str, str], key: str, default: float) -> float:
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        log.warning("%s=%r is not a number: using %s", key, text, default)
        return default
    if not value > 0:
        log.warning("%s=%r is not positive: using %s", key, text, default)
        return default
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from TOXIC_FILTER_<NAME>_URL and TOXIC_FILTER_*TIMEOUT_S (defaults otherwise).

    Args:
        env: the environment (default: os.environ).
    """
    env = os.environ if env is None else env
    services = {}
    for name in SERVICES:
        url = env.get(f"{ENV_PREFIX}{name.upper()}_URL", "").strip()
        services[name] = Service(name, url or f"http://127.0.0.1:{PORTS[name]}")
    return Settings(
        services=services,
        timeout_s=_env_float(env, f"{ENV_PREFIX}TIMEOUT_S", TIMEOUT_S),
        batch_timeout_s=_env_float(env, f"{ENV_PREFIX}BATCH_TIMEOUT_S", BATCH_TIMEOUT_S),
        health_timeout_s=_env_float(env, f"{ENV_PREFIX}HEALTH_TIMEOUT_S", HEALTH_TIMEOUT_S),
        status_path=env.get(f"{ENV_PREFIX}LAUNCH_STATUS", "").strip() or None)


@dataclasses.dataclass(frozen=True)
class LaunchInfo:
    """What the launcher (`make demo`) says about the services, from its status file.

    Attributes:
        states: service name -> "starting", "ready", "not started", "exited"...
        details: service name -> what it is doing or why it is not started.
        warnings: the launcher's warnings, as it logged them.
    """

    states: Mapping[str, str] = dataclasses.field(default_factory=dict)
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)
    warnings: Sequence[str] = ()

    @property
    def starting(self) -> list[str]:
        return [name for name, state in self.states.items() if state == "starting"]

    def not_started(self) -> dict[str, str]:
        """name -> why, for the services the launcher did not start."""
        return {n: self.details.get(n, "") for n, s in self.states.items() if s == "not started"}


def launch_info(settings: Settings) -> LaunchInfo:
    """The launcher's view of the services; empty when no launcher runs this console."""
    from serving.launch_status import read_status

    data = read_status(settings.status_path)
    if data is None:
        return LaunchInfo()
    services = {str(k): v for k, v in data["services"].items() if isinstance(v, dict)}
    return LaunchInfo({n: str(v.get("state", "")) for n, v in services.items()},
                      {n: str(v.get("detail") or "") for n, v in services.items()},
                      tuple(str(w) for w in data.get("warnings") or ()))


@dataclasses.dataclass(frozen=True)
class Reply:
    """The outcome of one call: `value` when it worked, else `error` (one line for a person).

    Attributes:
        service: the service called.
        value: the decoded JSON answer (None on error).
        error: what went wrong (None on success).
        status: HTTP status, when an answer came back.
        seconds: how long the call took.
        down: the service could not be reached or did not answer in time.
        timed_out: it did not answer in time (slow or hung; `down` is set too).
        skipped: not called, because the launcher did not start the service (`error` says why).
    """

    service: str
    value: Any = None
    error: str | None = None
    status: int | None = None
    seconds: float = 0.0
    down: bool = False
    timed_out: bool = False
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]


def call(service: Service, method: str, path: str, *, json: Any = None,
         timeout: float = TIMEOUT_S) -> Reply:
    """One HTTP call that never raises: transport errors, timeouts, 4xx/5xx and non-JSON answers
    become `Reply.error`.

    Args:
        service: the service.
        method: GET or POST.
        path: path under the service's URL.
        json: JSON body.
        timeout: read timeout in seconds (connecting is limited to CONNECT_TIMEOUT_S).
    """
    url = service.endpoint(path)
    limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, timeout))
    start = time.perf_counter()

    def reply(**kw: Any) -> Reply:
        return Reply(service.name, seconds=time.perf_counter() - start, **kw)

    try:
        response = httpx.request(method, url, json=json, timeout=limits)
    except httpx.TimeoutException:
        return reply(error=f"{service.name} did not answer within {timeout:g} s ({url})",
                     down=True, timed_out=True)
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        return reply(error=f"{service.name} is down: cannot connect to {service.url} ({reason})",
                     down=True)
    except httpx.HTTPError as exc:  # invalid URL and the like
        return reply(error=f"{service.name}: {type(exc).__name__}: {exc}", down=True)
    if response.status_code >= 400:
        kind = "refused the request" if response.status_code < 500 else "failed"
        return reply(error=f"{service.name} {kind} ({response.status_code}): "
                           f"{_server_message(response)}", status=response.status_code)
    try:
        value = response.json()
    except ValueError:
        return reply(error=f"{service.name} answered something that is not JSON "
                           f"({response.status_code})", status=response.status_code)
    return reply(value=value, status=response.status_code)


def _expect_list(reply: Reply, key: str, n: int) -> Reply:
    """Check that a successful v1 answer holds `key`: a list of n objects."""
    if not reply.ok:
        return reply
    items = reply.value.get(key) if isinstance(reply.value, dict) else None
    if not isinstance(items, list) or len(items) != n or not all(isinstance(i, dict)
                                                                 for i in items):
        return dataclasses.replace(reply, value=None, status=reply.status,
                                   error=f"{reply.service} answered without {n} {key!r} objects")
    return dataclasses.replace(reply, value=items)


# --------------------------------------------------------------------------- the services
def classify(service: Service, texts: Sequence[str], timeout: float = TIMEOUT_S) -> Reply:
    """v1 predict of a classifier: value = [{"label", "probabilities"}, ...] (one per text)."""
    reply = call(service, "POST", f"/v1/models/{service.name}:predict",
                 json={"instances": list(texts)}, timeout=timeout)
    return _expect_list(reply, "predictions", len(texts))


def explain(service: Service, text: str, timeout: float = TIMEOUT_S) -> Reply:
    """v1 explain of a classifier: value = the explanation of `text` ({"label", "words"...})."""
    reply = call(service, "POST", f"/v1/models/{service.name}:explain",
                 json={"instances": [text]}, timeout=timeout)
    reply = _expect_list(reply, "explanations", 1)
    return dataclasses.replace(reply, value=reply.value[0]) if reply.ok else reply


def guard(service: Service, texts: Sequence[str | dict[str, Any]],
          timeout: float = TIMEOUT_S) -> Reply:
    """v1 predict of the guard: value = [{"safe", "categories", ...}, ...] (one per text or
    {"user", "assistant"} exchange)."""
    reply = call(service, "POST", f"/v1/models/{service.name}:predict",
                 json={"instances": list(texts)}, timeout=timeout)
    return _expect_list(reply, "predictions", len(texts))


def caption(service: Service, image: bytes, timeout: float = TIMEOUT_S) -> Reply:
    """v1 predict of the caption service: value = the caption text."""
    b64 = base64.b64encode(image).decode("ascii")
    reply = call(service, "POST", f"/v1/models/{service.name}:predict",
                 json={"instances": [{"image": {"b64": b64}}]}, timeout=timeout)
    reply = _expect_list(reply, "predictions", 1)
    if not reply.ok:
        return reply
    text = reply.value[0].get("caption")
    if not isinstance(text, str) or not text.strip():
        return dataclasses.replace(reply, value=None,
                                   error=f"{service.name} answered without a caption")
    return dataclasses.replace(reply, value=text.strip())


@dataclasses.dataclass(frozen=True)
class Health:
    """What the sidebar shows of a service.

    Attributes:
        service: the service.
        ready: the model answered 200 on /v2/models/<name>/ready.
        status: "ready", "not ready", "slow" (no answer in time) or "down".
        error: why it is not ready, if it is not.
        seconds: readiness round-trip time.
        info: the model's /v2/models/<name>/info, when it has one.
        metadata: v2 model metadata (inputs, outputs).
    """

    service: Service
    ready: bool
    status: str
    error: str | None = None
    seconds: float = 0.0
    info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


def health(service: Service, timeout: float = HEALTH_TIMEOUT_S) -> Health:
    """Readiness of the service's model, and what the model is (info, v2 metadata)."""
    ready = call(service, "GET", f"/v2/models/{service.name}/ready", timeout=timeout)
    if ready.down:
        return Health(service, False, "slow" if ready.timed_out else "down", ready.error,
                      ready.seconds)
    if not ready.ok:
        return Health(service, False, "not ready", ready.error, ready.seconds)
    info = call(service, "GET", f"/v2/models/{service.name}/info", timeout=timeout)
    meta = call(service, "GET", f"/v2/models/{service.name}", timeout=timeout)
    return Health(service, True, "ready", None, ready.seconds,
                  info.value if info.ok and isinstance(info.value, dict) else None,
                  meta.value if meta.ok and isinstance(meta.value, dict) else None)


def in_parallel(calls: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent calls in threads; key -> result (each call handles its own errors)."""
    if not calls:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        return {key: future.result() for key, future in futures.items()}
