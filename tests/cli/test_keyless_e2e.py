"""Keyless signing end to end against the loopback fake Sigstore: mlchain sign, mlchain verify."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakesigstore.fixture import FakeSigstoreSession, fake_sigstore  # noqa: F401
from mlchain.cli import app
from mlchain.errors import VerificationError
from mlchain.signing.sign import SigningMethod, sign_statement
from mlchain.signing.verify import VerificationMethod, verify_statement
from signing_helpers import make_model

ALICE = "alice@example.com"
WORKFLOW = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1"
GITHUB = "https://token.actions.githubusercontent.com"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"test tried to reach {address!r}: tests must stay offline")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def signed_model(tmp_path: Path, fake_sigstore: FakeSigstoreSession) -> Path:  # noqa: F811
    model = make_model(tmp_path)
    token = fake_sigstore.mint_token(ALICE)
    result = _run(
        "sign", model, "--identity-token", token, "--trust-config", fake_sigstore.trust_config
    )
    assert result.exit_code == 0, result.output
    return model


def _verify(model: Path, fake: FakeSigstoreSession, *args: object):  # type: ignore[no-untyped-def]
    return _run("verify", model, "--trust-config", fake.trust_config, *args)


def test_keyless_round_trip(signed_model: Path, fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    result = _verify(
        signed_model,
        fake_sigstore,
        "--identity",
        ALICE,
        "--issuer",
        fake_sigstore.issuer,
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verified"] is True
    assert data["method"] == "sigstore"
    assert data["identity"] == {"subject": ALICE, "issuer": fake_sigstore.issuer}
    assert isinstance(data["log_entry"]["log_index"], int)
    assert data["signed_at"].endswith("Z")
    assert len(data["files"]) == 4


def test_keyless_identity_regexp(signed_model: Path, fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    ok = _verify(
        signed_model,
        fake_sigstore,
        "--identity-regexp",
        r".*@example\.com",
        "--issuer",
        fake_sigstore.issuer,
    )
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize(
    ("identity", "issuer", "message"),
    [
        ("bob@example.com", None, f"signed by identity {ALICE} instead of bob@example.com"),
        (ALICE, "https://accounts.google.com", "instead of https://accounts.google.com"),
    ],
    ids=["wrong-identity", "wrong-issuer"],
)
def test_keyless_wrong_signer(
    signed_model: Path,
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
    identity: str,
    issuer: str | None,
    message: str,
) -> None:
    result = _verify(
        signed_model,
        fake_sigstore,
        "--identity",
        identity,
        "--issuer",
        issuer or fake_sigstore.issuer,
    )
    assert result.exit_code == 1
    assert message in result.stderr


def test_keyless_tampered_files(signed_model: Path, fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    (signed_model / "weights-2.bin").write_bytes(b"evil")
    (signed_model / "tokenizer" / "vocab.txt").unlink()
    result = _verify(
        signed_model, fake_sigstore, "--identity", ALICE, "--issuer", fake_sigstore.issuer
    )
    assert result.exit_code == 1
    assert "weights-2.bin: changed" in result.stdout
    assert "tokenizer/vocab.txt: missing" in result.stdout


def test_keyless_bundle_not_trusted_by_public_good(
    signed_model: Path,
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    result = _run("verify", signed_model, "--identity", ALICE, "--issuer", fake_sigstore.issuer)
    assert result.exit_code == 1  # offline default trust root: the fake CA is not trusted
    assert "trusted Sigstore root" in result.stderr


def test_keyless_ci_identity(tmp_path: Path, fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    model = make_model(tmp_path)
    token = fake_sigstore.mint_token(WORKFLOW, GITHUB)
    signed = _run(
        "sign", model, "--identity-token", token, "--trust-config", fake_sigstore.trust_config
    )
    assert signed.exit_code == 0, signed.output
    ok = _verify(
        model,
        fake_sigstore,
        "--identity-regexp",
        r"https://github\.com/org/repo/\.github/workflows/release\.yml@refs/tags/.*",
        "--issuer",
        GITHUB,
    )
    assert ok.exit_code == 0, ok.output


def test_keyless_statement(fake_sigstore: FakeSigstoreSession) -> None:  # noqa: F811
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": "cd" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"externalParameters": {"epochs": 3}}},
    }
    method = SigningMethod.keyless(
        identity_token=fake_sigstore.mint_token(ALICE), trust_config=fake_sigstore.trust_config
    )
    bundle = sign_statement(statement, method)
    verified = verify_statement(
        bundle,
        VerificationMethod.keyless(
            identity=ALICE, issuer=fake_sigstore.issuer, trust_config=fake_sigstore.trust_config
        ),
    )
    assert verified.statement == statement
    assert verified.signer.subject == ALICE
    assert verified.signer.log_entry is not None
    with pytest.raises(VerificationError, match="instead of mallory"):
        verify_statement(
            bundle,
            VerificationMethod.keyless(
                identity="mallory@example.com",
                issuer=fake_sigstore.issuer,
                trust_config=fake_sigstore.trust_config,
            ),
        )


def test_expired_token_is_a_clear_signing_error(
    tmp_path: Path,
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    model = make_model(tmp_path)
    token = fake_sigstore.mint_token(ALICE, lifetime=-60)
    result = _run(
        "sign", model, "--identity-token", token, "--trust-config", fake_sigstore.trust_config
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: The OIDC identity token was rejected")
    assert not (model / "model.sig").exists()


def test_keyless_interop_with_model_signing(
    tmp_path: Path,
    signed_model: Path,
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
) -> None:
    import model_signing

    # upstream verifies what mlchain signed
    model_signing.verifying.Config().use_sigstore_verifier(
        identity=ALICE, oidc_issuer=fake_sigstore.issuer, trust_config=fake_sigstore.trust_config
    ).verify(signed_model, signed_model / "model.sig")

    # mlchain verifies what upstream signed
    other = make_model(tmp_path / "upstream")
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
    model_signing.signing.Config().set_hashing_config(hashing).use_sigstore_signer(
        identity_token=fake_sigstore.mint_token(ALICE), trust_config=fake_sigstore.trust_config
    ).sign(other, other / "model.sig")
    result = _verify(other, fake_sigstore, "--identity", ALICE, "--issuer", fake_sigstore.issuer)
    assert result.exit_code == 0, result.output


def test_unreachable_sigstore_exits_3(tmp_path: Path) -> None:
    from fakesigstore.server import FakeSigstore

    with FakeSigstore() as fake:
        config = fake.trust_config(tmp_path / "trust.json")
        token = fake.mint_token(ALICE)
    model = make_model(tmp_path)  # the fake is stopped: its port refuses connections
    result = _run("sign", model, "--identity-token", token, "--trust-config", config)
    assert result.exit_code == 3
    assert "Cannot reach a Sigstore service" in result.stderr
    assert not (model / "model.sig").exists()
