"""Hashing progress and Ctrl-C during hashing (issue #18 item 5; UX audit 3.3, 3.9).

Ctrl-C 20 s into signing a 20 GiB file took effect 35 s later: model-signing's thread pool
waited for its running worker. Now the workers stop within one 1 MiB read.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import FIXTURES, run_cli
from mlchain.cli import progress
from mlchain.signing import hashwatch
from signing_helpers import write_key

SRC = Path(__file__).resolve().parents[2] / "src"
BIG = 8 << 30  # sparse: reads fast and costs no disk, but takes seconds to hash


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("MLCHAIN_NO_PROGRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mlchain", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background has SIGINT ignored, and children inherit that
        # (see tests/hardening/test_signals.py): give the child the terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt_while_hashing(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """Wait for the CI log line that hashing started, SIGINT 0.5 s later; time the exit."""
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 60)
    assert ready, "the child never started hashing"
    first = proc.stderr.readline()
    assert first.startswith("hashing "), first
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return time.monotonic() - sent, first + rest


def _big_model(tmp_path: Path) -> Path:
    model = tmp_path / "big"
    model.mkdir()
    with (model / "model.safetensors").open("wb") as f:
        f.truncate(BIG)
    return model


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_stops_signing_within_a_second_and_writes_nothing(tmp_path: Path) -> None:
    model = _big_model(tmp_path)
    pair = write_key(tmp_path)
    proc = _start(tmp_path, "sign", str(model), "--key", str(pair.private))
    took, stderr = _interrupt_while_hashing(proc)
    assert proc.returncode == 130, stderr
    assert took < 1.5, f"exit took {took:.2f} s after SIGINT"
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in model.iterdir()) == ["model.safetensors"]  # no model.sig


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_stops_verifying_within_a_second(tmp_path: Path) -> None:
    model = _big_model(tmp_path)
    pair = write_key(tmp_path)
    (model / "model.safetensors").write_bytes(b"small while signing")
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    with (model / "model.safetensors").open("r+b") as f:
        f.truncate(BIG)
    proc = _start(tmp_path, "verify", str(model), "--key", str(pair.public))
    took, stderr = _interrupt_while_hashing(proc)
    assert proc.returncode == 130, stderr
    assert took < 1.5, f"exit took {took:.2f} s after SIGINT"
    assert "Traceback" not in stderr


def _small_model(tmp_path: Path) -> Path:
    model = tmp_path / "llama"
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", model)
    return model


def test_ci_logs_one_line_per_big_step_with_throughput(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a terminal: a start line and `hashed X in T s (R MiB/s)`, no bar, no `\\r`."""
    monkeypatch.setattr(progress, "LOG_MIN_BYTES", 1)
    model = _small_model(tmp_path)
    pair = write_key(tmp_path)
    result = run_cli("sign", str(model), "--key", str(pair.private))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("hashing ") and lines[0].endswith(" ...")
    assert any(
        line.startswith("hashed ") and line.endswith(" MiB/s)") and " in " in line for line in lines
    ), lines
    assert "\r" not in result.stderr


def test_blake3_summary_counts_the_bytes_it_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BLAKE3 reads through mmap, which the read counter never sees: the summary once said
    `hashed 0 B`. A completed run reports every byte of the model."""
    monkeypatch.setattr(progress, "LOG_MIN_BYTES", 1)
    model = _small_model(tmp_path)
    pair = write_key(tmp_path)
    total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    result = run_cli("sign", str(model), "--key", str(pair.private), "--hash", "blake3")
    assert result.exit_code == 0, result.stderr
    summary = [line for line in result.stderr.splitlines() if line.startswith("hashed ")]
    assert summary and not summary[0].startswith("hashed 0 B"), result.stderr
    assert summary[0].startswith(f"hashed {progress.human_bytes(total)} in "), summary


@pytest.mark.parametrize("flag", ["--no-progress", "-q"])
def test_no_progress_and_quiet_silence_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr(progress, "LOG_MIN_BYTES", 1)
    model = _small_model(tmp_path)
    pair = write_key(tmp_path)
    assert run_cli("sign", str(model), "--key", str(pair.private)).exit_code == 0
    result = run_cli("verify", str(model), "--key", str(pair.public), flag)  # after the command
    assert result.exit_code == 0, result.stderr
    assert "hashing" not in result.stderr
    assert "hashed" not in result.stderr


def test_throughput_line_reads_like_the_brief() -> None:
    done = hashwatch.HashProgress(total_bytes=20 << 30, files=1, done_bytes=20 << 30)
    done.started -= 35
    assert progress.throughput_line(done) == "hashed 20.0 GiB in 35 s (585 MiB/s)"


def test_cancelled_hashing_stops_at_the_next_read(tmp_path: Path) -> None:
    """Workers check the flag before every read: a cancelled run raises, never finishes."""
    from model_signing._hashing import io as hashing_io

    from mlchain.signing import _oms

    data = tmp_path / "f.bin"
    data.write_bytes(b"\0" * (3 << 20))
    watched = hashwatch.HashProgress(total_bytes=3 << 20, files=1)
    with _oms.watched_reads(watched.add, watched.check):
        hasher = hashing_io.SimpleFileHasher(data, _sha256())
        hasher.compute()
        assert watched.done_bytes == 3 << 20
        watched.cancelled.set()
        with pytest.raises(hashwatch.HashingCancelled):
            hasher.compute()
    assert "open" not in vars(hashing_io)  # the builtin is back


def _sha256():  # type: ignore[no-untyped-def]
    from model_signing._hashing import memory

    return memory.SHA256()


def test_keyboard_interrupt_cancels_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C on the waiting main thread sets the flag; the worker stops at its next read."""
    from model_signing._hashing import io as hashing_io

    data = tmp_path / "f.bin"
    data.write_bytes(b"\0" * (1 << 20))
    ended = threading.Event()

    def endless() -> None:  # model-signing hashing a file that never ends
        try:
            while True:
                hashing_io.SimpleFileHasher(data, _sha256()).compute()
        finally:
            ended.set()

    class CtrlC:
        def start(self, progress: hashwatch.HashProgress) -> None:
            pass

        def update(self, progress: hashwatch.HashProgress) -> None:
            raise KeyboardInterrupt  # what SIGINT raises on the main thread

        def finish(self, progress: hashwatch.HashProgress, *, completed: bool) -> None:
            assert not completed

    monkeypatch.setattr(hashwatch, "_reporter", CtrlC())
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        hashwatch.run_hashing(endless, [data])
    assert ended.is_set()
    assert time.monotonic() - started < 1.0


class _Terminal:
    """A stderr that says it is a terminal."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_interrupt_message_starts_on_a_fresh_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`^Cerror: interrupted` was written over `scanning 1150/8070 files` (UX audit 3.9)."""
    from mlchain.cli import console

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(console.state, "quiet", False)
    monkeypatch.setattr(console.state, "no_progress", False)
    monkeypatch.setattr(console.state, "progress_line_open", False)
    count = progress.scan_counter()
    assert count is not None
    for done in range(1, 31):
        count(done, 100)
    assert terminal.text.endswith("\rscanning 30/100 files")
    console.error("interrupted; no output was written.")
    assert terminal.text.endswith(
        "scanning 30/100 files\nerror: interrupted; no output was written.\n"
    )


def test_scan_counter_is_off_without_a_terminal_or_with_no_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlchain.cli import console

    monkeypatch.setattr(console.state, "no_progress", False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setattr(console.state, "no_progress", True)
    assert progress.scan_counter() is None
