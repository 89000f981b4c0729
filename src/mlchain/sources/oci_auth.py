"""Registry logins from the Docker config files (``auths`` entries; no credential helpers).

The CLI names the files (:func:`docker_config_paths` takes the environment as an argument); the
core only reads them. Passwords are kept out of ``repr`` and never appear in messages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlchain.errors import UsageError

MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Credentials:
    """A registry login from a Docker config file; the password is kept out of ``repr``."""

    username: str
    password: str = field(repr=False)
    source: str = ""


@dataclass(frozen=True, slots=True)
class AuthLookup:
    """What the Docker config files say about one registry."""

    credentials: Credentials | None = None
    helper: str | None = None
    """A configured credential helper (``credHelpers``/``credsStore``): not supported."""


def docker_config_paths(environ: Mapping[str, str], home: Path) -> list[Path]:
    """The Docker config files to read, in the order container tools use them (CLI helper).

    ``REGISTRY_AUTH_FILE`` (podman/skopeo) first, then ``$DOCKER_CONFIG/config.json`` or
    ``~/.docker/config.json``.
    """
    paths: list[Path] = []
    if environ.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(environ["REGISTRY_AUTH_FILE"]))
    if environ.get("DOCKER_CONFIG"):
        paths.append(Path(environ["DOCKER_CONFIG"]) / "config.json")
    else:
        paths.append(home / ".docker" / "config.json")
    return paths


def lookup_credentials(paths: Sequence[Path], registry: str) -> AuthLookup:
    """Find the login for ``registry`` in the first config file that names it.

    Raises:
        UsageError: a config file exists but is not valid JSON (never echoing its content).
    """
    helper = None
    for path in paths:
        try:
            if not path.is_file():  # absent, or a FIFO/device that would block a read
                continue
            with path.open("rb") as handle:
                text = handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8", errors="replace")
        except OSError:
            continue
        if len(text) > MAX_CONFIG_BYTES:
            raise UsageError(f"The registry auth file {path} is larger than 1 MiB; refusing it.")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(
                f"The registry auth file {path} is not valid JSON.",
                hint="Fix or remove it (docker login / podman login rewrite it).",
            ) from exc
        if not isinstance(data, dict):
            continue
        auths = data.get("auths")
        entry = _auth_entry(auths, registry) if isinstance(auths, dict) else None
        if entry is not None:
            found = _decode_auth(entry, path)
            if found is not None:
                return AuthLookup(found)
        helpers = data.get("credHelpers")
        if isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
            helper = helper or f"credHelpers[{registry}] = {helpers[registry]} in {path}"
        elif isinstance(data.get("credsStore"), str):
            helper = helper or f"credsStore = {data['credsStore']} in {path}"
    return AuthLookup(None, helper)


def _auth_entry(auths: dict[str, Any], registry: str) -> dict[str, Any] | None:
    for key in (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"):
        value = auths.get(key)
        if isinstance(value, dict):
            return value
    return None


def _decode_auth(entry: dict[str, Any], path: Path) -> Credentials | None:
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"], str(path))
    raw = entry.get("auth")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        user, sep, password = base64.b64decode(raw, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"An `auth` entry in {path} is not base64 of user:password.",
            hint="Log in again with docker login or podman login.",
        ) from exc
    if not sep:
        raise UsageError(f"An `auth` entry in {path} has no ':' between user and password.")
    return Credentials(user, password, str(path))
