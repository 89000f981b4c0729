"""mlchain.pinned: one open per file, shared by the gate's hashing and scanning (issue #15.5)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

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
