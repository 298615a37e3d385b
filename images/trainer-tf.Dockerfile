# lstm-train: TensorFlow (CPU) / Keras 3 plus the data libraries and the kfp executor.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/ requirements/
RUN pip install -c requirements/constraints.txt \
        tensorflow-cpu pandas pyarrow scikit-learn nltk matplotlib kfp kfp-kubernetes
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip install --no-deps . \
 && python -m nltk.downloader -d /opt/venv/nltk_data stopwords wordnet

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib TF_CPP_MIN_LOG_LEVEL=2
RUN useradd --create-home --uid 1000 app
USER 1000
WORKDIR /home/app
