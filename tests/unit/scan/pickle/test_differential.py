"""Differential test: the globals mlchain reports equal those CPython's unpickler asks for.

CPython's own ``pickle.Unpickler`` runs over each stream with a recording ``find_class`` that
returns inert stub classes (they accept any call, ``__new__``, ``__setstate__`` or item
assignment and do nothing) and a ``persistent_load`` that returns a stub: no real global is ever
imported and nothing from the pickle executes. This is the only place in mlchain where a pickle is
loaded, and only with these stubs.

Each stream is loaded as ``pickle.loads`` reads it (one buffer, linear), as ``pickle.load(file)``
reads a file without ``peek`` (frame-sized reads) and through buffered readers of several sizes
(which mix both), calling ``load()`` until the stream ends. When the first two loads succeed,
mlchain's globals must equal the union of what was asked; otherwise, and for the buffered
readers, mlchain (which keeps scanning what some loader would parse) must report a superset.
"""

# ruff: noqa: RUF100  (S301 markers stay on the stub-only loads even though S is off in tests)
from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import pytest
from fixtures.gen_pickle import MALICIOUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pickle_vm_helpers import InertStub, run

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "pickle"


class _WholeBuffer(io.RawIOBase):
    """A file whose peek() returns everything: the C unpickler then reads linearly (loads)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        nl = self._data.find(b"\n", self._pos)
        end = len(self._data) if nl < 0 else nl + 1
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def peek(self, n: int = 0) -> bytes:
        return self._data[self._pos :]


def _asked(
    handle: object,
    base: type[pickle.Unpickler] = pickle.Unpickler,  # noqa: TID251
) -> tuple[set[tuple[str, str]], bool]:
    """Globals find_class is asked for while loading every pickle in ``handle``; ok flag."""
    asked: set[tuple[str, str]] = set()

    class Recorder(base):  # type: ignore[valid-type,misc]  # noqa: TID251, S301 - stub-only recording loader (module doc)
        def find_class(self, module: str, name: str) -> type:
            asked.add((module, name))
            return InertStub

        def persistent_load(self, pid: object) -> object:
            return InertStub()

    unpickler = Recorder(handle)  # type: ignore[arg-type]
    while True:
        try:
            unpickler.load()  # noqa: S301 - stubs only: find_class never imports anything
        except EOFError:
            return asked, True
        except Exception:
            return asked, False


def _check(data: bytes) -> None:
    ours = run(data).globals
    linear, linear_ok = _asked(_WholeBuffer(data))
    framed, framed_ok = _asked(io.BytesIO(data))
    theirs = linear | framed
    assert theirs <= ours, f"mlchain missed {theirs - ours}"
    if linear_ok and framed_ok:
        assert ours == theirs
    # Real files mix both: frames inside the peek() buffer read linearly, larger ones not.
    for size in (8, 33, 8192):
        buffered, _ = _asked(io.BufferedReader(io.BytesIO(data), buffer_size=size))
        assert buffered <= ours, f"mlchain missed {buffered - ours} (buffer {size})"
    # The pure-Python unpickler (joblib uses it) differs in places, e.g. INST imports first.
    python, _ = _asked(io.BytesIO(data), pickle._Unpickler)  # type: ignore[attr-defined]
    assert python <= ours, f"mlchain missed {python - ours} (pickle._Unpickler)"


FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_globals_match_cpython(path: Path) -> None:
    _check(path.read_bytes())


def test_frame_differential_really_differs_in_cpython() -> None:
    """cpython#154848-style: pickle.load(file) asks for os.system, pickle.loads does not."""
    data = MALICIOUS["frame_boundary_differential.pkl"]
    linear, _ = _asked(_WholeBuffer(data))
    framed, _ = _asked(io.BytesIO(data))
    assert ("os", "system") in framed
    assert ("os", "system") not in linear
    assert ("os", "system") in run(data).globals


# ------------------------------------------------------------ Hypothesis streams ---------

_NAMES = st.sampled_from(
    [
        ("os", "system"),
        ("builtins", "getattr"),
        ("collections", "OrderedDict"),
        ("pathlib", "os.system"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("copy_reg", "_reconstructor"),
        ("__builtin__", "object"),
        ("mod.sub", "Cls.inner"),
    ]
)


def _text(kind: int, text: str) -> bytes:
    raw = text.encode()
    if kind == 0:
        return b"\x8c" + bytes([len(raw)]) + raw
    if kind == 1:
        return b"X" + struct.pack("<I", len(raw)) + raw
    if kind == 2:
        return b"U" + bytes([len(raw)]) + raw
    if kind == 3:
        return b"S" + repr(text).encode() + b"\n"
    return b"V" + text.encode("raw_unicode_escape") + b"\n"


@st.composite
def _chunk(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 21))
    if choice == 0:
        module, name = draw(_NAMES)
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if choice == 1:
        module, name = draw(_NAMES)
        kind = draw(st.integers(0, 4))
        return _text(kind, module) + _text(draw(st.integers(0, 4)), name) + b"\x93"
    if choice == 2:
        module, name = draw(_NAMES)
        return b"i" + module.encode() + b"\n" + name.encode() + b"\n"
    if choice == 3:
        return _text(draw(st.integers(0, 4)), draw(st.sampled_from(["id", "os", "system", "x"])))
    if choice == 4:
        return b"K" + bytes([draw(st.integers(0, 255))])
    if choice == 5:
        return b"q" + bytes([draw(st.integers(0, 5))])
    if choice == 6:
        return b"h" + bytes([draw(st.integers(0, 5))])
    if choice == 7:
        return b"\x94"
    if choice == 8:
        return b"p" + str(draw(st.integers(0, 5))).encode() + b"\n"
    if choice == 9:
        return b"g" + str(draw(st.integers(0, 5))).encode() + b"\n"
    if choice == 10:
        return b"\x82" + bytes([draw(st.integers(1, 3))])
    if choice == 11:
        return b"P" + b"pid\n"
    return draw(
        st.sampled_from(
            [
                b"(",
                b")",
                b"t",
                b"\x85",
                b"\x86",
                b"\x87",
                b"R",
                b"b",
                b"\x81",
                b"o",
                b"0",
                b"2",
                b"1",
                b"]",
                b"a",
                b"e",
                b"}",
                b"s",
                b"u",
                b"N",
                b"\x8f",
                b"\x90",
                b"\x91",
                b"Q",
                b"l",
                b"d",
                b"\x92",
            ]
        )
    )


@st.composite
def _stream(draw: st.DrawFn) -> bytes:
    body = b"".join(draw(st.lists(_chunk(), min_size=1, max_size=30)))
    body += b"."
    protocol = draw(st.integers(0, 5))
    if protocol >= 4 and draw(st.booleans()):
        body = b"\x95" + struct.pack("<Q", len(body)) + body
    head = b"\x80" + bytes([protocol]) if protocol >= 2 else b""
    stream = head + body
    if draw(st.booleans()):
        stream += stream  # a second pickle on the same Unpickler (shared memo)
    return stream


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream())
def test_generated_streams_match_cpython(data: bytes) -> None:
    _check(data)


@st.composite
def _framed_stream(draw: st.DrawFn) -> bytes:
    """Chunks with FRAME opcodes of any length: frames that cross opcodes, nest, end early."""
    chunks = [*draw(st.lists(_chunk(), min_size=1, max_size=20)), b"."]
    out = b"\x80\x04"
    for i, chunk in enumerate(chunks):
        if draw(st.integers(0, 3)) == 0:
            rest = sum(len(c) for c in chunks[i:])
            length = draw(st.integers(0, rest + 4))
            out += b"\x95" + struct.pack("<Q", length)
        out += chunk
    if draw(st.booleans()):
        out += out[2:]  # a second pickle
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_framed_stream())
def test_streams_with_hostile_frames_match_cpython(data: bytes) -> None:
    _check(data)
