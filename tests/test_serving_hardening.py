"""Hostile input, faults and load: client mistakes are 4xx logged in one line, the model
repository API cannot empty a server, connection limits (header size, slow clients, idle
connections, shutdown), and the launcher reporting a server that dies."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from markers import SERVER_TEST_MARKS
from serving_utils import (
    LengthModel,
    assert_rejected,
    client_for,
    free_port,
    make_serve,
    v1,
    v2,
)

from benchmarks.live_servers import pid_listening_on
from serving import common, launch

pytestmark = SERVER_TEST_MARKS


def repository_client(enabled: bool):
    model = LengthModel("echo")
    model.load()
    server = common.ModelServer([model], enable_model_repository=enabled)
    from starlette.testclient import TestClient

    return model, TestClient(server.app(), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client():
    with client_for(LengthModel("echo")) as c:
        yield c


def post_raw(client, path, body: bytes):
    return client.post(path, content=body, headers={"content-type": "application/json"})


# --------------------------------------------------------------------------- 4xx, not 5xx
@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"inputs": NaN}', "valid list"),
    (b'{"inputs": Infinity}', "valid list"),
    (b'{"id": NaN, "inputs": []}', "valid string"),
    (b'{"inputs": [{"name": "text", "shape": [NaN], "datatype": "BYTES", "data": ["a"]}]}',
     "finite number"),
    (b'{"inputs": [{"name": "text", "shape": [-Infinity], "datatype": "BYTES", "data": ["a"]}]}',
     "finite number"),
])
def test_nan_and_infinity_in_a_rejected_v2_body_are_a_422_not_a_500(client, body, fragment):
    response = post_raw(client, "/v2/models/echo/infer", body)
    message = assert_rejected(response, fragment, status=422)
    assert "nan" in message.lower() or "inf" in message.lower()  # the input, echoed as text


@pytest.mark.parametrize(("path", "body", "fragment"), [
    ("/v2/models/echo/infer",
     b'{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [NaN]}]}',
     "expected a string element, got float nan"),
    ("/v1/models/echo:predict", b'{"instances": [NaN]}', "unrecognized request format"),
    ("/v1/models/echo:predict", b'{"instances": ["a"], "x": Infinity}', "unrecognized request format"),
])
def test_nan_and_infinity_elsewhere_are_a_400(client, path, body, fragment):
    assert_rejected(post_raw(client, path, body), fragment)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v2/models/echo/versions/1/infer"),
    ("GET", "/v2/models/echo/versions/1"),
    ("GET", "/v2/models/echo/versions/1/ready"),
])
def test_model_versions_are_a_404_that_says_so(client, method, path):
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}
    response = client.request(method, path, json=body if method == "POST" else None)
    assert_rejected(response, "model versions are not supported", status=404)


def test_explain_on_a_model_without_it_is_a_404(client):
    response = v1(client, "echo", ["a text"]).status_code
    assert response == 200
    assert_rejected(client.post("/v1/models/echo:explain", json={"instances": ["a"]}),
                    "'echo' has no explain endpoint", status=404)


def test_a_rejected_request_logs_one_line_without_traceback(client, caplog):
    kserve_logger = logging.getLogger("kserve")
    kserve_logger.addHandler(caplog.handler)  # kserve's loggers may not propagate to root
    try:
        with caplog.at_level(logging.INFO):
            for path, body in [("/v1/models/echo:predict", b'{"instances": 5}'),
                               ("/v2/models/echo/infer", b'{"inputs": NaN}'),
                               ("/v2/models/echo/versions/2/infer", b"{}"),
                               ("/v1/models/nope:predict", b'{"instances": ["a"]}')]:
                caplog.clear()
                status = post_raw(client, path, body).status_code
                problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
                assert len(problems) == 1, (path, [r.getMessage() for r in problems])
                assert problems[0].exc_info is None, path
                assert f"{path} -> {status}" in problems[0].getMessage()
                assert "Traceback" not in caplog.text
    finally:
        kserve_logger.removeHandler(caplog.handler)


# --------------------------------------------------------------------------- model repository
def test_the_model_repository_api_is_off_by_default():
    model, c = repository_client(enabled=False)
    with c:
        for path in ("/v2/repository/models/echo/unload", "/v2/repository/models/echo/load",
                     "/v2/repository/models/nope/load"):
            assert_rejected(c.post(path), "--enable_model_repository", status=403)
        assert c.get("/v2/models/echo/ready").status_code == 200
        assert c.get("/v2/health/ready").status_code == 200
        assert v1(c, "echo", ["abc"]).json() == {"predictions": [{"length": 3}]}
        assert c.get("/v2").json()["extensions"] == []
    assert model.loads == 1


def test_with_the_repository_api_on_unload_and_load_keep_readiness_truthful():
    model, c = repository_client(enabled=True)
    with c:
        assert c.post("/v2/repository/models/echo/unload").status_code == 200
        assert c.get("/v2/models/echo/ready").status_code == 404
        assert c.get("/v2/health/ready").status_code == 503  # kserve said 200 here
        assert c.get("/v2/health/live").status_code == 200  # the process can load it again
        assert v1(c, "echo", ["abc"]).status_code == 404
        assert c.post("/v2/repository/models/echo/unload").status_code == 200  # idempotent

        assert c.post("/v2/repository/models/echo/load").status_code == 200
        assert model.loads == 2
        assert c.get("/v2/models/echo/ready").status_code == 200
        assert c.get("/v2/health/ready").status_code == 200
        assert v2(c, "echo", {"text": ["abcd"]}).json()["outputs"][0]["data"] == [4.0]

        assert_rejected(c.post("/v2/repository/models/nope/load"), "nope", status=404)
        assert_rejected(c.post("/v2/repository/models/nope/unload"), "nope", status=404)
        assert c.get("/v2").json()["extensions"] == ["model_repository_extension"]


def test_server_flags_refuse_nonsense_and_what_they_cannot_honour(tmp_path):
    parser = common.build_parser("lstm", "test")
    for flag in ("--timeout_headers", "--timeout_body", "--max_header_bytes", "--max_body_bytes"):
        for bad in ("0", "-1", "nan"):
            with pytest.raises(SystemExit):
                common.parse_args(parser, ["--model_dir", "x", flag, bad])
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    for refused in (["--workers", "2"], ["--predictor_host", "elsewhere:80"],
                    ["--ssl_certfile", str(cert)],  # half a key pair would serve plain HTTP
                    ["--ssl_certfile", str(cert), "--ssl_keyfile", str(tmp_path / "missing")],
                    ["--log_config_file", str(tmp_path / "missing.yaml")],
                    ["--access_log_format", "%(h)s"]):  # asgi-logger is not installed
        with pytest.raises(SystemExit):
            common.parse_args(parser, ["--model_dir", "x", *refused])


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM files in `directory`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.slow  # server processes
def test_a_server_started_with_tls_answers_over_https_only(tmp_path):
    cert, key = _self_signed_certificate(tmp_path)
    spec = launch.ServerSpec("noop", "benchmarks.noop_server", free_port(),
                             ("--model_dir", "none", "--ssl_certfile", str(cert),
                              "--ssl_keyfile", str(key), "--enable_docs_url", "true"),
                             scheme="https")
    with launch.Servers([spec], log_stream=None, verify=str(cert)):
        url = f"https://127.0.0.1:{spec.port}"
        response = httpx.post(f"{url}/v1/models/noop:predict", json={"instances": ["a"]},
                              verify=str(cert))
        assert response.status_code == 200
        assert len(response.json()["predictions"]) == 1
        # another inherited flag that used to be ignored: kserve's Swagger UI
        assert httpx.get(f"{url}/docs", verify=str(cert)).status_code == 200
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{spec.port}/v2/health/live", timeout=5)


# --------------------------------------------------------------------------- connection limits
@pytest.fixture(scope="module")
def noop_server():
    """A real server process (no model to load) with short read deadlines."""
    spec = launch.ServerSpec("noop", "benchmarks.noop_server", free_port(),
                             ("--model_dir", "none", "--timeout_headers", "1",
                              "--timeout_body", "1", "--max_header_bytes", "8192",
                              "--max_body_bytes", "4096"))
    servers = launch.Servers([spec], log_stream=None)
    with servers:
        yield spec, servers.procs["noop"]


def _connect(spec) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", spec.port), timeout=10)
    sock.settimeout(10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _serves(spec) -> bool:
    response = httpx.post(f"{spec.url()}/v1/models/noop:predict", json={"instances": ["a"]})
    return response.status_code == 200


def test_an_oversized_header_is_refused_431_and_the_server_keeps_serving(noop_server):
    spec, _ = noop_server
    with _connect(spec) as sock:  # unterminated: the server must not wait for its end
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"exceed 8192 bytes" in answer
    response = httpx.get(f"{spec.url()}/v2/health/live", headers={"x-big": "a" * 10_000})
    assert response.status_code == 431  # a complete but too large head, read in one go
    assert _serves(spec)


@pytest.mark.parametrize("protocol", ["v1", "v2"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused_413_plain_or_chunked(noop_server, protocol, chunked):
    spec, _ = noop_server
    path = ("/v1/models/noop:predict" if protocol == "v1" else "/v2/models/noop/infer")
    body = (b'{"instances": ["' if protocol == "v1" else
            b'{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["')
    body += b"x" * 5000 + (b'"]}' if protocol == "v1" else b'"]}]}')

    def chunks():  # no Content-Length: sent with Transfer-Encoding: chunked
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    response = httpx.post(f"{spec.url()}{path}", content=chunks() if chunked else body,
                          headers={"content-type": "application/json"})
    assert_rejected(response, "this server accepts at most 4096", status=413)
    assert _serves(spec)


def test_the_docs_url_is_off_unless_asked(noop_server):
    spec, _ = noop_server
    assert httpx.get(f"{spec.url()}/docs").status_code == 404


def test_a_slow_client_is_cut_off_after_the_header_timeout(noop_server):
    spec, _ = noop_server
    """The header never ends (one byte every 0.25 s): answered 408 by the 1 s header timeout,
    before the client has sent the 30 bytes it would (a count, not a clock: under load the
    client sends fewer bytes per second, never more)."""
    with _connect(spec) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n")
        answer, sent = b"", 0
        for _ in range(30):  # one byte every 0.25 s, for up to 7.5 s
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            sock.settimeout(0.25)
            try:
                answer = sock.recv(4096)
                break
            except TimeoutError:
                continue
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert 1 < sent < 30, sent
    assert _serves(spec)


def test_a_connection_that_sends_nothing_is_closed(noop_server):
    spec, _ = noop_server
    with _connect(spec) as sock:
        assert sock.recv(100) == b""  # closed by the server, without an answer


def test_a_slow_body_is_cut_off_after_the_body_timeout(noop_server):
    spec, _ = noop_server
    with _connect(spec) as sock:
        sock.sendall(b"POST /v1/models/noop:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"request body not received within 1 s" in answer
    assert _serves(spec)


@pytest.mark.slow  # server processes
def test_shutdown_does_not_wait_for_a_slow_body():
    """SIGTERM while a body trickles in: answered 503 at once, the server exits well within its
    30 s grace period (it used to wait for the whole grace)."""
    spec = launch.ServerSpec("noop", "benchmarks.noop_server", free_port(),
                             ("--model_dir", "none"))  # default 30 s body timeout
    servers = launch.Servers([spec], log_stream=None)
    with servers:
        proc = servers.procs["noop"]
        with _connect(spec) as sock:
            sock.sendall(b"POST /v1/models/noop:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            answer = _answer(sock)
            # A server that waited its 30 s grace out would not have exited by now.
            proc.wait(timeout=20)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
    assert proc.returncode is not None


# --------------------------------------------------------------------------- launcher
def test_a_port_in_time_wait_is_free_for_the_launcher():
    """A stopped server leaves TIME_WAIT connections on its port: the servers bind through them
    (SO_REUSEADDR), so the launcher's free-port check must not refuse the port either."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's listener
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    conn.close()  # the server side closes first: its end goes to TIME_WAIT
    time.sleep(0.1)
    client.close()
    listener.close()
    time.sleep(0.1)
    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
            pytest.skip("no TIME_WAIT socket held the port on this kernel")
        except OSError:
            pass
    assert launch.port_free(port)


@pytest.mark.slow  # server processes
def test_servers_wait_returns_the_server_that_died_and_the_others_keep_serving():
    specs = [launch.ServerSpec(name, "benchmarks.noop_server", free_port(),
                               ("--model_dir", "none")) for name in ("a", "b")]
    with launch.Servers(specs, log_stream=None) as servers:
        os.kill(servers.procs["a"].pid, signal.SIGKILL)
        assert servers.wait(threading.Event(), poll_s=0.1) == {"a": -signal.SIGKILL}
        assert httpx.get(f"{specs[1].url()}/v2/models/b/ready").status_code == 200
        assert "serving a on http://127.0.0.1" in servers.log_tail("a")
    stop = threading.Event()
    stop.set()
    assert servers.wait(stop) == {}  # a requested stop is not a death


@pytest.mark.slow
def test_make_serve_reports_a_dead_server_at_once_and_exits_1(tiny_lstm_dir, tiny_lora_dir):
    """`python -m serving.launch` (make serve): kill -9 of the lora server is reported with the
    end of its log within a second or so, the lstm server is stopped, and the launcher exits 1."""
    ports = {"lstm": free_port(), "lora": free_port()}
    with make_serve(["--servers", "lstm,lora", "--lstm_model_dir", str(tiny_lstm_dir),
                     "--lora_model_dir", str(tiny_lora_dir),
                     *(f"--port={n}={p}" for n, p in ports.items())]) as (proc, lines):
        os.kill(pid_listening_on(f"http://127.0.0.1:{ports['lora']}"), signal.SIGKILL)
        assert proc.wait(timeout=60) == 1, "".join(lines[-40:])
    output = "".join(lines)
    assert "lora exited (stopped by SIGKILL); its log ends:" in output
    assert "stopped: lstm (exit 0), lora (stopped by SIGKILL)" in output  # lstm: clean stop
    assert all(launch.port_free(p) for p in ports.values())


# --------------------------------------------------------------------------- make fuzz
def test_the_fuzz_corpus_has_150_malformed_requests_across_lstm_lora_and_guard():
    from benchmarks import fuzz

    per_model = {m: len(fuzz.http_cases(m, "user" if m == "guard" else "text"))
                 + len(fuzz.raw_cases()) for m in ("lstm", "lora", "guard")}
    assert sum(per_model.values()) >= 150, per_model
    names = [c.name for c in fuzz.http_cases("lstm", "text")]
    assert len(names) == len(set(names))


def test_the_fuzz_verdict_fails_on_a_5xx_a_failed_good_request_or_a_dead_server():
    from benchmarks import fuzz

    ok = fuzz.Outcome("lstm", "x", 400, 200, 0.01)
    assert fuzz.report([ok], {"lstm": True}, tracebacks=0)
    assert not fuzz.report([ok, fuzz.Outcome("lstm", "y", 500, 200, 0.01)], {"lstm": True}, 0)
    assert not fuzz.report([ok, fuzz.Outcome("lstm", "y", 400, 0, 0.01)], {"lstm": True}, 0)
    assert not fuzz.report([ok], {"lstm": False}, 0)
    assert not fuzz.report([ok], {"lstm": True}, tracebacks=1)


def test_make_serve_splits_the_cpus_between_its_torch_and_onnx_servers(monkeypatch):
    from components.core import predict

    specs = [launch.ServerSpec(n, f"serving.{n}", 1) for n in ("lstm", "lora", "guard")]
    monkeypatch.delenv("TORCH_NUM_THREADS", raising=False)
    monkeypatch.delenv("ORT_NUM_THREADS", raising=False)
    monkeypatch.setattr(predict, "cpu_count", lambda: 8)
    both = {"TORCH_NUM_THREADS": "4", "ORT_NUM_THREADS": "4"}
    assert launch.threads_env(specs) == both  # lora + guard, whichever engine each runs
    monkeypatch.setattr(predict, "cpu_count", lambda: 2)
    assert launch.threads_env(specs[:2]) == {"TORCH_NUM_THREADS": "2", "ORT_NUM_THREADS": "2"}
    assert launch.threads_env(specs[:1]) == {}  # the lstm server runs neither
    monkeypatch.setenv("TORCH_NUM_THREADS", "3")
    assert launch.threads_env(specs) == {"ORT_NUM_THREADS": "1"}  # the user's setting wins
