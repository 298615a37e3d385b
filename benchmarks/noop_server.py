"""A classifier server whose model answers constant probabilities: the serving overhead floor.

    python -m benchmarks.noop_server --model_dir none --http_port 18000

Same code path as `python -m serving.lstm` (kserve REST, parsing, micro-batcher, worker thread,
response encoding) with a model that costs nothing, so `make bench-serve` can show what HTTP +
kserve + batching cost per request on this machine.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from components.core.text import TextSettings
from serving import classifier, common
from serving.batching import BatchSettings

LABELS = ["Non-Violent Crimes", "Safe", "Unknown S-Type", "Violent Crimes", "other", "unsafe"]


class ConstantPredictor:
    """Uniform probabilities over LABELS, whatever the text."""

    labels = LABELS
    settings = TextSettings()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), len(self.labels)), 1 / len(self.labels), dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    args = common.parse_args(classifier.build_parser("lstm"), argv)
    common.configure_logging(args.log_level)
    model = classifier.ClassifierModel(args.model_name, ConstantPredictor,
                                       common.limits_from_args(args),
                                       BatchSettings(args.max_batch_size, args.max_batch_wait_ms))
    model.load()
    common.serve_from_args([model], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
