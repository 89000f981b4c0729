"""End-to-end keyless signing against the loopback fake Sigstore (no internet)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fakesigstore.fixture import FakeSigstoreSession, fake_sigstore  # noqa: F401

IDENTITY = "alice@example.com"


def _trust(fake: FakeSigstoreSession):  # type: ignore[no-untyped-def]
    from sigstore.models import ClientTrustConfig

    return ClientTrustConfig.from_json(fake.trust_config.read_text())


def _sign_artifact(fake: FakeSigstoreSession, data: bytes, token: str):  # type: ignore[no-untyped-def]
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    ctx = SigningContext.from_trust_config(_trust(fake))
    with ctx.signer(IdentityToken(token)) as signer:
        return signer.sign_artifact(data)


def test_sigstore_python_sign_and_verify(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    data = b"model bytes"
    bundle = _sign_artifact(fake_sigstore, data, fake_sigstore.mint_token(IDENTITY))
    bundle = Bundle.from_json(bundle.to_json())  # round trip as a consumer would read it
    verifier = Verifier(trusted_root=_trust(fake_sigstore).trusted_root)

    verifier.verify_artifact(data, bundle, Identity(identity=IDENTITY, issuer=fake_sigstore.issuer))

    with pytest.raises(VerificationError, match="SANs do not match"):
        verifier.verify_artifact(
            data, bundle, Identity(identity="mallory@example.com", issuer=fake_sigstore.issuer)
        )
    with pytest.raises(VerificationError, match="OIDCIssuer"):
        verifier.verify_artifact(
            data, bundle, Identity(identity=IDENTITY, issuer="https://accounts.google.com")
        )
    with pytest.raises(VerificationError):
        verifier.verify_artifact(
            b"other bytes", bundle, Identity(identity=IDENTITY, issuer=fake_sigstore.issuer)
        )


def test_dsse_statement_sign_and_verify(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    from sigstore import dsse
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    statement = (
        dsse.StatementBuilder()
        .subjects([dsse.Subject(name="m", digest={"sha256": hashlib.sha256(b"m").hexdigest()})])
        .predicate_type("https://example.com/predicate/v1")
        .predicate({"k": "v"})
        .build()
    )
    trust = _trust(fake_sigstore)
    token = IdentityToken(fake_sigstore.mint_token(IDENTITY))
    with SigningContext.from_trust_config(trust).signer(token) as signer:
        bundles = [signer.sign_dsse(statement) for _ in range(3)]  # log grows: real proofs
    verifier = Verifier(trusted_root=trust.trusted_root)
    for bundle in bundles:
        ptype, _ = verifier.verify_dsse(
            bundle, Identity(identity=IDENTITY, issuer=fake_sigstore.issuer)
        )
        assert ptype == "application/vnd.in-toto+json"
    indexes = [b.log_entry._inner.log_index for b in bundles]
    assert indexes == list(range(indexes[0], indexes[0] + 3))


def test_other_issuer_is_certified(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    """A token claiming another issuer (signed by the fake IdP) gets that issuer certified."""
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    ci_issuer = "https://token.actions.githubusercontent.com"
    workflow = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"
    bundle = _sign_artifact(fake_sigstore, b"x", fake_sigstore.mint_token(workflow, ci_issuer))
    verifier = Verifier(trusted_root=_trust(fake_sigstore).trusted_root)
    verifier.verify_artifact(b"x", bundle, Identity(identity=workflow, issuer=ci_issuer))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audience": "not-sigstore"}, "Audience"),
        ({"email_verified": False}, "not verified"),
    ],
)
def test_fulcio_refuses_bad_tokens(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
    kwargs: dict[str, object],
    message: str,
) -> None:
    import requests

    token = fake_sigstore.mint_token(IDENTITY, **kwargs)
    resp = requests.post(
        f"{fake_sigstore.url}/api/v2/signingCert",
        json={"certificateSigningRequest": ""},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert resp.status_code in (400, 401)
    assert message in resp.json()["message"]


def test_fulcio_refuses_forged_and_expired_tokens(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore._internal.fulcio.client import FulcioClientError

    forged = fake_sigstore.mint_token(IDENTITY, key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(FulcioClientError):
        _sign_artifact(fake_sigstore, b"x", forged)

    import requests

    expired = fake_sigstore.mint_token(IDENTITY, lifetime=-60)
    resp = requests.post(
        f"{fake_sigstore.url}/api/v2/signingCert",
        json={},
        headers={"Authorization": f"Bearer {expired}"},
        timeout=5,
    )
    assert resp.status_code == 401
    assert "expired" in resp.json()["message"]


def test_oidc_discovery_and_jwks(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    import jwt
    import requests

    config = requests.get(
        f"{fake_sigstore.issuer}/.well-known/openid-configuration", timeout=5
    ).json()
    assert config["issuer"] == fake_sigstore.issuer
    jwks = jwt.PyJWKClient(config["jwks_uri"])
    token = fake_sigstore.mint_token(IDENTITY)
    key = jwks.get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="sigstore")
    assert claims["iss"] == fake_sigstore.issuer
    assert claims["email"] == IDENTITY
    assert claims["email_verified"] is True


def _model(root: Path) -> Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (model / "config.json").write_text('{"layers": 2}\n')
    (model / "sub" / "tokenizer.txt").write_text("a b c\n")
    return model


def test_model_signing_keyless_round_trip(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
    tmp_path: Path,
) -> None:
    from model_signing import signing, verifying
    from sigstore.errors import VerificationError

    model = _model(tmp_path)
    signature = tmp_path / "model.sig"
    token = fake_sigstore.mint_token(IDENTITY)
    signing.Config().use_sigstore_signer(
        identity_token=token, trust_config=fake_sigstore.trust_config
    ).sign(model, signature)

    def verifier(identity: str = IDENTITY, issuer: str | None = None) -> verifying.Config:
        return verifying.Config().use_sigstore_verifier(
            identity=identity,
            oidc_issuer=issuer or fake_sigstore.issuer,
            trust_config=fake_sigstore.trust_config,
        )

    verifier().verify(model, signature)
    with pytest.raises(VerificationError, match="SANs do not match"):
        verifier(identity="mallory@example.com").verify(model, signature)
    with pytest.raises(VerificationError, match="OIDCIssuer"):
        verifier(issuer="https://accounts.google.com").verify(model, signature)

    (model / "config.json").write_text('{"layers": 3}\n')
    with pytest.raises(ValueError, match=r"config\.json"):
        verifier().verify(model, signature)


def test_startup_time_is_reported(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    """Startup is measured, not asserted (wall time is machine-dependent)."""
    print(f"fake sigstore started in {fake_sigstore.startup_seconds * 1000:.1f} ms")
    assert fake_sigstore.startup_seconds > 0
    assert fake_sigstore.url.startswith("http://127.0.0.1:")
