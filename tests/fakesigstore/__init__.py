"""A loopback fake of Sigstore (OIDC, Fulcio, CT log, Rekor v1) for offline keyless-signing tests.

Test code only: never shipped in ``src/``. See ``README.md`` in this folder.
"""

from __future__ import annotations

from fakesigstore.server import FakeSigstore, HttpError

__all__ = ["FakeSigstore", "HttpError"]
