"""`mlchain sign` / `mlchain verify`: exit codes, messages, JSON output, interop with upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlchain.cli import app
from signing_helpers import (
    PUBLIC_GOOD_IDENTITY,
    PUBLIC_GOOD_ISSUER,
    KeyPair,
    make_model,
    write_key,
    write_pki,
)

REPO = Path(__file__).resolve().parents[2]
_FIXTURE = Path("fixtures") / "oms-v1.1.0-sigstore" / "model"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return write_key(tmp_path)


@pytest.fixture
def public_good_model() -> Path:
    for shared in (REPO.parent / "shared", REPO.parent.parent / "shared"):
        if (shared / _FIXTURE / "model.sig").is_file():
            return shared / _FIXTURE
    pytest.skip("../shared/fixtures/oms-v1.1.0-sigstore is absent (third-party fixture)")


def _run(runner: CliRunner, *args: object, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_key_round_trip_and_tamper(runner: CliRunner, model: Path, keys: KeyPair) -> None:
    signed = _run(runner, "sign", model, "--key", keys.private)
    assert signed.exit_code == 0, signed.output
    assert "Signed 4 file(s)" in signed.stderr
    assert (model / "model.sig").is_file()

    ok = _run(runner, "verify", model, "--key", keys.public)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("VERIFIED: model (4 signed files, sha256)")

    (model / "weights-1.bin").write_bytes(b"changed")
    (model / "extra.py").write_text("print('hi')")
    failed = _run(runner, "verify", model, "--key", keys.public)
    assert failed.exit_code == 1
    assert "weights-1.bin: changed" in failed.stdout
    assert "extra.py: extra file" in failed.stdout
    assert "failed verification: weights-1.bin: changed" in failed.stderr
    assert "(and 1 more)" in failed.stderr
    assert "Traceback" not in failed.output


def test_json_output_to_file(runner: CliRunner, model: Path, keys: KeyPair, tmp_path: Path) -> None:
    assert _run(runner, "sign", model, "--key", keys.private, "--hash", "blake3").exit_code == 0
    out = tmp_path / "result.json"
    result = _run(runner, "verify", model, "--key", keys.public, "-f", "json", "--output", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    data = json.loads(out.read_text())
    assert data["verified"] is True
    assert data["hash_algorithm"] == "blake3"
    assert data["method"] == "key"
    assert len(data["files"]) == 4

    (model / "config.json").unlink()
    failed = _run(runner, "verify", model, "--key", keys.public, "-f", "json")
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert data["verified"] is False
    assert data["errors"] == ["config.json: missing (signed but not found)"]


def test_certificate_cli(runner: CliRunner, model: Path, tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    signed = _run(
        runner,
        "sign",
        model,
        "--key",
        pki.leaf_key,
        "--certificate",
        pki.leaf,
        "--certificate-chain",
        pki.chain,
    )
    assert signed.exit_code == 0, signed.output
    ok = _run(runner, "verify", model, "--certificate-chain", pki.ca)
    assert ok.exit_code == 0, ok.output
    assert "certificate CN=pki signer issued by CN=pki test root" in ok.stdout


def test_password_from_environment(runner: CliRunner, model: Path, tmp_path: Path) -> None:
    keys = write_key(tmp_path, "enc", password=b"pw")
    no_password = _run(runner, "sign", model, "--key", keys.private)
    assert no_password.exit_code == 2
    assert "MLCHAIN_KEY_PASSWORD" in no_password.stderr
    wrong = _run(runner, "sign", model, "--key", keys.private, env={"MLCHAIN_KEY_PASSWORD": "x"})
    assert wrong.exit_code == 3
    assert "wrong password" in wrong.stderr
    right = _run(runner, "sign", model, "--key", keys.private, env={"MLCHAIN_KEY_PASSWORD": "pw"})
    assert right.exit_code == 0, right.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "K", "--identity-token", "t"], "only apply to Sigstore keyless"),
        (["--certificate", "C"], "need --key"),
        (["--staging", "--trust-config", "T"], "alternatives"),
    ],
)
def test_sign_usage_errors(runner: CliRunner, model: Path, args: list[str], message: str) -> None:
    result = _run(runner, "sign", model, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_sign_refuses_symlinks(runner: CliRunner, model: Path, keys: KeyPair) -> None:
    (model / "link.bin").symlink_to("weights-1.bin")
    refused = _run(runner, "sign", model, "--key", keys.private)
    assert refused.exit_code == 2
    assert "link.bin is a symbolic link" in refused.stderr
    assert "--allow-symlinks" in refused.stderr
    allowed = _run(runner, "sign", model, "--key", keys.private, "--allow-symlinks")
    assert allowed.exit_code == 0, allowed.output


def test_sign_ignore_is_reported(runner: CliRunner, model: Path, keys: KeyPair) -> None:
    signed = _run(runner, "sign", model, "--key", keys.private, "--ignore", "config.json")
    assert signed.exit_code == 0
    assert "Not covered by the signature (--ignore): config.json" in signed.stderr
    verified = _run(runner, "verify", model, "--key", keys.public)
    assert "not covered by the signature (signed ignore list): config.json" in verified.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "it is signed with a key: give --key PUBLIC.pem"),
        (["--identity", "a@b"], "--issuer is required"),
        (["--key", "K", "--identity", "a", "--issuer", "i"], "alternatives"),
        (["--key", "K", "--trust-config", "T"], "apply only to keyless"),
    ],
)
def test_verify_usage_errors(
    runner: CliRunner, model: Path, keys: KeyPair, args: list[str], message: str
) -> None:
    assert _run(runner, "sign", model, "--key", keys.private).exit_code == 0
    result = _run(runner, "verify", model, *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No signature at"), ("garbage", "not valid JSON"), ("{}", "not a Sigstore bundle")],
    ids=["missing", "not-json", "not-bundle"],
)
def test_verify_unreadable_bundle_exits_3(
    runner: CliRunner, model: Path, keys: KeyPair, content: str | None, message: str
) -> None:
    if content is not None:
        (model / "model.sig").write_text(content)
    result = _run(runner, "verify", model, "--key", keys.public)
    assert result.exit_code == 3
    assert message in result.stderr


def test_verify_wrong_key_exits_1(
    runner: CliRunner, model: Path, keys: KeyPair, tmp_path: Path
) -> None:
    assert _run(runner, "sign", model, "--key", keys.private).exit_code == 0
    other = write_key(tmp_path, "other")
    result = _run(runner, "verify", model, "--key", other.public)
    assert result.exit_code == 1
    assert "different key" in result.stderr


def test_verify_public_good_fixture(runner: CliRunner, public_good_model: Path) -> None:
    ok = _run(
        runner,
        "verify",
        public_good_model,
        "--identity",
        PUBLIC_GOOD_IDENTITY,
        "--issuer",
        PUBLIC_GOOD_ISSUER,
    )
    assert ok.exit_code == 0, ok.output
    assert "logged 2025-10-10T02:12:20Z" in ok.stdout
    assert "ignore-me" in ok.stdout
    wrong = _run(
        runner,
        "verify",
        public_good_model,
        "--identity",
        "eve@example.com",
        "--issuer",
        PUBLIC_GOOD_ISSUER,
    )
    assert wrong.exit_code == 1
    assert f"signed by identity {PUBLIC_GOOD_IDENTITY} instead of eve@example.com" in wrong.stderr
    missing = _run(runner, "verify", public_good_model)
    assert missing.exit_code == 2
    assert "--identity" in missing.stderr


# --- interop with the upstream model_signing CLI -------------------------------------------


def _upstream(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_upstream_verifies_mlchain_signature(runner: CliRunner, model: Path, keys: KeyPair) -> None:
    assert _run(runner, "sign", model, "--key", keys.private).exit_code == 0
    done = _upstream(
        "verify", "key", "--public_key", keys.public, "--signature", model / "model.sig", model
    )
    assert done.returncode == 0, done.stderr
    (model / "weights-2.bin").write_bytes(b"x")
    assert (
        _upstream(
            "verify", "key", "--public_key", keys.public, "--signature", model / "model.sig", model
        ).returncode
        != 0
    )


def test_mlchain_verifies_upstream_signature(runner: CliRunner, model: Path, keys: KeyPair) -> None:
    done = _upstream(
        "sign", "key", "--private_key", keys.private, "--signature", model / "model.sig", model
    )
    assert done.returncode == 0, done.stderr
    result = _run(runner, "verify", model, "--key", keys.public)
    assert result.exit_code == 0, result.output
    (model / "weights-2.bin").write_bytes(b"x")
    assert _run(runner, "verify", model, "--key", keys.public).exit_code == 1


def test_help_does_not_import_signing_libraries() -> None:
    code = (
        "import sys\n"
        "from mlchain.cli import app\n"
        "from typer.testing import CliRunner\n"
        "for args in (['--help'], ['sign', '--help'], ['verify', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "heavy = ('model_signing', 'sigstore', 'sigstore_models')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_bad_option_value_is_usage_error_without_traceback(model: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "mlchain", "sign", str(model), "--hash", "md5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--hash" in done.stderr


def test_json_stdout_stays_clean_for_bundles_without_key_hint(
    runner: CliRunner, model: Path, keys: KeyPair
) -> None:
    assert _run(runner, "sign", model, "--key", keys.private).exit_code == 0
    bundle = json.loads((model / "model.sig").read_text())
    del bundle["verificationMaterial"]["publicKey"]["hint"]  # older model-signing bundles
    (model / "model.sig").write_text(json.dumps(bundle))
    result = _run(runner, "verify", model, "--key", keys.public, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verified"] is True
