"""Starting and stopping the engine process (the launcher's side; `engine_server` is the child).

`start_engine_process` runs `python -m bei_cli.runtime.engine_server` with a private directory
for its ipc:// socket and a pipe on which the child reports, once, whether its engine loaded:
the caller gets a running `EngineProcess` (its `connection` is what front-ends connect with) or
the child's own typed error (a damaged artifact, a device that is missing) -- never a hang.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bei_cli
from bei_cli import errors
from bei_cli.engine.base import EngineInfo
from bei_cli.errors import BeiError
from bei_cli.runtime.engine_server import EngineSpec
from bei_cli.runtime.process_client import EngineConnection

# Loading (and hashing) a large artifact, or capturing CUDA graphs, takes a while.
ENGINE_START_TIMEOUT_S = 900.0
ENGINE_STOP_TIMEOUT_S = 30.0


@dataclass
class EngineProcess:
    process: subprocess.Popen[bytes]
    connection: EngineConnection
    workdir: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout_s: float = ENGINE_STOP_TIMEOUT_S) -> int:
        """SIGTERM (it finishes what is queued), then SIGKILL after `timeout_s`; exit code."""
        return _stop(self.process, self.workdir, timeout_s)

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_engine_process(
    artifact_dir: Path,
    *,
    device: str = "auto",
    max_batch_tokens: int | None = None,
    max_batch_size: int | None = None,
    max_queued: int = 32_768,
    log_level: str = "info",
    timeout_s: float = ENGINE_START_TIMEOUT_S,
) -> EngineProcess:
    """Start the engine process and wait until its engine is loaded (or raise its error). The
    child stops when this process exits: start it from the thread that lives as long as it."""
    workdir = Path(tempfile.mkdtemp(prefix="bei-engine-"))  # 0700: only we can connect
    read_fd, write_fd = os.pipe()
    spec = EngineSpec(
        artifact_dir=str(artifact_dir),
        device=device,
        address=f"ipc://{workdir}/engine",
        max_batch_tokens=max_batch_tokens,
        max_batch_size=max_batch_size,
        max_queued=max_queued,
        parent_pid=os.getpid(),
        status_fd=write_fd,
        log_level=log_level,
    )
    command = [sys.executable, "-m", "bei_cli.runtime.engine_server", spec.to_json()]
    try:
        process = subprocess.Popen(command, pass_fds=(write_fd,), env=_child_env())
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        os.close(write_fd)
    try:
        status = _read_status(read_fd, process, timeout_s)
        if not status.get("ok"):
            raise _error_of(status)
        calibration = tuple(tuple(stats) for stats in status.get("calibration", ()))
        connection = EngineConnection(
            spec.address, process.pid, _info_of(status), max_queued, calibration
        )
    except BaseException:
        _stop(process, workdir, timeout_s=5)
        raise
    finally:
        os.close(read_fd)
    return EngineProcess(process, connection, workdir)


def _child_env() -> dict[str, str]:
    """This environment, with the bei_cli this process runs first on the path: the child runs
    the same code, however this one was started (an entry point, a source checkout)."""
    here = str(Path(bei_cli.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def _read_status(fd: int, process: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    received = b""
    while b"\n" not in received:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BeiError(
                f"The engine process did not load its engine within {timeout_s:.0f} s.",
                hint="Its log lines above say where it stopped.",
            )
        readable, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # the child closed the pipe without a word: it crashed
            code = process.wait()
            raise BeiError(
                f"The engine process exited (code {code}) before its engine was loaded.",
                hint="Its log lines above say why.",
            )
        received += chunk
    message = json.loads(received.split(b"\n", 1)[0])
    if not isinstance(message, dict):
        raise BeiError("The engine process sent a malformed status report.")
    return message


def _error_of(status: dict[str, Any]) -> BeiError:
    """The child's error as the same BeiError class (a bug stays a bug: exit 1)."""
    cls = getattr(errors, str(status.get("error")), None)
    message = str(status.get("message", "unknown error"))
    if isinstance(cls, type) and issubclass(cls, BeiError):
        return cls(message, hint=status.get("hint"))
    return BeiError(
        f"The engine process failed to load the engine: {status.get('error')}: {message}",
        hint="Run with --log-level debug for the traceback.",
    )


def _info_of(status: dict[str, Any]) -> EngineInfo:
    fields = dict(status["info"])
    fields["labels"] = tuple(fields.get("labels", ()))
    return EngineInfo(**fields)


def _stop(process: subprocess.Popen[bytes], workdir: Path, timeout_s: float) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return process.returncode
