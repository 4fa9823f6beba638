# GPU image of the mcdenoise HTTP service: CUDA 12 + cuDNN 9 runtime, onnxruntime-gpu, no PyTorch.
#   docker build -t mcdenoise .
#   docker run --gpus all -p 8000:8000 -e MCDENOISE_WORKERS=1 mcdenoise
# Without a GPU the same image runs on the CPU (ONNX Runtime falls back to its CPU provider).
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv curl \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The package with the shipped model (mcdenoise/weights/n2n_default.onnx) baked in; `gpu` extra =
# FastAPI, uvicorn, pydantic-settings and onnxruntime-gpu (CUDA execution provider).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY mcdenoise ./mcdenoise
COPY server ./server
COPY export ./export
RUN pip install ".[gpu]" && cd / && rm -rf /build \
    && python -c "import mcdenoise.server.app, onnxruntime; print(onnxruntime.get_available_providers())"

RUN useradd --create-home --uid 10001 mcdenoise
USER mcdenoise
WORKDIR /home/mcdenoise

# Every setting is an environment variable (see README: MCDENOISE_MAX_UPLOAD_MB, _MAX_PIXELS,
# _MAX_CONCURRENCY, _MAX_QUEUE, _API_KEY, _NAN_POLICY, _MODEL, ...).
ENV MCDENOISE_HOST=0.0.0.0 \
    MCDENOISE_PORT=8000 \
    MCDENOISE_WORKERS=1 \
    MCDENOISE_DEVICE=auto
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${MCDENOISE_PORT}/healthz" || exit 1
CMD ["mcdenoise", "serve"]
