# bei base runtime image, CUDA: torch (CUDA build) for torch engine artifacts on NVIDIA GPUs.
#   podman build -f templates/cuda.Dockerfile -t bei-base:cuda templates/
# Run with the NVIDIA container toolkit (docker run --gpus all / podman --device nvidia.com/gpu=all).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG ENGINES=torch,onnx,fake
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY requirements-cpu-slim.txt requirements-cuda.txt /tmp/bei/
RUN python3 -m venv /opt/bei/venv \
 && /opt/bei/venv/bin/pip install --no-cache-dir --no-compile -r /tmp/bei/requirements-cuda.txt \
 && find /opt/bei/venv -name __pycache__ -prune -exec rm -rf {} + \
 && rm -rf /tmp/bei
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/bei \
    --shell /usr/sbin/nologin bei
ENV PATH=/opt/bei/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
LABEL io.bei.base.engines="${ENGINES}" \
      io.bei.base.variant="cuda" \
      org.opencontainers.image.title="bei base runtime (cuda)" \
      org.opencontainers.image.base.name="nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"
USER 10001:10001
WORKDIR /home/bei
