"""One test per framing bypass in NumPy and joblib files (mlchain issue #13, classes 4 and 5).

Class 4: joblib reads raw array bytes (or a nested pickle) straight from the file after each
``NumpyArrayWrapper`` BUILD; a wrapper whose attributes make joblib read a different number of
bytes than we skip would hide the opcodes joblib runs next. Class 5: every ``descr`` spelling
numpy resolves to an object dtype makes ``numpy.load`` unpickle the data. Each stream here is
assembled by hand with the payload ``os.system`` placed where the real reader goes next (the
offsets are checked against joblib's own reader in tests/unit/scan/test_joblib_frames.py); no
payload is ever loaded. Related public write-ups: the joblib "payload after the first array"
case (https://github.com/Lab700xOrg/aisbom/pull/91), joblib's object-array inner stream
(GHSA-m62q-453p-gv66, https://github.com/joblib/joblib/pull/1795) and numpy object arrays
(CVE-2019-6446, https://nvd.nist.gov/vuln/detail/CVE-2019-6446).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from mlchain.models import Finding, Severity
from mlchain.scan import scan_file
from pickle_vm_helpers import run

np = pytest.importorskip("numpy")
numpy_pickle = pytest.importorskip("joblib.numpy_pickle")

CALL = b"cos\nsystem\n(S'touch /tmp/mlchain-canary'\ntR"
PAYLOAD = b"0" + CALL + b"."
"""POP the array joblib pushed, then call os.system."""


def _critical(findings: list[Finding] | tuple[Finding, ...]) -> bool:
    return any(f.severity >= Severity.CRITICAL and "system" in (f.evidence or "") for f in findings)


def _refused(findings: list[Finding] | tuple[Finding, ...]) -> bool:
    return any(
        f.rule_id == "parse-error"
        and f.severity >= Severity.HIGH
        and "NumpyArrayWrapper" in f.message
        for f in findings
    )


def _wrapper(attrs: dict[str, Any], protocol: int = 2) -> bytes:
    """A pickled NumpyArrayWrapper with exactly these attributes, without its STOP."""
    wrapper = object.__new__(numpy_pickle.NumpyArrayWrapper)
    wrapper.__dict__.update(attrs)
    data = pickle.dumps(wrapper, protocol=protocol)
    return data[:-1]


def _attrs(dtype: Any, shape: tuple[int, ...], **extra: Any) -> dict[str, Any]:
    attrs = {"subclass": np.ndarray, "shape": shape, "order": "C", "dtype": dtype}
    attrs.update({"allow_mmap": False, "numpy_array_alignment_bytes": 16})
    attrs.update(extra)
    return attrs


def _dtype_with_state(code: str, state: tuple[Any, ...]) -> bytes:
    """Protocol-2 opcodes for ``numpy.dtype(code, False, True)`` BUILT with ``state``."""
    return (
        pickle.dumps(np.dtype, protocol=2)[2:-1]  # the GLOBAL, without PROTO and STOP
        + pickle.dumps((code, False, True), protocol=2)[2:-1]
        + b"R"
        + pickle.dumps(state, protocol=2)[2:-1]
        + b"b"
    )


def _hand_wrapper(dtype_ops: bytes, shape: tuple[int, ...], extra: bytes = b"") -> bytes:
    """NEWOBJ NumpyArrayWrapper, BUILD {shape, order, dtype, alignment} (dtype given as opcodes)."""
    return (
        b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + pickle.dumps("shape", 2)[2:-1]
        + pickle.dumps(shape, 2)[2:-1]
        + pickle.dumps("order", 2)[2:-1]
        + pickle.dumps("C", 2)[2:-1]
        + pickle.dumps("numpy_array_alignment_bytes", 2)[2:-1]
        + b"K\x10"
        + pickle.dumps("dtype", 2)[2:-1]
        + dtype_ops
        + extra
        + b"ub"
    )


def test_joblib_payload_after_raw_array() -> None:
    """The payload sits right after an array's raw bytes (aisbom PR #91)."""
    data = _wrapper(_attrs(np.dtype("<f8"), (3,))) + b"\x05" + b"\xff" * 5 + bytes(24) + PAYLOAD
    assert _critical(run(data).findings)


@pytest.mark.parametrize("padding", [0, 7, 15, 255])
def test_joblib_padding_byte_count(padding: int) -> None:
    """Any padding-length byte (joblib writes 0-15; it reads up to 255) is skipped exactly."""
    head = _wrapper(_attrs(np.dtype("<i4"), (2,)))
    data = head + bytes([padding]) + b"\xff" * padding + bytes(8) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_pre_1_2_wrapper_without_padding() -> None:
    """joblib <= 1.1 wrote no padding byte (no numpy_array_alignment_bytes attribute)."""
    attrs = _attrs(np.dtype("<f4"), (2, 2))
    del attrs["numpy_array_alignment_bytes"]
    data = _wrapper(attrs) + bytes(16) + PAYLOAD
    assert _critical(run(data).findings)


@pytest.mark.parametrize("value", [0, False, "x"])
def test_joblib_alignment_value_is_ignored(value: object) -> None:
    """Only ``is not None`` matters: any other value still makes joblib read a padding byte."""
    data = _wrapper(_attrs(np.dtype("u1"), (4,), numpy_array_alignment_bytes=value))
    data += b"\x02\xff\xff" + bytes(4) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_byte_order_and_structured_itemsize() -> None:
    """Big-endian and structured dtypes: the item size comes from the dtype, not its code."""
    dtype = np.dtype([("a", ">i2"), ("b", "S3", (2,))])
    data = _wrapper(_attrs(dtype, (3,))) + b"\x00" + bytes(3 * dtype.itemsize) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_flexible_dtype_state_sets_itemsize() -> None:
    """``numpy.dtype('V8')`` BUILT with elsize 16 is 16 bytes per item, as numpy applies it."""
    ops = _dtype_with_state("V8", (3, "|", None, None, None, 16, 1, 0))
    data = _hand_wrapper(ops, (2,)) + b"\x00" + bytes(32) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_dtype_flags_claim_object() -> None:
    """A float dtype whose state sets the object flag: joblib unpickles right after BUILD."""
    ops = _dtype_with_state("f8", (3, "<", None, None, None, -1, -1, 63))
    data = _hand_wrapper(ops, (1,)) + CALL + b"." + b"."
    assert _critical(run(data).findings)


def test_joblib_object_dtype_flags_cleared() -> None:
    """An object dtype whose state clears the flag would be read as raw pointers: refused."""
    ops = _dtype_with_state("O8", (3, "|", None, None, None, -1, -1, 0))
    data = _hand_wrapper(ops, (1,)) + b"\x00" + bytes(8) + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_shape_product_overflow() -> None:
    """A shape whose int64 product wraps (joblib issue #859): joblib raises, we fail closed."""
    data = _wrapper(_attrs(np.dtype("u1"), (2**32, 2**32))) + b"\x00" + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_negative_dimension_pair() -> None:
    """(-1, -1) multiplies to 1 item but the reshape fails: refused, never a silent skip."""
    data = _wrapper(_attrs(np.dtype("u1"), (-1, -1))) + b"\x00" + b"\x00" + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_slot_state_sets_attributes() -> None:
    """BUILD with a ``(None, slotstate)`` pair sets the wrapper's attributes by setattr."""
    wrapper = object.__new__(numpy_pickle.NumpyArrayWrapper)
    head = pickle.dumps(wrapper, protocol=2)
    state = pickle.dumps((None, _attrs(np.dtype("<f4"), (2,))), protocol=2)[2:-1]
    newobj = head[: head.index(b"\x81") + 1]
    data = newobj + state + b"b" + b"\x00" + bytes(8) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_slot_state_replaces_class() -> None:
    """``setattr(wrapper, '__class__', ...)`` from a slot state: joblib would read no array."""
    wrapper = object.__new__(numpy_pickle.NumpyArrayWrapper)
    head = pickle.dumps(wrapper, protocol=2)
    newobj = head[: head.index(b"\x81") + 1]
    slots = b"}X\t\x00\x00\x00__class__cbuiltins\nobject\ns"
    state = pickle.dumps(_attrs(np.dtype("u1"), (1,)), protocol=2)[2:-1]
    data = newobj + state + slots + b"\x86b" + b"\x00\x00" + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_wrapper_built_by_init_call() -> None:
    """``NumpyArrayWrapper(subclass, shape, order, dtype)`` by REDUCE: __init__'s default
    alignment (16) means a padding byte is read."""
    dtype = pickle.dumps(np.dtype("<i2"), protocol=2)[2:-1]
    data = (
        b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n("
        + b"cnumpy\nndarray\n"
        + pickle.dumps((3,), 2)[2:-1]
        + b"X\x01\x00\x00\x00C"
        + dtype
        + b"tR}b"
        + b"\x03\xff\xff\xff"
        + bytes(6)
        + PAYLOAD
    )
    assert _critical(run(data).findings)


def test_joblib_wrapper_made_by_inst() -> None:
    """INST without arguments builds the wrapper with __new__: BUILD alone sets it up."""
    attrs = _attrs(np.dtype("<u2"), (2,))
    head = b"\x80\x02(ijoblib.numpy_pickle\nNumpyArrayWrapper\n"
    data = head + pickle.dumps(attrs, 2)[2:-1] + b"b" + b"\x01\xff" + bytes(4) + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_object_array_stream_stops_inside_frame() -> None:
    """An object array's nested pickle ends (STOP) before its FRAME does: joblib's fresh
    unpickler read the frame whole, so joblib goes on after the frame, not after STOP."""
    frame = b"N." + b"B" + struct.pack("<I", len(PAYLOAD))  # BINBYTES would swallow PAYLOAD
    inner = b"\x80\x04\x95" + struct.pack("<Q", len(frame)) + frame
    data = _wrapper(_attrs(np.dtype("O"), (1,))) + inner + PAYLOAD + b"."
    found = run(data, max_pickles=1).findings
    assert _critical(found)
    assert any(f.rule_id == "pickle-frame-violation" for f in found)


def test_joblib_object_array_marked_allow_mmap() -> None:
    """joblib.load(mmap_mode=...) maps an allow_mmap object array as raw bytes: refused."""
    data = _wrapper(_attrs(np.dtype("O"), (1,), allow_mmap=True)) + b"\x00" + bytes(8) + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_zero_itemsize_in_mmap_mode() -> None:
    """Itemsize 0: read_array divides by zero but read_mmap resumes right after the padding."""
    data = _wrapper(_attrs(np.dtype("V0"), (5,), allow_mmap=True)) + b"\x00" + PAYLOAD
    assert _critical(run(data).findings)


def test_joblib_platform_sized_dtype() -> None:
    """``numpy.dtype('l')`` is 4 bytes on Windows and 8 elsewhere: refused (fail closed)."""
    ops = _dtype_with_state("l", (3, "<", None, None, None, -1, -1, 0))
    data = _hand_wrapper(ops, (1,)) + b"\x00" + bytes(8) + PAYLOAD
    assert _refused(run(data).findings)


def test_joblib_alignment_computed_at_load_time() -> None:
    """An alignment attribute only known at load time (a call's result) is refused."""
    extra = b"X\x1b\x00\x00\x00numpy_array_alignment_bytescbuiltins\nlen\n)R"
    data = _hand_wrapper(pickle.dumps(np.dtype("u1"), 2)[2:-1], (1,), extra) + b"\x00\x00"
    assert _refused(run(data + PAYLOAD).findings)


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_joblib_compressed_payload_after_array(compress: str, tmp_path: Path) -> None:
    """joblib's compressed files hold the same stream: the payload after an array is found."""
    joblib = pytest.importorskip("joblib")
    benign = tmp_path / "benign.joblib"
    joblib.dump([np.arange(6.0)], benign, compress=(compress, 3))
    assert not [f for f in scan_file(benign).findings if f.severity >= Severity.MEDIUM]
    raw = _wrapper(_attrs(np.dtype("<f8"), (6,))) + b"\x00" + bytes(48) + PAYLOAD
    packed = {
        "zlib": lambda b: zlib.compress(b),
        "gzip": lambda b: gzip.compress(b),
        "bz2": lambda b: bz2.compress(b),
        "xz": lambda b: lzma.compress(b),
        "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
    }[compress](raw)
    path = tmp_path / "model.joblib"
    path.write_bytes(packed)
    assert _critical(scan_file(path).findings)


# ---------------------------------------------------------------- class 5: descr spellings


def _npy(descr: object, payload: bytes, version: int = 1) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)})
    raw = header.encode("utf-8" if version == 3 else "latin-1")
    fixed = 10 if version == 1 else 12
    raw += b" " * (-(fixed + len(raw) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(raw))
    return b"\x93NUMPY" + bytes([version, 0]) + size + raw + payload


OBJECT_DESCRS = {
    "O": "O",
    "pipe_O": "|O",
    "little_O": "<O",
    "big_O": ">O",
    "native_O": "=O",
    "O8": "O8",
    "pipe_O8": "|O8",
    "O4": "O4",
    "O_leading_zeros": "O008",
    "O_strtol_space_sign": "O +8",
    "O_strtol_tab": "O\t8",
    "object_name": "object",
    "object_underscore": "object_",
    "comma_repeat": "2O",
    "comma_tuple_repeat": "(2,)O",
    "comma_empty_tuple": "()O",
    "comma_trailing": "O,",
    "comma_fields": "f8,O",
    "structured_field": [("a", "O")],
    "nested_structured": [("a", [("b", "O")])],
    "field_with_shape": [("a", "<f4"), ("b", "O", (2,))],
    "titled_field": [(("title", "name"), "O")],
    "subarray_tuple": ("O", (2,)),
    "subarray_zero": ("O", 0),
    "field_subarray": [("a", ("O", (2,)))],
    "list_field": [["a", "O"]],
    "string_field": ["aO"],
    "dict_form": {"aO": None},
    "set_form": {("a", "O")},
}


@pytest.mark.parametrize("descr", list(OBJECT_DESCRS.values()), ids=list(OBJECT_DESCRS))
def test_npy_object_descr_spelling(descr: object, tmp_path: Path) -> None:
    """Each spelling numpy resolves to an object dtype (mlchain issue #13, class 5)."""
    path = tmp_path / "x.npy"
    path.write_bytes(_npy(descr, b"\x80\x02" + CALL + b"."))
    assert _critical(scan_file(path).findings)


def test_npy_v3_utf8_field_names(tmp_path: Path) -> None:
    """Version 3 headers are UTF-8 (non-latin field names) and still resolve fields."""
    path = tmp_path / "x.npy"
    path.write_bytes(_npy([("名前", "O")], b"\x80\x02" + CALL + b".", version=3))
    assert _critical(scan_file(path).findings)


def test_npy_v2_header_length(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(_npy("|O", b"\x80\x02" + CALL + b".", version=2))
    assert _critical(scan_file(path).findings)


@pytest.mark.parametrize("descr", ["O ", " O", "Oxyz", "<object", "Q8", "i3", b"O", 3, None])
def test_npy_descr_numpy_cannot_parse_is_a_finding(descr: object, tmp_path: Path) -> None:
    """A descr numpy refuses, or one we do not model, is a HIGH finding (fail closed)."""
    path = tmp_path / "x.npy"
    path.write_bytes(_npy(descr, bytes(8)))
    assert any(f.severity >= Severity.HIGH for f in scan_file(path).findings)
