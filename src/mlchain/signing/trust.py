"""Sigstore trust configuration: which Fulcio, Rekor and CT keys mlchain trusts.

Verification is offline by default. sigstore-python's ``ClientTrustConfig.production()`` refreshes
the public-good trust root over TUF, and even ``production(offline=True)`` creates and writes a TUF
cache under the user's cache folder (which fails on a read-only HOME). mlchain avoids that path
entirely for verification: it builds the trust configuration from the public-good (or staging)
trust root that ships inside the installed sigstore-python, or reads ``--trust-config`` for private
Sigstore deployments.

Signing needs Fulcio and Rekor anyway, so it uses the TUF-refreshed configuration; when the cache
folder is not writable, the cache is redirected to a private temporary folder.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain.errors import MlchainError

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig

_LOG = logging.getLogger(__name__)

CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
_PRODUCTION_TUF_URL = "https://tuf-repo-cdn.sigstore.dev"
_STAGING_TUF_URL = "https://tuf-repo-cdn.sigstage.dev"


class TrustMaterialError(MlchainError):
    """The Sigstore trust configuration is missing or unusable (exit 3: could not check)."""

    hint = (
        "Pass a valid ClientTrustConfig JSON with --trust-config, or omit it to use the "
        "public-good Sigstore trust root bundled with sigstore-python."
    )
    exit_code = 3


def embedded_trust_config(*, staging: bool = False) -> dict[str, Any]:
    """Return the ClientTrustConfig (as JSON data) bundled inside sigstore-python.

    No network and no cache are involved. The data is as fresh as the installed sigstore-python:
    upgrade it, or pass ``--trust-config``, to pick up rotated keys.

    Raises:
        TrustMaterialError: if the installed sigstore-python carries no embedded trust root.
    """
    from sigstore._utils import read_embedded

    url = _STAGING_TUF_URL if staging else _PRODUCTION_TUF_URL
    try:
        trusted_root = json.loads(read_embedded("trusted_root.json", url))
        signing_config = json.loads(read_embedded("signing_config.v0.2.json", url))
    except (OSError, ValueError) as exc:
        raise TrustMaterialError(
            f"The installed sigstore-python has no embedded trust root for {url} ({exc})."
        ) from exc
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root,
        "signingConfig": signing_config,
    }


def load_trust_config(path: Path | None, *, staging: bool = False) -> ClientTrustConfig:
    """Load the trust configuration for offline verification.

    Args:
        path: a ClientTrustConfig JSON file (``--trust-config``), or ``None`` for the public-good
            (or staging) root bundled with sigstore-python.
        staging: use the Sigstore staging instance instead of production.

    Raises:
        TrustMaterialError: if the file cannot be read or is not a ClientTrustConfig.
    """
    from sigstore.models import ClientTrustConfig

    text = read_trust_config_text(path) if path is not None else None
    if text is None:
        text = json.dumps(embedded_trust_config(staging=staging))
    try:
        return ClientTrustConfig.from_json(text)
    except Exception as exc:  # sigstore-models raises pydantic/ValueError variants
        where = str(path) if path is not None else "the bundled Sigstore trust root"
        raise TrustMaterialError(
            f"{where} is not a valid Sigstore ClientTrustConfig ({type(exc).__name__})."
        ) from exc


def read_trust_config_text(path: Path) -> str:
    """Read a ``--trust-config`` file, turning I/O errors into :class:`TrustMaterialError`."""
    from mlchain.inputfile import read_regular_file

    try:
        return read_regular_file(path, limit=16 << 20).decode("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: special file, too large, not UTF-8
        raise TrustMaterialError(f"Cannot read the trust configuration {path}: {exc}.") from exc


def online_trust_config(*, staging: bool = False) -> ClientTrustConfig:
    """Fetch the current public-good (or staging) trust configuration over TUF, for signing.

    Raises:
        TrustMaterialError: if the TUF repository cannot be reached or verified.
    """
    from sigstore.models import ClientTrustConfig

    ensure_writable_cache()
    try:
        return ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
    except Exception as exc:  # TUFError, network errors
        raise TrustMaterialError(
            f"Cannot fetch the Sigstore trust root over TUF ({type(exc).__name__}: {exc}). "
            "Signing with Sigstore needs network access to Fulcio and Rekor.",
            hint="Check network access, or pass --trust-config for a private Sigstore instance.",
        ) from exc


def ensure_writable_cache() -> None:
    """Point sigstore-python's cache and data folders at a temp folder if they are not writable.

    sigstore-python creates its TUF cache with platformdirs (``~/.cache/sigstore-python``,
    ``~/.local/share/sigstore-python``). In read-only containers that raises
    ``PermissionError``; redirect both via the XDG variables platformdirs honours.
    """
    import platformdirs

    cache = Path(platformdirs.user_cache_dir("sigstore-python", "sigstore"))
    data = Path(platformdirs.user_data_dir("sigstore-python", "sigstore"))
    if _writable(cache) and _writable(data):
        return
    scratch = tempfile.mkdtemp(prefix="mlchain-sigstore-")
    _LOG.debug("sigstore cache folders are not writable; using %s", scratch)
    # NOTE(signing): the only environment mutation in mlchain's core; platformdirs offers no
    # other hook and sigstore-python has no cache-dir parameter.
    os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
    os.environ["XDG_DATA_HOME"] = str(Path(scratch) / "data")


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists (or can be created) and accepts a new file.

    Tried for real rather than with ``os.access``: root passes access checks on read-only mounts.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False
