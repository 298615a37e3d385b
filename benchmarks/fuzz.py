"""`make fuzz`: malformed requests against the lstm, lora and guard servers; none may get a 5xx.

    python -m benchmarks.fuzz                   # own servers on tiny models (what CI runs)
    python -m benchmarks.fuzz --target live     # the servers of a running `make serve`

Every malformed request (bad JSON, NaN/Infinity anywhere, wrong types and shapes, limits, bad
binary-extension headers, unknown models/versions/verbs, the model repository API, raw HTTP
garbage, an oversized header, a slow header and a slow body) is followed by a good request to the
same server. Passes when no malformed request got a 5xx, every good request got a 200, and every
server is still alive and ready at the end (the same process: nothing crashed). With
`--target tiny` the servers' logs are checked too: no traceback. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import json
import logging
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks import live_servers
from benchmarks.live_servers import Target

log = logging.getLogger("benchmarks.fuzz")

GOOD_TEXT = "How do I bake bread at home?"
# Tiny servers read slow clients with short deadlines, so the slow probes take seconds.
TINY_SERVER_ARGS = ("--timeout_headers", "2", "--timeout_body", "2")
REQUEST_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Case:
    """One malformed HTTP request.

    Attributes:
        name: what it tries.
        method: HTTP method.
        path: path, `{m}` is replaced by the model name.
        body: raw body bytes (None: no body).
        headers: request headers.
    """

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


@dataclasses.dataclass(frozen=True)
class RawCase:
    """Bytes written to a raw socket (HTTP the client libraries refuse to send).

    Attributes:
        name: what it tries.
        data: the bytes (`{m}` is replaced by the model name).
        slow: then send one byte per second for this many seconds (0: none).
        may_close: the server may close the connection without answering (an idle client).
    """

    name: str
    data: bytes
    slow: float = 0.0
    may_close: bool = False


def _j(value: Any) -> bytes:
    return json.dumps(value).encode()


def tensor(name: str = "text", data: Any = None, shape: Any = None,
           datatype: str = "BYTES") -> dict[str, Any]:
    data = [GOOD_TEXT] if data is None else data
    return {"name": name, "shape": [len(data)] if shape is None else shape,
            "datatype": datatype, "data": data}


def v1_cases() -> list[tuple[str, bytes]]:
    """Malformed v1 bodies for POST /v1/models/<m>:predict."""
    return [
        ("empty body", b""),
        ("truncated JSON", b'{"instances": ["a"'),
        ("JSON null", b"null"),
        ("JSON list", b'["a", "b"]'),
        ("JSON string", b'"just a text"'),
        ("JSON number", b"42"),
        ("empty object", b"{}"),
        ("instances null", b'{"instances": null}'),
        ("instances a string", b'{"instances": "text"}'),
        ("instances an object", b'{"instances": {"a": 1}}'),
        ("instances empty", b'{"instances": []}'),
        ("instance null", b'{"instances": [null]}'),
        ("instance number", b'{"instances": [123]}'),
        ("instance boolean", b'{"instances": [true]}'),
        ("instance empty text", b'{"instances": [""]}'),
        ("instance blank text", b'{"instances": ["   \\n\\t"]}'),
        ("instance nested lists", b'{"instances": [[["deep"]]]}'),
        ("instance empty object", b'{"instances": [{}]}'),
        ("instance object with unknown keys", b'{"instances": [{"unknown": "x"}]}'),
        ("instance object with a number", b'{"instances": [{"query": 5, "user": 5}]}'),
        ("too many instances", _j({"instances": ["a"] * 5000})),
        ("text over the length limit", _j({"instances": ["x" * 150_000]})),
        ("NaN instance", b'{"instances": [NaN]}'),
        ("Infinity instances", b'{"instances": Infinity}'),
        ("-Infinity beside instances", b'{"instances": ["a"], "x": -Infinity}'),
        ("huge number", b'{"instances": [1e999]}'),
        ("invalid UTF-8", b'{"instances": ["\xff\xfe\xfd"]}'),
        ("lone surrogate escape", b'{"instances": ["\\ud800"]}'),
        ("NUL characters", b'{"instances": ["\\u0000\\u0000"]}'),
        ("deeply nested JSON", b"[" * 20_000 + b"]" * 20_000),
        ("duplicate keys", b'{"instances": 1, "instances": null}'),
    ]


def v2_cases() -> list[tuple[str, bytes]]:
    """Malformed v2 JSON bodies for POST /v2/models/<m>/infer (`{t}` is the tensor name)."""
    return [
        ("empty body", b""),
        ("truncated JSON", b'{"inputs": [{"name": "{t}"'),
        ("inputs NaN", b'{"inputs": NaN}'),
        ("inputs Infinity", b'{"inputs": Infinity}'),
        ("id NaN", b'{"id": NaN, "inputs": []}'),
        ("shape NaN", b'{"inputs": [{"name": "{t}", "shape": [NaN], "datatype": "BYTES", '
                      b'"data": ["a"]}]}'),
        ("shape Infinity", b'{"inputs": [{"name": "{t}", "shape": [Infinity], '
                           b'"datatype": "BYTES", "data": ["a"]}]}'),
        ("data NaN", b'{"inputs": [{"name": "{t}", "shape": [1], "datatype": "BYTES", '
                     b'"data": [NaN]}]}'),
        ("parameters NaN", b'{"inputs": [{"name": "{t}", "shape": [1], "datatype": "BYTES", '
                           b'"data": ["a"], "parameters": {"x": NaN}}], "parameters": '
                           b'{"y": -Infinity}}'),
        ("inputs missing", _j({"id": "1"})),
        ("inputs empty", _j({"inputs": []})),
        ("inputs not a list", _j({"inputs": {"name": "text"}})),
        ("input not an object", _j({"inputs": ["text"]})),
        ("negative shape", _j({"inputs": [tensor("{t}", shape=[-1])]})),
        ("huge shape", _j({"inputs": [tensor("{t}", shape=[10**30])]})),
        ("3-d shape", _j({"inputs": [tensor("{t}", ["a"] * 8, [2, 2, 2])]})),
        ("shape and data disagree", _j({"inputs": [tensor("{t}", ["a"], [3])]})),
        ("numbers in a BYTES tensor", _j({"inputs": [tensor("{t}", [1, 2])]})),
        ("nulls in a BYTES tensor", _j({"inputs": [tensor("{t}", [None])]})),
        ("FP32 datatype", _j({"inputs": [tensor("{t}", [1.0], datatype="FP32")]})),
        ("unknown datatype", _j({"inputs": [tensor("{t}", datatype="TEXT")]})),
        ("unknown tensor name", _j({"inputs": [tensor("nope")]})),
        ("tensor given twice", _j({"inputs": [tensor("{t}"), tensor("{t}")]})),
        ("data a string", _j({"inputs": [tensor("{t}", "abc", [3])]})),
        ("ragged data", _j({"inputs": [tensor("{t}", [["a"], "b"], [2])]})),
        ("deeply nested data", _j({"inputs": [tensor("{t}", [[[[[[[[[["a"]]]]]]]]]], [1])]})),
        ("empty text", _j({"inputs": [tensor("{t}", [""])]})),
        ("too many rows", _j({"inputs": [tensor("{t}", ["a"] * 5000)]})),
        ("unknown requested output", _j({"inputs": [tensor("{t}")],
                                         "outputs": [{"name": "nope"}]})),
        ("id an object", _j({"id": {"a": 1}, "inputs": [tensor("{t}")]})),
    ]


def binary_cases() -> list[tuple[str, dict[str, str], bytes]]:
    """Malformed binary-extension v2 requests: (name, headers, body)."""
    header = _j({"inputs": [{"name": "{t}", "shape": [1], "datatype": "BYTES",
                             "parameters": {"binary_data_size": 9}}]})
    return [
        ("binary: header length past the body", {"inference-header-content-length": "99999"},
         header),
        ("binary: negative header length", {"inference-header-content-length": "-5"}, header),
        ("binary: header length not a number", {"inference-header-content-length": "abc"},
         header),
        ("binary: header not JSON", {"inference-header-content-length": "5"}, b"xxxxxyyyy"),
        ("binary: tensor truncated", {"inference-header-content-length": str(len(header))},
         header + b"\x05\x00"),
        ("binary: string length past the tensor",
         {"inference-header-content-length": str(len(header))},
         header + b"\xff\x00\x00\x00hello"),
    ]


def http_cases(model: str, tensor_name: str) -> list[Case]:
    """Every malformed request for one model."""
    json_type = (("content-type", "application/json"),)
    cases = [Case(f"v1 {name}", "POST", "/v1/models/{m}:predict", body)
             for name, body in v1_cases()]
    cases += [Case(f"v2 {name}", "POST", "/v2/models/{m}/infer",
                   body.replace(b"{t}", tensor_name.encode()))
              for name, body in v2_cases()]
    cases += [Case(name, "POST", "/v2/models/{m}/infer", body.replace(b"{t}", tensor_name.encode()),
                   (*json_type, *headers.items()))
              for name, headers, body in binary_cases()]
    good_v1 = _j({"instances": [GOOD_TEXT]})
    good_v2 = _j({"inputs": [tensor(tensor_name)]})
    cases += [
        Case("v1 text/plain garbage", "POST", "/v1/models/{m}:predict", b"garbage",
             (("content-type", "text/plain"),)),
        Case("v1 octet-stream garbage", "POST", "/v1/models/{m}:predict", b"\x00\x01\x02\xff",
             (("content-type", "application/octet-stream"),)),
        Case("v1 cloudevent headers, garbage body", "POST", "/v1/models/{m}:predict", b"{[",
             (*json_type, ("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "x"),
              ("ce-type", "t"))),
        Case("v1 gzip encoding of plain bytes", "POST", "/v1/models/{m}:predict", good_v1,
             (*json_type, ("content-encoding", "gzip"))),
        Case("body over the size limit", "POST", "/v1/models/{m}:predict",
             b'{"instances": ["' + b"a" * (17 * 2**20) + b'"]}'),
        Case("v2 model version infer", "POST", "/v2/models/{m}/versions/1/infer", good_v2),
        Case("v2 model version metadata", "GET", "/v2/models/{m}/versions/1"),
        Case("v2 model version ready", "GET", "/v2/models/{m}/versions/1/ready"),
        Case("explain (valid body)", "POST", "/v1/models/{m}:explain", good_v1),
        Case("unknown verb", "POST", "/v1/models/{m}:frobnicate", good_v1),
        Case("repository: unload this model", "POST", "/v2/repository/models/{m}/unload"),
        Case("repository: load this model", "POST", "/v2/repository/models/{m}/load"),
        Case("repository: load an unknown model", "POST", "/v2/repository/models/nope/load"),
        Case("repository: unload an unknown model", "POST", "/v2/repository/models/nope/unload"),
        Case("v1 unknown model", "POST", "/v1/models/nope:predict", good_v1),
        Case("v2 unknown model", "POST", "/v2/models/nope/infer", good_v2),
        Case("GET on predict", "GET", "/v1/models/{m}:predict"),
        Case("DELETE a model", "DELETE", "/v2/models/{m}"),
        Case("PUT on readiness", "PUT", "/v2/health/ready", b"{}"),
        Case("path traversal", "GET", "/v2/models/..%2F..%2Fetc%2Fpasswd"),
        Case("NUL in the path", "GET", "/v2/models/%00/ready"),
        Case("non-ASCII model name", "POST", "/v2/models/%C3%BC%F0%9F%92%A5/infer", good_v2),
        Case("invalid percent-encoding", "POST", "/v2/models/{m}/infer?x=%ff%zz", b"{"),
    ]
    return [dataclasses.replace(c, path=c.path.replace("{m}", model)) for c in cases]


def raw_cases() -> list[RawCase]:
    """HTTP-level garbage, written to a socket."""
    return [
        RawCase("request line garbage", b"GARBAGE\r\n\r\n"),
        RawCase("unknown HTTP version", b"GET /v2/health/live HTTP/9.9\r\nHost: x\r\n\r\n"),
        RawCase("header without a colon", b"GET /v2/health/live HTTP/1.1\r\nHost x\r\n\r\n"),
        RawCase("NUL in a header", b"GET /v2/health/live HTTP/1.1\r\nHost: a\x00b\r\n\r\n"),
        RawCase("negative content-length",
                b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        RawCase("content-length and chunked (smuggling)",
                b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        RawCase("bad chunk size",
                b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        RawCase("oversized header (1 MB, unterminated)",
                b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20),
        RawCase("8,000 headers", b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"
                + b"".join(b"X-%d: y\r\n" % i for i in range(8000)) + b"\r\n"),
        RawCase("connection that never sends", b"", slow=0.0, may_close=True),
        RawCase("slow header (one byte per second)", b"GET /v2/health/live HTTP/1.1\r\nX-A: ",
                slow=60.0),
        RawCase("slow body (one byte per second)",
                b"POST /v1/models/{m}:predict HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", slow=60.0),
    ]


# --------------------------------------------------------------------------- running
@dataclasses.dataclass
class Outcome:
    """What one malformed request got, and whether the good request after it succeeded."""

    model: str
    case: str
    status: int  # 0: no response (connection closed or timed out)
    good_status: int
    seconds: float
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status >= 500 or self.good_status != 200


def good_request(client: httpx.Client, target: Target, i: int) -> int:
    """A valid v1 or v2 request (alternately); returns the status (0 on a transport error)."""
    tensor_name = "user" if target.name == "guard" else "text"
    try:
        if i % 2:
            response = client.post(f"{target.url}/v2/models/{target.name}/infer",
                                   json={"inputs": [tensor(tensor_name)]})
        else:
            response = client.post(f"{target.url}/v1/models/{target.name}:predict",
                                   json={"instances": [GOOD_TEXT]})
    except httpx.TransportError:
        return 0
    return response.status_code


def send_http(client: httpx.Client, target: Target, case: Case) -> tuple[int, str]:
    try:
        response = client.request(case.method, target.url + case.path, content=case.body,
                                  headers=dict(case.headers))
    except httpx.TransportError as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    return response.status_code, response.text[:200]


def send_raw(target: Target, case: RawCase, wait_s: float) -> tuple[int, str]:
    """Write the bytes (then a byte per second while `slow` lasts); the status line answered."""
    url = httpx.URL(target.url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        data = case.data.replace(b"{m}", target.name.encode())
        try:
            sock.sendall(data)
            deadline = time.monotonic() + case.slow
            sock.settimeout(1.0)
            while time.monotonic() < deadline:
                try:
                    answer = sock.recv(4096)  # the server answered (or closed): stop feeding
                    return _status_of(answer)
                except TimeoutError:
                    sock.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed while we were writing: read what it said
        sock.settimeout(wait_s)
        try:
            return _status_of(sock.recv(4096))
        except ConnectionResetError:
            return 0, "closed (reset) without an answer"
        except TimeoutError:
            return 0, "TimeoutError"


def _status_of(answer: bytes) -> tuple[int, str]:
    if not answer:
        return 0, "closed without an answer"
    line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, answer.split(b"\r\n\r\n", 1)[-1][:200].decode(errors="replace")


def fuzz_target(target: Target, wait_s: float) -> list[Outcome]:
    """Every case against one server, each followed by a good request."""
    outcomes = []
    tensor_name = "user" if target.name == "guard" else "text"
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        for i, case in enumerate(http_cases(target.name, tensor_name)):
            start = time.perf_counter()
            status, message = send_http(client, target, case)
            seconds = time.perf_counter() - start
            outcomes.append(Outcome(target.name, case.name, status,
                                    good_request(client, target, i), seconds, message))
        for i, raw in enumerate(raw_cases()):
            start = time.perf_counter()
            try:
                status, message = send_raw(target, raw, wait_s)
            except OSError as exc:
                status, message = 0, f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - start
            if status == 0 and not raw.may_close and "closed" not in message:
                status, message = 599, f"no answer within {wait_s:.0f} s ({message})"
            outcomes.append(Outcome(target.name, f"raw {raw.name}", status,
                                    good_request(client, target, i), seconds, message))
    return outcomes


def alive(target: Target, pid_at_start: int | None) -> bool:
    """Ready, and (when the pid is known) still the same process."""
    try:
        ready = httpx.get(f"{target.url}/v2/models/{target.name}/ready",
                          timeout=10).status_code == 200
    except httpx.TransportError:
        return False
    if pid_at_start is None:
        return ready
    return ready and live_servers.pid_listening_on(target.url) in (pid_at_start, None)


def run(targets: Sequence[Target], wait_s: float,
        progress: Callable[[str], None] = print) -> tuple[list[Outcome], dict[str, bool]]:
    """Fuzz every target (one thread each); return the outcomes and which servers are alive."""
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        futures = {t.name: pool.submit(fuzz_target, t, wait_s) for t in targets}
        outcomes = [o for t in targets for o in futures[t.name].result()]
    return outcomes, {t.name: alive(t, t.pid) for t in targets}


def report(outcomes: Sequence[Outcome], alive_by_model: dict[str, bool],
           tracebacks: int | None, verbose: bool = False) -> bool:
    """Print the summary (every outcome when verbose); True when everything passed."""
    if verbose:
        for o in outcomes:
            print(f"  {o.model:5} {o.status:3} {o.seconds:6.2f}s  {o.case}: {o.message[:100]!r}")
    by_model: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for o in outcomes:
        by_model[o.model][o.status] += 1
    for model, counts in by_model.items():
        statuses = ", ".join(f"{s or 'closed'}: {n}" for s, n in sorted(counts.items()))
        print(f"  {model}: {sum(counts.values())} malformed requests ({statuses})")
    failures = [o for o in outcomes if o.failed]
    for o in failures:
        print(f"  FAIL {o.model} {o.case}: status {o.status}, good request after it "
              f"{o.good_status}: {o.message}")
    server_errors = sum(o.status >= 500 for o in outcomes)
    good_ok = sum(o.good_status == 200 for o in outcomes)
    dead = [m for m, ok in alive_by_model.items() if not ok]
    line = (f"fuzz: {len(outcomes)} malformed requests across {', '.join(by_model)}: "
            f"{server_errors} got a 5xx; {good_ok}/{len(outcomes)} good requests after them "
            f"answered 200; servers alive: {', '.join(m for m, ok in alive_by_model.items() if ok) or 'none'}")
    if dead:
        line += f"; DEAD: {', '.join(dead)}"
    if tracebacks is not None:
        line += f"; tracebacks in the server logs: {tracebacks}"
    print(line)
    return not failures and not dead and not tracebacks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz",
                                     description=__doc__.split("\n")[0])
    live_servers.add_target_args(parser)
    parser.add_argument("--wait", type=float, default=None,
                        help="seconds to wait for an answer to a raw request (default: 5 on "
                             "tiny servers, 40 live: above their --timeout_body)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the status and answer of every malformed request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    wait_s = args.wait or (5.0 if args.target == "tiny" else 40.0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        log_path = Path(tmp) / "servers.log"
        with log_path.open("w") as server_log, live_servers.targets(
                args.target, live_servers.parse_urls(args.url), TINY_SERVER_ARGS,
                log_stream=server_log) as targets:
            outcomes, alive_by_model = run(targets, wait_s)
        text = log_path.read_text(errors="replace")
        tracebacks = text.count("Traceback") if args.target == "tiny" else None
        if tracebacks:
            print(text[text.index("Traceback") - 500:][:4000])
        if args.target == "tiny":
            warnings = sum(" WARNING " in line for line in text.splitlines())
            print(f"server logs: {len(text.splitlines())} lines, {len(text.encode()) // 1024} KB "
                  f"in all (access log included); {warnings} warning lines")
    ok = report(outcomes, alive_by_model, tracebacks, args.verbose)
    print(f"fuzz finished in {time.perf_counter() - start:.0f} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
