# syntax=docker/dockerfile:1
# facepair in a container: the API on :8000, the gallery in the /data volume, the default model
# inside. CPU by default; `--build-arg VARIANT=cuda` builds for NVIDIA GPUs (run it with
# `--gpus all`). The install step is `make install`, the same one the tests run on.
ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS base-cpu
# CPU-only torch wheels: the default ones carry CUDA libraries this image would never use
ENV TORCH_INDEX=https://download.pytorch.org/whl/cpu GPU=0
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS base-cuda
ENV TORCH_INDEX= GPU=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
    && apt-get install -y --no-install-recommends make python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

FROM base-${VARIANT}
RUN useradd --create-home --uid 1000 facepair && mkdir -p /data /photos \
    && chown facepair /data /photos
WORKDIR /app
COPY --chown=facepair . .
USER facepair
RUN make install PYTHON=python3.11 TORCH_INDEX="$TORCH_INDEX" GPU="$GPU" \
    && rm -rf /home/facepair/.cache
ENV FACEPAIR_HOME=/data FACEPAIR_HOST=0.0.0.0 FACEPAIR_PORT=8000 PATH=/app/.venv/bin:$PATH
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["facepair", "serve"]
