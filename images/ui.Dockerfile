# The moderation console (Streamlit) over the KServe services: HTTP client only, no model,
# no torch / TensorFlow. kserve is installed for serving.common (the services' default ports).
# Build from the repository root (`make images` does):
#   docker build -f images/ui.Dockerfile [--build-arg BASE_IMAGE=...] -t <ref> .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
RUN pip install -c requirements/constraints.txt streamlit httpx pandas pillow kserve
# the project as a wheel, installed once in the runtime stage: a code change leaves the
# dependency layers (and the runtime stage's copy of the venv) cached
COPY pyproject.toml README.md ./
COPY components/ components/
COPY serving/ serving/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HOME=/home/app
RUN useradd --create-home --uid 1000 app
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
COPY serving/ui/app.py /home/app/app.py
USER 1000
WORKDIR /home/app
EXPOSE 8501
# Service URLs: TOXIC_FILTER_{GUARD,LSTM,LORA,CAPTION}_URL (the Deployment sets them).
# The flags are serving.ui.demo.streamlit_flags(8501, "0.0.0.0") (a test keeps them in sync).
ENTRYPOINT ["python", "-m", "streamlit", "run", "/home/app/app.py"]
CMD ["--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "none", "--client.toolbarMode", "minimal", "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--server.maxUploadSize", "25"]
