"""`mlchain verify MODEL --policy P`: the deploy gate, end to end from a signed model folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakesigstore.fixture import fake_sigstore  # noqa: F401
from helpers import FIXTURES, run_cli
from signing_helpers import write_key

IDENTITY = "release@example.org"


def _keys(tmp_path: Path, name: str = "release") -> tuple[Path, Path]:
    pair = write_key(tmp_path, name)
    return pair.private, pair.public


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "tiny"
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", model)
    return model


def _policy(tmp_path: Path, authority: str, extra: str = "") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\nspec:\n"
        f"  authorities:\n    - name: release\n{authority}"
        "  attestations:\n    - type: provenance\n    - type: scan\n"
        "  scan:\n    failOn: low\n" + extra
    )
    return path


def _key_authority(public: Path) -> str:
    return f"      key:\n        path: {public}\n"


def _publish(model: Path, *sign: str, scan_exit: int = 0) -> None:
    """What a release pipeline does: sign, then provenance and scan attestations beside it."""
    atts = model.parent / f"{model.name}.mlchain"
    atts.mkdir(exist_ok=True)
    assert run_cli("sign", str(model), *sign).exit_code == 0
    made = run_cli("provenance", str(model), "--sign", *sign, "-o", str(atts / "provenance.json"))
    assert made.exit_code == 0, made.stderr
    made = run_cli("attest", str(model), "--sign", *sign, "-o", str(atts / "scan.json"))
    assert made.exit_code == scan_exit, made.stderr  # a failed verdict is still attested


def _gate(model: Path, policy: Path, *extra: str) -> tuple[int, dict]:
    result = run_cli("verify", str(model), "--policy", str(policy), "-f", "json", *extra)
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def test_key_signed_model_is_allowed(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    model = _model(tmp_path)
    _publish(model, "--key", str(private))
    code, report = _gate(model, _policy(tmp_path, _key_authority(public)))
    assert code == 0, report
    assert report["allowed"] is True
    assert report["verification"]["authority"] == "release"
    assert {a["predicate_type"] for a in report["verification"]["attestations"]} == {
        "https://slsa.dev/provenance/v1",
        "https://mlchain.dev/attestations/scan/v1",
    }
    assert all(r["passed"] for r in report["results"])


def test_tampered_file_is_denied(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    model = _model(tmp_path)
    _publish(model, "--key", str(private))
    (model / "config.json").write_text('{"model_type": "llama", "tampered": true}')
    code, report = _gate(model, _policy(tmp_path, _key_authority(public)))
    assert code == 1
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert "signature" in failed
    assert any("config.json" in e for e in report["verification"]["errors"])


def test_wrong_key_is_denied(tmp_path: Path) -> None:
    private, _ = _keys(tmp_path)
    _, other_public = _keys(tmp_path, "other")
    model = _model(tmp_path)
    _publish(model, "--key", str(private))
    code, report = _gate(model, _policy(tmp_path, _key_authority(other_public)))
    assert code == 1
    assert report["allowed"] is False


def test_missing_attestation_is_denied(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    model = _model(tmp_path)
    _publish(model, "--key", str(private))
    (model.parent / "tiny.mlchain" / "provenance.json").unlink()
    code, report = _gate(model, _policy(tmp_path, _key_authority(public)))
    assert code == 1
    (failure,) = [r for r in report["results"] if not r["passed"]]
    assert failure["name"].startswith("attestation:")
    assert "missing" in failure["message"]


def test_signed_but_malicious_model_is_denied_by_the_rescan(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    model = _model(tmp_path)
    shutil.copy(FIXTURES / "pickle" / "malicious" / "os_system_reduce.pkl", model / "extra.pkl")
    _publish(model, "--key", str(private), scan_exit=1)
    code, report = _gate(model, _policy(tmp_path, _key_authority(public)))
    assert code == 1
    assert report["scan_summary"]["findings"]["critical"] >= 1
    assert any(r["kind"] == "scan" and not r["passed"] for r in report["results"])


def test_unsigned_model_is_denied_not_crashed(tmp_path: Path) -> None:
    _, public = _keys(tmp_path)
    model = _model(tmp_path)
    code, report = _gate(model, _policy(tmp_path, _key_authority(public)))
    assert code == 1
    assert "no signature found" in report["verification"]["errors"][0]


def test_malformed_policy_is_exit_2(tmp_path: Path) -> None:
    model = _model(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nspec: {}\n")
    result = run_cli("verify", str(model), "--policy", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml" in result.stderr


def test_policy_and_explicit_signer_are_alternatives(tmp_path: Path) -> None:
    _, public = _keys(tmp_path)
    model = _model(tmp_path)
    policy = _policy(tmp_path, _key_authority(public))
    result = run_cli("verify", str(model), "--policy", str(policy), "--key", str(public))
    assert result.exit_code == 2


def test_keyless_model_is_allowed_and_wrong_identity_denied(
    tmp_path: Path,
    fake_sigstore,  # noqa: F811
) -> None:
    model = _model(tmp_path)
    token = fake_sigstore.mint_token(IDENTITY)
    trust = str(fake_sigstore.trust_config)
    _publish(model, "--identity-token", token, "--trust-config", trust)
    keyless = (
        f"      keyless:\n        issuer: {fake_sigstore.issuer}\n        subject: {IDENTITY}\n"
    )
    code, report = _gate(model, _policy(tmp_path, keyless), "--trust-config", trust)
    assert code == 0, report
    assert report["verification"]["identity"]["subject"] == IDENTITY
    wrong = keyless.replace(IDENTITY, "someone@example.org")
    code, report = _gate(model, _policy(tmp_path, wrong), "--trust-config", trust)
    assert code == 1
    assert report["allowed"] is False


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (FIXTURES.parent / "docs" / "policies").glob("*.yaml"))
)
def test_shipped_example_policies_load(name: str) -> None:
    from mlchain.policy import load_policy

    load_policy(FIXTURES.parent / "docs" / "policies" / name)


def test_policy_may_accept_a_signed_scan_attestation_instead_of_rescanning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlchain.scan

    private, public = _keys(tmp_path)
    model = _model(tmp_path)
    _publish(model, "--key", str(private))
    policy = _policy(tmp_path, _key_authority(public), "    acceptAttestation: true\n")

    def no_rescan(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gate re-scanned although the policy accepts the attestation")

    monkeypatch.setattr(mlchain.scan, "scan_paths", no_rescan)
    code, report = _gate(model, policy)
    assert code == 0, report
    assert report["scan_source"] == "attestation"
    (model.parent / "tiny.mlchain" / "scan.json").unlink()
    monkeypatch.undo()
    code, report = _gate(model, policy)
    assert report["scan_source"] == "rescan"
    assert code == 1  # the policy still requires the scan attestation itself
