"""`mlchain verify oci://...@digest --policy P`: the folder gate on verified, pulled bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli
from mlchain.signing.sign import SigningMethod
from mlchain.sources.oci import parse_oci_uri
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_sign import sign_oci
from oci.helpers import fixture_files
from oci.models import push_modelpack
from oci.registry import Registry
from signing_helpers import write_key


def _policy(folder: Path, public: Path) -> Path:
    policy = folder / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\n"
        "kind: ModelPolicy\n"
        "metadata:\n  name: oci-key-signed\n"
        "spec:\n"
        "  authorities:\n"
        f"    - name: release-key\n      key:\n        path: {public}\n"
        "  scan:\n    failOn: medium\n"
    )
    return policy


@pytest.mark.slow
def test_gate_allows_a_signed_clean_model_and_denies_a_malicious_one(
    registry: Registry, tmp_path: Path
) -> None:
    keys = write_key(tmp_path, "release")
    policy = _policy(tmp_path, keys.public)
    client = RegistryClient(registry.host)
    method = SigningMethod.key(keys.private)
    clean = push_modelpack(
        client, "gate/clean", "v1", fixture_files(["safetensors/benign/f32.safetensors"])
    )
    sign_oci(client, parse_oci_uri(f"oci://{registry.host}/gate/clean:v1"), method)
    evil = push_modelpack(
        client, "gate/evil", "v1", fixture_files(["pickle/malicious/cprofile_run.pkl"])
    )
    sign_oci(client, parse_oci_uri(f"oci://{registry.host}/gate/evil:v1"), method)

    allowed = run_cli(
        "verify",
        f"oci://{registry.host}/gate/clean@{clean.digest}",
        "--policy",
        str(policy),
        "-f",
        "json",
    )
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    assert json.loads(allowed.stdout)["allowed"] is True

    denied = run_cli(
        "verify", f"oci://{registry.host}/gate/evil@{evil.digest}", "--policy", str(policy)
    )
    assert denied.exit_code == 1
    assert "DENIED" in denied.stdout


def test_gate_requires_a_digest_and_a_signature(registry: Registry, tmp_path: Path) -> None:
    keys = write_key(tmp_path, "release")
    policy = _policy(tmp_path, keys.public)
    client = RegistryClient(registry.host)
    unsigned = push_modelpack(client, "gate/unsigned", "v1", {"README.md": b"hello"})
    by_tag = run_cli("verify", f"oci://{registry.host}/gate/unsigned:v1", "--policy", str(policy))
    assert by_tag.exit_code == 2
    assert "not pinned to a digest" in by_tag.stderr
    no_sig = run_cli(
        "verify", f"oci://{registry.host}/gate/unsigned@{unsigned.digest}", "--policy", str(policy)
    )
    assert no_sig.exit_code == 1
    assert "DENIED" in no_sig.stdout


def test_gate_output_names_the_reference_not_a_temporary_folder(
    registry: Registry, tmp_path: Path
) -> None:
    keys = write_key(tmp_path, "release")
    policy = _policy(tmp_path, keys.public)
    client = RegistryClient(registry.host)
    unsigned = push_modelpack(client, "gate/label", "v1", {"README.md": b"hello"})
    uri = f"oci://{registry.host}/gate/label@{unsigned.digest}"
    denied = run_cli("verify", uri, "--policy", str(policy))
    assert denied.exit_code == 1
    assert f"DENIED by policy oci-key-signed: {uri}" in denied.stdout
    assert "no bundle among the referrers (tag-schema)" in denied.stdout
    assert "mlchain-oci-gate" not in denied.stdout + denied.stderr


def test_verify_without_an_expected_signer_is_a_usage_error(registry: Registry) -> None:
    result = run_cli("verify", f"oci://{registry.host}/gate/label:v1")
    assert result.exit_code == 2
    assert "Say who must have signed" in result.stderr


def test_copy_to_publishes_only_an_allowed_model(registry: Registry, tmp_path: Path) -> None:
    keys = write_key(tmp_path, "release")
    policy = _policy(tmp_path, keys.public)
    client = RegistryClient(registry.host)
    method = SigningMethod.key(keys.private)
    files = fixture_files(["safetensors/benign/f32.safetensors"])
    clean = push_modelpack(client, "gate/publish", "v1", files)
    sign_oci(client, parse_oci_uri(f"oci://{registry.host}/gate/publish:v1"), method)
    evil = push_modelpack(
        client, "gate/nopublish", "v1", fixture_files(["pickle/malicious/cprofile_run.pkl"])
    )
    sign_oci(client, parse_oci_uri(f"oci://{registry.host}/gate/nopublish:v1"), method)

    served = tmp_path / "mnt-models"
    served.mkdir()
    allowed = run_cli(
        "verify",
        f"oci://{registry.host}/gate/publish@{clean.digest}",
        "--policy",
        str(policy),
        "--copy-to",
        str(served),
    )
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    assert {p.name: p.read_bytes() for p in served.iterdir()} == files
    assert all(p.stat().st_mode & 0o777 == 0o444 for p in served.iterdir())

    again = run_cli(
        "verify",
        f"oci://{registry.host}/gate/publish@{clean.digest}",
        "--policy",
        str(policy),
        "--copy-to",
        str(served),
    )
    assert again.exit_code == 2
    assert "not empty" in again.stderr

    refused = tmp_path / "refused"
    refused.mkdir()
    denied = run_cli(
        "verify",
        f"oci://{registry.host}/gate/nopublish@{evil.digest}",
        "--policy",
        str(policy),
        "--copy-to",
        str(refused),
    )
    assert denied.exit_code == 1
    assert list(refused.iterdir()) == []


def test_copy_to_needs_a_policy(tmp_path: Path) -> None:
    result = run_cli(
        "verify", str(tmp_path), "--copy-to", str(tmp_path), "--key", str(tmp_path / "k")
    )
    assert result.exit_code == 2
    assert "--copy-to works with --policy" in result.stderr


def test_copy_to_a_new_path_appears_complete(registry: Registry, tmp_path: Path) -> None:
    keys = write_key(tmp_path, "release")
    policy = _policy(tmp_path, keys.public)
    client = RegistryClient(registry.host)
    files = fixture_files(["safetensors/benign/f32.safetensors"])
    pushed = push_modelpack(client, "gate/newpath", "v1", files)
    method = SigningMethod.key(keys.private)
    sign_oci(client, parse_oci_uri(f"oci://{registry.host}/gate/newpath:v1"), method)
    dest = tmp_path / "serving" / "llama-v1"
    dest.parent.mkdir()
    uri = f"oci://{registry.host}/gate/newpath@{pushed.digest}"
    result = run_cli("verify", uri, "--policy", str(policy), "--copy-to", str(dest))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
    assert [p.name for p in dest.parent.iterdir()] == ["llama-v1"]  # no staging left behind


def test_attestations_stored_as_referrers_feed_the_gate(registry: Registry, tmp_path: Path) -> None:
    """Provenance made on the files, attached with `sign --attach`, found by the OCI gate."""
    keys = write_key(tmp_path, "release")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\n"
        "kind: ModelPolicy\n"
        "metadata:\n  name: needs-provenance\n"
        "spec:\n"
        "  authorities:\n"
        f"    - name: release-key\n      key:\n        path: {keys.public}\n"
        "  attestations:\n"
        "    - name: slsa\n      type: provenance\n"
        "      predicateType: https://slsa.dev/provenance/v1\n"
        "      authorities: [release-key]\n"
    )
    files = fixture_files(["safetensors/benign/f32.safetensors"])
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "gate/attested", "v1", files)
    uri = f"oci://{registry.host}/gate/attested@{pushed.digest}"

    unsigned = run_cli("sign", uri, "--key", str(keys.private))
    assert unsigned.exit_code == 0, unsigned.stderr
    denied = run_cli("verify", uri, "--policy", str(policy))
    assert denied.exit_code == 1, denied.stdout + denied.stderr
    assert "[pass] signature" in denied.stdout
    assert "[FAIL] attestation:slsa" in denied.stdout  # no provenance yet

    folder = tmp_path / "model"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    provenance = tmp_path / "provenance.json"
    made = run_cli(
        "provenance", str(folder), "--sign", "--key", str(keys.private), "-o", str(provenance)
    )
    assert made.exit_code == 0, made.stderr
    attached = run_cli("sign", uri, "--key", str(keys.private), "--attach", str(provenance))
    assert attached.exit_code == 0, attached.stderr
    assert "https://slsa.dev/provenance/v1" in attached.stderr
    allowed = run_cli("verify", uri, "--policy", str(policy), "-f", "json")
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    document = json.loads(allowed.stdout)
    assert any(e["verified"] for e in document["verification"]["attestations"])


def test_attach_refuses_a_model_signature_and_local_models(tmp_path: Path) -> None:
    result = run_cli("sign", str(tmp_path), "--key", str(tmp_path / "k"), "--attach", "x.json")
    assert result.exit_code == 2
    assert "--attach works with oci:// models" in result.stderr
