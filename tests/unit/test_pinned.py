"""mlchain.pinned: one open per file, shared by the gate's hashing and scanning (issue #15.5)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.pinned import PinnedPath, active, hash_fd, pinned


@pytest.mark.parametrize("preadv", [True, False])
def test_hash_fd_is_the_whole_file_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preadv: bool
) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    if not preadv:
        monkeypatch.delattr(os, "preadv", raising=False)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 17, os.SEEK_SET)  # the descriptor's offset does not matter
        digest = hashlib.sha256()
        hash_fd(fd, digest, chunk=1 << 20)
    finally:
        os.close(fd)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_pinned_path_reads_the_pinned_file_after_a_rename_over_it(tmp_path: Path) -> None:
    victim = tmp_path / "w.bin"
    victim.write_bytes(b"signed bytes")
    with pinned([(victim, None)]) as pins:
        assert active() is pins
        swapped = tmp_path / "w.tmp"
        swapped.write_bytes(b"other")
        swapped.replace(victim)
        path = pins.path(victim)
        assert isinstance(path, PinnedPath)
        assert path.read_bytes() == b"signed bytes"
        with path.open("rb") as first:
            first.read(3)
        with path.open("rb") as again:  # every handle starts at offset 0
            assert again.read() == b"signed bytes"
        assert path.stat().st_size == len(b"signed bytes")
        assert path.parent == tmp_path and path.name == "w.bin"
        with pytest.raises(PermissionError):
            path.open("wb")
        assert victim.read_bytes() == b"other"  # the name itself is untouched
    assert active() is None


def test_changed_reports_a_write_into_the_pinned_file(tmp_path: Path) -> None:
    victim = tmp_path / "w.bin"
    victim.write_bytes(b"0123456789")
    st = victim.stat()
    listed = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with pinned([(victim, listed)]) as pins:
        assert pins.changed() == []
        time.sleep(0.05)  # past the kernel's coarse timestamp tick since the file was created
        with victim.open("r+b") as handle:
            handle.write(b"0")  # same bytes, new ctime
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back: ctime moves
        assert pins.changed() == [os.path.realpath(victim)]


def test_special_files_are_never_pinned(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pinned([(fifo, None), (tmp_path, None)]) as pins:  # no blocking open, no folder
        assert pins.path(fifo) is None
        assert pins.path(tmp_path) is None


def test_detection_reads_the_pinned_file_not_the_name(tmp_path: Path) -> None:
    # read_head opens plain paths itself (no buffered file object); a PinnedPath must still
    # be read through its descriptor, or a file swapped after hashing would be scanned instead.
    from mlchain.scan.detect import read_head

    victim = tmp_path / "w.bin"
    victim.write_bytes(b"signed bytes")
    with pinned([(victim, None)]) as pins:
        swapped = tmp_path / "w.tmp"
        swapped.write_bytes(b"other")
        swapped.replace(victim)
        path = pins.path(victim)
        assert path is not None
        assert read_head(path) == b"signed bytes"
        assert read_head(victim) == b"other"


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(-1, 5000)),
        st.tuples(st.just("readinto"), st.integers(0, 5000)),
        st.tuples(st.just("seek"), st.integers(-100, 6000), st.sampled_from([0, 1, 2])),
        st.tuples(st.just("tell")),
        st.tuples(st.just("readline")),
        st.tuples(st.just("other")),  # the other handle reads: offsets are not shared
    ),
    max_size=25,
)


def _apply(handle: Any, other: Any, op: tuple[Any, ...]) -> object:
    try:
        if op[0] == "read":
            return handle.read(op[1])
        if op[0] == "readinto":
            buffer = bytearray(op[1])
            return handle.readinto(buffer), bytes(buffer)
        if op[0] == "seek":
            return handle.seek(op[1], op[2])
        if op[0] == "tell":
            return handle.tell()
        if op[0] == "readline":
            return handle.readline()
        return other.read(777)
    except (OSError, ValueError) as exc:
        return type(exc).__name__


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=5000), ops=_OPS, buffering=st.sampled_from([-1, 0, 64]))
def test_a_pinned_handle_reads_like_a_file_opened_by_name(
    tmp_path: Path, data: bytes, ops: list[tuple[Any, ...]], buffering: int
) -> None:
    # Differential: every operation on a handle of the pinned file returns what the same
    # operation returns on the file opened by name, while a second handle reads in between
    # (two handles of one file never share an offset, whichever way it was opened).
    victim = tmp_path / "w.bin"
    victim.write_bytes(data)
    with pinned([(victim, None)]) as pins:
        path = pins.path(victim)
        assert path is not None
        with (
            path.open("rb", buffering=buffering) as mine,
            path.open("rb") as my_other,
            victim.open("rb", buffering=buffering) as theirs,
            victim.open("rb") as their_other,
        ):
            for op in ops:
                assert _apply(mine, my_other, op) == _apply(theirs, their_other, op), op
            assert os.fstat(mine.fileno()).st_ino == os.fstat(theirs.fileno()).st_ino


def test_a_pinned_handle_reads_text_and_keeps_the_descriptor_open(tmp_path: Path) -> None:
    victim = tmp_path / "t.txt"
    victim.write_text("one\ntwo\n", encoding="utf-8")
    with pinned([(victim, None)]) as pins:
        path = pins.path(victim)
        assert path is not None
        assert path.read_text(encoding="utf-8") == "one\ntwo\n"
        with path.open("r", encoding="utf-8") as handle:
            assert handle.readline() == "one\n"
        handle = path.open("rb")
        handle.close()
        with pytest.raises(ValueError, match="closed file"):
            handle.read()
        assert path.read_bytes() == b"one\ntwo\n"  # closing a handle left the pin open
        for mode in ("wb", "ab", "r+b", "xb"):
            with pytest.raises(PermissionError):
                path.open(mode)
