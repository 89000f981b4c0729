"""safetensors headers with JSON whitespace around the object (mlchain issue #14, item 5).

The reference loader (the Rust crate behind the ``safetensors`` package) validates the header as
UTF-8 and hands it to ``serde_json::from_str``, which skips JSON whitespace (space, tab, LF, CR)
before and after the object; its "must start with '{'" check is still commented out. So those
headers load and must not be false alarms; every other leading or trailing byte is refused by
the loader and stays a finding. Each case is checked against the installed loader first.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path, PurePosixPath

import pytest
from safetensors import SafetensorError
from safetensors.numpy import load

from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanContext, ScanOptions
from mlchain.scan.safetensors import check_safetensors

LOC = Location(PurePosixPath("m.safetensors"))
BODY = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
DATA = bytes(8)


def _file(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + DATA


def _padded(lead: str, trail: str) -> bytes:
    """``lead + BODY + trail``, then spaces to a multiple of 8 (as every writer pads)."""
    raw = (lead + BODY + trail).encode()
    return raw + b" " * (-len(raw) % 8)


def _loader_accepts(data: bytes) -> bool:
    try:
        load(data)
    except SafetensorError:
        return False
    return True


def _findings(data: bytes) -> list[tuple[str, Severity]]:
    ctx = ScanContext(ScanOptions())
    return [
        (f.rule_id, f.severity) for f in check_safetensors(io.BytesIO(data), len(data), LOC, ctx)
    ]


ACCEPTED = {
    "leading_space": (" ", ""),
    "leading_newline": ("\n", ""),
    "leading_tab": ("\t", ""),
    "leading_carriage_return": ("\r", ""),
    "leading_mixed": (" \r\n\t ", ""),
    "trailing_newline": ("", "\n"),
    "trailing_tab": ("", "\t"),
    "trailing_carriage_return": ("", "\r\n"),
    "both_sides": ("\n  ", "\t\n"),
}


@pytest.mark.parametrize(("lead", "trail"), list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_json_whitespace_the_loader_accepts_is_clean(lead: str, trail: str) -> None:
    data = _file(_padded(lead, trail))
    assert _loader_accepts(data)
    assert _findings(data) == []


@pytest.mark.parametrize(("lead", "trail"), list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_whitespace_headers_are_detected_and_clean_on_disk(
    lead: str, trail: str, tmp_path: Path
) -> None:
    (tmp_path / "model.safetensors").write_bytes(_file(_padded(lead, trail)))
    report = scan_paths([tmp_path])
    assert [r.format.value for r in report.results] == ["safetensors"]
    assert report.findings == ()


REFUSED = {
    "leading_form_feed": (b"\x0c", b""),
    "leading_vertical_tab": (b"\x0b", b""),
    "leading_nbsp": ("\u00a0".encode(), b""),
    "leading_bom": (b"\xef\xbb\xbf", b""),
    "leading_nul": (b"\x00", b""),
    "trailing_form_feed": (b"", b"\x0c"),
    "trailing_nul": (b"", b"\x00"),
    "trailing_nbsp": (b"", "\u00a0".encode()),
}


@pytest.mark.parametrize(("lead", "trail"), list(REFUSED.values()), ids=list(REFUSED))
def test_other_padding_the_loader_refuses_is_a_finding(lead: bytes, trail: bytes) -> None:
    raw = lead + BODY.encode() + trail
    data = _file(raw + b" " * (-len(raw) % 8))
    assert not _loader_accepts(data)
    assert ("safetensors-invalid-header", Severity.HIGH) in _findings(data)


def test_whitespace_only_header_is_a_finding() -> None:
    data = struct.pack("<Q", 8) + b" " * 8
    assert not _loader_accepts(data)
    assert ("safetensors-invalid-header", Severity.HIGH) in _findings(data)
