"""Our tar header reader against tarfile, and against tarfile's quadratic pax parsing."""

from __future__ import annotations

import io
import tarfile
import time

import pytest
from fixtures.gen_containers import build_tar, payload, tar_file
from hypothesis import given, settings
from hypothesis import strategies as st

from container_helpers import MALICIOUS, rules, scan_bytes
from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.tarreader import read_members


def tarfile_view(data: bytes) -> list[tuple[str, str, int, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return [(m.name, m.linkname, m.size, m.offset_data, m.type) for m in archive.getmembers()]


def ours(data: bytes) -> list[tuple[str, str, int, int, bytes]]:
    listing = read_members(data, max_members=1000)
    assert listing.error is None
    return [(m.name, m.linkname, m.size, m.data_offset, m.type) for m in listing.members]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_matches_tarfile(fmt: int) -> None:
    buf = io.BytesIO()
    long_name = "deep/" * 40 + "model.pkl"
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in [("a.txt", b"hello"), (long_name, payload(2)), ("dir/é.bin", b"x" * 700)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("l")
        link.type = tarfile.SYMTYPE
        link.linkname = "target/" * (10 if fmt == tarfile.USTAR_FORMAT else 30)
        tar.addfile(link)
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
    data = buf.getvalue()
    assert ours(data) == tarfile_view(data)


def test_real_fixture_tar() -> None:
    data = (MALICIOUS / "torch_tar_payload_in_tensors.tar").read_bytes()
    assert ours(data) == tarfile_view(data)


def test_pax_parsing_is_linear_where_tarfile_is_quadratic() -> None:
    # CVE-2024-6232: a pax header of digits makes tarfile's regex backtrack quadratically.
    body = b"1" * 400_000
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(body)
    data = info.tobuf(format=tarfile.USTAR_FORMAT) + body + bytes(-len(body) % 512) + bytes(1024)
    start = time.monotonic()
    found = scan_bytes(data, F.TAR)
    assert time.monotonic() - start < 1.0
    assert "parse-error" in rules(found)


def test_bad_checksum_stops_like_tarfile() -> None:
    data = bytearray(build_tar([tar_file("a.pkl", b"N."), tar_file("b.pkl", payload(2))]))
    second = 1024  # header of the second member
    data[second + 150] ^= 0xFF
    listing = read_members(bytes(data), max_members=10)
    assert [m.name for m in listing.members] == ["a.pkl"]
    assert listing.error is not None
    assert "tarfile stop" in listing.error


def test_member_limit() -> None:
    data = build_tar([tar_file(f"f{i}", b"") for i in range(5)])
    listing = read_members(data, max_members=3)
    assert len(listing.members) == 3
    assert listing.overflow


def test_base256_size() -> None:
    info = tarfile.TarInfo("big")
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = b"\x80" + (5).to_bytes(11, "big")
    header[148:156] = b"        "
    checksum = sum(header)
    header[148:156] = f"{checksum:06o}\x00 ".encode()
    data = bytes(header) + b"hello" + bytes(507) + bytes(1024)
    assert [(m.name, m.size) for m in read_members(data, max_members=5).members] == [("big", 5)]


@settings(max_examples=150, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=10),
    cut=st.none() | st.integers(0, 3000),
)
def test_damaged_tars_never_raise(flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(build_tar([tar_file("a.pkl", payload(2)), tar_file("b/c.txt", b"x" * 600)]))
    for pos, value in flips:
        data[pos % len(data)] = value
    listing = read_members(bytes(data[:cut] if cut is not None else data), max_members=100)
    assert all(m.size >= 0 for m in listing.members)
