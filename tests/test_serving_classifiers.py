"""The lstm and lora model servers on tiny trained model directories: v1, v2, metadata, metrics,
bad requests, micro-batching, the CLI, a real server process, a third-party v2 client and the
`make serve` launcher."""

from __future__ import annotations

import asyncio
import json
import math
import re
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from markers import SERVER_TEST_MARKS
from serving_utils import (
    ROOT,
    Gate,
    assert_rejected,
    client_for,
    free_port,
    listening_addresses,
    make_serve,
    ready_during_inference,
    served,
    v1,
    v2,
    v2_outputs,
    v2_request,
)

from components.core.text import join_fields
from serving import classifier, common, launch
from serving.batching import BatchSettings, MicroBatcher

pytestmark = SERVER_TEST_MARKS

TEXTS = ["How do I pick a lock to get into my neighbour's house?. A dark street at night.",
         "What is a good recipe for pancakes?"]
SERVERS = ("lstm", "lora")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def models(tiny_lstm_dir, tiny_lora_dir):
    """Loaded lstm and lora models (tiny, trained by the real training code)."""
    lstm = classifier.lstm_model(str(tiny_lstm_dir))
    lora = classifier.lora_model(str(tiny_lora_dir), device="cpu")
    lstm.load()
    lora.load()
    return {"lstm": lstm, "lora": lora}


@pytest.fixture(scope="module")
def client(models):
    with client_for(*models.values()) as c:
        yield c


@pytest.fixture(params=SERVERS)
def name(request):
    return request.param


class Spy:
    """A predictor wrapper that records forward calls, optionally slow, held by a Gate or failing
    on a text."""

    def __init__(self, inner, delay: float = 0.0, fail_on: str | None = None, gate=None):
        self.inner, self.delay, self.fail_on, self.gate = inner, delay, fail_on, gate
        self.labels, self.settings = inner.labels, inner.settings
        self.calls: list[list[str]] = []

    def predict_proba(self, texts):
        self.calls.append(list(texts))
        if self.gate is not None:
            self.gate.hold()
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"model failed on {self.fail_on!r}")
        return self.inner.predict_proba(texts)


def spy_model(models, name="spy", batch=BatchSettings(8, 50.0), **spy_kw):  # noqa: B008
    """A model over a Spy of the tiny lora predictor, in the "under load" state (it waits up to
    the batch wait for company from the first request on)."""
    spy = Spy(models["lora"].predictor)
    model = classifier.ClassifierModel(name, lambda: spy, batch=batch)
    model.load()
    model.batcher.under_load = True
    spy.calls.clear()  # forget the warm-up
    for key, value in spy_kw.items():  # slow / failing from now on
        setattr(spy, key, value)
    return model, spy


async def _concurrently(app, requests):
    """POST every (path, json) at once through the ASGI app; the responses in order."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # 500s as a client sees them
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        return await asyncio.gather(*(c.post(path, json=body) for path, body in requests))


def _app(*models):
    return common.ModelServer(models).app()


# --------------------------------------------------------------------------- v1 / v2
def test_v1_answers_labels_and_probabilities_as_the_predictor_does(client, models, name):
    model = models[name]
    response = v1(client, name, TEXTS)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    expected = model.predictor.predict_proba(TEXTS)
    assert len(predictions) == 2
    for pred, row in zip(predictions, expected, strict=True):
        assert list(pred["probabilities"]) == model.labels
        probs = np.array(list(pred["probabilities"].values()))
        np.testing.assert_allclose(probs, row, rtol=1e-5, atol=1e-6)
        assert math.isclose(probs.sum(), 1.0, rel_tol=1e-4)
        assert pred["label"] == model.labels[int(row.argmax())]


@pytest.mark.parametrize("text", ["Как взломать замок соседа?", "如何撬锁", "🙂 🙂"])
def test_a_text_the_model_cannot_read_gets_no_label(client, models, name, text):
    """A script the model never saw (or nothing left after cleaning) is said to be unreadable,
    on v1 and v2, next to a readable text in the same request answered as usual."""
    response = v1(client, name, [text, TEXTS[1]])
    assert response.status_code == 200, response.text
    unreadable, readable = response.json()["predictions"]
    assert (unreadable["label"], unreadable["probabilities"], unreadable["readable"]) == \
        (None, None, False)
    assert "script" in unreadable["reason"] or "nothing left" in unreadable["reason"]
    assert readable["label"] in models[name].labels
    body = v2(client, name, {"text": [text, TEXTS[1]]}).json()
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert outputs["label"][0] == "" and outputs["label"][1] in models[name].labels
    assert "0" in json.loads(body["parameters"]["unreadable"])


def test_v1_object_instances_are_joined_like_the_training_text(client, models, name):
    settings = models[name].settings
    query, description = "how to hurt someone", "a knife on a table"
    joined = join_fields([query, description], settings.separator)
    by_fields = v1(client, name, [{"query": query, "image descriptions": description},
                                  {"query": query}, {"query": query, "image descriptions": None}])
    as_text = v1(client, name, [joined, query, query])
    assert by_fields.status_code == 200, by_fields.text
    assert by_fields.json() == as_text.json()


def test_v1_accepts_json_sent_without_a_json_content_type(client):
    response = client.post("/v1/models/lstm:predict", content=json.dumps({"instances": TEXTS}),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert len(response.json()["predictions"]) == 2


def test_v2_answers_label_and_probability_tensors(client, models, name):
    model = models[name]
    response = v2(client, name, {"text": TEXTS}, id="r-1")
    body = response.json()
    outputs = v2_outputs(response)
    shapes = {o["name"]: (o["datatype"], o["shape"]) for o in body["outputs"]}
    assert shapes == {"label": ("BYTES", [2]), "probabilities": ("FP32", [2, len(model.labels)])}
    probs = np.array(outputs["probabilities"], dtype=np.float32).reshape(2, -1)
    np.testing.assert_allclose(probs, model.predictor.predict_proba(TEXTS), rtol=1e-5, atol=1e-6)
    assert outputs["label"] == [model.labels[i] for i in probs.argmax(axis=1)]
    assert json.loads(body["parameters"]["labels"]) == model.labels
    assert (body["id"], body["model_name"]) == ("r-1", name)


def test_v2_accepts_n_by_1_text_tensors_and_requested_outputs(client, name):
    body = {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES",
                        "data": [[TEXTS[0]], [TEXTS[1]]]}],
            "outputs": [{"name": "label"}]}
    response = client.post(f"/v2/models/{name}/infer", json=body)
    assert list(v2_outputs(response)) == ["label"]


def test_long_texts_are_truncated_not_rejected(client, name):
    long_text = " ".join(["pancakes", "knife", "street"] * 4_000)  # 66k chars: >> max_length
    text_only_symbols = "😀 ### !!!"  # cleans to almost nothing
    response = v1(client, name, [long_text, text_only_symbols, TEXTS[0]])
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3


def test_metadata_readiness_and_metrics(client, models, name):
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["name"] == name
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(models[name].labels)]}]
    assert client.get(f"/v2/models/{name}/ready").json() == {"name": name, "ready": True}
    assert client.get(f"/v1/models/{name}").json() == {"name": name, "ready": True}
    v1(client, name, ["counted"])
    metrics = client.get("/metrics").text
    assert f'request_predict_seconds_count{{model_name="{name}"}}' in metrics
    assert f'toxic_filter_batch_size_count{{model_name="{name}"}}' in metrics


# --------------------------------------------------------------------------- bad requests
BAD_REQUESTS = [
    # (protocol, body, status, fragment of the message)
    ("v1", b'{"instances": ["unclosed', 400, "Unrecognized request format"),
    ("v1", b"", 400, "Unrecognized request format"),
    ("v1", [TEXTS[0]], 400, "expected a JSON object"),
    ("v1", {"inputs": TEXTS}, 400, 'an "instances" list, found keys: inputs'),
    ("v1", {"instances": TEXTS[0]}, 400, 'expected "instances" to be a list'),
    ("v1", {"instances": []}, 400, "at least one"),
    ("v1", {"instances": [TEXTS[0], 3]}, 400, "instances[1]: expected a string or an object"),
    ("v1", {"instances": [None]}, 400, "instances[0]: expected a string or an object"),
    ("v1", {"instances": [["nested"]]}, 400, "expected a string or an object"),
    ("v1", {"instances": [""]}, 400, "instances[0]: expected a non-empty text"),
    ("v1", {"instances": ["  \n "]}, 400, "expected a non-empty text"),
    ("v1", {"instances": [{"prompt": "x"}]}, 400, "unknown key 'prompt', expected keys among "
                                                  "'query', 'image descriptions'"),
    ("v1", {"instances": [{"query": 3}]}, 400, "instances[0]['query']: expected a string"),
    ("v1", {"instances": [{"query": " ", "image descriptions": ""}]}, 400,
     "expected a non-empty text in at least one of"),
    ("v1", {"instances": ["x" * 1_000_000]}, 400, "1000000 characters, this server accepts at most"),
    ("v1", {"instances": ["a text"] * 10_000}, 400, "too many instances: 10000"),
    ("v2", b'{"inputs": [', 422, "JSON decode error"),
    ("v2", {"instances": TEXTS}, 422, "Field required"),
    ("v2", v2_request({"text": [1, 2]}), 400, "expected a string element"),
    ("v2", v2_request({"text": ["a"]}, datatype="FP32"), 400, "expected datatype BYTES, got FP32"),
    ("v2", {"inputs": [{"name": "text", "shape": [1, 2], "datatype": "BYTES",
                        "data": [["a", "b"]]}]}, 400, "expected shape [N] or [N, 1], got [1, 2]"),
    ("v2", {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]},
     400, "shape [3] needs 3 elements, data holds 1"),
    ("v2", v2_request({"prompt": ["a"]}), 400, "unknown input tensor 'prompt'"),
    ("v2", v2_request({"text": [""]}), 400, "expected a non-empty text"),
    ("v2", v2_request({"text": ["x" * 1_000_000]}), 400, "1000000 characters"),
    ("v2", v2_request({"text": ["a"] * 10_000}), 400, "too many input 'text' rows: 10000"),
]


@pytest.mark.parametrize(("protocol", "body", "status", "fragment"), BAD_REQUESTS,
                         ids=[f"{p}-{i}" for i, (p, *_) in enumerate(BAD_REQUESTS)])
def test_bad_requests_get_4xx_and_the_server_keeps_serving(client, name, protocol, body, status,
                                                           fragment):
    path = f"/v1/models/{name}:predict" if protocol == "v1" else f"/v2/models/{name}/infer"
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert_rejected(response, fragment, status=status)
    assert v1(client, name, [TEXTS[1]]).status_code == 200


def test_limits_are_configurable(tiny_lstm_dir, tiny_lora_dir):
    limits = common.RequestLimits(max_instances=2, max_text_chars=30, max_total_chars=40)
    model = classifier.lora_model(str(tiny_lora_dir), name="small", limits=limits, device="cpu")
    with client_for(model) as c:
        assert_rejected(v1(c, "small", ["a", "b", "c"]), "at most 2 per request")
        assert_rejected(v1(c, "small", ["x" * 31]), "31 characters, this server accepts at most 30")
        assert_rejected(v1(c, "small", ["x" * 25, "y" * 25]), "50 characters of text")
        assert_rejected(v1(c, "small", [{"query": "x" * 20, "image descriptions": "y" * 20}]),
                        "42 characters")  # joined with ". "
        assert v1(c, "small", ["fine", "too"]).status_code == 200


# --------------------------------------------------------------------------- batching
def test_concurrent_requests_share_one_forward_pass(models):
    model, spy = spy_model(models)
    requests = [("/v1/models/spy:predict", {"instances": [t]}) for t in TEXTS * 3]
    responses = asyncio.run(_concurrently(_app(model), requests))
    assert [r.status_code for r in responses] == [200] * 6
    assert len(spy.calls) < 6, spy.calls  # merged
    assert sorted(t for call in spy.calls for t in call) == sorted(TEXTS * 3)
    alone = models["lora"].predictor.predict_proba(TEXTS)
    for r, text in zip(responses, TEXTS * 3, strict=True):
        row = alone[TEXTS.index(text)]
        got = list(r.json()["predictions"][0]["probabilities"].values())
        np.testing.assert_allclose(got, row, rtol=1e-4, atol=1e-5)


def test_a_request_is_never_split_and_batches_respect_the_size(models):
    model, spy = spy_model(models, batch=BatchSettings(4, 50.0))
    sizes = [3, 3, 6, 1]
    requests = [("/v1/models/spy:predict", {"instances": [f"text {n} {i}" for i in range(n)]})
                for n in sizes]
    responses = asyncio.run(_concurrently(_app(model), requests))
    assert [len(r.json()["predictions"]) for r in responses] == sizes
    for call in spy.calls:
        assert len(call) <= 4 or len(call) == 6, spy.calls  # only the 6-text request runs alone
        requests_in_call = {t.split()[1] for t in call}
        for n in requests_in_call:  # every request's texts are all in one call
            assert sum(t.split()[1] == n for t in call) == int(n), spy.calls


def test_batch_size_1_runs_one_request_per_forward_pass(models):
    model, spy = spy_model(models, batch=BatchSettings(1, 50.0))
    requests = [("/v1/models/spy:predict", {"instances": [t]}) for t in TEXTS * 2]
    responses = asyncio.run(_concurrently(_app(model), requests))
    assert all(r.status_code == 200 for r in responses)
    assert [len(c) for c in spy.calls] == [1, 1, 1, 1]


def test_a_failing_forward_pass_fails_only_its_request_and_the_worker_survives(models):
    model, spy = spy_model(models, fail_on="poison")
    requests = [("/v1/models/spy:predict", {"instances": [t]})
                for t in ["fine one", "poison", "fine two"]]
    app = _app(model)
    responses = asyncio.run(_concurrently(app, requests))
    assert [r.status_code for r in responses] == [200, 500, 200]
    assert "model failed on 'poison'" in responses[1].json()["error"]
    assert sorted(spy.calls[0]) == ["fine one", "fine two", "poison"]  # merged first,
    assert sorted(spy.calls[1:]) == [["fine one"], ["fine two"], ["poison"]]  # then alone
    again = asyncio.run(_concurrently(app, [("/v1/models/spy:predict", {"instances": ["ok"]})]))
    assert again[0].status_code == 200


def test_health_checks_answer_while_a_batch_runs(models):
    gate = Gate()
    model, _ = spy_model(models, gate=gate)
    ready, still_running, predicted = ready_during_inference(_app(model), "spy", gate)
    assert (ready, still_running, predicted) == (200, True, 200)


def test_micro_batcher_waits_only_under_load_and_runs_full_batches_at_once():
    """Ordering against a timer of half the batcher's max wait (no wall-clock bound): an
    isolated request and a full batch finish before it, a lone request under load after it."""
    calls = []
    max_wait_s = 2.0

    def fn(items):
        calls.append(list(items))
        return [x * 2 for x in items]

    async def before_half_wait(awaitable):
        """The result, and whether it came before a timer of max_wait_s / 2 ran out."""
        work = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(asyncio.sleep(max_wait_s / 2))
        done, _ = await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        early = work in done and not timer.done()
        timer.cancel()
        return await work, early

    async def scenario():
        batcher = MicroBatcher(fn, BatchSettings(max_batch_size=4, max_wait_ms=max_wait_s * 1000),
                               "unit")
        alone = await before_half_wait(batcher.submit([1]))  # an isolated request does not wait
        assert await asyncio.gather(batcher.submit([1]), batcher.submit([2])) == [[2], [4]]
        assert batcher.under_load  # that batch merged two requests
        full = await before_half_wait(asyncio.gather(batcher.submit([1, 2]),
                                                     batcher.submit([3, 4])))
        waited = await before_half_wait(batcher.submit([7]))  # under load, alone: waits
        return alone, full, waited

    alone, full, waited = asyncio.run(scenario())
    assert (alone, full, waited) == (([2], True), ([[2, 4], [6, 8]], True), ([14], False))
    assert calls == [[1], [1, 2], [1, 2, 3, 4], [7]]


def slow_identity(seconds: float):
    """A batch function that records each batch and takes `seconds` over it: (calls, fn)."""
    calls: list[list] = []

    def fn(items):
        calls.append(list(items))
        time.sleep(seconds)
        return items

    return calls, fn


def test_micro_batcher_skips_requests_cancelled_while_queued():
    calls, fn = slow_identity(0.1)

    async def scenario():
        batcher = MicroBatcher(fn, BatchSettings(max_batch_size=8, max_wait_ms=0), "unit")
        busy = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.03)  # the worker is inside fn now
        doomed = asyncio.create_task(batcher.submit([100]))
        await asyncio.sleep(0)
        doomed.cancel()
        after = await batcher.submit([2])
        return await busy, after, doomed.cancelled()

    assert asyncio.run(scenario()) == ([1], [2], True)
    assert calls == [[1], [2]]


def test_micro_batcher_with_no_wait_merges_what_queues_during_a_forward_pass():
    calls, fn = slow_identity(0.05)

    async def scenario():
        batcher = MicroBatcher(fn, BatchSettings(max_batch_size=8, max_wait_ms=0), "unit")
        return await asyncio.gather(*(batcher.submit([i]) for i in range(5)))

    assert asyncio.run(scenario()) == [[i] for i in range(5)]
    assert calls[0] == [0, 1, 2, 3, 4] or len(calls) <= 2, calls  # queued ones go together


def test_length_sorted_sub_batches_keep_the_request_order(tiny_lora_dir):
    """The server's own sub-batching (the torch engine: the ONNX predictor sorts by tokens
    itself, and its int8 answers move slightly with their batch mates, see test_export)."""
    from components.core.predict import LoraPredictor

    assert classifier.length_sorted_chunks(["ccc", "a", "bb", "dddd", "e"], 2) == [
        [1, 4], [2, 0], [3]]
    torch_predictor = LoraPredictor.load(tiny_lora_dir, device="cpu")
    spy = Spy(torch_predictor)
    model = classifier.ClassifierModel("sub", lambda: spy, sub_batch_size=2)
    model.load()
    spy.calls.clear()
    texts = ["a much longer text about locks, keys and doors at night", "short", "mid size text",
             "tiny", "another fairly long text about cooking pancakes"]
    with client_for(model) as c:
        predictions = v1(c, "sub", texts).json()["predictions"]
    assert [len(call) for call in spy.calls] == [2, 2, 1]
    assert spy.calls[0] == ["tiny", "short"]  # the shortest texts run together
    for text, pred in zip(texts, predictions, strict=True):
        alone = torch_predictor.predict_proba([text])[0]
        np.testing.assert_allclose(list(pred["probabilities"].values()), alone, rtol=1e-4,
                                   atol=1e-5)


def test_batch_settings_are_checked():
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchSettings(max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        BatchSettings(max_wait_ms=-1)


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(("server", "port", "size", "wait"), [("lstm", 8001, 64, 0.0),
                                                               ("lora", 8002, 32, 2.0)])
def test_cli_extends_kserve_with_fixed_ports_loopback_and_batching(server, port, size, wait):
    parser = classifier.build_parser(server)
    args = common.parse_args(parser, ["--model_dir", "/m"])
    assert (args.http_port, args.model_name, args.bind_address) == (port, server, "127.0.0.1")
    assert (args.max_batch_size, args.max_batch_wait_ms, args.enable_grpc) == (size, wait, False)
    args = common.parse_args(parser, ["--model_dir", "/m", "--max_batch_size", "1",
                                      "--max_batch_wait_ms", "0", "--max_instances", "9",
                                      "--enable_latency_logging", "false"])
    model = classifier.make_model(server, args)  # not loaded: /m need not exist
    assert (args.max_batch_size, args.max_batch_wait_ms, args.enable_latency_logging) == (
        1, 0.0, False)
    assert (model.name, model.batch_settings, model.limits.max_instances) == (
        server, BatchSettings(1, 0.0), 9)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--model_dir", "/m", "--max_batch_size", "0"], "--max_batch_size: expected a positive"),
    (["--model_dir", "/m", "--max_batch_wait_ms", "-1"], "--max_batch_wait_ms: expected a number"),
    (["--max_batch_size", "4"], "the following arguments are required: --model_dir"),
])
def test_cli_rejects_bad_flags(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        common.parse_args(classifier.build_parser("lora"), argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and fragment in err


def test_a_wrong_model_directory_exits_2_with_a_message(tiny_lstm_dir, caplog):
    assert classifier.main("lora", ["--model_dir", str(tiny_lstm_dir), "--torch_threads", "0"]) == 2
    assert "holds a 'lstm' model, expected 'lora'" in caplog.text


# --------------------------------------------------------------------------- real process
@pytest.mark.slow
def test_real_lora_server_process_with_a_third_party_v2_client(tiny_lora_dir, models):
    """`python -m serving.lora` on a free 127.0.0.1 port, called over HTTP by httpx (v1) and by
    Triton's client (v2, binary tensors), which nobody here wrote."""
    import tritonclient.http as triton

    labels = models["lora"].labels
    expected = models["lora"].predictor.predict_proba(TEXTS)
    with served("lora", ["--model_dir", str(tiny_lora_dir), "--max_batch_wait_ms", "1"]) as (
            url, process):
        assert {ip for ip, _ in listening_addresses(process.pid)} == {"127.0.0.1"}
        answer = httpx.post(f"{url}/v1/models/lora:predict", json={"instances": TEXTS})
        assert [p["label"] for p in answer.json()["predictions"]] == [
            labels[i] for i in expected.argmax(axis=1)]
        bad = httpx.post(f"{url}/v1/models/lora:predict", json={"instances": [""]})
        assert_rejected(bad, "non-empty text")

        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        assert client.is_model_ready("lora")
        meta = client.get_model_metadata("lora")
        assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
        text = triton.InferInput("text", [len(TEXTS)], "BYTES")
        text.set_data_from_numpy(np.array([t.encode() for t in TEXTS], dtype=np.object_),
                                 binary_data=True)
        result = client.infer("lora", [text], outputs=[
            triton.InferRequestedOutput("label", binary_data=False),
            triton.InferRequestedOutput("probabilities", binary_data=True)])
        probs = result.as_numpy("probabilities")
        assert probs.shape == (2, len(labels)) and probs.dtype == np.float32
        np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)
        assert [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")] == [
            labels[i] for i in expected.argmax(axis=1)]
        assert json.loads(result.get_response()["parameters"]["labels"]) == labels
        with pytest.raises(Exception, match="expected datatype BYTES"):
            wrong = triton.InferInput("text", [1], "FP32")
            wrong.set_data_from_numpy(np.array([1.0], dtype=np.float32))
            client.infer("lora", [wrong])
        assert client.is_server_live()
    assert process.returncode == 0  # a clean stop on SIGTERM


# --------------------------------------------------------------------------- make serve
def test_resolve_model_dirs_finds_the_latest_complete_run(tmp_path, tiny_lstm_dir, tiny_lora_dir):
    def run(name, *models):
        for model in models:
            target = tmp_path / name / launch.MODEL_SUBDIRS[model]
            target.parent.mkdir(parents=True)
            target.symlink_to({"lstm": tiny_lstm_dir, "lora": tiny_lora_dir}[model])
        return tmp_path / name

    with pytest.raises(launch.LaunchError, match="run `make run-full` first"):
        launch.resolve_model_dirs(pipeline_root=tmp_path)
    old = run("toxic-filter-2026-01-01-00-00-00-000001", "lstm", "lora")
    run("toxic-filter-2026-02-01-00-00-00-000001", "lstm")  # newer, lora missing
    run("other-pipeline-2027-01-01-00-00-00-000001", "lstm", "lora")
    dirs = launch.resolve_model_dirs(pipeline_root=tmp_path)
    assert dirs == {n: old / launch.MODEL_SUBDIRS[n] for n in ("lstm", "lora")}
    assert launch.resolve_model_dirs(str(old), pipeline_root=tmp_path / "none") == dirs
    assert launch.resolve_model_dirs(None, {"lstm": str(tiny_lstm_dir)}, tmp_path / "none",
                                     ["lstm"]) == {"lstm": tiny_lstm_dir}
    with pytest.raises(launch.LaunchError, match="does not hold the lora"):
        launch.resolve_model_dirs(str(tmp_path / "toxic-filter-2026-02-01-00-00-00-000001"))
    with pytest.raises(launch.LaunchError, match="is not a model directory"):
        launch.resolve_model_dirs(None, {"lora": str(tmp_path)})


@pytest.mark.slow  # server processes
def test_launch_without_models_says_what_to_do(tmp_path):
    """No run at all and no guard fallback: exit 2 with the command that trains each model.
    (With the default fallback the quick guard is built instead: tests/test_quick_guard.py.)"""
    def launch_fails(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "serving.launch", "--pipeline_root",
                               str(tmp_path), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert proc.returncode == 2, proc.stderr
        return proc.stderr

    err = launch_fails("--guard_fallback", "none")
    assert "GUARD_FALLBACK=none" in err and "make run-guard" in err
    err = launch_fails("--servers", "lstm,lora")
    assert "`make run` trains lstm and lora" in err and "no server to start" in err


def test_launch_refuses_a_port_in_use(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        servers = launch.Servers(launch.server_specs({"lstm": tmp_path}, {"lstm": port}))
        with pytest.raises(launch.LaunchError, match=f"port already in use: lstm \\({port}\\)"):
            servers.start()
        assert servers.procs == {}


@pytest.mark.slow
def test_launch_serves_the_models_and_stops_them_on_ctrl_c(tiny_lstm_dir, tiny_lora_dir):
    """What `make serve` runs: lstm, lora and the offline guard on their ports, URLs printed,
    caption skipped with a note (no BLIP model), Ctrl-C stops all."""
    ports = {"lstm": free_port(), "lora": free_port(), "guard": free_port()}
    with make_serve(["--lstm_model_dir", str(tiny_lstm_dir), "--lora_model_dir",
                     str(tiny_lora_dir), "--guard_fallback", "seed-lora",
                     *(f"--port={n}={p}" for n, p in ports.items())]) as (proc, lines):
        for name, port in ports.items():
            assert f"http://127.0.0.1:{port}" in "".join(lines)
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                                json={"instances": TEXTS})
            assert answer.status_code == 200, answer.text
        guard = httpx.post(f"http://127.0.0.1:{ports['guard']}/v1/models/guard:predict",
                           json={"instances": TEXTS}).json()["predictions"]
        assert all(p["backend"] == "lora-classifier" for p in guard)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "".join(lines[-40:])
    output = "".join(lines)
    for name in ports:  # each server's log lines, prefixed with its padded name
        assert re.search(rf"^{name} *\| ", output, re.MULTILINE), name
    assert "caption not started: no BLIP model configured" in output
    assert "stopped: lstm (exit 0), lora (exit 0), guard (exit 0)" in output
    for port in ports.values():
        assert launch.port_free(port)


@pytest.mark.slow  # server processes
def test_servers_with_the_same_model_name_are_all_started_and_stopped():
    """The benchmark runs variants of one model side by side: every process must be tracked."""
    specs = [launch.ServerSpec("noop", "benchmarks.noop_server", free_port(),
                               ("--model_dir", "none", *flags))
             for flags in ((), ("--max_batch_size", "1"))]
    servers = launch.Servers(specs, log_stream=None)
    with servers:
        assert set(servers.procs) == {f"noop:{s.port}" for s in specs}
        for spec in specs:
            answer = httpx.post(f"{spec.url()}/v1/models/noop:predict", json={"instances": ["a"]})
            assert answer.status_code == 200
        procs = list(servers.procs.values())
    assert all(p.poll() is not None for p in procs)
    assert all(launch.port_free(s.port) for s in specs)
