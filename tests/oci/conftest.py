"""Session-wide registries for the OCI tests (started once, stopped at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oci.registry import Registry, registry_binary, start_registry

AUTH_USERS = {"mlchain": "s3cret-for-tests"}


def _skip_reason() -> str:
    return (
        "docker-registry (Debian package, the CNCF distribution registry) is not installed and "
        "could not be installed: `nox -s tests` installs it with apt-get when run as root"
    )


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry on 127.0.0.1."""
    if registry_binary() is None:
        pytest.skip(_skip_reason())
    running = start_registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry on 127.0.0.1 that requires htpasswd (Basic) credentials."""
    if registry_binary() is None:
        pytest.skip(_skip_reason())
    running = start_registry(tmp_path_factory.mktemp("auth-registry"), users=AUTH_USERS)
    yield running
    running.stop()
