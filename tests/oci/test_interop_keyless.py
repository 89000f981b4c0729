"""Keyless signing of an OCI model against the local Sigstore stand-in, and what ORAS sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakesigstore.fixture import FakeSigstoreSession, fake_sigstore  # noqa: F401
from helpers import run_cli
from mlchain.signing.sign import SigningMethod
from mlchain.sources.oci import fallback_tag, parse_oci_uri
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_sign import BUNDLE_ARTIFACT_TYPE, sign_oci
from oci.models import push_modelpack
from oci.registry import Registry
from signing_helpers import write_key

ALICE = "alice@example.test"


def test_keyless_sign_and_verify_by_manifest(
    registry: Registry,
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "keyless/pack", "v1", {"README.md": b"hello"})
    uri = f"oci://{registry.host}/keyless/pack@{pushed.digest}"
    token = fake_sigstore.mint_token(ALICE)
    signed = run_cli(
        "sign", uri, "--identity-token", token, "--trust-config", str(fake_sigstore.trust_config)
    )
    assert signed.exit_code == 0, signed.stderr
    assert token not in signed.stderr + signed.stdout
    common = ["--trust-config", str(fake_sigstore.trust_config), "--issuer", fake_sigstore.issuer]
    ok = run_cli("verify", uri, "--identity", ALICE, *common, "-f", "json")
    assert ok.exit_code == 0, ok.stderr
    document = json.loads(ok.stdout)
    assert document["identity"] == {"subject": ALICE, "issuer": fake_sigstore.issuer}
    wrong = run_cli("verify", uri, "--identity", "mallory@example.test", *common)
    assert wrong.exit_code == 1
    assert ALICE in wrong.stdout + wrong.stderr  # names who did sign


def test_oras_sees_the_model_and_the_signature_referrer(registry: Registry, tmp_path: Path) -> None:
    """ORAS (the Python SDK from PyPI) reads what mlchain pushes; the fallback tag is listed."""
    oras_client = pytest.importorskip("oras.client", reason="oras (PyPI) is in the test extra")
    keys = write_key(tmp_path, "k")
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "interop/pack", "v1", {"README.md": b"hello"})
    result = sign_oci(
        client,
        parse_oci_uri(f"oci://{registry.host}/interop/pack:v1"),
        SigningMethod.key(keys.private),
    )
    oras = oras_client.OrasClient(hostname=registry.host, insecure=True)
    manifest = oras.get_manifest(f"{registry.host}/interop/pack@{pushed.digest}")
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert fallback_tag(pushed.digest) in oras.get_tags(f"{registry.host}/interop/pack")
    referrer = oras.get_manifest(f"{registry.host}/interop/pack@{result.signature_digest}")
    assert referrer["artifactType"] == BUNDLE_ARTIFACT_TYPE
    assert referrer["subject"]["digest"] == pushed.digest
    pulled = oras.pull(
        target=f"{registry.host}/interop/pack@{result.signature_digest}",
        outdir=str(tmp_path / "out"),
    )
    (bundle_file,) = pulled
    assert json.loads(Path(bundle_file).read_text())["dsseEnvelope"]["payloadType"] == (
        "application/vnd.in-toto+json"
    )
