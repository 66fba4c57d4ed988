"""The config layer: a Truss-compatible config.yaml, validated once at the edge.

`load_config(path)` -> `LoadedConfig(path, config: BeiConfig, warnings, ignored)`; every invalid
config raises one `ConfigError` naming the dotted path of each problem.
"""

from bei_cli.config.accelerators import AcceleratorSpec
from bei_cli.config.load import LoadedConfig, load_config, load_config_text
from bei_cli.config.options import BeiOptions
from bei_cli.config.schema import BeiConfig

__all__ = [
    "AcceleratorSpec",
    "BeiConfig",
    "BeiOptions",
    "LoadedConfig",
    "load_config",
    "load_config_text",
]
