"""Fake HTTP services for tests: a thread serving a handler on a free 127.0.0.1 port."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler for fake services: no access log, JSON answers."""

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def log_message(self, *args: Any) -> None:
        pass


class FakeHTTPService:
    """A fake service on 127.0.0.1 (a free port) served by `handler` in a thread while the
    `with` block runs; `url` is its base URL."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
