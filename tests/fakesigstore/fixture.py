"""Session-scoped pytest fixture serving a `FakeSigstore` on 127.0.0.1.

Import it into a test module with::

    from fakesigstore.fixture import fake_sigstore  # noqa: F401

and request ``fake_sigstore`` in a test. The object it yields has ``.url``, ``.issuer``,
``.trust_config`` (a ClientTrustConfig file for sigstore-python / model-signing / mlchain) and
``.mint_token(identity, issuer=None)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakesigstore.server import FakeSigstore

_LOOPBACK = "127.0.0.1,localhost"


@dataclass(frozen=True)
class FakeSigstoreSession:
    """What the ``fake_sigstore`` fixture yields.

    Attributes:
        server: The running `FakeSigstore` (keys, issued entries, request log).
        trust_config: ClientTrustConfig JSON pointing every service at the fake.
        startup_seconds: Wall time from construction to a served trust config.
    """

    server: FakeSigstore
    trust_config: Path
    startup_seconds: float

    @property
    def url(self) -> str:
        """Base URL (Fulcio and Rekor)."""
        return self.server.url

    @property
    def issuer(self) -> str:
        """OIDC issuer URL that minted tokens carry by default."""
        return self.server.issuer

    def mint_token(self, identity: str, issuer: str | None = None, **kwargs: Any) -> str:
        """Mint an identity token; see `FakeSigstore.mint_token` for the options.

        A token claiming another ``issuer`` (still signed by the fake's key) is accepted by
        the fake Fulcio, which certifies that issuer: this simulates CI issuers offline.
        """
        return self.server.mint_token(identity, issuer, **kwargs)


class _Shared:
    """One server per session, however many test modules import the fixture.

    pytest registers an imported fixture once per importing module, so each module would get its
    own "session" instance; the count below makes them all share one server, stopped when the
    last user finalizes (at session end).
    """

    session: FakeSigstoreSession | None = None
    users = 0
    saved_env: dict[str, str | None] = {}


def _acquire(tmp_path_factory: pytest.TempPathFactory) -> FakeSigstoreSession:
    if _Shared.session is None:
        _Shared.saved_env = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
        for name, value in _Shared.saved_env.items():  # never proxy loopback traffic
            os.environ[name] = f"{value},{_LOOPBACK}" if value else _LOOPBACK
        started = time.perf_counter()
        server = FakeSigstore().start()
        try:
            path = server.trust_config(
                tmp_path_factory.mktemp("fakesigstore") / "trust_config.json"
            )
        except BaseException:
            server.stop()
            raise
        _Shared.session = FakeSigstoreSession(server, path, time.perf_counter() - started)
    _Shared.users += 1
    return _Shared.session


def _release() -> None:
    _Shared.users -= 1
    if _Shared.users or _Shared.session is None:
        return
    _Shared.session.server.stop()
    _Shared.session = None
    for name, value in _Shared.saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def fake_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSigstoreSession]:
    """Serve one fake Sigstore for the whole test session; stop it at session end."""
    session = _acquire(tmp_path_factory)
    try:
        yield session
    finally:
        _release()
