"""DeploySpec: everything the manifests say, decided once from the config, the artifact manifest
and the `bei deploy` flags. Pure: no files, no environment.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bei_cli.config.schema import BeiConfig
from bei_cli.deploy.gpu import GPU_PRODUCTS
from bei_cli.engine.manifest import Manifest
from bei_cli.engine.placement import GPU_ENGINES
from bei_cli.errors import ConfigError, UnsupportedHardwareError
from bei_cli.registry.reference import parse_reference
from bei_cli.server.settings import ServerSettings

CONTAINER_PORT = 8080
# The image's entrypoint is `bei serve /opt/bei/artifact`; these are its arguments.
SERVE_ARGS: tuple[str, ...] = ("--host", "0.0.0.0", "--port", str(CONTAINER_PORT))
API_KEY_ENV = "BEI_API_KEY"  # `bei serve --api-key` reads it

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # Service names: RFC 1035
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


@dataclass(frozen=True)
class DeployOptions:
    """The `bei deploy --render` flags, as data."""

    image: str
    name: str | None = None
    namespace: str | None = None
    replicas: int | None = None  # fixed size: no HorizontalPodAutoscaler
    min_replicas: int = 1
    max_replicas: int = 3
    target_cpu_utilization: int = 70
    max_unavailable: int | None = None  # PodDisruptionBudget; default maxUnavailable 1
    min_available: int | None = None
    gpu_product: str | None = None  # override of the GPU_PRODUCTS label value
    prestop_seconds: int = 10
    startup_timeout_s: int = 600
    read_only_root: bool = True


@dataclass(frozen=True)
class Autoscale:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int


@dataclass(frozen=True)
class Gpu:
    count: int
    product: str


@dataclass(frozen=True)
class SecretRef:
    """A key of a Kubernetes Secret: the manifests name it, never hold its value."""

    secret_name: str
    key: str


@dataclass(frozen=True)
class DeploySpec:
    name: str
    image: str
    version: str
    cpu: str
    memory: str
    namespace: str | None = None
    replicas: int | None = None
    autoscale: Autoscale | None = None
    disruption: tuple[str, int] = ("maxUnavailable", 1)
    gpu: Gpu | None = None
    env: tuple[tuple[str, str], ...] = ()
    api_key: SecretRef | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    drain_seconds: int = 30
    prestop_seconds: int = 10
    startup_timeout_s: int = 600
    read_only_root: bool = True
    args: tuple[str, ...] = field(default=SERVE_ARGS)

    @property
    def grace_period_s(self) -> int:
        """The preStop sleep runs first, then SIGTERM starts the server's drain."""
        return self.prestop_seconds + self.drain_seconds


def deploy_spec(config: BeiConfig, manifest: Manifest, options: DeployOptions) -> DeploySpec:
    """Pure: what to deploy, from the validated config, the artifact manifest and the flags."""
    _check_counts(options)
    gpu = gpu_for(config, manifest, options.gpu_product)
    replicas, autoscale = _scaling(options)
    return DeploySpec(
        name=object_name(options.name, config.model_name or manifest.served_model_name),
        namespace=options.namespace,
        image=_checked_image(options.image),
        version=image_version(options.image),
        cpu=config.resources.cpu,
        memory=config.resources.memory,
        replicas=replicas,
        autoscale=autoscale,
        disruption=_disruption(options),
        gpu=gpu,
        env=tuple(sorted(config.environment_variables.items())),
        api_key=api_key_ref(manifest.api_key_secret),
        annotations=(
            ("bei/default-route", manifest.default_route),
            ("bei/engine", manifest.engine),
            ("bei/served-model-name", manifest.served_model_name),
        ),
        drain_seconds=drain_seconds(ServerSettings().shutdown_timeout_s),
        prestop_seconds=options.prestop_seconds,
        startup_timeout_s=options.startup_timeout_s,
        read_only_root=options.read_only_root,
        args=SERVE_ARGS + (("--device", "cuda") if gpu else ()),
    )


def gpu_for(config: BeiConfig, manifest: Manifest, product: str | None) -> Gpu | None:
    """The GPU the artifact was built for. `bei build` writes the config it built from (with
    any `--target` resolved) next to the artifact, so the two agree unless someone pairs an
    artifact with another config: a CPU artifact deploys on CPU nodes, a cuda one on its GPU's."""
    accelerator = config.resources.accelerator
    built_for = manifest.accelerator if manifest.device_kind == "cuda" else None
    if built_for is None and accelerator is None:
        return None
    if accelerator is None or built_for != accelerator.type:
        runs = (
            ""
            if manifest.engine in GPU_ENGINES
            else f" (its {manifest.engine} engine runs on CPU only)"
        )
        raise UnsupportedHardwareError(
            f"the artifact was built for {built_for or 'a CPU'}{runs}, but its config asks for "
            f"{accelerator or 'no GPU'}.",
            param="resources.accelerator",
            hint="Deploy with the config.yaml `bei build` wrote next to the artifact, or rebuild "
            f"for the hardware you deploy on (`bei build --target {accelerator or 'cpu'}`).",
        )
    return Gpu(count=accelerator.count, product=product or GPU_PRODUCTS[accelerator.type])


def drain_seconds(shutdown_timeout_s: float | None) -> int:
    """The server's drain bound, whole seconds; Kubernetes needs a finite grace period."""
    if shutdown_timeout_s is None:
        raise ConfigError(
            "the server waits for ever on shutdown; Kubernetes needs a finite drain time.",
            hint="Give the server a shutdown timeout.",
        )
    return math.ceil(shutdown_timeout_s)


def object_name(explicit: str | None, model_name: str) -> str:
    """A Kubernetes object name (RFC 1035 label, as Services need): --name, else the model's."""
    if explicit is not None:
        if not _DNS_LABEL.match(explicit):
            raise ConfigError(
                f"--name {explicit!r} is not a valid Kubernetes name.",
                param="--name",
                hint="Use lowercase letters, digits and '-', starting with a letter, at most 63 "
                "characters.",
            )
        return explicit
    name = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"bei-{name}".rstrip("-")
    return name[:63].rstrip("-")


def api_key_ref(secret: str | None) -> SecretRef | None:
    """The config's secret NAME -> a Kubernetes Secret (name made DNS-safe) and key (as named)."""
    if secret is None:
        return None
    if not _SECRET_KEY.match(secret):
        raise ConfigError(
            f"bei.api_key_secret {secret!r} cannot be a Kubernetes Secret key.",
            param="bei.api_key_secret",
            hint="Use letters, digits, '-', '_' and '.' only.",
        )
    secret_name = re.sub(r"[^a-z0-9.-]+", "-", secret.lower()).strip("-.") or "bei-api-key"
    return SecretRef(secret_name=secret_name[:253], key=secret)


def image_version(image: str) -> str:
    """app.kubernetes.io/version: the tag of REF[:TAG][@DIGEST], else the digest's start."""
    ref, _, digest = image.partition("@")
    last = ref.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if tag and _LABEL_VALUE.match(tag):
        return tag
    if digest:
        return digest.replace(":", "-")[:19]  # "sha256-" + 12 hex digits
    return "latest"


def image_is_pinned(image: str) -> bool:
    return "@sha256:" in image


def _checked_image(image: str) -> str:
    """A registry reference as `bei push` prints it; a placeholder digest (`@sha256:3f1c...`)
    or a local transport is refused."""
    hint = "Pass what `bei push` printed, e.g. reg.example.com/team/minilm:1.0@sha256:<64 hex>"
    if (
        not image
        or any(c.isspace() for c in image)
        or image.startswith(("oci:", "docker-archive:"))
    ):
        raise ConfigError(
            f"--image {image!r} is not a registry reference.", param="--image", hint=hint
        )
    try:
        parse_reference(image, default_tag=None)
    except ConfigError as exc:
        raise ConfigError(f"--image {image!r}: {exc.message}", param="--image", hint=hint) from exc
    return image


def _scaling(options: DeployOptions) -> tuple[int | None, Autoscale | None]:
    if options.replicas is not None:
        return options.replicas, None
    # With an autoscaler the Deployment leaves replicas out: re-applying it would otherwise reset
    # whatever the autoscaler has scaled to.
    return None, Autoscale(
        min_replicas=options.min_replicas,
        max_replicas=options.max_replicas,
        target_cpu_utilization=options.target_cpu_utilization,
    )


def _disruption(options: DeployOptions) -> tuple[str, int]:
    if options.min_available is not None and options.max_unavailable is not None:
        raise ConfigError(
            "--min-available and --max-unavailable exclude each other.",
            param="--min-available",
            hint="A PodDisruptionBudget sets one of them.",
        )
    if options.min_available is not None:
        return "minAvailable", options.min_available
    return "maxUnavailable", 1 if options.max_unavailable is None else options.max_unavailable


def _check_counts(options: DeployOptions) -> None:
    problems = []
    if options.replicas is not None and options.replicas < 0:
        problems.append("--replicas must be 0 or more")
    if options.min_replicas < 1 or options.max_replicas < options.min_replicas:
        problems.append("need 1 <= --min-replicas <= --max-replicas")
    if not 1 <= options.target_cpu_utilization <= 100:
        problems.append("--target-cpu-utilization is a percentage, 1..100")
    if options.prestop_seconds < 0 or options.startup_timeout_s < 1:
        problems.append("--prestop-seconds must be >= 0 and --startup-timeout >= 1")
    if problems:
        raise ConfigError(
            "; ".join(problems) + ".",
            hint="See `bei deploy --help` for each flag's range.",
        )
