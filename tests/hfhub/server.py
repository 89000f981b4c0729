"""A tiny Hub on 127.0.0.1 for offline tests (pointed at through ``HF_ENDPOINT``).

It serves the three things mlchain's Hub source calls: the model-info API with file metadata
(``/api/models/ORG/NAME[/revision/REV]?blobs=true``), and ``/ORG/NAME/resolve/REV/PATH`` with GET,
HEAD and single byte-range requests. It records every request so tests can assert what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    branches: dict[str, str] = field(default_factory=lambda: {"main": ""})
    lfs_suffixes: tuple[str, ...] = (".safetensors", ".bin", ".pt", ".gguf", ".onnx", ".pkl")
    private_token: str | None = None

    def __post_init__(self) -> None:
        self.branches = {k: (v or self.commit) for k, v in self.branches.items()}

    def resolve(self, rev: str) -> str | None:
        if rev == self.commit:
            return rev
        return self.branches.get(rev)


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


class FakeHub:
    """Start with ``with FakeHub([...]) as hub:``; ``hub.url`` is the endpoint."""

    def __init__(self, repos: list[FakeRepo]) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.requests: list[Request] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, head=True)

            def do_GET(self) -> None:
                hub._serve(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        self.requests.append(
            Request(
                handler.command,
                path,
                handler.headers.get("Range"),
                handler.headers.get("Authorization"),
            )
        )
        api = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?$", path)
        if api:
            return self._info(handler, api.group(1), api.group(2) or "main")
        resolve = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if resolve:
            return self._file(handler, *resolve.groups(), head=head)
        return self._send(
            handler, 404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"}
        )

    def _repo(self, handler: BaseHTTPRequestHandler, repo_id: str) -> FakeRepo | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._send(
                handler, 404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"}
            )
            return None
        if (
            repo.private_token
            and handler.headers.get("Authorization") != f"Bearer {repo.private_token}"
        ):
            self._send(
                handler, 401, b'{"error":"Invalid credentials"}', {"X-Error-Code": "RepoNotFound"}
            )
            return None
        return repo

    def _info(self, handler: BaseHTTPRequestHandler, repo_id: str, rev: str) -> None:
        repo = self._repo(handler, repo_id)
        if repo is None:
            return None
        commit = repo.resolve(rev)
        if commit is None:
            return self._send(
                handler, 404, b'{"error":"Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"}
            )
        siblings = []
        for name, data in sorted(repo.files.items()):
            entry: dict[str, object] = {
                "rfilename": name,
                "size": len(data),
                "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
            }
            if name.endswith(repo.lfs_suffixes):
                entry["lfs"] = {
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "pointerSize": 134,
                }
            siblings.append(entry)
        body = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": commit,
            "private": bool(repo.private_token),
            "siblings": siblings,
            "tags": [],
        }
        self._send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return None

    def _file(
        self, handler: BaseHTTPRequestHandler, repo_id: str, rev: str, name: str, *, head: bool
    ) -> None:
        repo = self._repo(handler, repo_id)
        if repo is None:
            return None
        commit = repo.resolve(rev)
        if commit is None or name not in repo.files:
            return self._send(handler, 404, b"", {"X-Error-Code": "EntryNotFound"})
        data = repo.files[name]
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        wanted = handler.headers.get("Range")
        status = 200
        if wanted:
            match = re.match(r"bytes=(\d+)-(\d*)$", wanted)
            assert match, wanted
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
            status = 206
        self._send(handler, status, b"" if head else data, headers, length=len(data))
        return None

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str],
        length: int | None = None,
    ) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        if body:
            handler.wfile.write(body)
