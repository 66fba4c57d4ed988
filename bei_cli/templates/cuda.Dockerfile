# bei base runtime image, CUDA: torch (CUDA build) for torch engine artifacts on NVIDIA GPUs.
# The same filesystem `bei image base --variant cuda` builds without a daemon.
#   podman build -f bei_cli/templates/cuda.Dockerfile -t bei-base:cuda bei_cli/templates/
# PyPI's default torch wheel is the CUDA build and carries CUDA's runtime libraries (cuBLAS,
# cuDNN, NCCL, ...) as nvidia-* wheels, so a plain Debian base suffices: the driver (libcuda)
# comes from the host through the NVIDIA container toolkit (docker run --gpus all /
# podman run --device nvidia.com/gpu=all).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY requirements-cpu-slim.txt requirements-cuda.txt /tmp/bei/
RUN python3 -m venv /opt/bei/venv \
 && /opt/bei/venv/bin/pip install --no-cache-dir --no-compile -r /tmp/bei/requirements-cuda.txt \
 && /opt/bei/venv/bin/python -c \
      "import sys, torch; sys.exit(not torch.version.cuda and 'torch is not a CUDA build')" \
 && find /opt/bei/venv -name __pycache__ -prune -exec rm -rf {} + \
 && rm -rf /tmp/bei
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/bei \
    --shell /usr/sbin/nologin bei
ENV PATH=/opt/bei/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
LABEL io.bei.base.engines="torch,onnx,fake" \
      io.bei.base.devices="cuda,cpu" \
      io.bei.base.variant="cuda" \
      org.opencontainers.image.title="bei base runtime (cuda)" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
USER 10001:10001
WORKDIR /home/bei
