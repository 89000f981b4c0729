"""A loopback reverse proxy in front of the test registry.

It forwards every request unchanged and counts the body bytes the registry served (for the
benchmark), and can add the OCI 1.1 referrers API that Debian's registry (v2.8) lacks: it answers
``GET /v2/<name>/referrers/<digest>`` from the manifests pushed through it with a ``subject``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_REFERRERS = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST_PUT = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")


class RegistryProxy:
    """``with RegistryProxy(upstream, referrers_api=True) as proxy:``; ``proxy.host``."""

    def __init__(
        self,
        upstream: str,
        *,
        referrers_api: bool = False,
        bearer_login: tuple[str, str] | None = None,
        redirect_blobs_to: str | None = None,
        ignore_ranges: bool = False,
        token_realm: str | None = None,
    ) -> None:
        self.token_realm = token_realm
        self.upstream = upstream
        self.ignore_ranges = ignore_ranges
        self.redirect_blobs_to = redirect_blobs_to
        self.authorizations: list[str | None] = []
        self.bearer_login = bearer_login
        self.token = "tok-" + __import__("secrets").token_hex(8)
        self.token_requests: list[str] = []
        self.referrers_api = referrers_api
        self.bytes_served = 0
        self.requests: list[tuple[str, str, int]] = []
        self.referrers: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self, "GET")

            def do_HEAD(self) -> None:
                proxy._handle(self, "HEAD")

            def do_PUT(self) -> None:
                proxy._handle(self, "PUT")

            def do_POST(self) -> None:
                proxy._handle(self, "POST")

            def do_PATCH(self) -> None:
                proxy._handle(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.bytes_served = 0
            self.requests.clear()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        self.authorizations.append(handler.headers.get("Authorization"))
        if self.bearer_login is not None and not self._bearer_ok(handler, method):
            return
        if self.redirect_blobs_to and method == "GET" and "/blobs/sha256:" in handler.path:
            target = f"{self.redirect_blobs_to}{handler.path}"
            if "://" not in self.redirect_blobs_to:
                target = f"http://{target}"
            self._reply(handler, 307, {"Location": target}, b"", method)
            return
        match = _REFERRERS.match(handler.path.split("?")[0])
        if match and method == "GET" and self.referrers_api:
            entries = self.referrers.get(match["digest"], [])
            data = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": entries,
                }
            ).encode()
            self._reply(
                handler,
                200,
                {"Content-Type": "application/vnd.oci.image.index.v1+json"},
                data,
                method,
            )
            return
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in {"host", "content-length", "connection"}
            and not (self.ignore_ranges and k.lower() == "range")
        }
        request = urllib.request.Request(
            f"http://{self.upstream}{handler.path}", data=body, method=method, headers=headers
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        try:
            response = opener.open(request, timeout=60)
            status, reply_headers, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, reply_headers, data = exc.code, exc.headers, exc.read()
        put = _MANIFEST_PUT.match(handler.path.split("?")[0])
        if put and method == "PUT" and status == 201 and body and self.referrers_api:
            self._index_referrer(body, reply_headers)
        out = {
            k: v
            for k, v in reply_headers.items()
            if k.lower() not in {"content-length", "connection", "transfer-encoding"}
        }
        if "Location" in out:
            out["Location"] = out["Location"].replace(self.upstream, self.host)
        self._reply(handler, status, out, data, method)

    def _bearer_ok(self, handler: BaseHTTPRequestHandler, method: str) -> bool:
        """Token auth as registries do it: 401 + Bearer challenge, a token service on /token."""
        import base64

        if handler.path.startswith("/token"):
            user, password = self.bearer_login or ("", "")
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.token_requests.append(handler.path)
            if handler.headers.get("Authorization") != f"Basic {expected}":
                self._reply(handler, 401, {}, b"{}", method)
                return False
            self._reply(handler, 200, {}, json.dumps({"token": self.token}).encode(), method)
            return False
        if handler.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        name = handler.path.split("/")[2] if handler.path.count("/") > 2 else ""
        realm = self.token_realm or f"http://{self.host}/token"
        challenge = (
            f'Bearer realm="{realm}",service="test-registry",scope="repository:{name}:pull,push"'
        )
        self._reply(handler, 401, {"WWW-Authenticate": challenge}, b"{}", method)
        return False

    def _index_referrer(self, body: bytes, headers: Any) -> None:
        try:
            document = json.loads(body)
        except ValueError:
            return
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict):
            return
        entry = {
            "mediaType": document.get("mediaType"),
            "digest": headers.get("Docker-Content-Digest"),
            "size": len(body),
            "artifactType": document.get("artifactType"),
        }
        self.referrers.setdefault(subject["digest"], []).append(entry)

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        data: bytes,
        method: str,
    ) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(data)
            with self._lock:
                self.bytes_served += len(data)
        with self._lock:
            self.requests.append((method, handler.path, len(data)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
