# The coordinator and worker image: the project installed into Python 3.11 with PyTorch (CPU).
# `dml coordinator serve` and `dml worker run` are its commands (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 FLWR_TELEMETRY_ENABLED=0
WORKDIR /app
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY pallet-bindings pallet-bindings
COPY decentralml decentralml
COPY coordinator coordinator
COPY worker worker
RUN pip install --no-cache-dir .
RUN useradd --create-home --uid 10001 dml && mkdir -p /data && chown dml /data
USER dml
WORKDIR /data
EXPOSE 8000 9091
CMD ["dml", "--help"]
