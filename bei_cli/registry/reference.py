"""Image references: `REG[:PORT]/REPO[:TAG|@DIGEST]`, parsed the way docker and skopeo read them.

Pure: no network. A first path component is a registry host when it has a `.` or a `:` or is
`localhost`; otherwise the reference lives on Docker Hub (`docker.io`, `library/` for one-part
names), whose API host is `registry-1.docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bei_cli.errors import ConfigError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"

# The distribution spec's grammar for repository path components, tags and digests.
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port] as the user wrote it (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The host the distribution API answers on."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag=check_tag(tag))

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _split_registry(text: str) -> tuple[str, str]:
    first, _, rest = text.partition("/")
    if rest and _is_host(first):
        return first, rest
    return DOCKER_HUB, text


def check_repository(repository: str, *, original: str | None = None) -> str:
    if not repository or not all(_COMPONENT.match(part) for part in repository.split("/")):
        raise ConfigError(
            f"invalid repository name {repository!r} in {original or repository!r}",
            hint="repository names are lowercase letters, digits and . _ - separated by /",
        )
    return repository


def check_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise ConfigError(
            f"invalid tag {tag!r}",
            hint="a tag is up to 128 characters of letters, digits, _ . - (not starting with . -)",
        )
    return tag


def parse_reference(text: str, *, default_tag: str | None = DEFAULT_TAG) -> ImageReference:
    """Parse `[REG[:PORT]/]REPO[:TAG][@sha256:HEX]`; a reference with neither gets default_tag."""
    rest, _, digest = text.strip().partition("@")
    if digest and not _DIGEST.match(digest):
        raise ConfigError(f"invalid digest {digest!r} in {text!r}", hint="use @sha256:<64 hex>")
    registry, path = _split_registry(rest)
    repository, tag = path, None
    slash, colon = path.rfind("/"), path.rfind(":")
    if colon > slash:
        repository, tag = path[:colon], check_tag(path[colon + 1 :])
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    check_repository(repository, original=text)
    if tag is None and not digest:
        tag = default_tag
    return ImageReference(registry, repository, tag=tag, digest=digest or None)


def parse_target(text: str) -> tuple[str, str | None]:
    """`REG[:PORT][/REPO]` (what `bei push --registry` takes) as (registry, repository or None)."""
    cleaned = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    registry, _, repository = cleaned.partition("/")
    if not registry:
        raise ConfigError(f"invalid registry {text!r}", hint="use HOST[:PORT][/REPOSITORY]")
    if repository:
        check_repository(repository, original=text)
    return registry, repository or None


def repository_name(model_name: str) -> str:
    """A valid repository name for a served model name (lowercase, invalid runs become -)."""
    lowered = re.sub(r"[^a-z0-9._/-]+", "-", model_name.lower())
    parts = [re.sub(r"^[._-]+|[._-]+$", "", part) for part in lowered.split("/")]
    return check_repository("/".join(part for part in parts if part), original=model_name)


def registry_key(host: str) -> str:
    """Normalize a docker config `auths` key or a registry host for matching."""
    bare = host.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return DOCKER_HUB if bare in {"index.docker.io", DOCKER_HUB_API, DOCKER_HUB} else bare
