"""The HTTP side of the OCI client: auth challenges, redirects, bounded and digest-checked reads.

See :mod:`mlchain.sources.oci` for the rules this follows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlchain.errors import UsageError
from mlchain.sources.oci import (
    DIGEST_RE,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    Manifest,
    OciRef,
    RegistryError,
    descriptor_digest,
    descriptor_size,
    fallback_tag,
    is_loopback,
)
from mlchain.sources.oci_auth import AuthLookup, lookup_credentials

_CHUNK = 1024 * 1024


class RangeNotServed(RegistryError):
    """The registry answered a range request with the whole blob (callers download instead)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by :class:`RegistryClient` itself (to drop credentials)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(slots=True)
class Response:
    """A finished registry response (the body is read by the caller, bounded)."""

    status: int
    headers: Mapping[str, str]
    stream: IO[bytes]
    url: str

    def read_bounded(self, limit: int, what: str) -> bytes:
        """Read the whole body, refusing more than ``limit`` bytes."""
        data = self.stream.read(limit + 1)
        self.stream.close()
        if len(data) > limit:
            raise RegistryError(f"The registry sent more than {limit} bytes for {what}; refusing.")
        return data


class RegistryClient:
    """Talk to one registry: anonymous, Basic, or ``WWW-Authenticate: Bearer`` tokens."""

    def __init__(
        self,
        registry: str,
        *,
        auth: AuthLookup | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self.scheme = "http" if is_loopback(registry) else "https"
        self._auth = auth or AuthLookup()
        self._timeout = timeout
        self._tokens: dict[str, str] = {}
        self._basic = False
        handlers: list[Any] = [_NoRedirect()]
        if is_loopback(registry):
            handlers.append(urllib.request.ProxyHandler({}))  # never send loopback to a proxy
        self._opener = urllib.request.build_opener(*handlers)
        self.bytes_received = 0

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r})"

    @property
    def base(self) -> str:
        """``scheme://registry``."""
        return f"{self.scheme}://{self.registry}"

    # .. requests ..

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ok: Sequence[int] = (200,),
        missing_ok: bool = False,
    ) -> Response | None:
        """Send one request (with auth and redirects); ``None`` for 404 when ``missing_ok``.

        Raises:
            RegistryError: transport errors and unexpected statuses.
        """
        url = path if path.startswith(("http://", "https://")) else self.base + path
        sent_headers = dict(headers or {})
        for attempt in range(2):
            response = self._send(method, url, sent_headers, body)
            if response.status == 401 and attempt == 0 and self._authenticate(response):
                response.stream.close()
                continue
            break
        if response.status == 404 and missing_ok:
            response.stream.close()
            return None
        if response.status not in ok:
            detail = _error_detail(response)
            raise self._status_error(method, path, response.status, detail)
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            all_headers = dict(headers)
            if urllib.parse.urlsplit(url).netloc == origin:
                authorization = self._authorization(url)
                if authorization:
                    all_headers["Authorization"] = authorization
            # The URL is always http(s): built from our base or checked in the redirect branch.
            request = urllib.request.Request(  # noqa: S310
                url, data=body, method=method, headers=all_headers
            )
            try:
                raw = self._opener.open(request, timeout=self._timeout)
                status, stream = raw.status, raw
            except urllib.error.HTTPError as exc:
                status, stream = exc.code, exc
            except (OSError, ValueError) as exc:
                raise RegistryError(
                    f"Cannot reach the registry {self.registry}: {_reason(exc)}.",
                    hint="Check the registry address and network access; loopback registries "
                    "are spoken to over plain HTTP, every other one over HTTPS.",
                ) from exc
            if status in (301, 302, 303, 307, 308) and stream.headers.get("Location"):
                target = urllib.parse.urljoin(url, stream.headers["Location"])
                stream.close()
                if urllib.parse.urlsplit(target).scheme != "https" and not is_loopback(
                    urllib.parse.urlsplit(target).netloc
                ):
                    raise RegistryError(
                        f"The registry {self.registry} redirected to plain HTTP; refusing."
                    )
                url = target
                continue
            return Response(status, stream.headers, stream, url)
        raise RegistryError(f"The registry {self.registry} redirected too many times.")

    def _authorization(self, url: str) -> str | None:
        if self._tokens:
            return f"Bearer {next(reversed(self._tokens.values()))}"
        creds = self._auth.credentials
        if self._basic and creds is not None:
            pair = f"{creds.username}:{creds.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def _authenticate(self, response: Response) -> bool:
        """Answer a 401 challenge; return whether a retry makes sense."""
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self._auth.credentials is None or self._basic:
                return False
            self._basic = True
            return True
        if scheme.lower() != "bearer":
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        realm = params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.netloc)):
            raise RegistryError(
                f"The registry {self.registry} sent a token realm that is not HTTPS; refusing "
                "to send credentials there."
            )
        scope = params.get("scope", "")
        if scope in self._tokens:
            return False  # the token we have was refused: do not loop
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {}
        creds = self._auth.credentials
        if creds is not None:
            pair = f"{creds.username}:{creds.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - realm checked
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                body = answer.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            raise RegistryError(
                f"The token service of {self.registry} refused "
                f"{'the credentials' if creds else 'anonymous access'} (HTTP {exc.code}).",
                hint=self._login_hint(),
            ) from exc
        except OSError as exc:
            raise RegistryError(
                f"Cannot reach the token service of {self.registry}: {_reason(exc)}."
            ) from exc
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"The token service of {self.registry} returned no token.")
        self._tokens[scope] = token
        return True

    def _login_hint(self) -> str:
        if self._auth.helper is not None:
            return (
                f"The Docker config uses a credential helper ({self._auth.helper}); mlchain does "
                "not run credential helpers. Put an `auths` entry in a file named by "
                "REGISTRY_AUTH_FILE (podman login --authfile FILE REGISTRY writes one)."
            )
        if self._auth.credentials is None:
            return (
                f"No login for {self.registry} was found: run `docker login {self.registry}` or "
                "point REGISTRY_AUTH_FILE/DOCKER_CONFIG at a file with an `auths` entry."
            )
        return f"Check the login for {self.registry} in {self._auth.credentials.source}."

    def _status_error(self, method: str, path: str, status: int, detail: str) -> RegistryError:
        what = path.split("?", 1)[0]
        if status in (401, 403):
            return RegistryError(
                f"The registry {self.registry} denied {method} {what} (HTTP {status}).",
                hint=self._login_hint(),
            )
        if status == 404:
            return RegistryError(
                f"{self.registry}{what} was not found (HTTP 404){detail}.",
                hint="Check the repository name, tag and digest.",
            )
        return RegistryError(
            f"The registry {self.registry} answered {method} {what} with HTTP {status}{detail}."
        )

    # .. manifests ..

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """Fetch a manifest or index by tag or digest and check its digest.

        For a digest reference, the bytes must hash to it. For a tag, the digest is computed from
        the bytes (and must agree with ``Docker-Content-Digest`` when the registry sends one).
        """
        accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
        )
        assert response is not None
        raw = response.read_bounded(MAX_MANIFEST_BYTES, f"the manifest {reference}")
        self.bytes_received += len(raw)
        algorithm = reference.split(":", 1)[0] if DIGEST_RE.match(reference) else "sha256"
        digest = f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"
        if DIGEST_RE.match(reference) and digest != reference:
            raise RegistryError(
                f"The manifest served for {repository}@{reference} hashes to {digest}: the "
                "registry (or something between) altered it. Not using it.",
                hint="Do not deploy from this registry until this is explained.",
            )
        claimed = response.headers.get("Docker-Content-Digest")
        if (
            claimed
            and claimed.startswith("sha256:")
            and algorithm == "sha256"
            and claimed != digest
        ):
            raise RegistryError(
                f"The registry says {repository}:{reference} is {claimed} but sent bytes that "
                f"hash to {digest}. Not using them."
            )
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(f"The manifest {repository}@{digest} is not JSON.") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"The manifest {repository}@{digest} is not a JSON object.")
        media_type = str(data.get("mediaType") or response.headers.get("Content-Type") or "")
        media_type = media_type.split(";", 1)[0].strip()
        return Manifest(digest, media_type, raw, data)

    def resolve(self, ref: OciRef) -> Manifest:
        """Fetch the image manifest ``ref`` names; an index is refused with a clear message.

        Raises:
            RegistryError: not found, unreadable, altered, or an index / unknown media type.
        """
        manifest = self.get_manifest(ref.repository, ref.reference)
        if manifest.media_type in INDEX_TYPES or "manifests" in manifest.data:
            entries = manifest.data.get("manifests")
            listed = []
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    platform = entry.get("platform") or {}
                    label = (
                        f"{platform.get('os')}/{platform.get('architecture')}"
                        if isinstance(platform, dict) and platform
                        else str(entry.get("artifactType") or entry.get("mediaType"))
                    )
                    listed.append(f"{entry.get('digest')} ({label})")
            raise UsageError(
                f"{ref.uri} is an image index ({manifest.digest}) listing "
                f"{len(listed)} manifests; mlchain reads one model manifest at a time.",
                hint="Pick one and pass it by digest: "
                + "; ".join(f"oci://{ref.registry}/{ref.repository}@{e}" for e in listed[:8]),
            )
        if manifest.media_type not in MANIFEST_TYPES:
            raise RegistryError(
                f"{ref.uri} has media type {manifest.media_type or '(none)'!r}, not an OCI image "
                "manifest or a Docker v2 manifest; mlchain cannot read it.",
                hint="Docker schema 1 manifests and other artifact formats are not supported.",
            )
        return manifest

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        """Upload a manifest under a tag or its digest; return its digest."""
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": media_type},
            body=raw,
            ok=(200, 201),
        )
        assert response is not None
        response.stream.close()
        return digest

    # .. blobs ..

    def read_blob(self, repository: str, descriptor: Mapping[str, Any], limit: int) -> bytes:
        """Read a small blob (config, bundle) into memory, bounded and digest-checked."""
        digest = descriptor_digest(descriptor)
        size = descriptor_size(descriptor)
        if size > limit:
            raise RegistryError(f"The blob {digest} is {size} bytes, more than {limit}; refusing.")
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}")
        assert response is not None
        data = response.read_bounded(limit, f"the blob {digest}")
        self.bytes_received += len(data)
        _check_digest(digest, hashlib.new(digest.split(":")[0], data).hexdigest(), self.registry)
        return data

    def read_range(self, repository: str, digest: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of a blob with one range request.

        The answer must be a 206 whose ``Content-Range`` starts at ``start`` and that holds
        exactly the bytes asked for. (Ranges cannot be checked against the blob digest: a
        header-only scan trusts the registry to serve the blob's own bytes; the deploy gate
        downloads and digest-checks everything instead.)

        Raises:
            RangeNotServed: the registry ignored the range (a full body is never read here).
            RegistryError: a short or misplaced range.
        """
        response = self.request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            headers={"Range": f"bytes={start}-{end}"},
            ok=(200, 206),
        )
        assert response is not None
        if response.status != 206:
            response.stream.close()
            raise RangeNotServed(f"The registry {self.registry} ignored a range request.")
        served = re.match(r"bytes (\d+)-(\d+)/", response.headers.get("Content-Range", ""))
        if served is None or int(served.group(1)) != start:
            response.stream.close()
            raise RegistryError(
                f"The registry {self.registry} answered a range request for {digest} with "
                f"another range ({response.headers.get('Content-Range')!r}); refusing."
            )
        data = response.read_bounded(end - start + 1, f"a range of {digest}")
        self.bytes_received += len(data)
        if len(data) != end - start + 1:
            raise RegistryError(
                f"The registry {self.registry} sent {len(data)} bytes for a {end - start + 1}-byte "
                f"range of {digest}; the blob is shorter than its manifest says."
            )
        return data

    def download_blob(
        self, repository: str, descriptor: Mapping[str, Any], target: Path, limit: int
    ) -> None:
        """Stream a blob to ``target`` (created private), checking size and digest.

        Raises:
            RegistryError: too large, wrong size, or the bytes do not hash to the digest (the
                file is removed).
        """
        digest = descriptor_digest(descriptor)
        size = descriptor_size(descriptor)
        if size > limit:
            raise RegistryError(
                f"The layer {digest} is {size} bytes, more than the limit of {limit}; refusing to "
                "download it."
            )
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}")
        assert response is not None
        hasher = hashlib.new(digest.split(":")[0])
        written = 0
        try:
            with response.stream as stream, target.open("xb") as handle:
                target.chmod(0o600)
                while chunk := stream.read(_CHUNK):
                    written += len(chunk)
                    if written > size:
                        raise RegistryError(
                            f"The registry sent more than the {size} bytes the manifest "
                            f"declares for {digest}; refusing."
                        )
                    hasher.update(chunk)
                    handle.write(chunk)
            self.bytes_received += written
            if written != size:
                raise RegistryError(
                    f"The registry sent {written} bytes for {digest}; the manifest says {size}."
                )
            _check_digest(digest, hasher.hexdigest(), self.registry)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload a blob (monolithic POST then PUT) unless it exists; return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        head = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", missing_ok=True, ok=(200,))
        if head is not None:
            head.stream.close()
            return digest
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/", ok=(202,), body=b"")
        assert started is not None
        started.stream.close()
        location = started.headers.get("Location")
        if not location:
            raise RegistryError(f"The registry {self.registry} gave no upload location.")
        url = urllib.parse.urljoin(self.base + "/", location)
        if urllib.parse.urlsplit(url).netloc != self.registry:
            raise RegistryError(f"The registry {self.registry} sent an upload to another host.")
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        done = self.request(
            "PUT",
            url,
            headers={"Content-Type": "application/octet-stream"},
            body=data,
            ok=(201, 204),
        )
        assert done is not None
        done.stream.close()
        return digest

    # .. referrers ..

    def referrers(self, repository: str, digest: str) -> tuple[list[dict[str, Any]], str]:
        """List the manifests whose ``subject`` is ``digest``, and how they were found.

        The OCI 1.1 referrers API first; on 404 (registries without it), the referrers tag
        schema ``<alg>-<hex>`` (an index maintained by the pusher).
        """
        response = self.request(
            "GET",
            f"/v2/{repository}/referrers/{digest}",
            headers={"Accept": OCI_INDEX},
            missing_ok=True,
        )
        if response is not None:
            raw = response.read_bounded(MAX_MANIFEST_BYTES, "the referrers list")
            self.bytes_received += len(raw)
            return _index_entries(raw, self.registry), "referrers-api"
        tag = fallback_tag(digest)
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{tag}",
            headers={"Accept": OCI_INDEX},
            missing_ok=True,
        )
        if response is None:
            return [], "tag-schema"
        raw = response.read_bounded(MAX_MANIFEST_BYTES, "the referrers index")
        self.bytes_received += len(raw)
        return _index_entries(raw, self.registry), "tag-schema"

    def add_referrer(self, repository: str, subject: str, descriptor: dict[str, Any]) -> str:
        """Record a pushed referrer for registries without the referrers API.

        Registries with the API index ``subject`` themselves (they answer the push with an
        ``OCI-Subject`` header); otherwise the ``<alg>-<hex>`` tag's index is updated.
        Returns how the referrer will be found.
        """
        probe = self.request(
            "GET",
            f"/v2/{repository}/referrers/{subject}",
            headers={"Accept": OCI_INDEX},
            missing_ok=True,
        )
        if probe is not None:
            probe.stream.close()
            return "referrers-api"
        entries, _ = self.referrers_by_tag(repository, subject)
        entries = [e for e in entries if e.get("digest") != descriptor["digest"]]
        entries.append(descriptor)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        raw = json.dumps(index, separators=(",", ":")).encode()
        self.put_manifest(repository, fallback_tag(subject), raw, OCI_INDEX)
        return "tag-schema"

    def referrers_by_tag(self, repository: str, digest: str) -> tuple[list[dict[str, Any]], str]:
        """The tag-schema index only (used when updating it)."""
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{fallback_tag(digest)}",
            headers={"Accept": OCI_INDEX},
            missing_ok=True,
        )
        if response is None:
            return [], "tag-schema"
        raw = response.read_bounded(MAX_MANIFEST_BYTES, "the referrers index")
        return _index_entries(raw, self.registry), "tag-schema"


def _check_digest(digest: str, actual_hex: str, registry: str) -> None:
    if digest.split(":", 1)[1] != actual_hex:
        raise RegistryError(
            f"The blob served by {registry} as {digest} hashes to "
            f"{digest.split(':')[0]}:{actual_hex}: it was altered. Not using it.",
            hint="Do not deploy from this registry until this is explained.",
        )


def _index_entries(raw: bytes, registry: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"The referrers list from {registry} is not JSON.") from exc
    manifests = data.get("manifests") if isinstance(data, dict) else None
    return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []


def _error_detail(response: Response) -> str:
    try:
        body = response.stream.read(4096)
        response.stream.close()
        data = json.loads(body)
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            from mlchain.sanitize import clean

            code = clean(str(errors[0].get("code", "")))
            return f" ({code}: {clean(str(errors[0].get('message', '')), 200)})"
    except (ValueError, OSError):
        pass
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def client_for(ref: OciRef, config_paths: Sequence[Path]) -> RegistryClient:
    """A client for ``ref``'s registry with the login the Docker config files hold, if any."""
    return RegistryClient(ref.registry, auth=lookup_credentials(config_paths, ref.registry))
