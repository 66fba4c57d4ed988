"""A stand-in Hugging Face Hub on 127.0.0.1 for the real huggingface_hub client.

It speaks the few endpoints `snapshot_download` uses (repo info, recursive tree, HEAD/GET of
/resolve/) for directories it serves, answers other repos with an error status + the Hub's
X-Error-Code / X-Error-Message headers, and records each request's path and Authorization.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>.+)$")
TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[0-9a-f]{40})/(?P<path>.+)$")


@dataclass
class HubState:
    repos: dict[str, Path] = field(default_factory=dict)  # repo id -> directory served
    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)  # errors
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth

    def downloaded(self, repo: str) -> set[str]:
        prefix = f"/{repo}/resolve/"
        return {
            p.split("/", 5)[-1] for m, p, _ in self.requests if m == "GET" and p.startswith(prefix)
        }


def commit_of(directory: Path) -> str:
    return hashlib.sha1(
        str(sorted(p.as_posix() for p in directory.rglob("*"))).encode()
    ).hexdigest()


def files_of(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


class HubHandler(BaseHTTPRequestHandler):
    server: HubServer

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        state = self.server.state
        path = unquote(urlsplit(self.path).path)
        state.requests.append((self.command, path, self.headers.get("Authorization", "")))
        for pattern, reply in ((REPO_INFO, self._info), (TREE, self._tree), (RESOLVE, self._file)):
            match = pattern.match(path)
            if match and match["repo"] in state.repos:
                status, headers, body = reply(state.repos[match["repo"]], match)
                return self._send(status, headers, body if send_body else b"", len(body))
            if match and match["repo"] in state.answers:
                status, headers = state.answers[match["repo"]]
                return self._send(status, headers, b"{}", 2)
        self._send(404, {"X-Error-Code": "RepoNotFound"}, b"{}", 2)

    def _info(self, directory: Path, match: re.Match[str]) -> tuple[int, dict[str, str], bytes]:
        siblings = [{"rfilename": p.relative_to(directory).as_posix()} for p in files_of(directory)]
        body = {"id": match["repo"], "sha": commit_of(directory), "siblings": siblings}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _tree(self, directory: Path, match: re.Match[str]) -> tuple[int, dict[str, str], bytes]:
        entries = [
            {
                "type": "file",
                "path": p.relative_to(directory).as_posix(),
                "size": p.stat().st_size,
                "oid": hashlib.sha1(p.read_bytes()).hexdigest(),
            }
            for p in files_of(directory)
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(entries).encode()

    def _file(self, directory: Path, match: re.Match[str]) -> tuple[int, dict[str, str], bytes]:
        target = directory / match["path"]
        if not target.is_file():
            return 404, {"X-Error-Code": "EntryNotFound"}, b"{}"
        data = target.read_bytes()
        headers = {
            "X-Repo-Commit": commit_of(directory),
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, data

    def _send(self, status: int, headers: dict[str, str], body: bytes, length: int) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class HubServer(ThreadingHTTPServer):
    state: HubState


@contextmanager
def stand_in_hub(state: HubState) -> Iterator[str]:
    """Serve `state` on 127.0.0.1; yields the endpoint URL."""
    server = HubServer(("127.0.0.1", 0), HubHandler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
