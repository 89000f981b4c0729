"""OCI references, media types and descriptors: the vocabulary of mlchain's OCI client.

The client is split in three: this module (``oci://`` references, manifests, descriptors),
:mod:`mlchain.sources.oci_auth` (Docker-config logins) and :mod:`mlchain.sources.oci_client`
(HTTP: auth challenges, redirects, bounded digest-checked reads, referrers, push).

Models shipped as OCI artifacts (CNCF ModelPack, KitOps ModelKits, image-shaped "modelcars") are
read straight from the registry. Everything here is stdlib HTTP (:mod:`urllib`), so the core gains
no dependency. The rules that matter for security:

- a reference is resolved to a manifest digest *once*; every later request names that digest, so a
  tag moved mid-run cannot mix two models;
- every manifest and blob read is hashed and compared with the digest it was asked for; a
  mismatch is a :class:`~mlchain.errors.NetworkError` (the bytes are not used);
- registries on loopback (127.0.0.0/8, ``localhost``, ``::1``) are spoken to over plain HTTP as
  container runtimes do; every other registry over HTTPS, never downgraded by a redirect;
- credentials never appear in messages, logs or ``repr``; they are not forwarded to another host
  when a registry redirects a blob download to storage.

The core reads no environment variable: the CLI passes the Docker config paths in
(:func:`mlchain.sources.oci_auth.docker_config_paths`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlchain.errors import NetworkError, UsageError

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest, index or config accepted (containerd uses the same bound)."""
_CHUNK = 1024 * 1024

DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_REPO_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")


class RegistryError(NetworkError):
    """The registry refused a request, could not be reached, or served bytes that do not match."""

    hint = (
        "Check the reference and your access to the registry (credentials come from the Docker "
        "config: ~/.docker/config.json, DOCKER_CONFIG or REGISTRY_AUTH_FILE)."
    )


@dataclass(frozen=True, slots=True)
class OciRef:
    """``oci://REGISTRY/REPO[:TAG|@DIGEST]``; ``digest`` wins when both are given."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def uri(self) -> str:
        """Canonical ``oci://`` form."""
        text = f"oci://{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def reference(self) -> str:
        """What to put in ``/v2/<name>/manifests/<reference>``."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> OciRef:
        """The same repository at exactly ``digest`` (the tag is dropped)."""
        return OciRef(self.registry, self.repository, None, digest)


def parse_oci_uri(text: str) -> OciRef | None:
    """Parse an ``oci://`` reference, or return ``None`` when ``text`` is not one.

    Raises:
        UsageError: for an ``oci://`` reference that is malformed.
    """
    if not text.startswith("oci://"):
        return None
    rest = text[len("oci://") :]
    registry, _, path = rest.partition("/")
    if not registry or not path or not _HOST_RE.match(registry):
        raise UsageError(
            f"{text!r} is not an OCI reference.",
            hint="Write oci://REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST], e.g. "
            "oci://127.0.0.1:5000/models/llama@sha256:...",
        )
    digest = None
    if "@" in path:
        path, _, digest = path.partition("@")
        if not DIGEST_RE.match(digest):
            raise UsageError(f"{text!r}: the digest must be sha256:<64 hex> (or sha512).")
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not _TAG_RE.match(tag):
            raise UsageError(f"{text!r}: {tag!r} is not a valid tag.")
    if not _REPO_RE.match(path):
        raise UsageError(
            f"{text!r}: {path!r} is not a valid repository name (lowercase letters, digits, "
            "separators . _ - and /)."
        )
    return OciRef(registry, path, tag, digest)


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (host[:port]) is on loopback: plain HTTP is used for those."""
    host = registry
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest as served, verified against its digest."""

    digest: str
    media_type: str
    raw: bytes
    data: dict[str, Any]

    @property
    def layers(self) -> list[dict[str, Any]]:
        """The layer descriptors (``[]`` for an index)."""
        layers = self.data.get("layers")
        return [d for d in layers if isinstance(d, dict)] if isinstance(layers, list) else []

    @property
    def config(self) -> dict[str, Any]:
        """The config descriptor (``{}`` when absent)."""
        config = self.data.get("config")
        return config if isinstance(config, dict) else {}


def fallback_tag(digest: str) -> str:
    """The referrers tag schema: ``sha256:abc...`` -> ``sha256-abc...``."""
    return digest.replace(":", "-", 1)


def descriptor_digest(descriptor: Mapping[str, Any]) -> str:
    """The descriptor's digest, validated (never used in a URL unless it is well-formed)."""
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise RegistryError(f"A manifest names a malformed digest {str(digest)[:80]!r}; refusing.")
    return digest


def descriptor_size(descriptor: Mapping[str, Any]) -> int:
    """The descriptor's size, validated."""
    size = descriptor.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"A manifest names a malformed size {str(size)[:40]!r}; refusing.")
    return size
