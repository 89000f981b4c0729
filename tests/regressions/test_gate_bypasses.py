"""Attacks on `mlchain verify` and the deploy gate (`verify --policy`), one test each.

Each test reproduces an attack of the red-team review (mlchain issue #15; the review's commands
are in shared/reviews/SECURITY_REVIEW.md) through the CLI and shows it refused with the
documented exit code. There is no public advisory for these: the reference is the issue item.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import FIXTURES, run_cli
from signing_helpers import write_key

EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."
"""The review's 27-byte protocol-0 pickle (critical pickle-dangerous-call); never loaded."""


@contextlib.contextmanager
def _deadline(seconds: int = 20) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a FIFO open."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError("mlchain blocked (a FIFO was opened for a blocking read?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fresh(tmp_path: Path, name: str = "m") -> tuple[Path, Path, Path]:
    """A small signed model (config.json, model.safetensors, sub/tok.txt): (model, key, pub)."""
    keys = write_key(tmp_path, "signer")
    model = tmp_path / name
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type":"bert"}\n')
    shutil.copy(
        FIXTURES / "safetensors" / "benign" / "f32.safetensors", model / "model.safetensors"
    )
    (model / "sub" / "tok.txt").write_text("hello\n")
    signed = run_cli("sign", str(model), "--key", str(keys.private))
    assert signed.exit_code == 0, signed.stderr
    return model, keys.private, keys.public


def _key_policy(tmp_path: Path, public: Path, extra: str = "", *, strict: bool = True) -> Path:
    path = tmp_path / "keypolicy.yaml"
    path.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: key-gate\n"
        f"spec:\n  authorities:\n    - name: release-key\n      key:\n        path: {public}\n"
        f"  scan:\n    failOn: medium\n    strict: {'true' if strict else 'false'}\n" + extra
    )
    return path


def _gate(model: Path, policy: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    with _deadline():
        result = run_cli("verify", str(model), "--policy", str(policy), "-f", "json", *extra)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


# --- 15.7: special files as inputs ------------------------------------------------------------


def test_fifo_signature_is_refused_at_once(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: a FIFO at ``model.sig`` hung plain ``mlchain verify`` forever
    (and the "which method?" probe too). It is refused at once: exit 3, could not check."""
    model, _, public = _fresh(tmp_path)
    (model / "model.sig").unlink()
    os.mkfifo(model / "model.sig")
    with _deadline():
        result = run_cli("verify", str(model), "--key", str(public))
        probe = run_cli("verify", str(model))
    assert result.exit_code == 3, result.stderr
    assert "FIFO" in result.stderr
    assert probe.exit_code == 2  # no method given: a usage error, not a hang


def test_fifo_signature_under_policy_is_denied(tmp_path: Path) -> None:
    """mlchain issue #15, item 7 (the gate side): a FIFO ``model.sig`` denies (exit 1)."""
    model, _, public = _fresh(tmp_path)
    (model / "model.sig").unlink()
    os.mkfifo(model / "model.sig")
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 1
    assert report["allowed"] is False


@pytest.mark.parametrize("where", ["attestation", "verify-attestation", "policy", "key", "chain"])
def test_fifo_input_files_are_refused_at_once(tmp_path: Path, where: str) -> None:
    """mlchain issue #15, item 7: a FIFO given as ``--attestation``, to ``verify-attestation``,
    as ``--policy``, as ``--key`` or as ``--certificate-chain`` is refused (exit 2 or 3),
    never opened for a blocking read."""
    model, _, public = _fresh(tmp_path)
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    args = {
        "attestation": ["verify", str(model), "--key", str(public), "--attestation", str(fifo)],
        "verify-attestation": ["verify-attestation", str(fifo), str(model), "--key", str(public)],
        "policy": ["verify", str(model), "--policy", str(fifo)],
        "key": ["verify", str(model), "--key", str(fifo)],
        "chain": ["verify", str(model), "--certificate-chain", str(fifo)],
    }[where]
    with _deadline():
        result = run_cli(*args)
    assert result.exit_code in (1, 2, 3), result.stderr
    if where != "chain":  # a key bundle checked with a chain is refused on the method first
        assert result.exit_code in (2, 3)
        assert "FIFO" in result.stderr or "not a regular file" in result.stderr


def test_fifo_attestation_in_gate_is_an_unverified_entry(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: ``--attestation FIFO`` under ``--policy`` is recorded as an
    unreadable bundle (and the gate still decides), never a blocking read."""
    model, _, public = _fresh(tmp_path)
    fifo = tmp_path / "att.json"
    os.mkfifo(fifo)
    code, report = _gate(model, _key_policy(tmp_path, public), "--attestation", str(fifo))
    entries = report["verification"]["attestations"]
    assert entries and entries[0]["verified"] is False
    assert "FIFO" in entries[0]["errors"][0]
    assert code == 0  # the attestation was optional; the signature and scan hold


def test_fifo_signing_key_is_refused(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: ``mlchain sign --key FIFO`` fails at once (exit 3)."""
    model, _, _ = _fresh(tmp_path)
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    with _deadline():
        result = run_cli("sign", str(model), "--key", str(fifo))
    assert result.exit_code == 3, result.stderr
    assert "FIFO" in result.stderr
