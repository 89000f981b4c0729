"""Differential test: where joblib's real reader leaves the file after each array, we resume.

joblib's ``NumpyUnpickler`` reads array bytes straight from the file after each
``NumpyArrayWrapper`` BUILD (mlchain issue #13, class 4). Here the real reader runs on benign,
numeric content only, with a ``find_class`` that resolves nothing but numpy's array and dtype
classes and joblib's wrapper (so even random bytes read as a nested pickle cannot import
anything); ``NumpyArrayWrapper.read`` is wrapped to record the file position it leaves. Our
model's offsets (``joblib_frames.array_frame``) must be the same, and a payload placed where
the real reader resumes must always be reported.
"""

# ruff: noqa: RUF100  (S301 markers stay on the restricted loads even though S is off in tests)
from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.models import Severity
from mlchain.scan.pickle import joblib_frames
from pickle_vm_helpers import run

np = pytest.importorskip("numpy")
joblib = pytest.importorskip("joblib")
numpy_pickle = pytest.importorskip("joblib.numpy_pickle")

_SAFE = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
PAYLOAD = b"0cos\nsystem\n(S'echo joblib-frame'\ntR."
"""POP the array, then call os.system: what an attacker puts where joblib resumes."""


class _Refused(Exception):
    pass


def real_offsets(
    data: bytes, monkeypatch: pytest.MonkeyPatch, mmap_path: Path | None = None
) -> tuple[list[int], int | None]:
    """Run joblib's reader (restricted find_class); return the offsets each array read left.

    With ``mmap_path`` the data is written there and read with ``mmap_mode='r'`` (joblib's
    ``read_mmap`` for wrappers that allow it).
    """
    seen: list[int] = []
    original = numpy_pickle.NumpyArrayWrapper.read

    def read(self: Any, unpickler: Any, *args: Any) -> Any:
        result = original(self, unpickler, *args)
        seen.append(unpickler.file_handle.tell())
        return result

    class Restricted(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in _SAFE:
                raise _Refused(f"{module}.{name}")
            return super().find_class(module, name)

    monkeypatch.setattr(numpy_pickle.NumpyArrayWrapper, "read", read)
    if mmap_path is None:
        handle: Any = io.BytesIO(data)
        name, mode = "", None
    else:
        mmap_path.write_bytes(data)
        handle = mmap_path.open("rb")
        name, mode = str(mmap_path), "r"
    try:
        try:
            unpickler = Restricted(name, handle, ensure_native_byte_order=False, mmap_mode=mode)
        except TypeError:  # joblib < 1.3
            unpickler = Restricted(name, handle, mmap_mode=mode)
        try:
            unpickler.load()
        except Exception:  # the real reader refused the stream
            return seen, None
        return seen, handle.tell()
    finally:
        monkeypatch.undo()
        if mmap_path is not None:
            handle.close()


def model_offsets(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], Any]:
    """Scan with mlchain; return the offsets where its model resumes after each raw array."""
    seen: list[int] = []
    original = joblib_frames.array_frame

    def spy(*args: Any) -> joblib_frames.ArrayFrame:
        frame = original(*args)
        if not frame.nested_pickle:
            seen.append(frame.end)
        return frame

    monkeypatch.setattr(joblib_frames, "array_frame", spy)
    result = run(data, max_pickles=1)
    monkeypatch.undo()
    return seen, result


def dumped(value: object, protocol: int) -> bytes:
    out = io.BytesIO()
    joblib.dump(value, out, protocol=protocol)
    return out.getvalue()


_DTYPES = [
    "f8",
    ">f8",
    "<i4",
    ">u2",
    "i1",
    "b1",
    "f2",
    "c16",
    ">c8",
    "S3",
    "U2",
    "V5",
    "M8[ns]",
    "m8[s]",
    [("a", "<f4"), ("b", "S3")],
    [("x", ">i2", (2, 3)), ("y", [("z", "u1")])],
    {"names": ["p", "q"], "formats": ["u1", "<f8"], "offsets": [0, 8], "itemsize": 24},
]


@st.composite
def arrays(draw: st.DrawFn) -> Any:
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    order = draw(st.sampled_from(["C", "F"]))
    return np.zeros(shape, dtype=dtype, order=order)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(arrays(), min_size=1, max_size=3),
    prefix=st.text(max_size=40),
    protocol=st.integers(0, 5),
)
def test_offsets_match_joblib_reader_on_generated_dumps(
    items: list[Any], prefix: str, protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlchain issue #13, class 4: generated joblib dumps (odd dtypes, shapes, padding)."""
    data = dumped([prefix, *items], protocol)
    real, end = real_offsets(data, monkeypatch)
    ours, result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == real
    assert result.end == len(data)
    assert not [f for f in result.findings if f.severity >= Severity.MEDIUM]
    for offset in real:
        # A payload where joblib resumes after any array is always reported.
        attack = data[:offset] + PAYLOAD
        assert any(f.severity >= Severity.CRITICAL for f in run(attack, max_pickles=1).findings)


def test_object_arrays_resume_where_joblib_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Object arrays are a nested pickle read by a fresh unpickler right after BUILD."""
    value = [np.array([1, "two", 3.0], dtype=object), np.arange(5.0), np.array([None], dtype="O")]
    data = dumped(value, 4)
    real, end = real_offsets(data, monkeypatch)
    ours, result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == [real[1]]  # the raw array between the two object arrays
    assert result.end == len(data)
    assert not [f for f in result.findings if f.severity >= Severity.MEDIUM]
    # The nested stream of the first object array starts right after its BUILD: a payload
    # pickle there is what joblib's inner unpickler runs.
    starts: list[int] = []
    original = joblib_frames.array_frame

    def spy(*args: Any) -> joblib_frames.ArrayFrame:
        frame = original(*args)
        if frame.nested_pickle:
            starts.append(frame.start)
        return frame

    monkeypatch.setattr(joblib_frames, "array_frame", spy)
    run(data, max_pickles=1)
    monkeypatch.undo()
    assert len(starts) == 2
    attack = data[: starts[0]] + b"\x80\x02" + PAYLOAD[1:]
    assert any(f.severity >= Severity.CRITICAL for f in run(attack, max_pickles=1).findings)


def _wrapper_stream(attrs: dict[str, Any], after: bytes, protocol: int = 2) -> bytes:
    wrapper = object.__new__(numpy_pickle.NumpyArrayWrapper)
    wrapper.__dict__.update(attrs)
    head = pickle.dumps(wrapper, protocol=protocol)
    assert head.endswith(b".")
    return head[:-1] + after


@st.composite
def wrappers(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """Wrapper states a hand-made file could carry, with the bytes that follow BUILD."""
    attrs: dict[str, Any] = {"subclass": np.ndarray, "order": draw(st.sampled_from("CFX"))}
    attrs["dtype"] = np.dtype(draw(st.sampled_from(["f8", "<i2", "u1", "S0", "V0", "U3", "c8"])))
    attrs["shape"] = tuple(
        draw(
            st.lists(
                st.sampled_from([0, 1, 2, 3, 1, 2, 3, -1, -2, True, 2**32, 2**62]),
                max_size=3,
            )
        )
    )
    if draw(st.booleans()):
        attrs["numpy_array_alignment_bytes"] = draw(st.sampled_from([16, 0, None, "x"]))
    attrs["allow_mmap"] = draw(st.booleans())
    after = draw(st.binary(max_size=64))
    if attrs.get("numpy_array_alignment_bytes", None) is not None and draw(st.booleans()):
        after = bytes([draw(st.integers(0, 8))]) + after
    return attrs, after


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=wrappers())
def test_mutated_wrappers_match_joblib_reader(
    case: tuple[dict[str, Any], bytes], monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    """mlchain issue #13, class 4: hostile wrapper states (shapes, padding bytes, itemsize 0),
    against joblib.load and joblib.load(mmap_mode='r')."""
    attrs, after = case
    data = _wrapper_stream(attrs, after + b".")
    ours, result = model_offsets(data, monkeypatch)
    refused = any(f.severity >= Severity.HIGH for f in result.findings)
    for mmap_path in (None, tmp_path_factory.getbasetemp() / "mutated.joblib"):
        real, _end = real_offsets(data, monkeypatch, mmap_path=mmap_path)
        if ours:
            # Our model resumed: joblib resumed at the same place (or raised on its own).
            assert not real or ours == real
        if real and not ours:
            # joblib resumed where our model did not: only allowed when we failed closed.
            assert refused
        if real:
            # A payload where joblib resumes is always reported.
            attack = data[: real[0]] + PAYLOAD
            found = run(attack, max_pickles=1).findings
            assert any(f.severity >= Severity.CRITICAL for f in found) or refused


@pytest.mark.parametrize("padding", [0, 1, 15, 16, 200, 255])
def test_padding_byte_counts(padding: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The single padding-length byte joblib writes (any value it may hold) is honoured."""
    attrs = {
        "subclass": np.ndarray,
        "shape": (2,),
        "order": "C",
        "dtype": np.dtype("<f4"),
        "allow_mmap": False,
        "numpy_array_alignment_bytes": 16,
    }
    data = _wrapper_stream(attrs, bytes([padding]) + b"\xff" * padding + bytes(8) + b".")
    real, end = real_offsets(data, monkeypatch)
    ours, result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == real
    assert result.end == len(data)
    attack = data[: real[0]] + PAYLOAD
    assert any(f.severity >= Severity.CRITICAL for f in run(attack, max_pickles=1).findings)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(arrays(), min_size=1, max_size=3), prefix=st.text(max_size=20))
def test_offsets_match_joblib_memmap_reader(
    items: list[Any], prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    """joblib.load(mmap_mode='r') takes read_mmap for allow_mmap wrappers: same offsets."""
    path = tmp_path_factory.mktemp("mmap") / "model.joblib"
    data = dumped([prefix, *items], 4)
    real, end = real_offsets(data, monkeypatch, mmap_path=path)
    ours, result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == real
    assert result.end == len(data)


def test_zero_itemsize_resumes_like_read_mmap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Itemsize 0 with allow_mmap: read_mmap resumes right after the padding; so do we."""
    attrs = {
        "subclass": np.ndarray,
        "shape": (3,),
        "order": "C",
        "dtype": np.dtype("V0"),
        "allow_mmap": True,
        "numpy_array_alignment_bytes": 16,
    }
    data = _wrapper_stream(attrs, b"\x02\xff\xff.")
    real, end = real_offsets(data, monkeypatch, mmap_path=tmp_path / "z.joblib")
    ours, _result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == real == [len(data) - 1]


@pytest.mark.parametrize("opener", [b"(i", b"(c"], ids=["INST", "OBJ"])
def test_wrapper_made_by_inst_or_obj(opener: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """INST/OBJ without arguments use __new__ (no __init__): attributes come from BUILD only."""
    attrs = {
        "subclass": np.ndarray,
        "shape": (2,),
        "order": "C",
        "dtype": np.dtype("<u2"),
        "numpy_array_alignment_bytes": 16,
    }
    cls = b"joblib.numpy_pickle\nNumpyArrayWrapper\n"
    head = b"\x80\x02" + opener + cls + (b"" if opener == b"(i" else b"o")
    data = head + pickle.dumps(attrs, 2)[2:-1] + b"b" + b"\x01\xff" + bytes(4) + b"."
    real, end = real_offsets(data, monkeypatch)
    ours, result = model_offsets(data, monkeypatch)
    assert end == len(data)
    assert ours == real == [len(data) - 1]
    assert not [f for f in result.findings if f.rule_id == "parse-error"]


def test_object_array_stream_stopping_inside_a_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """joblib's inner unpickler reads a FRAME whole: the outer pickle resumes after the frame.

    The real reader returns the 7 pushed after the frame (not the bytes after STOP), and the
    same layout with a payload after the frame is reported.
    """
    attrs = {
        "subclass": np.ndarray,
        "shape": (1,),
        "order": "C",
        "dtype": np.dtype("O"),
        "allow_mmap": False,
        "numpy_array_alignment_bytes": 16,
    }
    tail = b"0K\x07."
    frame = b"N." + b"B" + struct.pack("<I", len(tail))
    inner = b"\x80\x04\x95" + struct.pack("<Q", len(frame)) + frame
    head = _wrapper_stream(attrs, b"")
    real, end = real_offsets(head + inner + tail + b".", monkeypatch)
    assert real == [len(head) + len(inner)]  # after the frame, not after the STOP
    assert end == len(head) + len(inner) + len(tail)
    attack = head + inner + PAYLOAD + b"."
    assert any(f.severity >= Severity.CRITICAL for f in run(attack, max_pickles=1).findings)
