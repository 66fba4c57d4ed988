"""Where a Truss accelerator type runs on Kubernetes: the NVIDIA device plugin's resource and the
node label NVIDIA GPU feature discovery sets (`nvidia.com/gpu.product`, the product name with
spaces as dashes). Clusters name some SKUs differently (PCIe vs SXM, MIG slices): check with
`kubectl get nodes -L nvidia.com/gpu.product` and override with `--gpu-product`.
"""

from __future__ import annotations

from bei_cli.hardware import GPUS

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

# Truss accelerator type -> the GFD product label of the SKU Baseten runs it on.
GPU_PRODUCTS: dict[str, str] = {name: spec.product_label for name, spec in GPUS.items()}

# GPU nodes are commonly tainted so only pods that ask for a GPU land there.
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}
