"""Server-side micro-batching: concurrent requests share one forward pass, run off the event loop.

Requests `submit()` their items (texts) and await the results. One worker task per event loop
takes the oldest request, adds every queued request that still fits into `max_batch_size` items,
and, while the batch is not full and the server is under load, waits up to `max_wait_ms` for
more; then it runs ONE call of the batch function in a worker thread (`asyncio.to_thread`), so
the event loop keeps answering health checks, and hands each request its slice of the results.

Requests queue up while a forward pass runs, so under load batches fill up by themselves; the
wait gathers the burst of requests that clients send when a batch's answers go out. "Under load"
means the previous forward pass served more than one request or left requests queued: an
isolated request (concurrency 1) never waits, so batching adds no latency when there is nothing
to batch (measured: idling even 2 ms before a forward pass cost ~10 ms on the 2-core dev VM).

A request is never split across forward passes: its items stay together (a request with more
items than `max_batch_size` runs alone). `max_batch_size=1` turns merging off: one request per
forward pass, one at a time.

If a merged forward pass raises, each of its requests is retried alone, so only the request whose
input makes the model fail gets the error; the worker survives every failure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import Histogram

from serving import common

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 32  # items (texts) per forward pass
DEFAULT_MAX_WAIT_MS = 2.0  # longest a request waits for others to join its batch

# Exposed on the servers' /metrics next to kserve's own histograms.
BATCH_SIZE = Histogram("toxic_filter_batch_size", "items per forward pass",
                       ["model_name"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
BATCH_REQUESTS = Histogram("toxic_filter_batch_requests", "requests merged into one forward pass",
                           ["model_name"], buckets=(1, 2, 4, 8, 16, 32, 64))
FORWARD_SECONDS = Histogram("toxic_filter_forward_seconds",
                            "time of one forward pass (the batch function, in its worker thread)",
                            ["model_name"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1.0, 2.5, 10.0))
QUEUE_SECONDS = Histogram("toxic_filter_batch_queue_seconds",
                          "time a request waited before its forward pass started",
                          ["model_name"],
                          buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5, 1.0, 2.5))


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    """How requests are merged.

    Attributes:
        max_batch_size: most items (texts) in one forward pass; 1 disables merging.
        max_wait_ms: longest the oldest queued request waits for others to join (0: merge only
            what is already queued).
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS

    def __post_init__(self) -> None:
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer, got {self.max_batch_size!r}")
        if not self.max_wait_ms >= 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}")


@dataclasses.dataclass
class _Request:
    items: list[Any]
    future: asyncio.Future
    enqueued: float


class _LoopState:
    """The queue and worker of one event loop (tests run several loops in one process)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: collections.deque[_Request] = collections.deque()
        self.wakeup = asyncio.Event()
        self.worker: asyncio.Task | None = None


class MicroBatcher:
    """Gathers concurrent requests into batches for one synchronous batch function.

    Args:
        fn: items -> one result per item, in order; runs in a worker thread, one call at a time.
        settings: batch size and wait.
        name: model name, for logs and metrics.
    """

    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]],
                 settings: BatchSettings | None = None, name: str = "model"):
        self.fn = fn
        self.settings = settings or BatchSettings()
        self.name = name
        self.forward_calls = 0  # batch-function calls so far (tests, logs)
        self.under_load = False  # the last batch merged requests or left some queued
        self._state: _LoopState | None = None

    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """Queue `items` (one request) and return their results once their batch has run.

        Raises:
            Exception: whatever the batch function raised for these items.
        """
        items = list(items)
        if not items:
            return []
        loop = asyncio.get_running_loop()
        state = self._state_for(loop)
        request = _Request(items, loop.create_future(), loop.time())
        state.queue.append(request)
        state.wakeup.set()
        return await request.future

    def _state_for(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._state
        if state is None or state.loop is not loop:
            state = self._state = _LoopState(loop)
        if state.worker is None or state.worker.done():
            state.worker = loop.create_task(self._work(state), name=f"batcher-{self.name}")
        return state

    # ----------------------------------------------------------------- worker
    async def _work(self, state: _LoopState) -> None:
        try:
            while True:
                batch = await self._gather(state)
                if batch:
                    await self._run(batch)
        except asyncio.CancelledError:
            for request in state.queue:
                if not request.future.done():
                    request.future.cancel()
            raise

    async def _gather(self, state: _LoopState) -> list[_Request]:
        """Wait for a request, then collect what fits, waiting up to max_wait_ms under load."""
        while not state.queue:
            state.wakeup.clear()
            await state.wakeup.wait()
        limit = self.settings.max_batch_size
        batch: list[_Request] = []
        size = 0
        wait_s = self.settings.max_wait_ms / 1000 if self.under_load else 0.0
        deadline = state.loop.time() + wait_s
        while True:
            while state.queue:
                head = state.queue[0]
                if head.future.done():  # cancelled while queued (client went away)
                    state.queue.popleft()
                    continue
                if batch and size + len(head.items) > limit:
                    break  # the next request does not fit: it opens the next batch
                batch.append(state.queue.popleft())
                size += len(head.items)
            remaining = deadline - state.loop.time()
            if size >= limit or remaining <= 0 or not batch or state.queue:
                self.under_load = len(batch) > 1 or bool(state.queue)
                return batch
            state.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wakeup.wait(), remaining)

    async def _run(self, batch: list[_Request]) -> None:
        """One forward pass for the batch; on failure, each request alone."""
        batch = [r for r in batch if not r.future.done()]  # drop requests cancelled meanwhile
        if not batch:
            return
        now = asyncio.get_running_loop().time()
        for request in batch:
            QUEUE_SECONDS.labels(self.name).observe(now - request.enqueued)
        try:
            results = await self._call([item for r in batch for item in r.items])
        except Exception as exc:  # the worker must survive anything the model raises
            if len(batch) == 1:
                log.exception("%s: forward pass of %d items failed", self.name,
                              len(batch[0].items))
                _fail(batch[0], exc)
                return
            log.warning("%s: forward pass of %d merged requests failed (%s: %s); retrying "
                        "each alone", self.name, len(batch), type(exc).__name__, exc)
            for request in batch:
                await self._run([request])
            return
        BATCH_SIZE.labels(self.name).observe(len(results))
        BATCH_REQUESTS.labels(self.name).observe(len(batch))
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.future.done():
                request.future.set_result(results[start:end])
            start = end

    async def _call(self, items: list[Any]) -> list[Any]:
        self.forward_calls += 1
        results = list(await asyncio.to_thread(self._timed, items))
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: batch function returned {len(results)} results "
                               f"for {len(items)} items")
        return results

    def _timed(self, items: list[Any]) -> Sequence[Any]:
        with FORWARD_SECONDS.labels(self.name).time():
            return self.fn(items)


def _fail(request: _Request, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)


def add_batch_arguments(parser: argparse.ArgumentParser, default: BatchSettings,
                        what: str = "texts") -> None:
    """`--max_batch_size` and `--max_batch_wait_ms`, the same flags and checks on every server.

    Args:
        parser: the server's parser.
        default: the server's defaults.
        what: what a batch holds, for the help ("texts", "conversations").
    """
    parser.add_argument("--max_batch_size", type=common._positive_int, default=default.max_batch_size,
                        help=f"most {what} of concurrent requests in one forward pass (1: no "
                             "merging of requests)")
    parser.add_argument("--max_batch_wait_ms", type=common._non_negative_float,
                        default=default.max_wait_ms,
                        help="longest a request waits for others to join its batch (0: merge "
                             "only requests already queued)")

