"""Shared test fixtures (constants and plain helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_CANDIDATES


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder; skips the test when it is absent."""
    for candidate in SHARED_CANDIDATES:
        if candidate.is_dir():
            return candidate
    pytest.skip(
        f"../shared is absent (looked in {SHARED_CANDIDATES[0]}); third-party fixtures live there"
    )


def _hypothesis_profiles() -> None:
    """CI runs Hypothesis derandomized (same examples every run): a red CI is a real regression,
    never a new random draw. Developers keep the random search (and its example database)."""
    import os

    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None, deadline=None)
    settings.register_profile("dev", deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


_hypothesis_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-goldens``: rewrite tests/golden/ from the current output; review the diff."""
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ instead of comparing with them",
    )
