"""DeploySpec -> Kubernetes objects as plain dicts (pure; key order is the output order).

Deployment: requests = limits for CPU and memory (Guaranteed QoS: an inference server should
not be throttled or evicted first), the GPU as `nvidia.com/gpu` plus a node selector and
toleration, probes on /health, a preStop sleep and a grace period covering the server's drain,
a non-root read-only container. Service: ClusterIP port 80 -> http. HorizontalPodAutoscaler
(autoscaling/v2) on CPU utilization. PodDisruptionBudget (policy/v1).
"""

from __future__ import annotations

import math
from typing import Any

from bei_cli import __version__
from bei_cli.deploy.gpu import GPU_PRODUCT_LABEL, GPU_RESOURCE, GPU_TOLERATION
from bei_cli.deploy.spec import API_KEY_ENV, CONTAINER_PORT, DeploySpec

Doc = dict[str, Any]
RUNTIME_UID = 10001  # the image's `bei` user
HEALTH_PATH = "/health"
PORT_NAME = "http"
SERVICE_PORT = 80
STARTUP_PERIOD_S = 10
READINESS_PERIOD_S = 5
LIVENESS_PERIOD_S = 10


def render_manifests(spec: DeploySpec) -> list[Doc]:
    """Deployment, Service, then (if autoscaled) HorizontalPodAutoscaler, PodDisruptionBudget."""
    docs = [deployment(spec), service(spec)]
    if spec.autoscale is not None:
        docs.append(autoscaler(spec))
    docs.append(disruption_budget(spec))
    return docs


def labels(spec: DeploySpec) -> dict[str, str]:
    return {
        **selector_labels(spec),
        "app.kubernetes.io/version": spec.version,
        "app.kubernetes.io/managed-by": "bei",
    }


def selector_labels(spec: DeploySpec) -> dict[str, str]:
    """Selectors are immutable, so they carry no version."""
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": spec.name}


def metadata(spec: DeploySpec) -> Doc:
    meta: Doc = {"name": spec.name}
    if spec.namespace is not None:
        meta["namespace"] = spec.namespace
    meta["labels"] = labels(spec)
    meta["annotations"] = {"bei/rendered-by": f"bei {__version__}"}
    return meta


def deployment(spec: DeploySpec) -> Doc:
    body: Doc = {} if spec.replicas is None else {"replicas": spec.replicas}
    body["selector"] = {"matchLabels": selector_labels(spec)}
    # A new replica is ready before an old one goes: no capacity dip during a rollout.
    body["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    body["template"] = {
        "metadata": {"labels": labels(spec), "annotations": pod_annotations(spec)},
        "spec": pod_spec(spec),
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(spec), "spec": body}


def pod_annotations(spec: DeploySpec) -> dict[str, str]:
    return {
        **dict(spec.annotations),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(CONTAINER_PORT),
        "prometheus.io/path": "/metrics",
    }


def pod_spec(spec: DeploySpec) -> Doc:
    pod: Doc = {
        "terminationGracePeriodSeconds": spec.grace_period_s,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(spec)],
        # The root filesystem is read-only: Python, tokenizers and the engine write under /tmp.
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if spec.gpu is not None:
        pod["nodeSelector"] = {GPU_PRODUCT_LABEL: spec.gpu.product}
        pod["tolerations"] = [dict(GPU_TOLERATION)]
    return pod


def container(spec: DeploySpec) -> Doc:
    quantities = {"cpu": spec.cpu, "memory": spec.memory}
    limits = dict(quantities)
    if spec.gpu is not None:
        limits[GPU_RESOURCE] = str(spec.gpu.count)  # extended resources: limit implies request
    body: Doc = {
        "name": "server",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "args": list(spec.args),
        "ports": [{"name": PORT_NAME, "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
    }
    env = environment(spec)
    if env:
        body["env"] = env
    return body | {
        "resources": {"requests": quantities, "limits": limits},
        **probes(spec),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(spec.prestop_seconds)]}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": spec.read_only_root,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def environment(spec: DeploySpec) -> list[Doc]:
    env: list[Doc] = [{"name": name, "value": value} for name, value in spec.env]
    if spec.api_key is not None:
        ref = {"name": spec.api_key.secret_name, "key": spec.api_key.key}
        env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": ref}})
    return env


def probes(spec: DeploySpec) -> Doc:
    """All on /health, which answers 503 while the engine loads and once draining starts.

    startup: up to `startup_timeout_s` for the engine to load, before the others begin.
    readiness: out of the Service within two failed checks.
    liveness: restarts a wedged server, but tolerates a whole graceful termination first.
    """
    check = {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}}
    return {
        "startupProbe": check
        | {
            "periodSeconds": STARTUP_PERIOD_S,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(spec.startup_timeout_s / STARTUP_PERIOD_S),
        },
        "readinessProbe": check
        | {"periodSeconds": READINESS_PERIOD_S, "timeoutSeconds": 3, "failureThreshold": 2},
        "livenessProbe": check
        | {
            "periodSeconds": LIVENESS_PERIOD_S,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(spec.grace_period_s / LIVENESS_PERIOD_S) + 1,
        },
    }


def service(spec: DeploySpec) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def autoscaler(spec: DeploySpec) -> Doc:
    scale = spec.autoscale
    assert scale is not None  # render_manifests checks
    target = {"type": "Utilization", "averageUtilization": scale.target_cpu_utilization}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": scale.min_replicas,
            "maxReplicas": scale.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
        },
    }


def disruption_budget(spec: DeploySpec) -> Doc:
    field, value = spec.disruption
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec),
        "spec": {field: value, "selector": {"matchLabels": selector_labels(spec)}},
    }
