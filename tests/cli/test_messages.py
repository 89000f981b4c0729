"""Messages that say what happened and what to do (issue #18 item 8; UX audit 2.3, 2.5, 3.6, 3.7).

Each case asserts the message and the documented exit code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from helpers import FIXTURES, run_cli
from signing_helpers import write_key, write_pem_pair


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "llama"
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", model)
    return model


def _write_other_key(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    pair = write_pem_pair(key, tmp_path / f"{kind}.pem", tmp_path / f"{kind}.pub")
    return pair.private, pair.public


def test_several_policy_errors_print_on_separate_lines(tmp_path: Path) -> None:
    """A literal `\\n` joined the errors of one policy file (UX audit 3.6)."""
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: x\nspec:\n"
        "  validatons: []\n  scan:\n    failOn: nope\n"
    )
    result = run_cli("policy", "check", "--policy", str(policy))
    assert result.exit_code == 2
    assert "\\n" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert any("bad.yaml:6: unknown field 'validatons'" in line for line in lines)
    assert any("bad.yaml:8: spec.scan.failOn must be one of" in line for line in lines)
    assert lines[-1].strip().startswith("Fix the policy file")


@pytest.mark.parametrize(("kind", "name"), [("rsa", "RSA"), ("ed25519", "Ed25519")])
def test_verify_with_a_non_ec_public_key_says_which_keys_work(
    tmp_path: Path, kind: str, name: str
) -> None:
    """`'...RSA' object has no attribute 'curve'` leaked from the library (UX audit 3.7)."""
    model = _model(tmp_path)
    pair = write_key(tmp_path, "release")
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    _, public = _write_other_key(tmp_path, kind)
    result = run_cli("verify", str(model), "--key", str(public))
    assert result.exit_code == 2
    assert f"is an {name} public key" in result.stderr
    assert "EC P-256, P-384 or P-521" in result.stderr
    assert "attribute" not in result.stderr


def test_verify_with_the_private_key_asks_for_the_public_one(tmp_path: Path) -> None:
    model = _model(tmp_path)
    pair = write_key(tmp_path, "release")
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    result = run_cli("verify", str(model), "--key", str(pair.private))
    assert result.exit_code == 2
    assert "is a private key; verify --key needs the public key" in result.stderr


@pytest.mark.parametrize(("kind", "name"), [("rsa", "RSA"), ("ed25519", "Ed25519")])
def test_sign_with_a_non_ec_private_key_says_which_keys_work(
    tmp_path: Path, kind: str, name: str
) -> None:
    model = _model(tmp_path)
    private, _ = _write_other_key(tmp_path, kind)
    result = run_cli("sign", str(model), "--key", str(private))
    assert result.exit_code == 2
    assert f"is an {name} private key" in result.stderr
    assert "mlchain keygen" in result.stderr
    assert "identity token" not in result.stderr
    assert not (model / "model.sig").exists()


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_sign_with_a_public_key_asks_for_the_private_one(tmp_path: Path, kind: str) -> None:
    """A cryptography-library string "Are you sure this is a private key?" (UX audit 2.3)."""
    model = _model(tmp_path)
    public = write_key(tmp_path).public if kind == "ec" else _write_other_key(tmp_path, kind)[1]
    result = run_cli("sign", str(model), "--key", str(public))
    assert result.exit_code == 2
    assert "is a public key; signing needs the private key" in result.stderr
    assert "Are you sure" not in result.stderr


def test_wrong_password_has_no_identity_token_tail(tmp_path: Path) -> None:
    """Key errors ended with "Check the signing key or identity token and the trust
    configuration" (UX audit 2.3): the key and its password are what to check."""
    model = _model(tmp_path)
    pair = write_key(tmp_path, password=b"right")
    result = run_cli(
        "sign", str(model), "--key", str(pair.private), env={"MLCHAIN_KEY_PASSWORD": "wrong"}
    )
    assert result.exit_code == 3
    assert "wrong password?" in result.stderr
    assert "MLCHAIN_KEY_PASSWORD" in result.stderr
    assert "identity token" not in result.stderr
    assert "trust configuration" not in result.stderr


def test_signature_into_a_missing_folder_fails_before_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--signature missing/dir/model.sig` failed only after hashing the model (UX audit 2.3)."""
    import mlchain.signing.sign as signing

    model = _model(tmp_path)
    pair = write_key(tmp_path)

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was hashed before the destination was checked")

    monkeypatch.setattr(signing, "sign_model", no_hashing)
    target = tmp_path / "missing" / "dir" / "model.sig"
    result = run_cli("sign", str(model), "--key", str(pair.private), "--signature", str(target))
    assert result.exit_code == 2
    assert "the folder" in result.stderr
    assert "does not exist" in result.stderr
    assert "mkdir -p" in result.stderr
    assert not target.parent.exists()


def test_signature_path_that_is_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    result = run_cli("sign", str(model), "--key", str(pair.private), "--signature", str(tmp_path))
    assert result.exit_code == 2
    assert "is a folder; give the file to write" in result.stderr


def _key_policy(tmp_path: Path, public: Path) -> Path:
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\nspec:\n"
        f"  authorities:\n    - name: release\n      key:\n        path: {public}\n"
        "  attestations:\n    - type: provenance\n"
    )
    return policy


def test_unreadable_attestation_is_not_called_missing(tmp_path: Path) -> None:
    """A bundle that could not be read was reported as a missing attestation (UX audit 2.5)."""
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    beside = tmp_path / "llama.mlchain"
    beside.mkdir()
    (beside / "provenance.json").write_text('{"not": "a bundle"')
    result = run_cli("verify", str(model), "--policy", str(_key_policy(tmp_path, pair.public)))
    assert result.exit_code == 1
    rule = next(line for line in result.stdout.splitlines() if "attestation:provenance" in line)
    assert "[FAIL]" in rule
    assert "not checked" in rule
    assert "is missing" not in rule
    assert "provenance.json" in rule


def test_attestation_that_fails_says_why(tmp_path: Path) -> None:
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    beside = tmp_path / "llama.mlchain"
    beside.mkdir()
    made = run_cli(
        "provenance",
        str(model),
        "--sign",
        "--key",
        str(pair.private),
        "-o",
        str(beside / "provenance.json"),
    )
    assert made.exit_code == 0, made.stderr
    (model / "README.md").write_text("changed\n")
    result = run_cli("verify", str(model), "--policy", str(_key_policy(tmp_path, pair.public)))
    assert result.exit_code == 1
    rule = next(line for line in result.stdout.splitlines() if "attestation:provenance" in line)
    assert "present but not verified (README.md: digest differs" in rule


def test_key_bundle_without_a_key_authority_says_what_to_add(tmp_path: Path) -> None:
    """`the bundle is signed with key, and no policy authority of that kind` (UX audit 2.2)."""
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    policy = tmp_path / "keyless.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: k\nspec:\n"
        "  authorities:\n    - name: ci\n      keyless:\n        issuer: https://issuer.example\n"
        "        subject: release@example.org\n"
    )
    result = run_cli("verify", str(model), "--policy", str(policy))
    assert result.exit_code == 1
    assert "signed with a key, and the policy has no key authority" in result.stdout
    assert "docs/policies/key-signed.yaml" in result.stdout


def test_failed_verification_ends_its_sentence(tmp_path: Path) -> None:
    """`extra.py: extra file (present but not signed) Do not deploy` (UX audit 2.5)."""
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    (model / "extra.py").write_text("print('hi')\n")
    result = run_cli("verify", str(model), "--key", str(pair.public))
    assert result.exit_code == 1
    assert "extra.py: extra file (present but not signed). Do not deploy" in result.stderr
    assert ".." not in result.stderr


def test_key_bundle_checked_for_an_identity_says_it_was_not_keyless(tmp_path: Path) -> None:
    """`made with a private key ... not with identity` (UX audit 2.5): every signature is made
    with a private key; what differs is keyless versus a key pair."""
    model = _model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    result = run_cli(
        "verify", str(model), "--identity", "a@example.org", "--issuer", "https://issuer.example"
    )
    assert result.exit_code == 1
    assert "signed with a private key, not keylessly" in result.stderr
    assert "verify with --key PUBLIC.pem" in result.stderr
