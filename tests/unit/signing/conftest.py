"""Fixtures for the signing tests."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from signing_helpers import KeyPair, make_model, write_key

_REPO = Path(__file__).resolve().parents[3]
_FIXTURE = Path("fixtures") / "oms-v1.1.0-sigstore"


@pytest.fixture
def public_good_fixture() -> Path:
    """The real public-good keyless OMS fixture in ../shared (from main or from a worktree)."""
    for shared in (_REPO.parent / "shared", _REPO.parent.parent / "shared"):
        if (shared / _FIXTURE / "model" / "model.sig").is_file():
            return shared / _FIXTURE
    pytest.skip("../shared/fixtures/oms-v1.1.0-sigstore is absent (third-party fixture)")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to open a non-loopback connection."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"test tried to reach {address!r}: tests must stay offline")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return write_key(tmp_path)
