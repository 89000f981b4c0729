"""Keyless verification of a real public-good bundle (offline), statements, trust configuration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlchain.errors import SigningError, VerificationError
from mlchain.signing import trust
from mlchain.signing.sign import SigningMethod, sign_statement
from mlchain.signing.verify import VerificationMethod, verify_model, verify_statement
from signing_helpers import (
    PUBLIC_GOOD_IDENTITY,
    PUBLIC_GOOD_ISSUER,
    KeyPair,
    copy_writable,
    write_key,
    write_pki,
)

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "model", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://mlchain.dev/scan/v1",
    "predicate": {"findings": 0, "epochs": 3, "ratio": 0.5, "nested": {"ok": True}},
}


def _public_good(identity: str = PUBLIC_GOOD_IDENTITY, issuer: str = PUBLIC_GOOD_ISSUER):  # type: ignore[no-untyped-def]
    return VerificationMethod.keyless(identity=identity, issuer=issuer)


@pytest.fixture
def read_only_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME under which nothing can be created, even by root (its parent is a file)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    home = blocker / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.mark.usefixtures("no_network", "read_only_home")
def test_public_good_bundle_verifies_offline(public_good_fixture: Path, tmp_path: Path) -> None:
    model = public_good_fixture / "model"  # read-only: verification must not write there
    result = verify_model(model, _public_good())
    assert result.verified, result.errors
    data = result.to_json()
    assert data["method"] == "sigstore"
    assert data["identity"] == {"subject": PUBLIC_GOOD_IDENTITY, "issuer": PUBLIC_GOOD_ISSUER}
    assert data["signed_at"] == "2025-10-10T02:12:20Z"
    assert data["log_entry"]["integrated_time"] == 1760062340
    assert data["log_entry"]["log_index"] == 598151086
    assert set(data["files"]) == {"signme-1", "signme-2"}
    assert "ignore-me" in data["ignored"]


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("identity", "issuer", "expected"),
    [
        (
            "mallory@example.com",
            PUBLIC_GOOD_ISSUER,
            f"signed by identity {PUBLIC_GOOD_IDENTITY} instead of mallory@example.com",
        ),
        (
            PUBLIC_GOOD_IDENTITY,
            "https://accounts.google.com",
            f"signed by issuer {PUBLIC_GOOD_ISSUER} instead of https://accounts.google.com",
        ),
    ],
    ids=["wrong-identity", "wrong-issuer"],
)
def test_public_good_wrong_signer(
    public_good_fixture: Path, identity: str, issuer: str, expected: str
) -> None:
    result = verify_model(public_good_fixture / "model", _public_good(identity, issuer))
    assert not result.verified
    assert expected in result.errors[0]
    assert result.files == {}  # nothing from an unaccepted signature is reported as signed


@pytest.mark.usefixtures("no_network")
def test_public_good_changed_file(public_good_fixture: Path, tmp_path: Path) -> None:
    model = copy_writable(public_good_fixture / "model", tmp_path / "model")
    (model / "signme-2").write_bytes(b"tampered")
    (model / "ignore-me").write_bytes(b"ignored by the signer, so not protected")
    result = verify_model(model, _public_good())
    assert not result.verified
    assert result.errors == (result.errors[0],)
    assert result.errors[0].startswith("signme-2: changed")


@pytest.mark.usefixtures("no_network")
def test_public_good_identity_regexp(public_good_fixture: Path) -> None:
    model = public_good_fixture / "model"
    ok = VerificationMethod.keyless(identity_regexp=r".*@us\.ibm\.com", issuer=PUBLIC_GOOD_ISSUER)
    assert verify_model(model, ok).verified
    partial = VerificationMethod.keyless(identity_regexp=r"stefanb", issuer=PUBLIC_GOOD_ISSUER)
    result = verify_model(model, partial)  # must match the whole identity, as cosign does
    assert not result.verified
    assert "matching /stefanb/" in result.errors[0]


@pytest.mark.usefixtures("no_network")
def test_public_good_with_key_method_fails(public_good_fixture: Path, keys: KeyPair) -> None:
    result = verify_model(public_good_fixture / "model", VerificationMethod.key(keys.public))
    assert not result.verified
    assert "--identity and --issuer" in result.errors[0]


@pytest.mark.usefixtures("no_network")
def test_public_good_against_other_trust_root(public_good_fixture: Path, tmp_path: Path) -> None:
    config = trust.embedded_trust_config(staging=True)
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(config))
    method = VerificationMethod.keyless(
        identity=PUBLIC_GOOD_IDENTITY, issuer=PUBLIC_GOOD_ISSUER, trust_config=path
    )
    result = verify_model(public_good_fixture / "model", method)
    assert not result.verified
    assert "trusted Sigstore root" in result.errors[0]


def test_bad_trust_config(public_good_fixture: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    for path in (bad, tmp_path / "absent.json"):
        method = VerificationMethod.keyless(
            identity=PUBLIC_GOOD_IDENTITY, issuer=PUBLIC_GOOD_ISSUER, trust_config=path
        )
        with pytest.raises(trust.TrustMaterialError) as caught:
            verify_model(public_good_fixture / "model", method)
        assert caught.value.exit_code == 3


def test_embedded_trust_config_shape() -> None:
    config = trust.embedded_trust_config()
    assert config["mediaType"] == trust.CLIENT_TRUST_CONFIG_MEDIA_TYPE
    assert config["trustedRoot"]["certificateAuthorities"]
    assert trust.load_trust_config(None).trusted_root is not None


def test_ensure_writable_cache_redirects(read_only_home: Path) -> None:
    # read_only_home's monkeypatch restores XDG_* afterwards
    trust.ensure_writable_cache()
    cache = Path(os.environ["XDG_CACHE_HOME"])
    assert cache.is_dir() or cache.parent.is_dir()
    assert read_only_home not in cache.parents
    assert Path(os.environ["XDG_DATA_HOME"]).parent == cache.parent


def test_keyless_signing_without_token_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "GITHUB_ACTIONS",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "GOOGLE_SERVICE_ACCOUNT_NAME",
        "SIGSTORE_ID_TOKEN",
        "BUILDKITE",
        "GITLAB_CI",
        "CIRCLECI",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SigningError, match="No OIDC identity token"):
        sign_statement(STATEMENT, SigningMethod.keyless(trust_config=tmp_path / "unused.json"))


# --- statements ---------------------------------------------------------------------------


def test_statement_key_round_trip(keys: KeyPair) -> None:
    bundle = sign_statement(STATEMENT, SigningMethod.key(keys.private))
    assert json.loads(bundle)["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    verified = verify_statement(bundle, VerificationMethod.key(keys.public))
    assert verified.statement == STATEMENT  # integers stay integers
    assert isinstance(verified.statement["predicate"]["epochs"], int)
    assert verified.signer.method == "key"
    assert verified.signer.key_fingerprint


def test_statement_wrong_key_and_tampering(keys: KeyPair, tmp_path: Path) -> None:
    bundle = sign_statement(STATEMENT, SigningMethod.key(keys.private))
    with pytest.raises(VerificationError):
        verify_statement(bundle, VerificationMethod.key(write_key(tmp_path, "o").public))
    data = json.loads(bundle)
    import base64

    evil = dict(STATEMENT, predicate={"findings": 0})
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(evil).encode()).decode()
    with pytest.raises(VerificationError):
        verify_statement(json.dumps(data), VerificationMethod.key(keys.public))


def test_statement_certificate_round_trip(tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    method = SigningMethod.with_certificate(pki.leaf_key, pki.leaf, [pki.chain])
    bundle = sign_statement(STATEMENT, method)
    verified = verify_statement(bundle, VerificationMethod.with_certificate_chain((pki.ca,)))
    assert verified.statement == STATEMENT
    assert verified.signer.subject == "CN=pki signer"
    other = write_pki(tmp_path, "other")
    with pytest.raises(VerificationError):
        verify_statement(bundle, VerificationMethod.with_certificate_chain((other.ca,)))


def test_statement_must_be_in_toto(keys: KeyPair) -> None:
    with pytest.raises(SigningError):
        sign_statement({"hello": "world"}, SigningMethod.key(keys.private))


def test_model_bundle_is_not_a_statement_and_vice_versa(keys: KeyPair, model: Path) -> None:
    (model / "model.sig").write_text(sign_statement(STATEMENT, SigningMethod.key(keys.private)))
    result = verify_model(model, VerificationMethod.key(keys.public))
    assert not result.verified
    assert "not a model signature" in result.errors[0]
