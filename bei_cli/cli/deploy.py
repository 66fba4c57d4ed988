"""`bei deploy --render BUILD_DIR --image REF`: Kubernetes manifests for a built artifact.

bei renders and validates; `kubectl apply` deploys. The config is the resolved config.yaml that
`bei build` leaves in BUILD_DIR (or `--config`); the artifact's manifest.json adds the served
model name, default route, engine and API key secret name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli.config.load import load_config
from bei_cli.deploy import (
    KUBERNETES_VERSION,
    DeployOptions,
    deploy_spec,
    manifests_yaml,
    render_manifests,
    validate_manifests,
    write_manifests,
)
from bei_cli.deploy.spec import image_is_pinned
from bei_cli.engine.artifact import read_manifest
from bei_cli.errors import AuthenticationError, CheckpointError, ConfigError
from bei_cli.registry import RetryPolicy, open_client, parse_reference
from bei_cli.registry.pull import ACCEPT as MANIFEST_ACCEPT

HELP = (
    "Render Kubernetes manifests (Deployment, Service, HorizontalPodAutoscaler, "
    "PodDisruptionBudget) for a built artifact and its pushed image, validated offline against "
    f"the Kubernetes {KUBERNETES_VERSION} schemas. Apply them with `kubectl apply -f DIR`."
)
EXAMPLE = (
    "Examples:  bei deploy --render build/minilm --image reg.example.com/minilm:1.0@sha256:HEX "
    "  |   bei deploy --render build/minilm --image REF --max-replicas 8 -o -  "
    "|   kubectl apply -f build/minilm/k8s"
)
CONFIG_IN_BUILD = "config.yaml"  # the resolved config `bei build` leaves next to manifest.json
DEFAULT_OUTPUT = "k8s"

Count = int | None


def command(
    build_dir: Annotated[Path, typer.Argument(help="The artifact directory `bei build` wrote.")],
    image: Annotated[
        str,
        typer.Option(
            "--image",
            help="Image to run, e.g. REG/REPO:TAG@sha256:DIGEST as `bei push` printed it.",
        ),
    ],
    render: Annotated[
        bool, typer.Option("--render", help="Render manifests (bei never talks to a cluster).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help=f"config.yaml to use (default: BUILD_DIR/{CONFIG_IN_BUILD})."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help=f"Directory (default BUILD_DIR/{DEFAULT_OUTPUT}); - for stdout."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Object name (default: from model_name).")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Namespace (default: kubectl's current one).")
    ] = None,
    replicas: Annotated[
        Count, typer.Option(help="Fixed replica count; renders no autoscaler.", show_default=False)
    ] = None,
    min_replicas: Annotated[int, typer.Option(help="Autoscaler minimum.")] = 1,
    max_replicas: Annotated[int, typer.Option(help="Autoscaler maximum.")] = 3,
    target_cpu_utilization: Annotated[
        int, typer.Option(help="Autoscaler target, percent of the CPU request.")
    ] = 70,
    max_unavailable: Annotated[
        Count, typer.Option(help="PodDisruptionBudget maxUnavailable (default 1).")
    ] = None,
    min_available: Annotated[
        Count, typer.Option(help="PodDisruptionBudget minAvailable instead of maxUnavailable.")
    ] = None,
    gpu_product: Annotated[
        str | None,
        typer.Option(help="nvidia.com/gpu.product node label (default: from the accelerator)."),
    ] = None,
    prestop_seconds: Annotated[
        int, typer.Option(help="Sleep before SIGTERM so endpoints drop the pod first.")
    ] = 10,
    startup_timeout: Annotated[
        int, typer.Option(help="Seconds the engine may take to load before a restart.")
    ] = 600,
    writable_root: Annotated[
        bool, typer.Option("--writable-root", help="Do not make the root filesystem read-only.")
    ] = False,
    kubernetes_version: Annotated[
        str, typer.Option(help="Kubernetes version whose schemas validate the output.")
    ] = KUBERNETES_VERSION,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Schema-check before writing.")
    ] = True,
    check_registry: Annotated[
        bool,
        typer.Option(
            "--check-registry/--no-check-registry",
            help="Ask the registry whether it holds --image's digest (a warning when it cannot "
            "be reached; an error when it answers that it does not).",
        ),
    ] = True,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Speak plain HTTP for the registry check.")
    ] = False,
) -> None:
    if not render:
        raise ConfigError(
            "bei deploy only renders manifests.",
            hint="Run `bei deploy --render BUILD_DIR --image REF`, then `kubectl apply -f DIR`.",
        )
    console = Console(stderr=True, highlight=False)
    manifest = read_manifest(build_dir)
    loaded = load_config(config or build_dir / CONFIG_IN_BUILD)
    for warning in loaded.warnings:
        console.print(f"[yellow]warning[/]: {warning}", markup=True)
    if not image_is_pinned(image):
        console.print(
            f"[yellow]warning[/]: --image {image} has no @sha256 digest; a moved tag changes what "
            "new pods run.",
            markup=True,
        )
    elif check_registry:
        check_pushed(image, insecure, console)
    options = DeployOptions(
        image=image,
        name=name,
        namespace=namespace,
        replicas=replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=target_cpu_utilization,
        max_unavailable=max_unavailable,
        min_available=min_available,
        gpu_product=gpu_product,
        prestop_seconds=prestop_seconds,
        startup_timeout_s=startup_timeout,
        read_only_root=not writable_root,
    )
    docs = render_manifests(deploy_spec(loaded.config, manifest, options))
    if validate:
        validate_manifests(docs, kubernetes_version)
    if output == Path("-"):
        typer.echo(manifests_yaml(docs), nl=False)
        return
    out_dir = output or build_dir / DEFAULT_OUTPUT
    for path in write_manifests(docs, out_dir):
        typer.echo(str(path))
    checked = f"valid for Kubernetes {kubernetes_version}" if validate else "not validated"
    console.print(
        f"rendered {len(docs)} objects ({checked}): kubectl apply -f {out_dir}", markup=False
    )


def check_pushed(image: str, insecure: bool, console: Console) -> None:
    """Refuse a digest the registry says it lacks; only warn when it cannot be asked."""
    ref = parse_reference(image, default_tag=None)
    digest = str(ref.digest)
    try:
        with open_client(
            ref.registry,
            ref.repository,
            "pull",
            environ=dict(os.environ),
            insecure=insecure,
            retry=RetryPolicy(attempts=1),
        ) as client:
            found = client.manifest_digest(ref.repository, digest, MANIFEST_ACCEPT)
    except (CheckpointError, AuthenticationError) as exc:
        console.print(
            f"warning: could not check --image against {ref.registry}: {exc.message} "
            "(--no-check-registry skips the check)",
            markup=False,
            soft_wrap=True,
        )
        return
    if found is None:
        raise ConfigError(
            f"{ref.registry}/{ref.repository} has no image {digest}",
            param="--image",
            hint="push it first (`bei push BUILD_DIR --registry ... --publish`) and pass the "
            "reference it printed",
        )
