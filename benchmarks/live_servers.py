"""Servers for `make fuzz` and `make soak`: the ones `make serve` runs, or our own on tiny models.

- `--target live`: the lstm, lora and guard servers already listening on their `make serve`
  ports (127.0.0.1:8001-8003; `--url NAME=URL` to point elsewhere).
- `--target tiny` (the default, what CI runs): trains tiny lstm and lora models on the sample
  dataset with the project's own training code (the factories of tests/model_factories.py: a
  randomly initialised one-layer BERT as the lora base, 2 LSTM epochs), caches them under
  local_outputs/tiny-serving-models/ (retrained when the training code changes), and starts `python -m serving.{lstm,lora,guard}` on free
  127.0.0.1 ports with the same launcher as `make serve`. They are stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import shutil
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import httpx

from serving import common
from serving.launch import Servers, ServerSpec

log = logging.getLogger("benchmarks.live_servers")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_toxic_prompts.csv"
TINY_DIR = ROOT / "local_outputs" / "tiny-serving-models"
MODELS = ("lstm", "lora", "guard")
READY_TIMEOUT_S = 240.0
# The tiny models are retrained when any of these files changes (the training code).
TRAINING_CODE = ("tests/model_factories.py", "components/*.py")


@dataclasses.dataclass(frozen=True)
class Target:
    """One server under test.

    Attributes:
        name: model name (lstm, lora, guard).
        url: base URL, e.g. http://127.0.0.1:8001.
        pid: its process id when known (RSS is read from it), else None.
    """

    name: str
    url: str
    pid: int | None = None


def _factories():
    """tests/model_factories.py, loaded by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("model_factories",
                                                  ROOT / "tests" / "model_factories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _code_key() -> str:
    """A hash of the code that shapes the tiny models: a change retrains them."""
    digest = hashlib.sha256()
    for path in sorted(p for pattern in TRAINING_CODE for p in ROOT.glob(pattern)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def tiny_models(cache: Path = TINY_DIR) -> dict[str, Path]:
    """Tiny trained lstm and lora model directories (built once, reused from `cache` until the
    training code changes)."""
    dirs = {"lstm": cache / "lstm", "lora": cache / "lora"}
    key, key_file = _code_key(), cache / "code-key.txt"
    if (all((d / "model_info.json").is_file() for d in dirs.values()) and key_file.is_file()
            and key_file.read_text() == key):
        return dirs
    import pandas as pd

    shutil.rmtree(cache, ignore_errors=True)
    factories = _factories()
    start = time.perf_counter()
    log.info("training tiny lstm and lora models on %s into %s", SAMPLE, cache)
    splits = factories.build_splits(SAMPLE, cache / "splits")
    words = factories.vocabulary(pd.read_parquet(splits.path("train"))["text"].tolist())
    encoder = factories.build_tiny_encoder(cache / "encoder", "bert", words)
    factories.build_lstm_dir(splits, dirs["lstm"])
    factories.build_lora_dir(splits, dirs["lora"], encoder)
    key_file.write_text(key)
    log.info("tiny models ready in %.0f s", time.perf_counter() - start)
    return dirs


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_specs(dirs: dict[str, Path], server_args: Sequence[str] = ()) -> list[ServerSpec]:
    """lstm, lora and the offline guard (on the lora model) on free 127.0.0.1 ports."""
    args = tuple(server_args)
    return [ServerSpec("lstm", "serving.lstm", free_port(), ("--model_dir", str(dirs["lstm"]), *args)),
            ServerSpec("lora", "serving.lora", free_port(), ("--model_dir", str(dirs["lora"]), *args)),
            ServerSpec("guard", "serving.guard", free_port(),
                       ("--classifier_dir", str(dirs["lora"]), *args))]


def live_targets(urls: dict[str, str]) -> list[Target]:
    """The servers at `urls` (default: `make serve`'s ports), checked to be ready.

    Raises:
        SystemExit: a server does not answer its readiness probe.
    """
    targets = []
    for name in MODELS:
        url = urls.get(name, f"http://127.0.0.1:{common.PORTS[name]}")
        try:
            ok = httpx.get(f"{url}/v2/models/{name}/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            ok = False
        if not ok:
            raise SystemExit(f"{name} is not ready at {url}: start the servers (`make serve`) or "
                             "use --target tiny")
        targets.append(Target(name, url, pid_listening_on(url)))
    return targets


def pid_listening_on(url: str) -> int | None:
    """The pid of the local process listening on the URL's port (None if not visible)."""
    import psutil

    port = httpx.URL(url).port
    with contextlib.suppress(psutil.Error, PermissionError):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return conn.pid
    return None


@contextlib.contextmanager
def targets(target: str, urls: dict[str, str] | None = None, server_args: Sequence[str] = (),
            log_stream: IO[str] | None = None) -> Iterator[list[Target]]:
    """The servers to test: live ones, or tiny ones started here and stopped on exit.

    Args:
        target: "live" or "tiny".
        urls: live only: name -> base URL (default: `make serve`'s ports).
        server_args: tiny only: extra flags for every server (e.g. shorter timeouts).
        log_stream: tiny only: where the servers' log lines go (None: discarded).
    """
    if target == "live":
        yield live_targets(urls or {})
        return
    specs = tiny_specs(tiny_models(), server_args)
    servers = Servers(specs, log_stream=log_stream)
    start = time.perf_counter()
    servers.start(READY_TIMEOUT_S)
    log.info("tiny servers ready in %.0f s: %s", time.perf_counter() - start,
             ", ".join(f"{s.name} {s.url()}" for s in specs))
    try:
        yield [Target(s.name, s.url(), servers.procs[servers.labels[s]].pid) for s in specs]
    finally:
        servers.stop()


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """--target and --url, shared by fuzz and soak."""
    parser.add_argument("--target", choices=["tiny", "live"], default="tiny",
                        help="tiny: start lstm/lora/guard here on tiny models trained on the "
                             "sample (cached in local_outputs/tiny-serving-models); live: test "
                             "the servers of a running `make serve`")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL",
                        help="live: base URL of a server (default http://127.0.0.1:<port of "
                             "make serve>)")


def parse_urls(items: Sequence[str]) -> dict[str, str]:
    urls = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or name not in MODELS:
            raise SystemExit(f"--url: expected NAME=URL with NAME in {', '.join(MODELS)}, "
                             f"got {item!r}")
        urls[name] = url.rstrip("/")
    return urls


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (None when unknown)."""
    if pid is None:
        return None
    import psutil

    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return None


if __name__ == "__main__":  # build the tiny models ahead of time
    logging.basicConfig(level=logging.INFO, format=common.LOG_FORMAT)
    print(tiny_models(Path(sys.argv[1]) if len(sys.argv) > 1 else TINY_DIR))
