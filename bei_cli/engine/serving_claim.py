"""Which artifact directories a running `bei serve` is serving, so `bei build -o DIR` refuses to
replace one under it (the server would keep the old model in memory and read new files from
disk: tokenizer, manifest, a restarted worker's weights).

A serving process holds an exclusive `flock` on one claim file per server, named after the
artifact's resolved path, in a per-user runtime folder (never inside the artifact: it would
change the artifact and land in its image). The kernel drops the lock when the process ends, even
on SIGKILL, so a leftover file of a dead server is recognised (its lock can be taken) and removed.
The claim is written to a temporary name, locked, then renamed into place, so a reader never
sees an unlocked live claim.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bei_cli.errors import BuildError


@dataclass(frozen=True)
class ServingClaim:
    pid: int
    address: str  # host:port the server listens on
    artifact: str


def claims_dir(env: Mapping[str, str]) -> Path:
    """$XDG_RUNTIME_DIR/bei/serving, else the temp folder's bei-UID/serving (per user)."""
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "bei" / "serving"
    return Path(tempfile.gettempdir()) / f"bei-{os.getuid()}" / "serving"


def _key(artifact_dir: Path) -> str:
    return hashlib.sha256(str(artifact_dir.resolve()).encode()).hexdigest()[:24]


@contextmanager
def claim_serving(
    artifact_dir: Path, address: str, env: Mapping[str, str] = os.environ
) -> Iterator[ServingClaim]:
    """Hold the claim on `artifact_dir` while the block runs (the server's lifetime)."""
    folder = claims_dir(env)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    claim = ServingClaim(os.getpid(), address, str(artifact_dir.resolve()))
    final = folder / f"{_key(artifact_dir)}-{claim.pid}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".claim-")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.set_inheritable(fd, True)  # a server that exec()s itself (a worker manager) keeps it
        os.write(fd, json.dumps(vars(claim)).encode())
        os.rename(temp, final)
        yield claim
    finally:
        for path in (temp, final):
            Path(path).unlink(missing_ok=True)
        os.close(fd)


def servers_of(artifact_dir: Path, env: Mapping[str, str] = os.environ) -> list[ServingClaim]:
    """The live servers of `artifact_dir`; a dead server's leftover claim is removed."""
    folder = claims_dir(env)
    live = []
    for path in sorted(folder.glob(f"{_key(artifact_dir)}-*.json")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its server just stopped
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live.append(ServingClaim(**json.loads(path.read_text())))
        else:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return live


def refuse_if_served(out_dir: Path, env: Mapping[str, str] = os.environ) -> None:
    """Refuse to build into a directory a running `bei serve` serves."""
    servers = servers_of(out_dir, env) if out_dir.exists() else []
    if not servers:
        return
    names = ", ".join(f"pid {s.pid} on http://{s.address}" for s in servers)
    raise BuildError(
        f"refusing to replace {out_dir}: `bei serve` is serving it ({names}); replacing it "
        "under a running server would mix the old model in memory with new files on disk.",
        param="--output",
        hint=f"Build into another directory (-o {out_dir.with_name(out_dir.name + '-new')}) and "
        f"serve that one, or stop the server first (kill {servers[0].pid}), then build again.",
    )
