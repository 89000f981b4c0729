"""`mlchain scan oci://` from the CLI: digest on stderr, exit codes, Docker-config auth."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from helpers import run_cli, validate_report, validate_sarif
from mlchain.sources.oci import RegistryError, is_loopback, parse_oci_uri
from mlchain.sources.oci_auth import (
    AuthLookup,
    Credentials,
    docker_config_paths,
    lookup_credentials,
)
from mlchain.sources.oci_client import RegistryClient
from oci.conftest import AUTH_USERS
from oci.helpers import fixture_files
from oci.models import push_modelpack
from oci.registry import Registry


def _docker_config(folder: Path, host: str, user: str, password: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder


def test_cli_scan_prints_the_resolved_digest_and_fails_on_findings(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    pushed = push_modelpack(
        client, "cli/pack", "v1", fixture_files(["pickle/malicious/cprofile_run.pkl"])
    )
    result = run_cli("scan", "--format", "json", f"oci://{registry.host}/cli/pack:v1")
    assert result.exit_code == 1, result.stderr
    assert f"resolved oci://{registry.host}/cli/pack:v1 to {pushed.digest}" in result.stderr
    document = json.loads(result.stdout)
    assert document["metadata"]["oci_manifest_digest"] == pushed.digest
    validate_report(document)
    sarif = run_cli("scan", "-f", "sarif", f"oci://{registry.host}/cli/pack@{pushed.digest}")
    assert sarif.exit_code == 1, sarif.stderr
    validate_sarif(json.loads(sarif.stdout))
    pinned = run_cli(
        "scan", "--require-pinned", "--fail-on", "never", f"oci://{registry.host}/cli/pack:v1"
    )
    assert pinned.exit_code == 2
    assert "not pinned to a digest" in pinned.stderr
    by_digest = run_cli(
        "scan",
        "--require-pinned",
        "--fail-on",
        "never",
        f"oci://{registry.host}/cli/pack@{pushed.digest}",
    )
    assert by_digest.exit_code == 0, by_digest.stderr


def test_cli_scan_with_htpasswd_login_from_docker_config(
    auth_registry: Registry, tmp_path: Path
) -> None:
    ((user, password),) = AUTH_USERS.items()
    pusher = RegistryClient(
        auth_registry.host, auth=AuthLookup(Credentials(user, password, "test"))
    )
    push_modelpack(pusher, "private/pack", "v1", {"README.md": b"hello"})
    uri = f"oci://{auth_registry.host}/private/pack:v1"
    config = _docker_config(tmp_path / "docker", auth_registry.host, user, password)
    ok = run_cli("scan", uri, env={"DOCKER_CONFIG": str(config), "REGISTRY_AUTH_FILE": ""})
    assert ok.exit_code == 0, ok.stderr
    denied = run_cli(
        "scan", uri, env={"DOCKER_CONFIG": str(tmp_path / "none"), "REGISTRY_AUTH_FILE": ""}
    )
    assert denied.exit_code == 3
    assert "denied" in denied.stderr
    assert "docker login" in denied.stderr
    wrong = _docker_config(tmp_path / "wrong", auth_registry.host, user, "not-the-password")
    refused = run_cli("scan", uri, env={"DOCKER_CONFIG": str(wrong), "REGISTRY_AUTH_FILE": ""})
    assert refused.exit_code == 3
    for text in (ok.stderr, denied.stderr, refused.stderr, refused.stdout):
        assert password not in text
        assert "not-the-password" not in text


def test_registry_auth_file_wins_and_credential_helpers_are_named(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps({"auths": {"registry.test": {"auth": base64.b64encode(b"u:p").decode()}}})
    )
    paths = docker_config_paths(
        {"REGISTRY_AUTH_FILE": str(auth_file), "DOCKER_CONFIG": str(tmp_path)}, tmp_path
    )
    assert paths == [auth_file, tmp_path / "config.json"]
    found = lookup_credentials(paths, "registry.test")
    assert found.credentials == Credentials("u", "p", str(auth_file))
    assert "password" not in repr(found.credentials)
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "desktop"}))
    helper = lookup_credentials(paths, "other.test")
    assert helper.credentials is None
    assert helper.helper is not None
    assert "credsStore" in helper.helper


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.1", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("registry.test:5000", False),
        ("10.0.0.1:5000", False),
        ("localhost.evil.test", False),
    ],
)
def test_loopback_uses_plain_http_everything_else_https(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert RegistryClient(host).scheme == ("http" if loopback else "https")


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("oci://127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", None),
        ("oci://localhost/m", "localhost", "m", None, None),
        ("oci://r.test/m@sha256:" + "a" * 64, "r.test", "m", None, "sha256:" + "a" * 64),
        ("oci://r.test/m:t@sha256:" + "b" * 64, "r.test", "m", "t", "sha256:" + "b" * 64),
    ],
)
def test_references_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_oci_uri(text)
    assert ref is not None
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.reference == (digest or tag or "latest")


@pytest.mark.parametrize(
    "text",
    [
        "oci://",
        "oci://host",
        "oci://h/UPPER",
        "oci://h/m@sha256:xyz",
        "oci://h/m:bad tag",
        "oci://h/../m",
    ],
)
def test_bad_references_are_usage_errors(text: str) -> None:
    from mlchain.errors import UsageError

    with pytest.raises(UsageError):
        parse_oci_uri(text)


def test_unreachable_registry_is_a_network_error() -> None:
    from oci.registry import free_port

    client = RegistryClient(f"127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(RegistryError, match="Cannot reach"):
        client.get_manifest("m", "v1")


def test_bearer_token_flow_with_docker_config_login(registry: Registry, tmp_path: Path) -> None:
    """401 + `WWW-Authenticate: Bearer`: fetch a token with the Basic login, then retry."""
    from oci.proxy import RegistryProxy

    with RegistryProxy(registry.host, bearer_login=("robot", "tok3n-pass")) as proxy:
        pusher = RegistryClient(proxy.host, auth=AuthLookup(Credentials("robot", "tok3n-pass")))
        push_modelpack(pusher, "bearer/pack", "v1", {"README.md": b"hello"})
        assert proxy.token_requests, "the pusher must have gone through the token service"
        uri = f"oci://{proxy.host}/bearer/pack:v1"
        config = _docker_config(tmp_path / "docker", proxy.host, "robot", "tok3n-pass")
        ok = run_cli("scan", uri, env={"DOCKER_CONFIG": str(config), "REGISTRY_AUTH_FILE": ""})
        assert ok.exit_code == 0, ok.stderr
        wrong = _docker_config(tmp_path / "wrong", proxy.host, "robot", "nope")
        refused = run_cli("scan", uri, env={"DOCKER_CONFIG": str(wrong), "REGISTRY_AUTH_FILE": ""})
        assert refused.exit_code == 3
        assert "token service" in refused.stderr
        assert "nope" not in refused.stderr
        assert proxy.token not in refused.stderr + ok.stderr + ok.stdout


def test_cli_sign_and_verify_on_a_registry_with_htpasswd(
    auth_registry: Registry, tmp_path: Path
) -> None:
    from signing_helpers import write_key

    ((user, password),) = AUTH_USERS.items()
    keys = write_key(tmp_path, "k")
    pusher = RegistryClient(
        auth_registry.host, auth=AuthLookup(Credentials(user, password, "test"))
    )
    pushed = push_modelpack(pusher, "private/signed", "v1", {"README.md": b"hello"})
    uri = f"oci://{auth_registry.host}/private/signed@{pushed.digest}"
    env = {"DOCKER_CONFIG": "", "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    anonymous = run_cli("sign", uri, "--key", str(keys.private), env=env)
    assert anonymous.exit_code == 3
    assert "docker login" in anonymous.stderr
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    signed = run_cli("sign", uri, "--key", str(keys.private), env=env)
    assert signed.exit_code == 0, signed.stderr
    verified = run_cli("verify", uri, "--key", str(keys.public), env=env)
    assert verified.exit_code == 0, verified.stderr
    for result in (anonymous, signed, verified):
        assert password not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"auths": {"r.test": {"auth": "%%%"}}}', "not base64"),
        (
            '{"auths": {"r.test": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}',
            "no ':'",
        ),
    ],
)
def test_malformed_auth_files_are_usage_errors_without_echoing_them(
    tmp_path: Path, content: str, message: str
) -> None:
    from mlchain.errors import UsageError

    path = tmp_path / "auth.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as caught:
        lookup_credentials([path], "r.test")
    assert content not in caught.value.diagnostics()


def test_auth_entry_forms_and_special_files(tmp_path: Path) -> None:
    import os

    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"auths": {"https://r.test": {"username": "u", "password": "p"}}}))
    assert lookup_credentials([plain], "r.test").credentials == Credentials("u", "p", str(plain))
    helper = tmp_path / "helper.json"
    helper.write_text(json.dumps({"credHelpers": {"r.test": "secretservice"}}))
    found = lookup_credentials([helper], "r.test")
    assert found.credentials is None
    assert found.helper is not None
    assert "secretservice" in found.helper
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert lookup_credentials([fifo, plain], "r.test").credentials is not None  # never blocks
