"""serving.common: request parsing and validation, the served app (v1, v2, metadata, metrics,
limits), inference off the event loop, and the CLI parser."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest
from markers import SERVER_TEST_MARKS
from serving_utils import (
    Gate,
    LengthModel,
    assert_rejected,
    client_for,
    ready_during_inference,
    v1,
    v2,
    v2_outputs,
    v2_request,
)
from starlette.testclient import TestClient

from serving import common

pytestmark = SERVER_TEST_MARKS

LIMITS = common.RequestLimits(max_instances=4, max_text_chars=20, max_total_chars=50)


@pytest.fixture(scope="module")
def client():
    with client_for(LengthModel(), LengthModel("small", LIMITS)) as c:
        yield c


def _tensor(data, shape, datatype="BYTES", name="text"):
    return InferRequest(model_name="m", infer_inputs=[InferInput(name, shape, datatype, data)])


# --------------------------------------------------------------------------- pure parsing
def test_parse_text_instances_accepts_a_list_of_texts():
    assert common.parse_text_instances({"instances": ["a b", "c"]}, LIMITS) == ["a b", "c"]


@pytest.mark.parametrize(("payload", "fragment"), [
    (None, "expected a JSON object"),
    ([["a"]], "expected a JSON object"),
    ("text", "expected a JSON object"),
    ({}, 'an "instances" list, found keys: none'),
    ({"inputs": ["a"]}, "found keys: inputs"),
    ({"instances": "a"}, 'expected "instances" to be a list, got str'),
    ({"instances": {"a": 1}}, "got dict"),
    ({"instances": []}, "at least one"),
    ({"instances": ["a"] * 5}, "too many instances: 5"),
    ({"instances": [1]}, "instances[0]: expected a string, got int"),
    ({"instances": ["ok", None]}, "instances[1]: expected a string, got NoneType"),
    ({"instances": [["a"]]}, "got list"),
    ({"instances": [""]}, "non-empty"),
    ({"instances": ["   \n"]}, "non-empty"),
    ({"instances": ["x" * 21]}, "21 characters"),
    ({"instances": ["x" * 20] * 3}, "60 characters of text"),
])
def test_parse_text_instances_rejects(payload, fragment):
    with pytest.raises(InvalidInput) as err:
        common.parse_text_instances(payload, LIMITS)
    assert fragment in str(err.value)


def test_parse_text_tensor_accepts_n_and_n_by_1_shapes_and_binary_bytes():
    assert common.parse_text_tensor(_tensor(["a", "b"], [2]), "text", LIMITS) == ["a", "b"]
    assert common.parse_text_tensor(_tensor([["a"], ["b"]], [2, 1]), "text", LIMITS) == ["a", "b"]
    as_bytes = _tensor(np.array([b"caf\xc3\xa9"], dtype=object), [1])
    assert common.parse_text_tensor(as_bytes, "text", LIMITS) == ["café"]


@pytest.mark.parametrize(("request_", "fragment"), [
    (_tensor(["a"], [1], "FP32"), "expected datatype BYTES, got FP32"),
    (_tensor(["a", "b"], [1, 2]), "expected shape [N] or [N, 1]"),
    (_tensor(["a"], [1, 1, 1]), "expected shape"),
    (_tensor(["a"], []), "expected shape"),
    (_tensor(["a"], [-1]), "expected shape"),
    (_tensor(["a", "b"], [3]), "needs 3 elements, data holds 2"),
    (_tensor([], [0]), "at least one"),
    (_tensor(["a"] * 5, [5]), "too many input 'text' rows: 5"),
    (_tensor([1, 2], [2]), "input 'text'[0]: expected a string element, got int"),
    (_tensor([1.5], [1]), "got float"),
    (_tensor([True], [1]), "got bool"),
    (_tensor([None], [1]), "got NoneType"),
    (_tensor([""], [1]), "non-empty"),
    (_tensor(["x" * 21], [1]), "21 characters"),
    (_tensor(np.array([b"\xff\xfe"], dtype=object), [1]), "not valid UTF-8"),
    (_tensor(["a"], [1], name="texts"), "unknown input tensor 'texts'"),
    (InferRequest("m", []), "missing input tensor 'text'"),
    (InferRequest("m", [InferInput("text", [1], "BYTES", ["a"]),
                        InferInput("text", [1], "BYTES", ["b"])]), "given twice"),
])
def test_parse_text_tensor_rejects(request_, fragment):
    with pytest.raises(InvalidInput) as err:
        common.parse_text_tensor(request_, "text", LIMITS)
    assert fragment in str(err.value)


def test_request_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_instances"):
        common.RequestLimits(max_instances=0)


# --------------------------------------------------------------------------- the app
def test_v1_and_v2_answer(client):
    assert v1(client, "length", ["abc", "de"]).json() == {
        "predictions": [{"length": 3}, {"length": 2}]}
    response = v2(client, "length", {"text": ["abc", "de"]}, id="req-1")
    assert v2_outputs(response) == {"length": [3.0, 2.0]}
    assert response.json()["id"] == "req-1"
    assert response.json()["model_name"] == "length"


@pytest.mark.parametrize(("kind", "body", "status", "fragment"), [
    ("v1", {"instances": ["x"] * 5}, 400, "too many instances: 5"),
    ("v1", {"instances": [3]}, 400, "expected a string"),
    ("v1", {"instance": ["a"]}, 400, "found keys: instance"),
    ("v1", b"{not json", 400, "Unrecognized request format"),
    ("v1", b"", 400, "Unrecognized request format"),
    ("v2", v2_request({"text": [1, 2]}), 400, "expected a string element"),
    ("v2", v2_request({"text": ["a"]}, datatype="INT32"), 400, "expected datatype BYTES"),
    ("v2", v2_request({"prompt": ["a"]}), 400, "unknown input tensor 'prompt'"),
    ("v2", {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a"]}]},
     400, "needs 2 elements"),
    ("v2", b"{not json", 422, "JSON decode error"),
    ("v2", {"inputs": "text"}, 422, "valid list"),
    ("v2", {"inputs": [{"name": "text"}]}, 422, "Field required"),
    ("v2", v2_request({"text": ["a"]}, outputs=[{"name": "nope"}]), 400, "nope"),
])
def test_bad_requests_get_4xx_and_the_server_keeps_serving(client, kind, body, status, fragment):
    path = "/v1/models/small:predict" if kind == "v1" else "/v2/models/small/infer"
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert_rejected(response, fragment, status=status)
    assert v1(client, "small", ["still fine"]).json() == {"predictions": [{"length": 10}]}


def test_big_requests_are_refused_with_4xx_under_default_limits():
    with client_for(LengthModel()) as c:
        assert_rejected(v1(c, "length", ["x"] * 10_000), "too many instances: 10000")
        assert_rejected(v1(c, "length", ["x" * 1_000_000]), "1000000 characters")
        assert_rejected(v2(c, "length", {"text": ["x" * 1_000_000]}), "1000000 characters")
        assert v1(c, "length", ["ok"]).status_code == 200


_TRUNCATED = (b'{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES",'
              b'"parameters":{"binary_data_size":9}}]}')


@pytest.mark.parametrize(("header_length", "body", "fragment"), [
    ("15", b'{"inputs":[{}]}', "malformed v2 request: KeyError"),
    ("abc", b'{"inputs":[]}', "malformed v2 request: ValueError"),
    ("3", b'{"inputs":[]}', "Unrecognized request format"),
    (str(len(_TRUNCATED)), _TRUNCATED, "malformed v2 request"),  # no tensor bytes follow
])
def test_malformed_binary_v2_requests_get_400(client, header_length, body, fragment):
    response = client.post("/v2/models/small/infer", content=body,
                           headers={"inference-header-content-length": header_length,
                                    "content-type": "application/octet-stream"})
    assert_rejected(response, fragment)
    assert v2_outputs(v2(client, "small", {"text": ["ok"]})) == {"length": [2.0]}


def test_binary_v2_request_with_a_bytes_tensor_is_served(client):
    import struct

    payload = b"".join(struct.pack("<I", len(s)) + s for s in (b"abc", b"de"))
    header = (b'{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES",'
              b'"parameters":{"binary_data_size":%d}}]}' % len(payload))
    response = client.post("/v2/models/small/infer", content=header + payload,
                           headers={"inference-header-content-length": str(len(header)),
                                    "content-type": "application/octet-stream"})
    assert v2_outputs(response) == {"length": [3.0, 2.0]}


@pytest.mark.parametrize("raw", [True, False])
def test_grpc_requests_raw_and_typed_are_served_and_encoded(raw):
    """kserve's gRPC path: InferRequest.from_grpc -> model -> InferResponse.to_grpc."""
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.infer_type import InferResponse, serialize_byte_tensor

    texts = np.array([b"abc", b"de"], dtype=object)
    tensor = pb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[2])
    if raw:
        message = pb.ModelInferRequest(model_name="length", inputs=[tensor],
                                       raw_input_contents=[serialize_byte_tensor(texts).item()])
    else:
        tensor.contents.bytes_contents.extend(texts.tolist())
        message = pb.ModelInferRequest(model_name="length", inputs=[tensor])
    model = LengthModel()
    model.load()
    response, _ = asyncio.run(model(InferRequest.from_grpc(message)))
    decoded = InferResponse.from_grpc(response.to_grpc())
    assert decoded.outputs[0].as_numpy().tolist() == [3.0, 2.0]


def test_output_helpers_keep_shapes_for_rest():
    from kserve.protocol.infer_type import InferResponse

    outputs = [common.fp32_output("p", np.arange(6).reshape(2, 3)),
               common.bytes_output("label", ["a", "b"]), common.bool_output("ok", [True, False])]
    rest, _ = InferResponse("1", "m", outputs).to_rest()
    assert [(o["name"], o["shape"], o["data"]) for o in rest["outputs"]] == [
        ("p", [2, 3], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), ("label", [2], ["a", "b"]),
        ("ok", [2], [True, False])]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_every_server_reads_v1_json_sent_without_a_json_content_type(client, content_type):
    """`curl -d '{...}'` sends form-encoded: the shared preprocess decodes it for all servers."""
    ok = client.post("/v1/models/length:predict", content=b'{"instances": ["abc", "de"]}',
                     headers={"content-type": content_type})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"predictions": [{"length": 3}, {"length": 2}]}
    bad = client.post("/v1/models/length:predict", content=b"instances=abc",
                      headers={"content-type": content_type})
    assert bad.status_code == 400
    assert "could not parse it" in bad.json()["error"]


def test_metadata_readiness_and_metrics(client):
    meta = client.get("/v2/models/length").json()
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "length", "datatype": "FP32", "shape": [-1]}]
    assert client.get("/v2/models/length/ready").json() == {"name": "length", "ready": True}
    assert client.get("/v1/models/length").json() == {"name": "length", "ready": True}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert set(client.get("/v2/models").json()["models"]) == {"length", "small"}
    assert_rejected(client.get("/v2/models/nope/ready"), "does not exist", status=404)
    assert_rejected(v1(client, "nope", ["a"]), "does not exist", status=404)
    v1(client, "length", ["counted"])
    metrics = client.get("/metrics").text
    assert 'request_predict_seconds_count{model_name="length"}' in metrics


def test_a_model_that_is_not_ready_answers_503():
    warm = LengthModel("warm")
    warm.load()
    server = common.ModelServer([warm])
    server.register_model(LengthModel("cold", auto_load=False))  # registered, never loaded
    with TestClient(server.app(), raise_server_exceptions=False) as c:
        assert c.get("/v2/models/cold/ready").status_code == 503
        assert_rejected(v1(c, "cold", ["a"]), "not ready", status=503)


def test_model_server_refuses_unloaded_models():
    with pytest.raises(RuntimeError, match="not ready"):
        common.ModelServer([LengthModel("cold", auto_load=False)])


def test_inference_runs_off_the_event_loop():
    """While a prediction runs, readiness probes still answer."""
    gate = Gate()
    model = LengthModel("slow", gate=gate)
    model.load()
    ready, still_running, predicted = ready_during_inference(
        common.ModelServer([model]).app(), "slow", gate)
    assert (ready, still_running, predicted) == (200, True, 200)


# --------------------------------------------------------------------------- CLI
def test_parser_extends_kserve_and_defaults_to_loopback():
    parser = common.build_parser("lora", "test")
    args = common.parse_args(parser, ["--model_dir", "/m"])
    assert (args.http_port, args.model_name, args.bind_address) == (8002, "lora", "127.0.0.1")
    assert args.enable_grpc is False
    # docs/serving.md's limits table (classifiers): 256 instances, 100 000 characters per text,
    # 2 000 000 per request, 16 MiB per body
    limits = common.limits_from_args(args)
    assert (limits.max_instances, limits.max_text_chars, limits.max_total_chars) == (
        256, 100_000, 2_000_000)
    assert args.max_body_bytes == 16 * 1024 * 1024
    args = common.parse_args(parser, ["--model_dir", "/m", "--bind_address", "0.0.0.0",
                                      "--http_port", "9000", "--model_name", "x",
                                      "--max_instances", "8", "--enable_grpc", "true"])
    assert (args.bind_address, args.http_port, args.model_name) == ("0.0.0.0", 9000, "x")
    assert args.enable_grpc is True
    assert common.limits_from_args(args).max_instances == 8


def test_parsers_do_not_leak_defaults_into_kserve_or_each_other():
    from kserve.model_server import parser as kserve_parser

    lora = common.build_parser("lora", "test")
    caption = common.build_parser("caption", "test")
    assert common.parse_args(lora, ["--model_dir", "m"]).http_port == 8002
    assert common.parse_args(caption, ["--model_dir", "m"]).http_port == 8004
    defaults = {a.dest: a.default for a in kserve_parser._actions}
    assert (defaults["http_port"], defaults["model_name"]) == (8080, "model")


@pytest.mark.parametrize(("argv", "fragment"), [
    ([], "the following arguments are required: --model_dir"),
    (["--model_dir", "/m", "--workers", "2"], "--workers must be 1"),
    (["--model_dir", "/m", "--max_instances", "0"], "--max_instances: expected a positive"),
    (["--model_dir", "/m", "--max_text_chars", "many"], "--max_text_chars: expected a positive"),
])
def test_parser_rejects(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        common.parse_args(common.build_parser("lstm", "test"), argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and fragment in err


def test_ports_are_defined_once():
    assert common.PORTS == {"lstm": 8001, "lora": 8002, "guard": 8003, "caption": 8004}


# --------------------------------------------------------------------------- predict module
@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("max 100000", None), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)])
def test_the_cgroup_v2_cpu_quota_is_read_as_whole_cpus(monkeypatch, tmp_path, cpu_max, expected):
    from components.core import predict

    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    monkeypatch.setattr(predict, "CGROUP_V2_CPU_MAX", tmp_path / "cpu.max")
    assert predict._cgroup_cpu_quota() == expected


def test_the_cgroup_v1_quota_is_read_when_there_is_no_v2_file(monkeypatch, tmp_path):
    from components.core import predict

    monkeypatch.setattr(predict, "CGROUP_V2_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr(predict, "CGROUP_V1_CPU", tmp_path)
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "cpu.cfs_quota_us").write_text("-1\n")
    assert predict._cgroup_cpu_quota() is None
    (tmp_path / "cpu.cfs_quota_us").write_text("300000\n")
    assert predict._cgroup_cpu_quota() == 3


def test_torch_threads_come_from_the_env_then_the_containers_cpus(monkeypatch):
    from components.core import predict

    monkeypatch.setattr(predict, "_cgroup_cpu_quota", lambda: 1)  # a 1-CPU container
    monkeypatch.delenv("TORCH_NUM_THREADS", raising=False)
    assert predict.torch_threads() == 1
    monkeypatch.setenv("TORCH_NUM_THREADS", "3")  # what the manifests set from limits.cpu
    assert predict.torch_threads() == 3
    monkeypatch.setenv("TORCH_NUM_THREADS", "0")
    with pytest.raises(ValueError, match="positive integer"):
        predict.torch_threads()


@pytest.mark.slow  # a fresh interpreter importing the ML stack
def test_the_servers_import_no_training_or_plotting_code():
    import subprocess
    import sys

    code = ("import sys, serving.lstm, serving.lora, serving.guard, serving.caption, "
            "serving.launch, components.core.predict; print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    unwanted = {"matplotlib", "sklearn", "peft", "components.training.lora_train", "components.training.lstm_train",
                "components.evaluation.evaluate", "components.evaluation.plots", "components.data.preprocess"}
    assert "kserve" in loaded
    assert loaded & unwanted == set()
