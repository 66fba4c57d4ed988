from __future__ import annotations

from pathlib import Path

from bei_cli.image.build import build_image
from tests.fixtures.images import layer_file, layer_members


def test_context_holds_the_image_filesystem(
    artifact: Path, config_path: Path, base_ref: str
) -> None:
    result = build_image(artifact, config_path, base_ref)
    dockerfile = (artifact / "Dockerfile").read_text()
    assert f"ARG BEI_BASE_IMAGE={base_ref}" in dockerfile and "FROM ${BEI_BASE_IMAGE}" in dockerfile
    assert 'ENTRYPOINT ["/opt/bei/bin/bei", "serve", "/opt/bei/artifact"]' in dockerfile
    assert "USER 10001:10001" in dockerfile and "EXPOSE 8080" in dockerfile
    ignored = (artifact / ".dockerignore").read_text().split()
    assert {"image/", "image.tar", "build_report.json"} <= set(ignored)
    # runtime/ mirrors /opt/bei: same files, same bytes, same modes as the runtime+config layers
    _, runtime, _, config = layer_members(result.layout_dir)
    in_layers = {
        name.removeprefix("opt/bei/"): member.mode
        for name, member in {**runtime, **config}.items()
        if member.isfile()
    }
    context = artifact / "runtime"
    in_context = {
        p.relative_to(context).as_posix(): p.stat().st_mode & 0o7777
        for p in context.rglob("*")
        if p.is_file()
    }
    assert in_context == in_layers
    for rel in ("lib/bei_cli/errors.py", "bin/bei", "config.yaml"):
        assert (context / rel).read_bytes() == layer_file(result.layout_dir, f"opt/bei/{rel}")
