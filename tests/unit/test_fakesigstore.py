"""End-to-end keyless signing against the loopback fake Sigstore (no internet)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from fakesigstore.fixture import FakeSigstoreSession, fake_sigstore  # noqa: F401
from fakesigstore.server import FakeSigstore

IDENTITY = "alice@example.com"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test here that tries to reach a host other than 127.0.0.1."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"test tried to reach {address!r}: tests must stay offline")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


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
    # model-signing fetches OIDC discovery even when handed a token
    assert ("GET", "/oidc/.well-known/openid-configuration", 200) in fake_sigstore.server.requests
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


def test_fulcio_can_refuse_unconfigured_issuers() -> None:
    import requests

    with FakeSigstore(allowed_issuers=[]) as fake:
        token = fake.mint_token(IDENTITY)
        resp = requests.post(
            f"{fake.url}/api/v2/signingCert",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    assert resp.status_code == 401
    assert "not configured" in resp.json()["message"]


def test_server_binds_loopback_and_stops() -> None:
    fake = FakeSigstore().start()
    port = int(fake.url.rsplit(":", 1)[1])
    assert fake.url == f"http://127.0.0.1:{port}"
    thread = fake._thread
    assert thread is not None
    assert thread.is_alive()
    fake.stop()
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_rekor_refuses_entries_whose_signature_does_not_verify(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    import requests
    from cryptography.hazmat.primitives import serialization

    bundle = _sign_artifact(fake_sigstore, b"x", fake_sigstore.mint_token(IDENTITY))
    pem = bundle.signing_certificate.public_bytes(serialization.Encoding.PEM)
    before = len(fake_sigstore.server.entries)
    entry = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": base64.b64encode(bundle.signature).decode(),
                "publicKey": {"content": base64.b64encode(pem).decode()},
            },
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(b"y").hexdigest()}},
        },
    }
    resp = requests.post(f"{fake_sigstore.url}/api/v1/log/entries", json=entry, timeout=5)
    assert resp.status_code == 400
    assert "InvalidSignature" in resp.json()["message"]
    assert len(fake_sigstore.server.entries) == before


@pytest.mark.parametrize("size", range(1, 12))
def test_inclusion_proofs_match_sigstore_merkle_check(size: int) -> None:
    """Every leaf of trees of 1..11 leaves proves against the root with sigstore's algorithm."""
    from sigstore._internal import merkle

    from fakesigstore.server import _audit_path, _leaf_hash, _tree_root

    bodies = [b"entry %d" % i for i in range(size)]
    leaves = [_leaf_hash(b) for b in bodies]
    root = _tree_root(leaves)
    for index in range(size):
        proof = _audit_path(index, leaves)
        inner, border = merkle._decomp_inclusion_proof(index, size)
        assert len(proof) == inner + border
        seed = merkle._chain_inner(merkle._hash_leaf(bodies[index]), proof[:inner], index)
        assert merkle._chain_border_right(seed, proof[inner:]) == root


def test_read_endpoints_serve_what_was_logged(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    from sigstore._internal.fulcio.client import FulcioClient
    from sigstore._internal.rekor.client import RekorClient

    bundle = _sign_artifact(fake_sigstore, b"z", fake_sigstore.mint_token(IDENTITY))
    rekor = RekorClient(fake_sigstore.url)
    body = bundle.log_entry._inner.canonicalized_body
    uuid = hashlib.sha256(b"\x00" + body).hexdigest()
    fetched = rekor.log.entries.get(uuid=uuid)
    assert fetched._inner.canonicalized_body == body
    assert rekor.log.get().tree_size == len(fake_sigstore.server.entries)
    chains = FulcioClient(fake_sigstore.url).trust_bundle.get().trust_bundle
    assert chains == [[fake_sigstore.server.intermediate_cert, fake_sigstore.server.root_cert]]


@pytest.mark.slow
def test_fixture_is_shared_and_stopped_at_session_end(tmp_path: Path) -> None:
    """Two modules share one server, and no server thread survives the session."""
    import subprocess
    import sys
    import textwrap

    user = textwrap.dedent(
        """
        from fakesigstore.fixture import fake_sigstore  # noqa: F401

        def test_user(fake_sigstore):  # noqa: F811
            with open("urls.txt", "a") as out:
                out.write(fake_sigstore.url + "\\n")
        """
    )
    (tmp_path / "test_one.py").write_text(user)
    (tmp_path / "test_two.py").write_text(user)
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import threading

            def pytest_sessionfinish(session):
                alive = [t.name for t in threading.enumerate() if t.name == "fakesigstore"]
                with open("alive.txt", "w") as out:
                    out.write(repr(alive))
            """
        )
    )
    tests_dir = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "--rootdir",
            ".",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": tests_dir},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    urls = (tmp_path / "urls.txt").read_text().split()
    assert len(urls) == 2
    assert urls[0] == urls[1]
    assert (tmp_path / "alive.txt").read_text() == "[]"


def test_concurrent_signers_get_consistent_log_entries(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    token = fake_sigstore.mint_token(IDENTITY)
    payloads = [b"artifact %d" % i for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        bundles = list(pool.map(lambda p: _sign_artifact(fake_sigstore, p, token), payloads))
    verifier = Verifier(trusted_root=_trust(fake_sigstore).trusted_root)
    policy = Identity(identity=IDENTITY, issuer=fake_sigstore.issuer)
    for payload, bundle in zip(payloads, bundles, strict=True):
        verifier.verify_artifact(payload, bundle, policy)
    assert len({b.log_entry._inner.log_index for b in bundles}) == len(bundles)


def test_bundle_does_not_verify_under_another_fakes_trust_root(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The trust root matters: keys are per instance, so a stranger's root refuses the bundle."""
    from sigstore.errors import VerificationError
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    bundle = _sign_artifact(fake_sigstore, b"x", fake_sigstore.mint_token(IDENTITY))
    with FakeSigstore() as other:
        trust = ClientTrustConfig.from_json(other.trust_config(tmp_path / "tc.json").read_text())
    verifier = Verifier(trusted_root=trust.trusted_root)
    with pytest.raises(VerificationError):
        verifier.verify_artifact(
            b"x", bundle, Identity(identity=IDENTITY, issuer=fake_sigstore.issuer)
        )
