# The lora classifier server and the guard's offline backend on ONNX Runtime: the model
# directory's int8 ONNX export (components.core.onnx_predict.OnnxPredictor) with onnxruntime + tokenizers +
# numpy + kserve. No torch, transformers or TensorFlow (serving/*: none of them is imported on
# this path; tests/test_export.py checks it): a small image that starts in seconds. Llama Guard,
# BLIP, the lstm server and evaluate stay in the serving image.
# Build from the repository root (`make images` does):
#   docker build -f images/serving-onnx.Dockerfile [--build-arg BASE_IMAGE=...] -t <ref> .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
RUN pip install -c requirements/constraints.txt \
        kserve onnxruntime tokenizers numpy confusable-homoglyphs py3langid
# the project as a wheel, installed once in the runtime stage: a code change leaves the
# dependency layers (and the runtime stage's copy of the venv) cached
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 1000 app
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER 1000
WORKDIR /home/app
EXPOSE 8080
# The InferenceService sets the command: python -m serving.lora ... / python -m serving.guard
# --backend classifier ... (components/deploy/kserve_spec.py)
CMD ["python", "-m", "serving.lora", "--help"]
