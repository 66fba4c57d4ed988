from __future__ import annotations

import gzip
import hashlib
import tarfile
from pathlib import Path

from bei_cli.image.layer import LayerEntry, file_entry, tree_entries, with_parents, write_layer


def _entries(tmp_path: Path, payload: bytes = b"print('hi')\n") -> tuple[LayerEntry, ...]:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o775)
    data = tmp_path / "data.txt"
    data.write_bytes(payload)
    data.chmod(0o600)
    return with_parents(
        [
            file_entry("opt/app/run.sh", script),
            file_entry("opt/app/data.txt", data),
            LayerEntry(path="etc/app.conf", data=b"x=1\n"),
        ]
    )


def test_same_entries_same_digest_and_one_byte_changes_it(tmp_path: Path) -> None:
    first = write_layer(_entries(tmp_path), tmp_path / "a.tgz", mtime=0)
    second = write_layer(_entries(tmp_path), tmp_path / "b.tgz", mtime=0)
    changed = write_layer(_entries(tmp_path, b"print('hI')\n"), tmp_path / "c.tgz", mtime=0)
    later = write_layer(_entries(tmp_path), tmp_path / "d.tgz", mtime=1)
    assert first.digest == second.digest and first.diff_id == second.diff_id
    assert changed.digest != first.digest and later.digest != first.digest
    blob = (tmp_path / "a.tgz").read_bytes()
    assert first.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert first.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert first.size == len(blob)
    assert blob[4:8] == b"\0\0\0\0"  # gzip header mtime 0


def test_members_sorted_normalized_and_without_pax_times(tmp_path: Path) -> None:
    layer = write_layer(_entries(tmp_path), tmp_path / "a.tgz", mtime=1234)
    with tarfile.open(layer.path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["etc", "etc/app.conf", "opt", "opt/app", "opt/app/data.txt", "opt/app/run.sh"]
    modes = {m.name: m.mode for m in members}
    assert modes == {
        "etc": 0o755, "etc/app.conf": 0o644, "opt": 0o755, "opt/app": 0o755,
        "opt/app/data.txt": 0o644, "opt/app/run.sh": 0o755,
    }  # fmt: skip
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == 1234
        assert not {"mtime", "atime", "ctime"} & member.pax_headers.keys()


def test_tree_keeps_owner_mode_links_and_skips_runtime_mounts(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr/bin").mkdir(parents=True)
    (root / "proc/1").mkdir(parents=True)
    (root / "proc/1/status").write_text("not packed")
    tool = root / "usr/bin/tool"
    tool.write_text("bin")
    tool.chmod(0o4755)
    (root / "usr/bin/alias").hardlink_to(tool)
    (root / "bin").symlink_to("usr/bin")
    entries = {e.path: e for e in tree_entries(root)}
    assert "proc" in entries and "proc/1" not in entries
    assert entries["usr/bin/tool"].mode == 0o4755
    assert (
        entries["usr/bin/tool"].kind == "hardlink"
        and entries["usr/bin/tool"].link == "usr/bin/alias"
    )
    assert entries["bin"].kind == "symlink" and entries["bin"].link == "usr/bin"
    layer = write_layer(tree_entries(root), tmp_path / "root.tgz", mtime=0)
    with tarfile.open(layer.path) as tar:
        assert tar.getmember("usr/bin/tool").islnk() and tar.getmember("bin").issym()
