"""HTTP connection limits for the model servers: head and body size, head/body read time, idle clients.

uvicorn (0.54, httptools parser) has a keep-alive timeout for idle connections *after* a response,
but no limit on the size of a request head and no deadline for reading it or the body:
an unterminated 100 MB header is buffered whole, a client sending one byte every 2 s is read
forever, a connection that never sends anything stays open, and a slow body holds a graceful
shutdown for its whole grace period. `LimitedHttpToolsProtocol` is uvicorn's own httptools
protocol plus these limits (uvicorn's `h11_max_incomplete_event_size` is the same idea, for its
slower pure-Python h11 parser only); `serving.model_server.ModelServer` sets it as the uvicorn config's `http`.

What a client gets:
- request line + headers over `max_header_bytes`: 431 and the connection is closed;
- a body over `max_body_bytes` (Content-Length, or counted as a chunked body arrives): 413 and
  closed, before the application reads any of it;
- request head not complete within `timeout_headers` seconds of the connection opening (or of
  the first byte of the next request on a keep-alive connection): 408 and closed (a connection
  that sent nothing at all is just closed);
- body not complete within `timeout_body` seconds of the end of the head: 408 and closed;
- server shutting down while a request body is still arriving: 503 and closed (requests whose
  body has arrived finish normally);
- idle between requests: uvicorn's `timeout_keep_alive` (kserve's `--timeout-keep-alive`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("serving.connections")

MAX_HEADER_BYTES = 64 * 1024  # request line + headers
MAX_BODY_BYTES = 16 * 1024 * 1024  # request body
TIMEOUT_HEADERS_S = 10.0  # to receive a complete request head
TIMEOUT_BODY_S = 30.0  # to receive the whole body once the head is in
# After refusing a request, what the client still sends is read and dropped for up to this long
# before closing ("lingering close"): closing with unread input would reset the connection, and
# the client could lose the answer.
LINGER_S = 2.0


def require_positive(limits: Any, *, integers: bool = False) -> None:
    """Check every field of a frozen dataclass of limits (this module's, serving.payloads').

    Args:
        limits: the dataclass instance.
        integers: the fields must be ints (else any number > 0).

    Raises:
        ValueError: a field is not positive (or not an integer), naming it and its value.
    """
    for field in dataclasses.fields(limits):
        value = getattr(limits, field.name)
        if integers and not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{field.name} must be a positive integer, got {value!r}")
        if not value > 0:
            raise ValueError(f"{field.name} must be positive, got {value!r}")

@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """Limits on reading one HTTP request.

    Attributes:
        max_header_bytes: most bytes of request line + headers.
        max_body_bytes: most bytes of a request body (declared or, chunked, received).
        timeout_headers: seconds to receive a complete request head, counted from the
            connection opening or from the first byte of the next request.
        timeout_body: seconds to receive the whole body, counted from the end of the head.
    """

    max_header_bytes: int = MAX_HEADER_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    timeout_headers: float = TIMEOUT_HEADERS_S
    timeout_body: float = TIMEOUT_BODY_S

    def __post_init__(self) -> None:
        require_positive(self)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `ConnectionLimits` (class attribute `limits`).

    Use `protocol_class(limits)` to get a subclass bound to given limits.
    """

    limits: ConnectionLimits = ConnectionLimits()

    # -- state
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True  # bytes that arrive now belong to a request head
        self._head_bytes = 0
        self._received_any = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._body_bytes = 0
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: drop what still arrives until the connection closes
        self._received_any = True
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:  # first byte of the next request on a kept-alive conn
                self._arm_head_timer()
        super().data_received(data)
        # Still inside the head after the parser consumed the data: all of it was head.
        if (self._in_head and self._head_bytes > self.limits.max_header_bytes
                and not self._refused and not self.transport.is_closing()):
            self._refuse(431, f"request line and headers exceed {self.limits.max_header_bytes} "
                              "bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        if self._refused or self.transport.is_closing():
            return  # refused: do not start the application on what follows
        self._in_head = False
        self._head_bytes = 0
        self._cancel(self._head_timer)
        self._head_timer = None
        # A whole head can arrive in one read: measure it as parsed too.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse(431, f"request line and headers exceed {self.limits.max_header_bytes} "
                              "bytes")
            return
        self._body_bytes = 0
        length = dict(self.headers).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limits.max_body_bytes:
            self._refuse_body(length.decode())
            return
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._body_timer = self.loop.call_later(self.limits.timeout_body, self._body_timeout)

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refuse_body(f"over {self.limits.max_body_bytes}")
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._cancel(self._body_timer)
        self._body_timer = None
        self._in_head = True  # whatever arrives next starts a new request
        super().on_message_complete()

    def shutdown(self) -> None:
        cycle = self.cycle
        if (not self._refused and cycle is not None and cycle.more_body and not cycle.response_started
                and not cycle.response_complete):
            self._refuse(503, "server shutting down before the request body arrived")
            return
        super().shutdown()

    # -- timers
    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.timeout_headers, self._head_timeout)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing() or not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its successor's head may follow later
        if not self._received_any or self._head_bytes == 0:
            log.info("%s: closed an idle connection (no request within %.0f s)",
                     self._peer(), self.limits.timeout_headers)
            self._cancel_timers()
            self.transport.close()
            return
        self._refuse(408, f"request head not received within {self.limits.timeout_headers:g} s")

    def _body_timeout(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self._refused or cycle is None or not cycle.more_body or cycle.response_started:
            return
        self._refuse(408, f"request body not received within {self.limits.timeout_body:g} s")

    # -- answers
    def _refuse_body(self, size: str) -> None:
        self._refuse(413, f"request body is {size} bytes, this server accepts at most "
                          f"{self.limits.max_body_bytes}")

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with a JSON error, end the request in progress, close the connection
        (after a lingering close of at most LINGER_S)."""
        log.warning("%s: %d %s", self._peer(), status, message)
        self._refused = True
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:  # cannot answer any more: just drop the connection
                message = ""
            cycle.disconnected = True  # the app's receive() now answers http.disconnect
            cycle.message_event.set()
        if message and not self.transport.is_closing():
            body = json.dumps({"error": message}).encode()
            self.transport.write(b"".join([
                STATUS_LINE[status], b"content-type: application/json\r\n",
                b"content-length: ", str(len(body)).encode(), b"\r\n",
                b"connection: close\r\n\r\n", body]))
        if self.transport.is_closing() or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer, then FIN; the client's EOF closes it sooner
        self.transport.resume_reading()
        self._head_timer = self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A `LimitedHttpToolsProtocol` subclass bound to `limits`, for `uvicorn.Config(http=...)`."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
