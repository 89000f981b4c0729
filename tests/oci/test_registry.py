"""The test registry itself: it starts, answers the v2 API and enforces htpasswd."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

import pytest

from oci.conftest import AUTH_USERS
from oci.registry import Registry


def test_registry_answers_the_v2_api(registry: Registry) -> None:
    with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_auth_registry_refuses_anonymous_and_accepts_htpasswd(auth_registry: Registry) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://{auth_registry.host}/v2/", timeout=5)
    assert caught.value.code == 401
    assert "Basic" in caught.value.headers["WWW-Authenticate"]
    ((user, password),) = AUTH_USERS.items()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://{auth_registry.host}/v2/", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200
