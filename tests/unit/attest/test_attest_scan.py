"""Scan attestations: predicate shape, verdict rules, and verification against the disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES
from intoto_checks import check_statement, floats_in
from mlchain.attest.scan import SCAN_PREDICATE_TYPE, build_scan_attestation
from mlchain.attest.verify import verify_attestation
from mlchain.errors import VerificationError
from mlchain.models import Severity
from mlchain.provenance.statement import digest_model, dumps
from mlchain.scan import ScanOptions, scan_paths

MODEL = FIXTURES / "hfmodel" / "benign" / "tiny-llama"
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n"
)


def _attest(path: Path, **kwargs: object) -> dict[str, object]:
    digests = digest_model(path)
    report = scan_paths([path], ScanOptions(jobs=1))
    options = {"fail_on": Severity.MEDIUM, "strict": False, **kwargs}
    return build_scan_attestation(report, digests, **options)  # type: ignore[arg-type]


def test_clean_model_passes_and_statement_is_valid() -> None:
    doc = _attest(MODEL)
    check_statement(doc)
    assert doc["predicateType"] == SCAN_PREDICATE_TYPE
    predicate = doc["predicate"]
    assert predicate["verdict"] == "pass"  # type: ignore[index]
    assert predicate["policy"] == {"failOn": "medium", "strict": False, "allowGlobals": []}  # type: ignore[index]
    assert predicate["report"]["summary"]["files"] == 9  # type: ignore[index]
    assert predicate["subjectHashing"] == {"algorithm": "sha256", "ignore": []}  # type: ignore[index]
    assert floats_in(doc) == []
    assert [s["name"] for s in doc["subject"]] == sorted(digest_model(MODEL))  # type: ignore[union-attr, index]


def test_findings_at_the_threshold_fail(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_text(LFS_POINTER)
    doc = _attest(tmp_path)
    assert doc["predicate"]["verdict"] == "fail"  # type: ignore[index]
    assert doc["predicate"]["maxSeverity"] == "medium"  # type: ignore[index]
    assert _attest(tmp_path, fail_on=Severity.HIGH)["predicate"]["verdict"] == "pass"  # type: ignore[index]
    assert _attest(tmp_path, fail_on=None)["predicate"]["policy"]["failOn"] == "never"  # type: ignore[index]


def test_strict_fails_on_unscanned_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    (model / "empty.bin").write_bytes(b"")  # an empty file is listed as not scanned
    assert _attest(model)["predicate"]["verdict"] == "pass"  # type: ignore[index]
    doc = _attest(model, strict=True)
    assert doc["predicate"]["notScanned"] == ["empty.bin"]  # type: ignore[index]
    assert doc["predicate"]["verdict"] == "fail"  # type: ignore[index]


def test_a_subject_the_scan_did_not_see_fails_closed() -> None:
    digests = {**digest_model(MODEL), "ghost.bin": "0" * 64}
    report = scan_paths([MODEL], ScanOptions(jobs=1))
    doc = build_scan_attestation(report, digests, fail_on=Severity.CRITICAL, strict=False)
    assert doc["predicate"]["verdict"] == "fail"
    assert doc["predicate"]["notInReport"] == ["ghost.bin"]


def test_deterministic_json() -> None:
    assert dumps(_attest(MODEL)) == dumps(_attest(MODEL))


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "key.pem"
    public = tmp_path / "pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_signed_attestation_verifies_and_binds_to_the_files(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    from mlchain.signing.sign import SigningMethod, sign_statement
    from mlchain.signing.verify import VerificationMethod

    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    bundle = sign_statement(_attest(model), SigningMethod.key(keypair[0]))
    method = VerificationMethod.key(keypair[1])
    result = verify_attestation(bundle, method, model)
    assert result.verified, result.errors
    assert result.details["verdict"] == "pass"
    assert result.to_json()["subjects"] == 9

    (model / "tokenizer.json").write_text("{}")
    changed = verify_attestation(bundle, method, model)
    assert not changed.verified
    assert changed.errors[0].startswith("tokenizer.json: digest differs")

    other = verify_attestation(
        bundle, method, model, predicate_type="https://slsa.dev/provenance/v1"
    )
    assert any("predicate type" in e for e in other.errors)


def test_failed_scan_attestation_never_verifies(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    from mlchain.signing.sign import SigningMethod, sign_statement
    from mlchain.signing.verify import VerificationMethod

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").write_text(LFS_POINTER)
    bundle = sign_statement(_attest(tmp_path / "m"), SigningMethod.key(keypair[0]))
    result = verify_attestation(bundle, VerificationMethod.key(keypair[1]), tmp_path / "m")
    assert result.errors == ("the scan attestation's verdict is 'fail', not 'pass'",)


def test_tampered_bundle_is_rejected(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    import base64

    from mlchain.signing.sign import SigningMethod, sign_statement
    from mlchain.signing.verify import VerificationMethod

    bundle = json.loads(sign_statement(_attest(MODEL), SigningMethod.key(keypair[0])))
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["verdict"] = "pass"
    payload["subject"][0]["digest"]["sha256"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(VerificationError):
        verify_attestation(json.dumps(bundle), VerificationMethod.key(keypair[1]), MODEL)


def test_names_with_control_characters_are_still_covered(tmp_path: Path) -> None:
    (tmp_path / "esc\x1bname.bin").write_bytes(b"x")
    doc = _attest(tmp_path)
    assert "notInReport" not in doc["predicate"]  # type: ignore[operator]
    assert doc["subject"][0]["name"] == "esc\x1bname.bin"  # type: ignore[index]
