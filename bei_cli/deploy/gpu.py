"""Where a Truss accelerator type runs on Kubernetes: the NVIDIA device plugin's resource and the
node label NVIDIA GPU feature discovery sets (`nvidia.com/gpu.product`, the product name with
spaces as dashes). Clusters name some SKUs differently (PCIe vs SXM, MIG slices): check with
`kubectl get nodes -L nvidia.com/gpu.product` and override with `--gpu-product`.
"""

from __future__ import annotations

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

# Truss accelerator type -> the GFD product label of the SKU Baseten runs it on.
GPU_PRODUCTS: dict[str, str] = {
    "B10": "NVIDIA-GB10",
    "T4": "Tesla-T4",
    "L4": "NVIDIA-L4",
    "A10G": "NVIDIA-A10G",
    "V100": "Tesla-V100-SXM2-16GB",
    "A100": "NVIDIA-A100-SXM4-80GB",
    "A100_40GB": "NVIDIA-A100-SXM4-40GB",
    "H100": "NVIDIA-H100-80GB-HBM3",
    "H200": "NVIDIA-H200",
    "H100_40GB": "NVIDIA-H100-80GB-HBM3-MIG-3g.40gb",
    "B200": "NVIDIA-B200",
    "L40S": "NVIDIA-L40S",
    "RTX_PRO_6000": "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition",
    "B300": "NVIDIA-B300-SXM6-AC",
    "GB300": "NVIDIA-GB300",
}

# GPU nodes are commonly tainted so only pods that ask for a GPU land there.
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}
