"""The lenient zip reader: what torch's miniz accepts, read without raising."""

from __future__ import annotations

import io
import struct
import zipfile

from fixtures.gen_containers import Member, build_zip

from container_helpers import BENIGN
from mlchain.scan.containers.zipreader import (
    ZipDirectory,
    find_eocd,
    member_chunks,
    read_directory,
)


def kinds(directory: ZipDirectory) -> list[str]:
    return [p.kind for p in directory.problems]


def test_reads_real_torch_archive_with_its_zip64_end_record() -> None:
    data = (BENIGN / "torch_state_dict.pt").read_bytes()
    directory = read_directory(data)
    assert directory.ok
    assert directory.problems == []
    assert directory.prepended == 0
    names = directory.names
    assert "archive/data.pkl" in names
    assert any(n.startswith("archive/data/") for n in names)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert names == z.namelist()
        for info, entry in zip(z.infolist(), directory.entries, strict=True):
            assert entry.crc == info.CRC
            assert entry.uncompressed_size == info.file_size
            assert b"".join(member_chunks(data, entry)) == z.read(info)


def test_matches_zipfile_on_deflated_members_and_zip64() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"hello " * 100)
        with z.open("big.bin", "w", force_zip64=True) as handle:
            handle.write(b"x" * 1000)
    directory = read_directory(buf.getvalue())
    assert directory.ok
    assert directory.names == ["a.txt", "big.bin"]
    assert all(e.method == 8 for e in directory.entries)
    assert [e.uncompressed_size for e in directory.entries] == [600, 1000]


def test_name_mismatch_is_suspicious_and_central_name_wins() -> None:
    data = build_zip([Member("archive/data.pkl", b"abc", local_name="archive/other.txt")])
    directory = read_directory(data)
    assert directory.names == ["archive/data.pkl"]
    assert kinds(directory) == ["suspicious"]
    entry = directory.entries[0]
    assert b"".join(member_chunks(data, entry)) == b"abc"


def test_bad_crc_and_flag_bits_do_not_stop_reading() -> None:
    data = build_zip([Member("a.pkl", b"abc", crc=1, flags=0x0041)])
    directory = read_directory(data)
    assert directory.ok
    assert directory.entries[0].crc == 1
    assert kinds(directory) == ["malformed"]  # flags; the CRC is checked by the scanner


def test_prepended_bytes_are_found_and_offsets_shifted() -> None:
    data = build_zip([Member("a.txt", b"payload")], prepend=b"#!/bin/sh\nexit 0\n")
    directory = read_directory(data)
    assert directory.prepended == len(b"#!/bin/sh\nexit 0\n")
    assert "malformed" in kinds(directory)
    assert b"".join(member_chunks(data, directory.entries[0])) == b"payload"


def test_overlapping_members_are_a_bomb() -> None:
    data = build_zip([Member("w.bin", bytes(1000), method=8)], overlap=3)
    directory = read_directory(data)
    assert kinds(directory).count("bomb") == 3


def test_member_limit_is_reported() -> None:
    data = build_zip([Member(f"m{i}", b"") for i in range(5)])
    directory = read_directory(data, max_members=2)
    assert len(directory.entries) == 2
    assert "limit" in kinds(directory)


def test_no_end_record_is_fatal() -> None:
    directory = read_directory(b"PK\x03\x04" + bytes(100))
    assert not directory.ok
    assert kinds(directory) == ["fatal"]


def test_truncated_archive_reports_missing_entries() -> None:
    data = build_zip([Member("a", b"1"), Member("b", b"2")])
    eocd = find_eocd(data)
    # Claim one more entry than exists.
    broken = data[: eocd + 8] + struct.pack("<HH", 3, 3) + data[eocd + 12 :]
    directory = read_directory(broken)
    assert len(directory.entries) == 2
    assert "malformed" in kinds(directory)


def test_eocd_with_comment_is_found() -> None:
    data = build_zip([Member("a", b"1")])
    commented = data[:-2] + struct.pack("<H", 5) + b"hello"
    assert find_eocd(commented) == find_eocd(data)
    assert read_directory(commented).names == ["a"]


def test_symlink_mode_is_recognised() -> None:
    entry = read_directory(build_zip([Member("l", b"/etc", mode=0o120777)])).entries[0]
    assert entry.is_symlink
    assert not entry.is_special


def test_utf8_flag_differing_between_headers_is_malformed_not_fatal() -> None:
    data = build_zip([Member("modèle/data.pkl", b"N.", flags=0x0800, local_flags=0)])
    directory = read_directory(data)
    assert directory.names == ["modèle/data.pkl"]
    assert kinds(directory) == ["malformed"]


def test_trailing_bytes_after_end_record_are_tolerated() -> None:
    data = build_zip([Member("a", b"1")])
    claimed = data[:-2] + struct.pack("<H", 200)  # comment length past the end of the file
    assert read_directory(claimed).names == ["a"]
    assert read_directory(data + b"\x00" * 10).names == ["a"]


def test_names_only_skips_local_headers() -> None:
    data = build_zip([Member("a.pkl", b"x", local_name="b.pkl")])
    quick = read_directory(data, names_only=True)
    assert quick.names == ["a.pkl"]
    assert quick.problems == []
    assert quick.entries[0].data_offset == -1
    assert kinds(read_directory(data)) == ["suspicious"]


def test_entry_hidden_beyond_the_declared_count_is_read() -> None:
    data = build_zip([Member("a.txt", b"1"), Member("hidden.pkl", b"2")])
    eocd = find_eocd(data)
    # Declare one entry: miniz sees only a.txt, zipfile (walking the directory size) sees both.
    patched = data[: eocd + 8] + struct.pack("<HH", 1, 1) + data[eocd + 12 :]
    with zipfile.ZipFile(io.BytesIO(patched)) as z:
        assert z.namelist() == ["a.txt", "hidden.pkl"]
    directory = read_directory(patched)
    assert directory.names == ["a.txt", "hidden.pkl"]
    assert "suspicious" in kinds(directory)
