"""Sign and verify models with keys and certificates (offline), through the core API."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mlchain.errors import InputError, OutputError, SigningError, UsageError
from mlchain.signing.bundle import BundleError
from mlchain.signing.manifest import SymlinkError, file_digests
from mlchain.signing.sign import SigningMethod, sign_model
from mlchain.signing.trust import TrustMaterialError
from mlchain.signing.verify import VerificationMethod, verify_model
from signing_helpers import KeyPair, write_key, write_pki

JSON_KEYS = {
    # additive in schema 1.x (mlchain issue #15): signed name/digest, unsigned files, trust facts
    "model_name",
    "model_digest",
    "unsigned",
    "authority",
    "chain_fingerprints",
    "trust_root",
    "schema_version",
    "verified",
    "model",
    "method",
    "identity",
    "key_fingerprint",
    "signed_at",
    "log_entry",
    "hash_algorithm",
    "shard_size",
    "files",
    "ignored",
    "errors",
}


def _sign(model: Path, keys: KeyPair, **kwargs: object) -> None:
    sign_model(model, SigningMethod.key(keys.private), **kwargs)  # type: ignore[arg-type]


def _verify(model: Path, keys: KeyPair, **kwargs: object):  # type: ignore[no-untyped-def]
    return verify_model(model, VerificationMethod.key(keys.public), **kwargs)  # type: ignore[arg-type]


def test_key_round_trip_folder(model: Path, keys: KeyPair) -> None:
    before = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    result = sign_model(model, SigningMethod.key(keys.private))
    assert result.signature == model / "model.sig"
    assert {p: p.read_bytes() for p in before} == before  # model files untouched
    assert set(result.files) == {
        "weights-1.bin",
        "weights-2.bin",
        "config.json",
        "tokenizer/vocab.txt",
    }
    assert "model.sig" in result.ignored

    verification = _verify(model, keys)
    assert verification.verified, verification.errors
    data = verification.to_json()
    assert set(data) == JSON_KEYS
    assert data["schema_version"] == "1.0"
    assert data["method"] == "key"
    assert data["identity"] is None
    assert data["log_entry"] is None
    assert data["signed_at"] is None
    assert data["files"] == file_digests(model, ignore=[Path("model.sig")])
    der = serialization.load_pem_public_key(keys.public.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert data["key_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert data["hash_algorithm"] == "sha256"
    assert data["errors"] == []


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: (m / "weights-1.bin").write_bytes(b"evil"), "weights-1.bin: changed"),
        (lambda m: (m / "tokenizer" / "vocab.txt").unlink(), "tokenizer/vocab.txt: missing"),
        (lambda m: (m / "payload.pkl").write_bytes(b"x"), "payload.pkl: extra file"),
    ],
    ids=["modified", "deleted", "added"],
)
def test_tampering_names_the_file(model: Path, keys: KeyPair, tamper, message: str) -> None:  # type: ignore[no-untyped-def]
    _sign(model, keys)
    tamper(model)
    result = _verify(model, keys)
    assert not result.verified
    assert len(result.errors) == 1
    assert result.errors[0].startswith(message)
    assert result.to_json()["verified"] is False


def test_wrong_key_is_rejected(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    _sign(model, keys)
    other = write_key(tmp_path, "other")
    result = _verify(model, other)
    assert not result.verified
    assert "different key" in result.errors[0]


def test_payload_swapped_in_bundle_fails_signature(model: Path, keys: KeyPair) -> None:
    _sign(model, keys)
    bundle_path = model / "model.sig"
    bundle = json.loads(bundle_path.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "00" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle_path.write_text(json.dumps(bundle))
    result = _verify(model, keys)
    assert not result.verified
    assert "does not verify" in result.errors[0]


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        '{"mediaType": "text/plain"}',
        '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
    ],
)
def test_corrupted_bundle_cannot_be_checked(model: Path, keys: KeyPair, content: str) -> None:
    _sign(model, keys)
    (model / "model.sig").write_text(content)
    with pytest.raises(BundleError) as caught:
        _verify(model, keys)
    assert caught.value.exit_code == 3


def test_missing_signature(model: Path, keys: KeyPair) -> None:
    with pytest.raises(BundleError, match="No signature at"):
        _verify(model, keys)


def test_single_file_model(tmp_path: Path, keys: KeyPair) -> None:
    weights = tmp_path / "only.safetensors"
    weights.write_bytes(b"weights")
    result = sign_model(weights, SigningMethod.key(keys.private))
    assert result.signature == tmp_path / "only.safetensors.sig"
    assert result.files == {"only.safetensors": hashlib.sha256(b"weights").hexdigest()}
    verification = _verify(weights, keys)
    assert verification.verified, verification.errors
    assert verification.files == result.files
    weights.write_bytes(b"weightz")
    failed = _verify(weights, keys)
    assert failed.errors[0].startswith("only.safetensors: changed")


def test_custom_signature_path_outside_model(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    signature = tmp_path / "sigs" / "m.sig"
    signature.parent.mkdir()
    result = sign_model(model, SigningMethod.key(keys.private), signature=signature)
    assert "m.sig" not in result.ignored
    assert not (model / "model.sig").exists()
    assert _verify(model, keys, signature=signature).verified


def test_ignore_leaves_files_unprotected_and_reports_them(model: Path, keys: KeyPair) -> None:
    _sign(model, keys, ignore=[Path("config.json"), Path("tokenizer")])
    (model / "config.json").write_text("changed")
    (model / "tokenizer" / "vocab.txt").write_text("changed")
    result = _verify(model, keys)
    assert result.verified, result.errors
    assert {"config.json", "tokenizer"} <= set(result.ignored)
    assert "config.json" not in result.files


def test_ignore_relative_to_cwd(
    model: Path, keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model.parent)
    result = sign_model(model, SigningMethod.key(keys.private), ignore=[Path("model/config.json")])
    assert "config.json" in result.ignored


def test_git_metadata_always_ignored(model: Path, keys: KeyPair) -> None:
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref")
    result = sign_model(model, SigningMethod.key(keys.private))
    assert not any(name.startswith(".git") for name in result.files)
    (model / ".git" / "HEAD").write_text("other")
    assert _verify(model, keys).verified


def test_blake3(model: Path, keys: KeyPair) -> None:
    result = sign_model(model, SigningMethod.key(keys.private), algorithm="blake3")
    assert result.hash_algorithm == "blake3"
    verification = _verify(model, keys)
    assert verification.verified
    assert verification.hash_algorithm == "blake3"
    assert verification.files == file_digests(model, ignore=[Path("model.sig")], algorithm="blake3")
    (model / "weights-2.bin").write_bytes(b"x")
    assert _verify(model, keys).errors[0].startswith("weights-2.bin: changed")


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()], ids=["p384", "p521"])
def test_other_curves(model: Path, tmp_path: Path, curve: ec.EllipticCurve) -> None:
    keys = write_key(tmp_path, "curve", curve)
    _sign(model, keys)
    assert _verify(model, keys).verified


def test_unsupported_key_types(model: Path, tmp_path: Path) -> None:
    key = tmp_path / "rsa.pem"
    key.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningError, match="not an EC P-256"):
        sign_model(model, SigningMethod.key(key))
    k1 = write_key(tmp_path, "k1", ec.SECP256K1())
    with pytest.raises(SigningError, match="not an EC P-256"):
        sign_model(model, SigningMethod.key(k1.private))
    assert not (model / "model.sig").exists()


def test_encrypted_key(model: Path, tmp_path: Path) -> None:
    keys = write_key(tmp_path, "enc", password=b"s3cret")
    with pytest.raises(SigningError, match="encrypted"):
        sign_model(model, SigningMethod.key(keys.private))
    with pytest.raises(SigningError, match="wrong password"):
        sign_model(model, SigningMethod.key(keys.private, password=b"nope"))
    sign_model(model, SigningMethod.key(keys.private, password=b"s3cret"))
    assert _verify(model, keys).verified


def test_unreadable_key(model: Path, tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="Cannot read"):
        sign_model(model, SigningMethod.key(tmp_path / "absent.pem"))


def test_missing_model(tmp_path: Path, keys: KeyPair) -> None:
    with pytest.raises(InputError):
        sign_model(tmp_path / "absent", SigningMethod.key(keys.private))


def test_unwritable_signature_location(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        sign_model(model, SigningMethod.key(keys.private), signature=tmp_path / "no" / "m.sig")


def test_atomic_write_leaves_no_temp_files(model: Path, keys: KeyPair) -> None:
    _sign(model, keys)
    _sign(model, keys)  # overwrite in place
    assert not [p for p in model.iterdir() if p.name.endswith(".tmp")]
    assert _verify(model, keys).verified


# --- certificates -------------------------------------------------------------------------


def test_certificate_round_trip(model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    method = SigningMethod.with_certificate(pki.leaf_key, pki.leaf, [pki.chain])
    sign_model(model, method)
    result = verify_model(model, VerificationMethod.with_certificate_chain((pki.ca,)))
    assert result.verified, result.errors
    data = result.to_json()
    assert data["method"] == "certificate"
    assert data["identity"]["subject"] == "CN=pki signer"
    assert data["identity"]["issuer"] == "CN=pki test root"
    assert data["key_fingerprint"]
    (model / "config.json").write_text("{}")
    failed = verify_model(model, VerificationMethod.with_certificate_chain((pki.ca,)))
    assert failed.errors[0].startswith("config.json: changed")


def test_certificate_from_untrusted_ca(model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path, "a")
    other = write_pki(tmp_path, "b")
    sign_model(model, SigningMethod.with_certificate(pki.leaf_key, pki.leaf, [pki.chain]))
    result = verify_model(model, VerificationMethod.with_certificate_chain((other.ca,)))
    assert not result.verified
    assert "not trusted" in result.errors[0]


def test_certificate_without_code_signing_usage(model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path, code_signing=False)
    sign_model(model, SigningMethod.with_certificate(pki.leaf_key, pki.leaf, [pki.chain]))
    result = verify_model(model, VerificationMethod.with_certificate_chain((pki.ca,)))
    assert not result.verified
    assert "cannot be used for signing" in result.errors[0]


def test_certificate_key_mismatch(model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    other = write_key(tmp_path, "other")
    with pytest.raises(SigningError, match="does not belong"):
        sign_model(model, SigningMethod.with_certificate(other.private, pki.leaf, [pki.chain]))


def test_certificate_with_encrypted_key(model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    key = serialization.load_pem_private_key(pki.leaf_key.read_bytes(), None)
    pki.leaf_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    method = SigningMethod.with_certificate(pki.leaf_key, pki.leaf, [pki.chain], password=b"pw")
    sign_model(model, method)
    assert verify_model(model, VerificationMethod.with_certificate_chain((pki.ca,))).verified


def test_method_mismatch_is_a_failure(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    _sign(model, keys)
    pki = write_pki(tmp_path)
    result = verify_model(model, VerificationMethod.with_certificate_chain((pki.ca,)))
    assert not result.verified
    assert "signed with a key" not in result.errors[0]
    assert "--key PUBLIC.pem" in result.errors[0]


def test_unusable_verification_key(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    _sign(model, keys)
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a key")
    with pytest.raises(TrustMaterialError):
        verify_model(model, VerificationMethod.key(bogus))
    with pytest.raises(TrustMaterialError):
        verify_model(model, VerificationMethod.key(tmp_path / "absent.pem"))


def test_method_constructors_validate() -> None:
    with pytest.raises(UsageError):
        VerificationMethod.keyless(issuer="https://i")
    with pytest.raises(UsageError):
        VerificationMethod.keyless(issuer="https://i", identity="a", identity_regexp="a")
    with pytest.raises(UsageError):
        VerificationMethod.keyless(issuer="https://i", identity_regexp="(")
    with pytest.raises(UsageError):
        VerificationMethod.with_certificate_chain(())
    assert "token" not in repr(SigningMethod.keyless(identity_token="token"))
    assert "pw" not in repr(SigningMethod.key(Path("k"), password=b"pw"))


# --- symlinks -----------------------------------------------------------------------------


def test_symlinks_refused_by_default(model: Path, keys: KeyPair) -> None:
    (model / "alias.bin").symlink_to("weights-1.bin")
    with pytest.raises(SymlinkError, match=r"alias\.bin is a symbolic link") as caught:
        _sign(model, keys)
    assert caught.value.exit_code == 2


def test_symlink_inside_allowed_with_flag(model: Path, keys: KeyPair) -> None:
    (model / "alias.bin").symlink_to("weights-1.bin")
    result = sign_model(model, SigningMethod.key(keys.private), allow_symlinks=True)
    assert result.files["alias.bin"] == result.files["weights-1.bin"]
    assert _verify(model, keys, allow_symlinks=True).verified
    refused = _verify(model, keys)
    assert not refused.verified
    assert "symbolic link" in refused.errors[0]


def test_symlink_outside_refused_even_with_flag(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    (model / "escape.bin").symlink_to(outside)
    with pytest.raises(SymlinkError, match="outside the model folder"):
        sign_model(model, SigningMethod.key(keys.private), allow_symlinks=True)


def test_symlinked_folder_refused_even_with_flag(model: Path, keys: KeyPair) -> None:
    (model / "tok2").symlink_to("tokenizer", target_is_directory=True)
    with pytest.raises(SymlinkError, match="not a regular file"):
        sign_model(model, SigningMethod.key(keys.private), allow_symlinks=True)


def test_file_swapped_for_symlink_after_signing_fails(
    model: Path, keys: KeyPair, tmp_path: Path
) -> None:
    _sign(model, keys)
    outside = tmp_path / "evil.bin"
    outside.write_bytes((model / "weights-2.bin").read_bytes())
    (model / "weights-2.bin").unlink()
    os.symlink(outside, model / "weights-2.bin")
    for allow in (False, True):
        result = _verify(model, keys, allow_symlinks=allow)
        assert not result.verified
        assert "weights-2.bin" in result.errors[0]


def test_upstream_sharded_bundle(model: Path, keys: KeyPair) -> None:
    import model_signing

    hashing = model_signing.hashing.Config().use_shard_serialization(shard_size=1024)
    hashing.set_ignored_paths(paths=["model.sig"])
    config = model_signing.signing.Config().set_hashing_config(hashing)
    config.use_elliptic_key_signer(private_key=keys.private).sign(model, model / "model.sig")
    result = _verify(model, keys)
    assert result.verified, result.errors
    assert "weights-1.bin:1024:2000" in result.files
    assert result.shard_size == 1024
    on_disk = (p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
    assert result.signed_files() == sorted(n for n in on_disk if n != "model.sig")
    (model / "weights-1.bin").write_bytes(b"\x00\x01" * 999 + b"zz")
    assert _verify(model, keys).errors[0].startswith("weights-1.bin:1024:2000: changed")


def test_nothing_to_sign(model: Path, keys: KeyPair) -> None:
    with pytest.raises(UsageError, match="Nothing to sign"):
        sign_model(model, SigningMethod.key(keys.private), ignore=list(model.iterdir()))


def test_signature_over_no_files_fails(tmp_path: Path, keys: KeyPair) -> None:
    import model_signing

    empty = tmp_path / "empty"
    empty.mkdir()
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
    config = model_signing.signing.Config().set_hashing_config(hashing)
    config.use_elliptic_key_signer(private_key=keys.private).sign(empty, empty / "model.sig")
    result = _verify(empty, keys)
    assert not result.verified
    assert "covers no files" in result.errors[0]


def test_special_file_in_model_fails(model: Path, keys: KeyPair) -> None:
    _sign(model, keys)
    os.mkfifo(model / "pipe")
    result = _verify(model, keys)
    assert not result.verified
    assert "pipe" in result.errors[0]
