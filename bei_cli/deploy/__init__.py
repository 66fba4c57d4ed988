"""Kubernetes manifests for a built artifact: `bei deploy --render`.

Pure core: `deploy_spec` (config + artifact manifest + flags -> DeploySpec) and
`render_manifests` (DeploySpec -> Deployment, Service, HorizontalPodAutoscaler,
PodDisruptionBudget as plain dicts). Thin shell: `validate_manifests` (kubernetes-validate against
a pinned Kubernetes version) and `write_manifests` (one deterministic YAML file per kind).
"""

from bei_cli.deploy.manifests import render_manifests
from bei_cli.deploy.spec import DeployOptions, DeploySpec, deploy_spec
from bei_cli.deploy.validation import KUBERNETES_VERSION, validate_manifests
from bei_cli.deploy.writer import manifests_yaml, write_manifests

__all__ = [
    "KUBERNETES_VERSION",
    "DeployOptions",
    "DeploySpec",
    "deploy_spec",
    "manifests_yaml",
    "render_manifests",
    "validate_manifests",
    "write_manifests",
]
