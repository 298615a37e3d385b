# KServe model servers (lstm, lora, guard, caption) and the evaluate step: TF (CPU) + PyTorch.
# Build from the repository root: docker build -f images/serving.Dockerfile -t <ref> .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/ requirements/
# torch first and alone (CPU build: serving nodes need no GPU for these model sizes).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -c requirements/constraints.txt \
        kserve tensorflow-cpu transformers peft accelerate safetensors pillow \
        pandas pyarrow scikit-learn nltk matplotlib kfp kfp-kubernetes
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip install --no-deps . \
 && python -m nltk.downloader -d /opt/venv/nltk_data stopwords wordnet

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib HF_HOME=/tmp/hf \
    TF_CPP_MIN_LOG_LEVEL=2
RUN useradd --create-home --uid 1000 app
USER 1000
WORKDIR /home/app
EXPOSE 8080
# The InferenceService sets the command: python -m serving.<lstm|lora|guard|caption> --model_dir ...
ENTRYPOINT ["python", "-m"]
CMD ["serving.lstm", "--help"]
