"""Conveniences users of trivy, cosign and kubectl expect (issue #18 item 9)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from helpers import FIXTURES, run_cli
from mlchain.cli import app, hoist_global_flags

MALICIOUS = FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl"


def _hoist(args: list[str]) -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return hoist_global_flags(group, None, args)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["scan", "-q", "m"], ["-q", "scan", "m"]),
        (["scan", "m", "--verbose"], ["--verbose", "scan", "m"]),
        (["-v", "scan", "m"], ["-v", "scan", "m"]),
        # the value of an option is never taken for a flag
        (["scan", "-o", "-q", "m"], ["scan", "-o", "-q", "m"]),
        (["verify", "m", "--identity", "-v"], ["verify", "m", "--identity", "-v"]),
        # after `--` everything is an argument
        (["scan", "--", "-q"], ["scan", "--", "-q"]),
        # a subcommand of a group
        (["policy", "check", "-q", "--policy", "p"], ["-q", "policy", "check", "--policy", "p"]),
        (["nosuchcommand", "-q"], ["nosuchcommand", "-q"]),
    ],
)
def test_global_flags_are_hoisted_only_where_they_are_flags(
    given: list[str], expected: list[str]
) -> None:
    assert _hoist(given) == expected


def test_quiet_after_the_subcommand_silences_the_summary() -> None:
    loud = run_cli("scan", str(MALICIOUS))
    quiet = run_cli("scan", str(MALICIOUS), "-q")
    assert loud.exit_code == quiet.exit_code == 1
    assert "scanned 1 file(s)" in loud.stderr
    assert quiet.stderr == ""


def test_force_color_colours_a_piped_table() -> None:
    plain = run_cli("scan", str(MALICIOUS))
    forced = run_cli("scan", str(MALICIOUS), env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in plain.stdout
    assert "\x1b[" in forced.stdout
    both = run_cli("scan", str(MALICIOUS), env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in both.stdout  # NO_COLOR wins


def test_shell_completion_script_is_available() -> None:
    import os
    import subprocess
    import sys

    from helpers import REPO

    # Typed in a bash shell, as a user does: typer finds the shell among the command's parent
    # processes, and a test run started without a shell above it (nox run directly, in the
    # background) has none. "; exit $?" keeps bash as the parent (bash would exec a lone command).
    result = subprocess.run(
        ["bash", "-c", '"$0" -m mlchain --show-completion bash; exit $?', sys.executable],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "complete -o default -F _mlchain_completion mlchain" in result.stdout


def test_keygen_writes_a_pair_that_signs_and_verifies(tmp_path: Path) -> None:
    prefix = tmp_path / "release"
    made = run_cli(
        "keygen", "--output-key-prefix", str(prefix), env={"MLCHAIN_KEY_PASSWORD": "s3cret"}
    )
    assert made.exit_code == 0, made.stderr
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    assert b"BEGIN PUBLIC KEY" in public.read_bytes()
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    signed = run_cli(
        "sign", str(model), "--key", str(private), env={"MLCHAIN_KEY_PASSWORD": "s3cret"}
    )
    assert signed.exit_code == 0, signed.stderr
    verified = run_cli("verify", str(model), "--key", str(public))
    assert verified.exit_code == 0, verified.stderr


def test_keygen_never_overwrites_without_force(tmp_path: Path) -> None:
    prefix = tmp_path / "k"
    (tmp_path / "k.key").write_text("precious")
    env = {"MLCHAIN_KEY_PASSWORD": ""}
    refused = run_cli("keygen", "--output-key-prefix", str(prefix), env=env)
    assert refused.exit_code == 2
    assert "already exists" in refused.stderr
    assert (tmp_path / "k.key").read_text() == "precious"
    forced = run_cli("keygen", "--output-key-prefix", str(prefix), "--force", env=env)
    assert forced.exit_code == 0
    assert b"BEGIN PRIVATE KEY" in (tmp_path / "k.key").read_bytes()  # empty password: plain


def test_keygen_without_a_password_source_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("keygen", "--output-key-prefix", str(tmp_path / "k"))
    assert result.exit_code == 2
    assert "MLCHAIN_KEY_PASSWORD" in result.stderr
    assert not (tmp_path / "k.key").exists()


def test_cosign_key_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    key = tmp_path / "cosign.key"
    key.write_text(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n"
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    )
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    result = run_cli("sign", str(model), "--key", str(key), env={"MLCHAIN_KEY_PASSWORD": "x"})
    assert result.exit_code == 2
    assert "cosign key" in result.stderr
    assert "mlchain keygen" in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_says_why_it_fails(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_bytes(b"")
    result = run_cli("scan", "--strict", str(tmp_path))
    assert result.exit_code == 1
    assert "--strict: 1 file(s) were not scanned" in result.stderr
    assert "__init__.py: empty file" in result.stderr
