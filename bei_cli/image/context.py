"""The Dockerfile build context: `docker build build/<model>` gives the image bei writes.

The build directory already holds manifest.json and model/; this adds runtime/ (the same
/opt/bei/lib, /opt/bei/bin/bei and /opt/bei/config.yaml the layers hold, modes normalized),
a Dockerfile whose base is a build ARG, and a .dockerignore for what is not part of the image.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from bei_cli.image.bundle import package_dir, runtime_files
from bei_cli.image.layer import EXEC_MODE, FILE_MODE
from bei_cli.image.spec import (
    ARTIFACT,
    BIN,
    CMD,
    ENTRYPOINT,
    HEALTH_COMMAND,
    HEALTH_INTERVAL_S,
    HEALTH_RETRIES,
    HEALTH_START_PERIOD_S,
    HEALTH_TIMEOUT_S,
    HOME,
    LAUNCHER,
    LIB,
    PORT,
    USER,
    VENV,
)

RUNTIME_DIR = "runtime"  # inside the build directory; mirrors /opt/bei
IGNORED = ("image/", "image.tar", "build_report.json", "server-*.log", "k8s/")


def render_dockerfile(
    base_reference: str, labels: Mapping[str, str], env: Mapping[str, str]
) -> str:
    """Pure: the Dockerfile text. Labels and env are JSON-quoted, so any value is safe."""
    lines = [
        "# Written by `bei build`: the same filesystem as the OCI image in image/.",
        "# docker build -t IMAGE --build-arg BEI_BASE_IMAGE=REF .  (docker needs a registry or",
        "# loaded base; podman/buildah also accept oci:DIR and docker-archive:FILE here)",
        f"ARG BEI_BASE_IMAGE={base_reference}",
        "FROM ${BEI_BASE_IMAGE}",
        f"COPY {RUNTIME_DIR}/ {HOME}/",
        f"COPY manifest.json {ARTIFACT}/manifest.json",
        f"COPY model/ {ARTIFACT}/model/",
        f"ENV PATH={BIN}:{VENV}/bin:$PATH PYTHONPATH={LIB} PYTHONUNBUFFERED=1 "
        "PYTHONDONTWRITEBYTECODE=1",
    ]
    lines += [f"ENV {key}={json.dumps(value)}" for key, value in sorted(env.items())]
    lines += [
        f"LABEL {json.dumps(key)}={json.dumps(value)}" for key, value in sorted(labels.items())
    ]
    lines += [
        f"USER {USER}",
        f"WORKDIR {HOME}",
        f"EXPOSE {PORT}",
        f"HEALTHCHECK --interval={HEALTH_INTERVAL_S}s --timeout={HEALTH_TIMEOUT_S}s "
        f"--start-period={HEALTH_START_PERIOD_S}s --retries={HEALTH_RETRIES} "
        f"CMD {json.dumps(list(HEALTH_COMMAND))}",
        "STOPSIGNAL SIGTERM",
        f"ENTRYPOINT {json.dumps(list(ENTRYPOINT))}",
        f"CMD {json.dumps(list(CMD))}",
    ]
    return "\n".join(lines) + "\n"


def write_context(
    build_dir: Path,
    *,
    base_reference: str,
    config_yaml: bytes,
    labels: Mapping[str, str],
    env: Mapping[str, str],
) -> Path:
    """Write runtime/, Dockerfile and .dockerignore next to the artifact; return build_dir."""
    runtime = build_dir / RUNTIME_DIR
    if runtime.exists():
        shutil.rmtree(runtime)
    for rel, source in runtime_files(package_dir()):
        target = runtime / "lib" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(EXEC_MODE if source.stat().st_mode & 0o111 else FILE_MODE)
    launcher = runtime / "bin" / "bei"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER)
    launcher.chmod(EXEC_MODE)
    (runtime / "config.yaml").write_bytes(config_yaml)
    (runtime / "config.yaml").chmod(FILE_MODE)
    (build_dir / "Dockerfile").write_text(render_dockerfile(base_reference, labels, env))
    (build_dir / ".dockerignore").write_text("\n".join(IGNORED) + "\n")
    return build_dir
