"""Rendered manifests: schema-valid for Kubernetes 1.30, and saying what the config says."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bei_cli.deploy import DeployOptions, deploy_spec, render_manifests, validate_manifests
from bei_cli.deploy.spec import Gpu
from bei_cli.deploy.validation import schema_errors
from bei_cli.errors import BuildError, ConfigError, UnsupportedHardwareError
from bei_cli.server.settings import ServerSettings
from tests.unit.deploy.support import IMAGE, load_build, write_build

pytest.importorskip("kubernetes_validate")


def render(root: Path, **options: Any) -> dict[str, dict[str, Any]]:
    loaded, manifest = load_build(root)
    docs = render_manifests(deploy_spec(loaded.config, manifest, DeployOptions(**options)))
    validate_manifests(docs)  # every test's output passes the schema
    return {doc["kind"]: doc for doc in docs}


def server_container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


CASES = {
    "cpu": {},
    "gpu-h100x2": {"accelerator": "H100:2"},
    "api-key": {"api_key_secret": "bei_api_key"},
}


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_object_passes_the_kubernetes_schema(tmp_path: Path, case: str) -> None:
    loaded, manifest = load_build(write_build(tmp_path, **CASES[case]))
    docs = render_manifests(deploy_spec(loaded.config, manifest, DeployOptions(image=IMAGE)))
    assert [d["kind"] for d in docs] == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    for doc in docs:
        assert schema_errors(doc) == [], doc["kind"]


def test_a_broken_manifest_fails_the_same_check(tmp_path: Path) -> None:
    loaded, manifest = load_build(write_build(tmp_path))
    docs = render_manifests(deploy_spec(loaded.config, manifest, DeployOptions(image=IMAGE)))
    broken = copy.deepcopy(docs)
    broken[0]["spec"]["replicas"] = "two"
    broken[1]["spec"]["ports"][0]["prot"] = 80  # strict: unknown fields are errors
    with pytest.raises(BuildError) as caught:
        validate_manifests(broken)
    assert len(caught.value.details) == 2
    assert "Deployment/test-model: spec.replicas" in caught.value.details[0]
    assert "'two'" in caught.value.details[0]
    assert caught.value.details[1].startswith("Service/test-model: spec.ports.0")


def test_cpu_resources_probes_and_security(tmp_path: Path) -> None:
    docs = render(write_build(tmp_path), image=IMAGE)
    container = server_container(docs)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert container["args"] == ["--host", "0.0.0.0", "--port", "8080"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    liveness = container["livenessProbe"]
    # A draining server answers 503 on /health: liveness must not restart it mid-drain.
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > pod["terminationGracePeriodSeconds"]
    )
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert "env" not in container


def test_grace_period_is_the_prestop_sleep_plus_the_servers_drain(tmp_path: Path) -> None:
    docs = render(write_build(tmp_path), image=IMAGE, prestop_seconds=7)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    drain = ServerSettings().shutdown_timeout_s
    assert drain is not None
    assert pod["terminationGracePeriodSeconds"] == 7 + drain
    prestop = server_container(docs)["lifecycle"]["preStop"]
    assert prestop == {"exec": {"command": ["sleep", "7"]}}


def test_gpu_limit_node_selector_and_toleration(tmp_path: Path) -> None:
    root = write_build(tmp_path, accelerator="H100:2")
    loaded, _ = load_build(root)
    # Encoders run on one GPU per replica: the config loader turns H100:2 into H100, loudly.
    assert any("one GPU per replica" in w for w in loaded.warnings)
    docs = render(root, image=IMAGE)
    container, pod = server_container(docs), docs["Deployment"]["spec"]["template"]["spec"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in container["resources"]["requests"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert container["args"][-2:] == ["--device", "cuda"]
    custom = render(root, image=IMAGE, gpu_product="NVIDIA-H100-PCIe")
    assert custom["Deployment"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-PCIe"
    }


def test_the_gpu_count_goes_into_the_limit(tmp_path: Path) -> None:
    loaded, manifest = load_build(write_build(tmp_path, accelerator="L4"))
    spec = deploy_spec(loaded.config, manifest, DeployOptions(image=IMAGE))
    assert spec.gpu == Gpu(count=1, product="NVIDIA-L4")
    (deployment, *_) = render_manifests(replace(spec, gpu=Gpu(count=2, product="NVIDIA-L4")))
    validate_manifests([deployment])
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "2"


def test_an_onnx_artifact_is_not_sent_to_a_gpu_node(tmp_path: Path) -> None:
    loaded, manifest = load_build(write_build(tmp_path, accelerator="L4", engine="onnx"))
    with pytest.raises(UnsupportedHardwareError) as caught:
        deploy_spec(loaded.config, manifest, DeployOptions(image=IMAGE))
    assert caught.value.param == "resources.accelerator"


def test_api_key_comes_from_a_secret_by_name(tmp_path: Path) -> None:
    root = write_build(
        tmp_path, api_key_secret="bei_api_key", environment_variables={"LOG_FORMAT": "json"}
    )
    container = server_container(render(root, image=IMAGE))
    assert container["env"] == [
        {"name": "LOG_FORMAT", "value": "json"},
        {
            "name": "BEI_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "bei-api-key", "key": "bei_api_key"}},
        },
    ]


def test_autoscaler_and_disruption_budget(tmp_path: Path) -> None:
    root = write_build(tmp_path)
    docs = render(root, image=IMAGE, min_replicas=2, max_replicas=9, target_cpu_utilization=60)
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 9)
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "test-model",
    }
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    # The autoscaler owns the replica count: re-applying the Deployment must not reset it.
    assert "replicas" not in docs["Deployment"]["spec"]
    assert docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    fixed = render(root, image=IMAGE, replicas=4, min_available=1)
    assert fixed["Deployment"]["spec"]["replicas"] == 4
    assert "HorizontalPodAutoscaler" not in fixed
    assert fixed["PodDisruptionBudget"]["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": docs["Deployment"]["spec"]["selector"]["matchLabels"]},
    }


def test_labels_service_and_namespace(tmp_path: Path) -> None:
    docs = render(write_build(tmp_path), image=IMAGE, namespace="ml")
    for doc in docs.values():
        assert doc["metadata"]["namespace"] == "ml"
        assert doc["metadata"]["labels"] == {
            "app.kubernetes.io/name": "test-model",
            "app.kubernetes.io/instance": "test-model",
            "app.kubernetes.io/version": "1.0",
            "app.kubernetes.io/managed-by": "bei",
        }
    selector = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in selector  # selectors are immutable
    assert docs["Service"]["spec"] == {
        "type": "ClusterIP",
        "selector": selector,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }


@pytest.mark.parametrize(
    "options",
    [
        {"image": "oci:build/minilm/image"},
        {"image": IMAGE, "name": "Bad_Name"},
        {"image": IMAGE, "min_replicas": 3, "max_replicas": 2},
        {"image": IMAGE, "min_available": 1, "max_unavailable": 1},
        {"image": IMAGE, "target_cpu_utilization": 0},
    ],
)
def test_bad_flags_are_config_errors(tmp_path: Path, options: dict[str, Any]) -> None:
    loaded, manifest = load_build(write_build(tmp_path))
    with pytest.raises(ConfigError):
        deploy_spec(loaded.config, manifest, DeployOptions(**options))
