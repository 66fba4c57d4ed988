"""OCI distribution: push built images to a registry, pull base images into a local layout.

Public surface: `parse_reference`, `Credentials`, `resolve_credentials`, `open_client`,
`read_layout`, `plan_tags`, `push_image`, `pull_image`.
"""

from bei_cli.oci import LayoutImage, read_layout
from bei_cli.registry.client import RegistryClient, RetryPolicy
from bei_cli.registry.credentials import Credentials, resolve_credentials, store_login
from bei_cli.registry.pull import pull_image
from bei_cli.registry.push import PushResult, TagPlan, plan_tags, push_image
from bei_cli.registry.reference import ImageReference, parse_reference, parse_target
from bei_cli.registry.session import open_client

__all__ = [
    "Credentials",
    "ImageReference",
    "LayoutImage",
    "PushResult",
    "RegistryClient",
    "RetryPolicy",
    "TagPlan",
    "open_client",
    "parse_reference",
    "parse_target",
    "plan_tags",
    "pull_image",
    "push_image",
    "read_layout",
    "resolve_credentials",
    "store_login",
]
