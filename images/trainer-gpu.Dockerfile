# lora-train on a GPU node: PyPI's torch wheel bundles the CUDA runtime (the node brings the driver).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/ requirements/
# torch first and on its own, the CUDA build from PyPI.
RUN pip install torch==2.13.0 \
 && pip install -c requirements/constraints.txt \
        transformers peft accelerate safetensors pandas pyarrow scikit-learn nltk matplotlib \
        kfp kfp-kubernetes
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip install --no-deps . \
 && python -m nltk.downloader -d /opt/venv/nltk_data stopwords wordnet

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib HF_HOME=/tmp/hf
RUN useradd --create-home --uid 1000 app
USER 1000
WORKDIR /home/app
