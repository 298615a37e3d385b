"""Embedding throughput of the offline encoders on CPU: multilingual-e5-small against MiniLM.

    python -m benchmarks.bench_encoders [--threads 1] [--batch 32] [--tokens 64] [--batches 8]

Both run in this process, one after the other and then again in the opposite order (machine
noise hits both): the transformers forward pass with mean pooling on batches of `--batch` texts
padded/truncated to exactly `--tokens` tokens, after one warm-up batch. Prints texts/s by wall
clock and by process CPU time (the honest figure on a shared machine), as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time

import numpy as np

from components.core.predict import OFFLINE_BASE_MODEL, resolve_base_model
from components.training import encoder_check
from components.training.encoders import OFFLINE_MULTILINGUAL

TEXT = ("Could you tell me how long it takes to travel from the old town to the airport by bus, "
        "and whether the ticket can be bought on board or has to be bought at the station? ") * 3


def throughput(path: str, batch: int, tokens: int, batches: int) -> dict[str, float]:
    """texts/s of mean-pooled embeddings with the model at `path` (fixed-length batches)."""
    import torch

    tokenizer, model = encoder_check.load(path)
    enc = tokenizer([TEXT] * batch, padding="max_length", truncation=True, max_length=tokens,
                    return_tensors="pt")
    assert enc["input_ids"].shape == (batch, tokens)

    def run() -> None:
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            (hidden * mask).sum(1) / mask.sum(1)

    run()  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = batch * batches
    return {"texts_per_s_wall": round(n / wall, 1), "texts_per_s_cpu": round(n / cpu, 1),
            "parameters": sum(p.numel() for p in model.parameters())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    models = {name: resolve_base_model(name) for name in (OFFLINE_MULTILINGUAL, OFFLINE_BASE_MODEL)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for order in (list(models), list(models)[::-1]):
        for name in order:
            runs[name].append(throughput(models[name], args.batch, args.tokens, args.batches))
    result = {name: {"texts_per_s_wall": float(np.median([r["texts_per_s_wall"] for r in rs])),
                     "texts_per_s_cpu": float(np.median([r["texts_per_s_cpu"] for r in rs])),
                     "parameters": rs[0]["parameters"]} for name, rs in runs.items()}
    ratio = (result[OFFLINE_BASE_MODEL]["texts_per_s_cpu"]
             / result[OFFLINE_MULTILINGUAL]["texts_per_s_cpu"])
    print(json.dumps({"threads": args.threads, "batch": args.batch, "tokens": args.tokens,
                      "cpu": platform.processor() or platform.machine(), "models": result,
                      "minilm_over_e5_cpu_time": round(ratio, 2)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
