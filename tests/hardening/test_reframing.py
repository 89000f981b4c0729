"""Detection does not depend on where the payload sits (mlchain issue #13, classes 2 and 6).

The attacker has read ``src/mlchain/scan``: wherever our model of a loader is looser than the
loader (a sniff window, a fixed offset for a magic number, one format per file), that is the
bypass. The property below takes every malicious pickle-stream and zip fixture and re-frames it
the ways the loaders in our model tolerate:

* ``pickle.load`` (and ``torch.load``'s legacy path, and ``joblib.load`` after decompressing)
  runs the stream from offset 0, whatever the first opcodes are: a long ``BINBYTES``/``UNICODE``
  argument pushes the payload past any window, ``PROTO`` may come later, a ``GIF89a`` prefix is
  a ``BINFLOAT``;
* zip readers find the end record from the end, so bytes before (or after) an archive are fine;
* ``torch.load`` checks only for ``PK\\x03\\x04`` at offset 0 (``torch/serialization.py``:
  ``_is_zipfile``), so a pickle followed by a zip is a pickle to torch and a zip to ``zipfile``;
* ``tarfile`` (``torch.load``'s oldest format) accepts a first header by its checksum alone.

A re-framed file must never scan milder than the original. Each variant also has its own
regression test, named after it, below.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures.gen_containers import Member, build_zip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat as F
from mlchain.models import ScanResult, Severity
from mlchain.scan import ScanOptions, scan_paths
from mlchain.scan.detect import detect, read_head

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WINDOW = 64 * 1024
PAST = WINDOW + 1000
"""Padding that takes the payload past detection's 64 KiB head."""

PICKLE_FORMATS = {F.PICKLE, F.JOBLIB}
ZIP_FORMATS = {F.ZIP, F.PYTORCH_ZIP, F.TORCHSCRIPT, F.NUMPY_ZIP}


def _scan(data: bytes, tmp_path: Path, name: str = "model.bin") -> ScanResult:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_paths([path], ScanOptions(jobs=1)).results[0]


def _format(path: Path) -> F:
    return detect(path, read_head(path), path.stat().st_size).format


def _worst(result: ScanResult) -> Severity:
    return result.max_severity if result.max_severity is not None else Severity.INFO - 1  # type: ignore[return-value]


def _malicious(formats: set[F]) -> list[Path]:
    found = []
    for path in sorted(FIXTURES.glob("*/malicious/*")):
        if path.is_file() and _format(path) in formats:
            found.append(path)
    return found


PICKLES = _malicious(PICKLE_FORMATS)
ZIPS = [p for p in _malicious(ZIP_FORMATS) if p.read_bytes()[:4] == b"PK\x03\x04"]
"""Plain archives: in the polyglot fixtures the payload is the pickle in front, which bytes put
before it would make unloadable (they are re-framed by the pickle variants instead)."""


# -- the ways loaders tolerate re-framing ----------------------------------------------------


def binbytes_then_pop(n: int, fill: bytes = b"\x00") -> bytes:
    """``BINBYTES`` of ``n`` bytes, then ``POP``: a no-op prefix every pickle loader runs."""
    return b"B" + struct.pack("<I", n) + (fill * n)[:n] + b"0"


def pickle_after_sniff_window(data: bytes) -> bytes:
    return binbytes_then_pop(PAST) + data


def binbytes8_spanning_the_window(data: bytes) -> bytes:
    return b"\x8e" + struct.pack("<Q", PAST) + b"\x00" * PAST + b"0" + data


def protocol0_line_starting_late(data: bytes) -> bytes:
    return b"V" + b"x" * PAST + b"\n0" + data


def image_magic_before_the_pickle(data: bytes) -> bytes:
    # GIF89a is BINFLOAT's opcode and the first 5 of its 8 argument bytes.
    return b"GIF89a\x00\x00\x00" + b"0" + binbytes_then_pop(PAST) + data


def gzip_wrapper_late_inner_pickle(data: bytes) -> bytes:
    return gzip.compress(pickle_after_sniff_window(data))


def zlib_wrapper_late_inner_pickle(data: bytes) -> bytes:
    return zlib.compress(pickle_after_sniff_window(data))


def xz_wrapper_late_inner_pickle(data: bytes) -> bytes:
    return lzma.compress(pickle_after_sniff_window(data))


def bz2_wrapper_late_inner_pickle(data: bytes) -> bytes:
    return bz2.compress(pickle_after_sniff_window(data))


def _benign_zip() -> bytes:
    return build_zip([Member("notes.txt", b"hello")])


def pickle_zip_polyglot(data: bytes) -> bytes:
    return data + _benign_zip()


def pickle_zip_polyglot_trailing_bytes(data: bytes) -> bytes:
    return data + _benign_zip() + b"\x00" * 100


def late_pickle_as_a_zip_member(data: bytes) -> bytes:
    return build_zip([Member("weights", pickle_after_sniff_window(data))])


PICKLE_REFRAMINGS: list[Callable[[bytes], bytes]] = [
    pickle_after_sniff_window,
    binbytes8_spanning_the_window,
    protocol0_line_starting_late,
    image_magic_before_the_pickle,
    gzip_wrapper_late_inner_pickle,
    zlib_wrapper_late_inner_pickle,
    xz_wrapper_late_inner_pickle,
    bz2_wrapper_late_inner_pickle,
    pickle_zip_polyglot,
    pickle_zip_polyglot_trailing_bytes,
    late_pickle_as_a_zip_member,
]


def leading_bytes_before_a_zip(data: bytes) -> bytes:
    return b"\x00JUNK" * 20 + data


def leading_bytes_past_the_window_before_a_zip(data: bytes) -> bytes:
    return b"\xffJUNK" * (PAST // 5) + data


def trailing_bytes_after_a_zip(data: bytes) -> bytes:
    return data + b"\x00" * 100


def benign_pickle_in_front_of_a_zip(data: bytes) -> bytes:
    import pickle

    return pickle.dumps({"weights": [1.0, 2.0]}, protocol=2) + data


ZIP_REFRAMINGS: list[Callable[[bytes], bytes]] = [
    leading_bytes_before_a_zip,
    leading_bytes_past_the_window_before_a_zip,
    trailing_bytes_after_a_zip,
    benign_pickle_in_front_of_a_zip,
]


def _cases(fixtures: list[Path], reframings: list[Callable[[bytes], bytes]]) -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(path, fn, id=f"{fn.__name__}-{path.relative_to(FIXTURES)}")
        for fn in reframings
        for path in fixtures
    ]


def test_the_property_has_fixtures_to_run_on() -> None:
    assert len(PICKLES) >= 40
    assert len(ZIPS) >= 8


@pytest.mark.parametrize(
    ("fixture", "reframe"), _cases(PICKLES, PICKLE_REFRAMINGS) + _cases(ZIPS, ZIP_REFRAMINGS)
)
def test_reframing_never_turns_a_finding_into_a_pass(
    tmp_path: Path, fixture: Path, reframe: Callable[[bytes], bytes]
) -> None:
    data = fixture.read_bytes()
    before = _scan(data, tmp_path, "before.bin")
    assert before.max_severity is not None and before.max_severity >= Severity.MEDIUM
    after = _scan(reframe(data), tmp_path)
    assert _worst(after) >= _worst(before), (
        f"{reframe.__name__}: {before.max_severity} -> {after.max_severity} "
        f"({after.format.value}, skipped={after.skipped})"
    )


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pad=st.integers(min_value=0, max_value=3 * WINDOW),
    fill=st.binary(min_size=1, max_size=8),
    proto=st.sampled_from([b"", b"\x80\x02", b"\x80\x04"]),
)
def test_padding_of_any_length_and_content_reaches_the_vm(
    tmp_path: Path, pad: int, fill: bytes, proto: bytes
) -> None:
    """Wherever the window ends, whatever the padding holds, the payload is found."""
    payload = (FIXTURES / "pickle" / "malicious" / "os_system_reduce.pkl").read_bytes()
    result = _scan(proto + binbytes_then_pop(pad, fill) + payload, tmp_path)
    assert result.max_severity is Severity.CRITICAL, (pad, result.format, result.skipped)


# -- one regression per variant (mlchain issue #13, class 2/6) ---------------------------------

OS_SYSTEM = FIXTURES / "pickle" / "malicious" / "os_system_reduce.pkl"


@pytest.mark.parametrize("reframe", PICKLE_REFRAMINGS, ids=lambda fn: fn.__name__)
def test_regression_pickle_variant(tmp_path: Path, reframe: Callable[[bytes], bytes]) -> None:
    """mlchain issue #13, class 2/6: the named re-framing of an os.system pickle is critical."""
    result = _scan(reframe(OS_SYSTEM.read_bytes()), tmp_path)
    assert result.max_severity is Severity.CRITICAL, (result.format, result.skipped)


def test_regression_pickle_after_sniff_window_was_not_scanned(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: a BINBYTES prefix longer than the head hid the pickle.

    Detection accepted a head that ran out mid-stream only after 16 opcodes; one opcode with a
    long argument is enough to span the head, so the file was 'unrecognised content'.
    """
    result = _scan(pickle_after_sniff_window(OS_SYSTEM.read_bytes()), tmp_path)
    assert result.format is F.PICKLE
    assert result.skipped is None


def test_regression_image_magic_before_the_pickle_was_inert(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: 'GIF89a' is a BINFLOAT; the file was passed as an image."""
    result = _scan(image_magic_before_the_pickle(OS_SYSTEM.read_bytes()), tmp_path, "a.gif")
    assert result.format is F.PICKLE
    assert result.max_severity is Severity.CRITICAL


def test_regression_compressed_wrapper_with_late_inner_pickle(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: joblib decompresses, then unpickles from offset 0."""
    result = _scan(gzip_wrapper_late_inner_pickle(OS_SYSTEM.read_bytes()), tmp_path, "m.joblib")
    assert result.format is F.GZIP
    assert result.max_severity is Severity.CRITICAL


def test_regression_late_pickle_in_a_large_zip_member(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: a member's 64 KiB head was taken for the whole member."""
    result = _scan(late_pickle_as_a_zip_member(OS_SYSTEM.read_bytes()), tmp_path, "a.zip")
    assert result.max_severity is Severity.CRITICAL


def test_regression_zip_polyglot_with_bytes_after_the_end_record(tmp_path: Path) -> None:
    """mlchain issue #13, class 6; polyglots: https://blog.trailofbits.com/2024/03/04/relishing-new-fickling-features-for-securing-ml-systems/

    torch.load runs the pickle at offset 0; zipfile opens the archive behind it even when bytes
    follow the end record. A malicious archive behind a benign pickle must be found.
    """
    import pickle
    import zipfile

    evil = (FIXTURES / "containers" / "malicious" / "torch_payload_data_pkl.pt").read_bytes()
    data = pickle.dumps([1, 2, 3], protocol=2) + evil + b"\x00" * 64
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist()  # a zip reader opens it
    result = _scan(data, tmp_path, "model.pt")
    assert result.format in ZIP_FORMATS
    assert result.max_severity is Severity.CRITICAL


def _legacy_with_padded_magic(data: bytes) -> bytes:
    magic_pickle = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
    assert data.startswith(magic_pickle)
    padded = b"\x80\x02" + binbytes_then_pop(PAST) + magic_pickle[2:]
    return padded + data[len(magic_pickle) :]


def test_regression_legacy_magic_behind_padding(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: torch's legacy loader runs the first pickle, then compares.

    ``_legacy_load`` calls ``pickle_module.load`` and checks that the result equals the magic
    number; nothing requires the magic at a fixed offset, so a first pickle that pads before
    pushing it loads the same. The whole stream must still reach the VM.
    """
    legacy = (FIXTURES / "containers" / "malicious" / "torch_legacy_payload.pt").read_bytes()
    before = _scan(legacy, tmp_path, "before.pt")
    after = _scan(_legacy_with_padded_magic(legacy), tmp_path, "model.pt")
    assert before.max_severity is Severity.CRITICAL
    assert after.max_severity is Severity.CRITICAL, (after.format, after.skipped)


def _v7(tar_bytes: bytes) -> bytes:
    """Rewrite every header of a tar archive as a pre-POSIX (v7) header: no 'ustar' magic."""
    out = bytearray(tar_bytes)
    source = tarfile.open(fileobj=io.BytesIO(tar_bytes))
    for member in source.getmembers():
        at = member.offset
        block = bytearray(out[at : at + 512])
        block[257:265] = b"\x00" * 8
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\x00 " % sum(block)
        out[at : at + 512] = block
    return bytes(out)


def test_regression_torch_tar_without_ustar_magic(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: tarfile (torch.load's tar path) checks the checksum only."""
    original = (FIXTURES / "containers" / "malicious" / "torch_tar_payload.tar").read_bytes()
    data = _v7(original)
    assert data[257:262] != b"ustar"
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert {"sys_info", "pickle", "storages"} <= set(names)
    result = _scan(data, tmp_path, "model.tar")
    assert result.format is F.PYTORCH_TAR
    assert result.max_severity is Severity.CRITICAL


def test_regression_protocol0_payload_then_garbage(tmp_path: Path) -> None:
    """mlchain issue #13, class 2 (the nullifAI technique, without PROTO).

    pickle.load runs GLOBAL/REDUCE before it fails on the bytes after them; a protocol-0 stream
    that never reaches STOP was 'data' (clean as text, unrecognised as binary).
    """
    for tail in (b" garbage text", b"\xff\xfe\x00\x01"):
        result = _scan(b"cos\nsystem\n(S'id'\ntR" + tail, tmp_path)
        assert result.format is F.PICKLE
        assert result.max_severity is Severity.CRITICAL


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    first=st.sampled_from(list(b"BTX\x8d\x8e\x96")),
    rest=st.binary(min_size=16, max_size=64),
    size=st.integers(min_value=WINDOW + 1, max_value=(1 << 31) - 2),
)
def test_a_long_argument_past_the_end_of_the_content_is_no_pickle(
    first: int, rest: bytes, size: int
) -> None:
    """No false alarm from the window fix: an argument longer than the file is not loadable."""
    from contextlib import nullcontext

    from mlchain.scan import magic

    width = 8 if first in b"\x8d\x8e\x96" else 4
    head = bytes([first]) + (size + 1).to_bytes(8, "little")[:width] + rest
    head = head + b"\xff" * (WINDOW - len(head))
    probe = magic.Probe(head, size, lambda: nullcontext(b""), "raw.bin")
    assert magic.sniff(probe) is None


def test_regression_tar_pickle_polyglot(tmp_path: Path) -> None:
    """mlchain issue #13, class 6: a tar whose first member name is a protocol-0 pickle.

    tarfile reads the archive (its names allow newlines); pickle.load of the same file runs the
    name field from offset 0. Both readings are scanned.
    """
    import pickletools

    stream = b"cos\nsystem\n(S'id'\ntR."
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(stream.decode())
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    data = buffer.getvalue()
    ops = [op.name for op, _arg, _pos in pickletools.genops(data)]  # parses, runs nothing
    assert ops[-2:] == ["REDUCE", "STOP"]
    assert tarfile.open(fileobj=io.BytesIO(data)).getnames() == [stream.decode()]
    result = _scan(data, tmp_path, "model.pkl")
    assert result.format is F.TAR
    assert result.max_severity is Severity.CRITICAL
    assert any(f.rule_id == "pickle-dangerous-call" for f in result.findings)


def test_a_tar_whose_first_name_looks_like_opcodes_is_no_false_alarm(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("data.txt")  # DICT APPEND TUPLE APPEND STOP: fails on MARK
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    result = _scan(buffer.getvalue(), tmp_path, "model.tar")
    assert result.format is F.TAR
    assert [f.rule_id for f in result.findings if f.severity >= Severity.MEDIUM] == []


def test_regression_joblib_lzma_with_a_small_dictionary(tmp_path: Path) -> None:
    """mlchain issue #13, class 2: joblib picks lzma by ``5d 00``, any dictionary size after.

    Detection wanted ``5d 00 00``; a 4 KiB dictionary writes ``5d 00 10 00 00``.
    """
    lzma1 = [{"id": lzma.FILTER_LZMA1, "dict_size": 4096}]
    data = lzma.compress(OS_SYSTEM.read_bytes(), format=lzma.FORMAT_ALONE, filters=lzma1)
    assert data[:3] == b"\x5d\x00\x10"
    result = _scan(data, tmp_path, "model.joblib")
    assert result.format is F.XZ
    assert result.max_severity is Severity.CRITICAL


@pytest.mark.parametrize("length", [b"0x%x", b"%x", b"  %x"])
def test_regression_joblib_zfile_length_spellings(tmp_path: Path, length: bytes) -> None:
    """mlchain issue #13, class 2: joblib reads ``ZF`` + ``int(19 chars, 16)``; '0x' is optional."""
    pickled = OS_SYSTEM.read_bytes()
    header = b"ZF" + (length % len(pickled)).ljust(19)
    int(header[2:], 16)  # what joblib's read_zfile does with it
    result = _scan(header + zlib.compress(pickled), tmp_path, "model.pkl")
    assert result.format is F.ZLIB
    assert result.max_severity is Severity.CRITICAL
