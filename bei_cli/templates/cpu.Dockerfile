# bei base runtime image, CPU. The same filesystem `bei image base` builds without a daemon.
#   podman build -f bei_cli/templates/cpu.Dockerfile -t bei-base:cpu-slim bei_cli/templates/
#   podman build -f bei_cli/templates/cpu.Dockerfile --build-arg VARIANT=cpu \
#     --build-arg ENGINES=torch,onnx,fake -t bei-base:cpu bei_cli/templates/
# cpu-slim runs onnx (and fake) artifacts; cpu adds torch for torch artifacts. For cpu, torch
# must be the CPU wheel: add --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# (plain PyPI serves the multi-GB CUDA build; the build fails its torch check on that).
FROM debian:bookworm-slim
ARG VARIANT=cpu-slim
ARG ENGINES=onnx,fake
ARG PIP_EXTRA_INDEX_URL=
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY requirements-cpu-slim.txt requirements-cpu.txt /tmp/bei/
RUN python3 -m venv /opt/bei/venv \
 && /opt/bei/venv/bin/pip install --no-cache-dir --no-compile -r /tmp/bei/requirements-${VARIANT}.txt \
 && if [ "$VARIANT" = cpu ]; then /opt/bei/venv/bin/python -c \
      "import sys, torch; sys.exit(torch.version.cuda and 'torch is a CUDA build')"; fi \
 && find /opt/bei/venv -name __pycache__ -prune -exec rm -rf {} + \
 && rm -rf /tmp/bei
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/bei \
    --shell /usr/sbin/nologin bei
ENV PATH=/opt/bei/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1
LABEL io.bei.base.engines="${ENGINES}" \
      io.bei.base.devices="cpu" \
      io.bei.base.variant="${VARIANT}" \
      org.opencontainers.image.title="bei base runtime (${VARIANT})" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
USER 10001:10001
WORKDIR /home/bei
