"""Hostile layers and registries: each technique gets its own test (mlchain issue #17)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.errors import UsageError
from mlchain.scan.base import Limits, ScanOptions
from mlchain.sources.oci import OCI_MANIFEST, RegistryError, parse_oci_uri
from mlchain.sources.oci_auth import AuthLookup, Credentials
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_model import MODELPACK_ARTIFACT, MODELPACK_CONFIG, scan_oci
from oci.models import push_manifest, push_modelcar, push_modelpack, tar_bytes
from oci.proxy import RegistryProxy
from oci.registry import Registry


def _scan(registry_host: str, path: str, options: ScanOptions | None = None):  # type: ignore[no-untyped-def]
    client = RegistryClient(registry_host)
    return scan_oci(
        client, parse_oci_uri(f"oci://{registry_host}/{path}"), options or ScanOptions(jobs=1)
    )


def _rules(report) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(str(f.location.path), f.rule_id) for f in report.findings}


def _layer_manifest(client: RegistryClient, repo: str, media_type: str, blob: bytes) -> dict:
    config = json.dumps({"descriptor": {"name": repo}}).encode()
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MODELPACK_ARTIFACT,
        "config": {
            "mediaType": MODELPACK_CONFIG,
            "digest": client.push_blob(repo, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": media_type, "digest": client.push_blob(repo, blob), "size": len(blob)}
        ],
    }


def test_layer_tar_path_traversal_is_a_finding_not_a_write(
    registry: Registry, tmp_path: Path
) -> None:
    """Zip-slip in a layer (https://security.snyk.io/research/zip-slip-vulnerability)."""
    client = RegistryClient(registry.host)
    blob = gzip.compress(tar_bytes({"../../../tmp/owned": b"x", "/etc/cron.d/job": b"y"}))
    manifest = _layer_manifest(
        client, "attack/slip", "application/vnd.cncf.model.code.v1.tar+gzip", blob
    )
    push_manifest(client, "attack/slip", "v1", manifest)
    report, pulled = _scan(registry.host, "attack/slip:v1")
    escapes = [f for f in report.findings if f.rule_id == "archive-suspicious-member"]
    assert {f.evidence for f in escapes} == {"../../../tmp/owned", "/etc/cron.d/job"}
    assert pulled.files == {}


def test_modelcar_whiteout_deleting_a_model_file_is_a_finding(registry: Registry) -> None:
    """An upper layer whiteout (`.wh.NAME`) removes a file a reviewer saw in a lower layer."""
    client = RegistryClient(registry.host)
    push_modelcar(
        client,
        "attack/whiteout",
        "v1",
        [{"models/safety_checker.bin": b"checker"}, {"models/.wh.safety_checker.bin": b""}],
    )
    report, _ = _scan(registry.host, "attack/whiteout:v1")
    messages = [f.message for f in report.findings if f.rule_id == "archive-suspicious-member"]
    assert any("whiteout" in m for m in messages)


def test_file_and_folder_with_one_name_is_a_finding(registry: Registry) -> None:
    """`models/a` as a folder in one layer and a file in the next (either order) never crashes."""
    client = RegistryClient(registry.host)
    push_modelcar(
        client,
        "attack/clash",
        "v1",
        [{"models/a/b.bin": b"1"}, {"models/a": b"2"}],
    )
    report, pulled = _scan(registry.host, "attack/clash:v1")
    assert ("a", "archive-suspicious-member") in _rules(report)
    assert set(pulled.files) == {"a/b.bin"}
    push_modelcar(client, "attack/clash2", "v1", [{"models/a": b"2"}, {"models/a/b.bin": b"1"}])
    report, pulled = _scan(registry.host, "attack/clash2:v1")
    assert ("a/b.bin", "archive-suspicious-member") in _rules(report)
    assert set(pulled.files) == {"a"}


def test_zstd_layer_is_reported_unsupported_not_passed(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    blob = b"\x28\xb5\x2f\xfd" + b"\x00" * 64  # zstd magic: cannot be opened with the stdlib
    manifest = _layer_manifest(
        client, "attack/zstd", "application/vnd.cncf.model.weight.v1.tar+zstd", blob
    )
    push_manifest(client, "attack/zstd", "v1", manifest)
    report, _ = _scan(registry.host, "attack/zstd:v1")
    assert any(f.rule_id == "archive-unsupported" for f in report.findings)


def test_gzip_layer_bomb_hits_the_decompression_limit(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    blob = gzip.compress(tar_bytes({"weights.bin": bytes(4 * 1024 * 1024)}))
    manifest = _layer_manifest(
        client, "attack/bomb", "application/vnd.cncf.model.weight.v1.tar+gzip", blob
    )
    push_manifest(client, "attack/bomb", "v1", manifest)
    options = ScanOptions(jobs=1, limits=Limits(max_decompressed_bytes=1024 * 1024))
    report, pulled = _scan(registry.host, "attack/bomb:v1", options)
    assert any(f.rule_id == "archive-bomb" for f in report.findings)
    assert pulled.files == {}


def test_layer_larger_than_the_download_limit_is_refused(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    push_modelpack(client, "attack/big", "v1", {"model.pkl": b"\x80\x04K\x01." * 100})
    with pytest.raises(RegistryError, match="more than the limit"):
        scan_oci(
            client,
            parse_oci_uri(f"oci://{registry.host}/attack/big:v1"),
            ScanOptions(jobs=1),
            max_blob=10,
        )


def test_altered_manifest_for_a_digest_reference_is_refused(registry: Registry) -> None:
    """The registry (or a proxy) serves other bytes under a manifest digest: never used."""
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "attack/manifest", "v1", {"README.md": b"hello"})
    hexd = pushed.digest.split(":")[1]
    stored = next(registry.root.glob(f"data/docker/registry/v2/blobs/sha256/*/{hexd}/data"))
    original = stored.read_bytes()
    stored.write_bytes(original.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    try:
        with pytest.raises(RegistryError, match="altered"):
            client.resolve(parse_oci_uri(f"oci://{registry.host}/attack/manifest@{pushed.digest}"))
    finally:
        stored.write_bytes(original)


@pytest.fixture
def storage_redirect(registry: Registry) -> Iterator[tuple[RegistryProxy, RegistryProxy]]:
    """A Bearer-protected front that redirects blob downloads to "storage" on another port."""
    with (
        RegistryProxy(registry.host) as storage,
        RegistryProxy(
            registry.host, bearer_login=("robot", "pw"), redirect_blobs_to=storage.host
        ) as front,
    ):
        yield front, storage


def test_credentials_are_not_forwarded_when_a_blob_redirects_to_storage(
    storage_redirect: tuple[RegistryProxy, RegistryProxy],
) -> None:
    front, storage = storage_redirect
    client = RegistryClient(front.host, auth=AuthLookup(Credentials("robot", "pw")))
    push_modelpack(client, "attack/redirect", "v1", {"model.pkl": b"\x80\x04K\x01."})
    _, pulled = scan_oci(
        client, parse_oci_uri(f"oci://{front.host}/attack/redirect:v1"), ScanOptions(jobs=1)
    )
    assert set(pulled.files) == {"model.pkl"}
    assert storage.requests, "the blob must have been fetched from storage"
    assert all(auth is None for auth in storage.authorizations)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_reference_parser_never_fails_unexpectedly(text: str) -> None:
    try:
        ref = parse_oci_uri("oci://" + text)
    except UsageError:
        return
    assert ref is not None
    assert ref.uri.startswith("oci://")
    assert parse_oci_uri(ref.uri) == ref


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=10),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_layout_reader_refuses_odd_manifests_cleanly(data: dict) -> None:
    from mlchain.sources.oci import Manifest
    from mlchain.sources.oci_model import describe_layout
    from mlchain.sources.oci_sign import model_files

    manifest = Manifest("sha256:" + "0" * 64, OCI_MANIFEST, b"{}", data)
    for reader in (describe_layout, model_files):
        try:
            reader(manifest, "oci://r.test/m")
        except (UsageError, RegistryError):
            pass


def test_registry_without_ranges_falls_back_to_a_checked_download(registry: Registry) -> None:
    from oci.helpers import fixture_files

    files = fixture_files(["safetensors/benign/f32.safetensors"])
    with RegistryProxy(registry.host, ignore_ranges=True) as proxy:
        client = RegistryClient(proxy.host)
        push_modelpack(client, "attack/noranges", "v1", files)
        report, pulled = scan_oci(
            client, parse_oci_uri(f"oci://{proxy.host}/attack/noranges:v1"), ScanOptions(jobs=1)
        )
    assert pulled.header_only == []
    assert set(pulled.files) == set(files)
    assert not report.findings


def test_truncated_tar_member_is_a_finding(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    whole = tar_bytes({"weights.bin": b"w" * 4096})
    blob = whole[: 512 + 1000]  # header + part of the data
    manifest = _layer_manifest(
        client, "attack/trunc", "application/vnd.cncf.model.weight.v1.tar", blob
    )
    push_manifest(client, "attack/trunc", "v1", manifest)
    report, _ = _scan(registry.host, "attack/trunc:v1")
    assert ("weights.bin", "archive-unsupported") in _rules(report)


def test_token_realm_off_loopback_over_http_gets_no_credentials(registry: Registry) -> None:
    """A registry naming a plain-HTTP token service elsewhere would expose the login."""
    realm = "http://tokens.example.invalid/token"
    with RegistryProxy(registry.host, bearer_login=("robot", "pw"), token_realm=realm) as proxy:
        client = RegistryClient(proxy.host, auth=AuthLookup(Credentials("robot", "pw")))
        with pytest.raises(RegistryError, match="not HTTPS"):
            client.get_manifest("any/repo", "v1")
        assert proxy.token_requests == []


def test_blob_redirect_to_plain_http_off_loopback_is_refused(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    push_modelpack(client, "attack/downgrade", "v1", {"model.pkl": b"\x80\x04K\x01."})
    with RegistryProxy(registry.host, redirect_blobs_to="http://storage.example.invalid") as proxy:
        with pytest.raises(RegistryError, match="plain HTTP"):
            _scan(proxy.host, "attack/downgrade:v1")
