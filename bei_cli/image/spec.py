"""What a bei image is, as pure data: paths inside it, entrypoint, labels, the config JSON.

The image contract a base must meet: Python with bei's runtime dependencies in /opt/bei/venv and
a non-root user 10001 (what bei_cli/templates/*.Dockerfile and `bei image base` produce). bei's
layers add /opt/bei/lib (the bei_cli package), /opt/bei/bin/bei, /opt/bei/artifact and
/opt/bei/config.yaml.

`created` comes from SOURCE_DATE_EPOCH (read at the CLI edge and passed in) or is the Unix epoch,
so the same inputs give the same config blob and therefore the same manifest digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from bei_cli.errors import BuildError

BEI_UID = 10001
USER = f"{BEI_UID}:{BEI_UID}"  # numeric, so Kubernetes runAsNonRoot can verify it
VENV = PurePosixPath("/opt/bei/venv")
HOME = PurePosixPath("/opt/bei")
LIB = HOME / "lib"
BIN = HOME / "bin"
ARTIFACT = HOME / "artifact"
CONFIG_FILE = HOME / "config.yaml"
PORT = 8080
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTRYPOINT = (str(BIN / "bei"), "serve", str(ARTIFACT))
CMD = ("--host", "0.0.0.0", "--port", str(PORT))
LAUNCHER = f"#!{VENV}/bin/python\nimport sys\n\nfrom bei_cli.cli import main\n\nsys.exit(main())\n"
SECOND_NS = 1_000_000_000
OCI_LABEL_PREFIX = "org.opencontainers.image."
# Docker and podman (docker format) run this; OCI configs have no health field, so Kubernetes
# probes /health itself (docs/image.md). It assumes the default port of CMD.
HEALTH_INTERVAL_S, HEALTH_TIMEOUT_S, HEALTH_START_PERIOD_S, HEALTH_RETRIES = 10, 5, 60, 3
HEALTH_COMMAND = (
    f"{VENV}/bin/python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=3)",
)
HEALTHCHECK: dict[str, Any] = {
    "Test": ["CMD", *HEALTH_COMMAND],
    "Interval": HEALTH_INTERVAL_S * SECOND_NS,
    "Timeout": HEALTH_TIMEOUT_S * SECOND_NS,
    "StartPeriod": HEALTH_START_PERIOD_S * SECOND_NS,
    "Retries": HEALTH_RETRIES,
}


@dataclass(frozen=True)
class Created:
    epoch: int

    @property
    def iso(self) -> str:
        moment = datetime.fromtimestamp(self.epoch, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def created_at(source_date_epoch: str | None) -> Created:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) when set, else 1970-01-01T00:00:00Z."""
    if not source_date_epoch:
        return Created(0)
    try:
        return Created(int(source_date_epoch))
    except ValueError as exc:
        raise BuildError(
            f"SOURCE_DATE_EPOCH={source_date_epoch!r} is not an integer number of seconds.",
            hint="Set it to e.g. $(git log -1 --format=%ct), or unset it.",
        ) from exc


def base_config(
    *,
    variant: str,
    engines: Sequence[str],
    architecture: str,
    created: Created,
    diff_ids: Sequence[str],
    devices: Sequence[str] = ("cpu",),
    env: Sequence[str] = (),
) -> dict[str, Any]:
    """The config of a base built by `bei image base` (labels match
    bei_cli/templates/*.Dockerfile)."""
    return {
        "architecture": architecture,
        "os": "linux",
        "created": created.iso,
        "config": {
            "Env": [
                f"PATH={VENV}/bin:{SYSTEM_PATH}",
                "LANG=C.UTF-8",
                "PYTHONDONTWRITEBYTECODE=1",
                *env,
            ],
            "User": USER,
            "WorkingDir": "/home/bei",
            "Labels": {
                "io.bei.base.engines": ",".join(engines),
                "io.bei.base.devices": ",".join(devices),
                "io.bei.base.variant": variant,
                "org.opencontainers.image.title": f"bei base runtime ({variant})",
                "org.opencontainers.image.base.name": "debian:bookworm",
                "org.opencontainers.image.created": created.iso,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [
            {
                "created": created.iso,
                "created_by": f"bei image base --variant {variant} (debootstrap bookworm + pip)",
            }
        ],
    }


def image_env(base_env: Sequence[str], extra: Mapping[str, str]) -> list[str]:
    """The base's Env with ours on top (by name, ours win), in a stable order."""
    merged: dict[str, str] = {}
    for item in base_env:
        key, _, value = item.partition("=")
        merged[key] = value
    path = merged.get("PATH", SYSTEM_PATH).split(":")
    merged.update(extra)
    ours = [str(BIN), f"{VENV}/bin"]
    merged["PATH"] = ":".join([*ours, *(p for p in path if p not in ours)])
    merged.update({"PYTHONPATH": str(LIB), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return [f"{key}={merged[key]}" for key in sorted(merged)]


def image_config(
    base: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    env: Mapping[str, str],
    diff_ids: Sequence[str],
    steps: Sequence[str],
    created: Created,
) -> dict[str, Any]:
    """The base's config with bei's entrypoint, user, port, labels and layers appended."""
    base_runtime = base.get("config") or {}
    history = [
        *base.get("history", []),
        *({"created": created.iso, "created_by": step} for step in steps),
    ]
    return {
        "architecture": base.get("architecture", "amd64"),
        "os": base.get("os", "linux"),
        "created": created.iso,
        "config": {
            "Env": image_env(base_runtime.get("Env") or [], env),
            "Entrypoint": list(ENTRYPOINT),
            "Cmd": list(CMD),
            "User": USER,
            "WorkingDir": str(HOME),
            "ExposedPorts": {f"{PORT}/tcp": {}},
            "Labels": {**_inherited_labels(base_runtime.get("Labels") or {}), **labels},
            "Healthcheck": HEALTHCHECK,
            "StopSignal": "SIGTERM",
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [*base.get("rootfs", {}).get("diff_ids", []), *diff_ids],
        },
        "history": history,
    }


def _inherited_labels(base_labels: Mapping[str, str]) -> dict[str, str]:
    """The base's own labels (io.bei.base.*) carry over; its org.opencontainers.image.* ones
    describe the base, not this image, so they do not."""
    return {k: v for k, v in base_labels.items() if not k.startswith(OCI_LABEL_PREFIX)}
