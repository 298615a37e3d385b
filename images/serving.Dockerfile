# KServe model servers (lstm, lora, guard, caption) and the evaluate step: TensorFlow (CPU) +
# PyTorch, transformers + peft, onnxruntime, kserve, NLTK + its stopwords data, kfp. No base
# encoder: a lora model directory holds merged weights (components/core/predict.py). The lora server
# and the guard's offline backend normally run from serving-onnx (torch-free); this image keeps
# the lstm server, Llama Guard, BLIP and evaluate.
# `serving` has the CPU torch build; `serving-gpu` (components/deploy/images.py) is this file built with
# TORCH_DEVICE=cuda and a CUDA index, for the guard on a GPU node.
# Build from the repository root (`make images` does):
#   docker build -f images/serving.Dockerfile [--build-arg BASE_IMAGE=...] \
#     [--build-arg TORCH_DEVICE=cuda --build-arg TORCH_INDEX_URL=https://pypi.org/simple] -t <ref> .
ARG BASE_IMAGE=python:3.11-slim

# NLTK data through the project's own provisioning (components/data/nltk_setup.py, as `make setup`).
FROM ${BASE_IMAGE} AS nltk
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/nltk \
 && /opt/nltk/bin/pip install -q -c /tmp/constraints.txt nltk \
 && /opt/nltk/bin/pip install -q --no-deps -c /tmp/constraints.txt llama-index-core
COPY components/data/nltk_setup.py /tmp/nltk_setup.py
RUN /opt/nltk/bin/python /tmp/nltk_setup.py --target /nltk_data --resource stopwords

FROM ${BASE_IMAGE} AS build
# cpu: the CPU build from the CPU index; cuda: the CUDA build (PyPI's Linux wheel bundles it)
ARG TORCH_DEVICE=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
# torch first and alone, then checked to be the build asked for. For cuda, PIP_CONFIG_FILE=/dev/null:
# a base image's pip settings (a find-links directory holding the CPU wheel) must not pick it.
RUN if [ "$TORCH_DEVICE" = cuda ]; then export PIP_CONFIG_FILE=/dev/null; fi \
 && pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
 && python -c "import sys, torch; want = sys.argv[1] == 'cuda'; \
sys.exit(None if bool(torch.version.cuda) == want else f'expected the {sys.argv[1]} build of torch, got {torch.__version__}')" "$TORCH_DEVICE"
RUN pip install -c requirements/constraints.txt \
        kserve tensorflow-cpu transformers peft accelerate safetensors pillow \
        pandas pyarrow scikit-learn nltk matplotlib kfp confusable-homoglyphs py3langid
# evaluate scores the lora model that serves: its int8 ONNX export (a layer of its own)
RUN pip install -c requirements/constraints.txt onnxruntime
# the project as a wheel, installed once in the runtime stage: a code change leaves the
# dependency layers (and the runtime stage's copy of the venv) cached
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY --from=nltk /nltk_data /opt/venv/nltk_data
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib HF_HOME=/tmp/hf \
    TF_CPP_MIN_LOG_LEVEL=2
RUN useradd --create-home --uid 1000 app
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER 1000
WORKDIR /home/app
EXPOSE 8080
# The InferenceService sets the command: python -m serving.<lstm|lora|guard|caption> ... (no
# ENTRYPOINT, so that kfp's DockerRunner can run the evaluate step's command in this image too)
CMD ["python", "-m", "serving.lstm", "--help"]
