"""Pytest marks shared by test modules (kept out of serving_utils, which the ONNX serving probe
imports in a fresh interpreter: that probe must load nothing of pytest)."""

import pytest

SERVER_TEST_MARKS = [
    pytest.mark.server,
    # kserve 0.21's v1 endpoint returns ORJSONResponse, which FastAPI 0.165 deprecates.
    pytest.mark.filterwarnings("ignore::fastapi.exceptions.FastAPIDeprecationWarning"),
]
