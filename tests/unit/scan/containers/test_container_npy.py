"""NumPy header parsing and object-array scanning."""

from __future__ import annotations

import pytest
from fixtures.gen_containers import npy_header, payload

from container_helpers import BENIGN, MALICIOUS, rules, scan_bytes
from mlchain.models import ArtifactFormat as F
from mlchain.models import Severity
from mlchain.scan.containers.npy import NpyError, parse_header


@pytest.mark.parametrize(
    ("name", "version", "has_object"),
    [
        ("numpy_float32.npy", (1, 0), False),
        ("numpy_v2.npy", (2, 0), False),
        ("numpy_v3.npy", (3, 0), False),
        ("numpy_scalar.npy", (1, 0), False),
        ("numpy_strings.npy", (1, 0), False),
    ],
)
def test_real_numpy_headers(name: str, version: tuple[int, int], has_object: bool) -> None:
    header = parse_header((BENIGN / name).read_bytes())
    assert header.version == version
    assert header.has_object is has_object
    assert header.data_offset % 64 == 0


def test_object_array_header_is_detected() -> None:
    header = parse_header((MALICIOUS / "numpy_object_array.npy").read_bytes())
    assert header.has_object
    assert header.descr == "|O"


@pytest.mark.parametrize(
    "descr",
    ["[('a', '<i4'), ('b', '|O')]", "[('a', [('x', '|O')])]", "[('a', '|O', (2,))]", "'<O8'"],
)
def test_structured_and_sized_object_dtypes(descr: str) -> None:
    text = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode()
    data = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    assert parse_header(data).has_object


@pytest.mark.parametrize(
    "data",
    [
        b"\x93NUMPY\x09\x00\x10\x00",  # unknown version
        b"\x93NUMPY\x01\x00\xff\x00{'descr'",  # truncated
        b"\x93NUMPY\x01\x00\x0c\x00__import__()",  # not a literal
        b"\x93NUMPY\x01\x00\x0b\x00{'descr':1}",  # wrong keys
        npy_header("|O", (-1,)),  # negative shape
        npy_header("<f4; rm", (1,)),  # not a dtype
    ],
)
def test_invalid_headers_raise_npy_error(data: bytes) -> None:
    with pytest.raises(NpyError):
        parse_header(data)


def test_header_size_limit() -> None:
    with pytest.raises(NpyError, match="exceeds"):
        parse_header(npy_header("<f4", (1,), version=2), max_header=10)


def test_plain_array_is_clean_without_reading_data() -> None:
    # Data after the header is garbage that would fail as a pickle: it must not be read.
    data = npy_header("<f4", (4,)) + b"\xff" * 16
    assert scan_bytes(data, F.NUMPY) == []


def test_object_array_pickle_is_scanned() -> None:
    found = scan_bytes(npy_header("|O", (1,)) + payload(3), F.NUMPY)
    assert "pickle-dangerous-call" in rules(found, Severity.CRITICAL)


def test_object_array_without_pickle_is_a_parse_error() -> None:
    assert rules(scan_bytes(npy_header("|O", (1,)), F.NUMPY)) == {"parse-error"}


def test_invalid_header_is_a_finding_not_an_exception() -> None:
    assert rules(scan_bytes(b"\x93NUMPY\x01\x00\x05\x00{{{{{", F.NUMPY)) == {"parse-error"}
