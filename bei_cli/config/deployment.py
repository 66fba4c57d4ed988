"""Truss's top-level `runtime` and `build` blocks.

They configure the Truss model server and the Baseten platform. bei runs its own server, so
almost all of it is accepted for compatibility and reported as ignored; the health-check
thresholds feed the Kubernetes probes.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bei_cli.config.base import ConfigModel, ignored, ignored_factory, warn

_SECRET_NAME = re.compile(r"^[-._a-zA-Z0-9]+$")
_VERSION = re.compile(r"^\d+(\.\d+)*([.-]?[A-Za-z0-9.+-]*)?$")
_FQDN = re.compile(
    r"^(?:[a-zA-Z0-9*](?:[a-zA-Z0-9*-]{0,61}[a-zA-Z0-9*])?)"
    r"(?:\.(?:[a-zA-Z0-9*](?:[a-zA-Z0-9*-]{0,61}[a-zA-Z0-9*])?))*$"
)


class HealthChecks(ConfigModel):
    """Health-check thresholds; bei maps them onto the Kubernetes probes."""

    restart_check_delay_seconds: int | None = Field(
        default=None, description="Seconds before restart checks start."
    )
    restart_threshold_seconds: int | None = Field(
        default=None, description="Seconds unhealthy before the replica is restarted."
    )
    stop_traffic_threshold_seconds: int | None = Field(
        default=None, description="Seconds unhealthy before traffic to the replica stops."
    )
    startup_threshold_seconds: int | None = Field(
        default=None, description="Seconds a replica may take to start before it is unhealthy."
    )


class Transport(ConfigModel):
    """Transport of the Truss server. bei serves HTTP only."""

    kind: Literal["http", "websocket", "grpc"] = Field(
        default="http", description="http (default), websocket or grpc."
    )
    ping_interval_seconds: float | None = Field(
        default=None, description="websocket only: ping interval."
    )
    ping_timeout_seconds: float | None = Field(
        default=None, description="websocket only: ping timeout."
    )

    @model_validator(mode="after")
    def _pings_need_websocket(self) -> Transport:
        pings = self.ping_interval_seconds is not None or self.ping_timeout_seconds is not None
        if pings and self.kind != "websocket":
            raise ValueError("ping_interval_seconds / ping_timeout_seconds need kind: websocket")
        return self


class Toggle(ConfigModel):
    """An on/off platform feature."""

    enabled: bool | None = Field(default=None, description="Turn the feature on or off.")


class EgressRestrictions(ConfigModel):
    """Outbound network allow-lists of the Baseten deployment."""

    ip_allow_list: list[str] | None = Field(
        default=None, description="Allowed outbound IPv4 addresses or CIDR ranges."
    )
    fqdn_allow_list: list[str] | None = Field(
        default=None, description="Allowed outbound domain names; '*' wildcards allowed."
    )

    @field_validator("ip_allow_list")
    @classmethod
    def _check_ips(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"invalid IP or CIDR {value!r}: {exc}") from None
            if network.version != 4:
                raise ValueError(f"invalid IP or CIDR {value!r}: IPv6 is not supported")
        return values

    @field_validator("fqdn_allow_list")
    @classmethod
    def _check_fqdns(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            if not value or not _FQDN.match(value):
                raise ValueError(f"invalid domain name {value!r}")
        return values


class Runtime(ConfigModel):
    """Truss server runtime settings (top-level `runtime`, not `trt_llm.runtime`)."""

    predict_concurrency: int = ignored("Concurrent predict calls in the Truss server.", 1)
    streaming_read_timeout: int = ignored("Streaming read timeout in seconds.", 60)
    enable_tracing_data: bool = ignored("Export OpenTelemetry traces.", False)
    enable_debug_logs: bool = ignored("Truss server log level DEBUG.", False)
    transport: Transport = ignored_factory("Transport of the Truss server.", Transport)
    is_websocket_endpoint: bool | None = ignored(
        "Deprecated; derived from transport.kind by Truss."
    )
    health_checks: HealthChecks = Field(
        default_factory=HealthChecks,
        description="Health-check thresholds; bei uses them for the Kubernetes probes.",
    )
    oidc: Toggle = ignored_factory("Mount an OIDC token at runtime.", Toggle)
    remote_ssh: Toggle = ignored_factory("SSH access to running replicas.", Toggle)
    egress_restrictions: EgressRestrictions | None = ignored("Outbound network allow-lists.")
    truss_server_version_override: str | None = ignored("Pin the Truss server version.")
    num_workers: int | None = ignored(
        "Legacy: Truss allows exactly 1 worker per server since 0.9.49."
    )

    @field_validator("num_workers", mode="before")
    @classmethod
    def _single_worker(cls, value: Any) -> Any:
        if value is not None and value != 1:
            raise ValueError(
                "must be 1: Truss allows only 1 worker per server since 0.9.49; scale with "
                "replicas instead"
            )
        return value

    @field_validator("transport", mode="before")
    @classmethod
    def _empty_transport_is_http(cls, value: Any) -> Any:
        return {"kind": "http"} if value == {} or value is None else value

    @field_validator("truss_server_version_override")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.match(value):
            raise ValueError(f"invalid version {value!r}: must look like a version, e.g. 0.9.0")
        return value

    @model_validator(mode="after")
    def _note_transport(self, info: ValidationInfo) -> Runtime:
        if self.transport.kind != "http" or self.is_websocket_endpoint:
            warn(
                info,
                f"runtime.transport.kind is {self.transport.kind!r}: bei serves HTTP "
                "only and ignores the transport setting.",
            )
        return self


class Build(ConfigModel):
    """Truss image-build settings (top-level `build`, not `trt_llm.build`)."""

    model_server: Literal["TrussServer", "TRT_LLM"] = ignored(
        "Which Truss image builder to use.", "TrussServer"
    )
    arguments: dict[str, Any] = ignored_factory("Arguments for the model server.", dict)
    secret_to_path_mapping: dict[str, str] = ignored_factory(
        "Secrets available during the Docker build, mapped to file paths.", dict
    )
    no_cache: bool = Field(
        default=False,
        description="Not allowed in config.yaml (Truss: use the --no-cache CLI flag).",
    )

    @field_validator("no_cache")
    @classmethod
    def _no_cache_is_a_flag(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "no_cache cannot be specified in config.yaml; it is a CLI flag "
                "(truss push --no-cache)"
            )
        return value

    @field_validator("secret_to_path_mapping")
    @classmethod
    def _check_secret_names(cls, mapping: dict[str, str]) -> dict[str, str]:
        for name in mapping:
            if name in (".", "..") or len(name) > 253 or not _SECRET_NAME.match(name):
                raise ValueError(
                    f"invalid secret name {name!r}: use letters, digits, '-', '_' and '.' "
                    "(at most 253 characters)"
                )
        return mapping
