"""Differential test: our reading of NumPy ``descr`` spellings against numpy's own.

mlchain issue #13, class 5: every descr numpy resolves to an object dtype must be scanned as a
pickle. For each generated descr, ``numpy.lib.format.descr_to_dtype`` (numpy only here, never in
``src/``) is the oracle: when it says ``hasobject`` we must say object; when it resolves a
non-object dtype we must not call it object unless we fail closed; what numpy refuses we refuse
or treat as a pickle (both are findings on non-pickle data).
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.scan.containers.npy import NpyError, parse_header
from mlchain.scan.numpy_dtype import DtypeError, descr_has_object, from_string

np = pytest.importorskip("numpy")
np_format = pytest.importorskip("numpy.lib.format")


def numpy_says(descr: object) -> bool | None:
    """numpy's hasobject for ``descr``, or ``None`` when numpy refuses it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(np_format.descr_to_dtype(descr).hasobject)
    except Exception:
        return None


def ours(descr: object) -> bool | None:
    try:
        return descr_has_object(descr)
    except DtypeError:
        return None


OBJECT_SPELLINGS = [
    "O",
    "|O",
    "<O",
    ">O",
    "=O",
    "O8",
    "|O8",
    "O4",
    "O008",
    "O +8",
    "O\t8",
    "O+8",
    "object",
    "object_",
    ("O", (2,)),
    ("O", 0),
    ("|O", ()),
    [("a", "O")],
    [("a", [("b", "O")])],
    [("a", "<f8"), ("b", "O", (2, 3))],
    [(("title", "name"), "O")],
    [("a", ("O", (2,)))],
    [["a", "O"]],
    ["aO"],
    {"aO": None},
    [("", "|V4"), ("x", "O")],
]


@pytest.mark.parametrize("descr", OBJECT_SPELLINGS, ids=repr)
def test_object_spellings_are_pickled_content(descr: object) -> None:
    """mlchain issue #13, class 5: each object spelling numpy accepts is treated as object."""
    assert numpy_says(descr) is True
    assert ours(descr) is True


BENIGN = [
    "<f8",
    "|b1",
    "<i4",
    ">u2",
    "<c16",
    "|S5",
    "<U10",
    "|V16",
    "<M8[ns]",
    "<m8[s]",
    "<f2",
    "float64",
    "int8",
    "bool",
    "?",
    [("a", "<f4"), ("b", "|S3")],
    [("x", ">i2", (2, 3)), ("y", [("z", "|u1")])],
    [("", "|V4"), ("x", "<f8")],
    ("<f4", (2,)),
]


@pytest.mark.parametrize("descr", BENIGN, ids=repr)
def test_descrs_numpy_writes_are_not_object(descr: object) -> None:
    assert numpy_says(descr) is False
    assert ours(descr) is False


@pytest.mark.parametrize(
    "dtype", ["f8", ">i4", "U7", "S2", "V3", "M8[us]", [("a", "f4"), ("b", "S3", (2,))]]
)
def test_real_dtype_descrs_round_trip(dtype: object) -> None:
    """What ``numpy.lib.format.dtype_to_descr`` writes for real dtypes reads back as numpy does."""
    descr = np_format.dtype_to_descr(np.dtype(dtype))
    assert ours(descr) is numpy_says(descr) is False


def test_object_dtype_descrs_round_trip() -> None:
    for dtype in ["O", [("a", "O")], [("a", "f4"), ("b", "O", (2,))]]:
        descr = np_format.dtype_to_descr(np.dtype(dtype))
        assert ours(descr) is True


_CODES = st.sampled_from([*"?bBhHiIqQefdFDOMmSUVacgGlLpP", "O8", "O4", "f8", "i4", "u1"])
_ENDIAN = st.sampled_from(["", "<", ">", "|", "="])
_SUFFIX = st.sampled_from(["", "8", "4", "0", "16", " +8", "\t4", "[ns]", "[]", "2", "x", " "])
_NAMES = st.sampled_from(["object", "object_", "float64", "int", "str", "void", "Object0", "O0"])


def _strings() -> st.SearchStrategy[str]:
    built = st.builds(lambda e, c, s: e + c + s, _ENDIAN, _CODES, _SUFFIX)
    repeat = st.builds(lambda n, c: f"{n}{c}", st.sampled_from(["2", "(2,)", "()"]), _CODES)
    comma = st.builds(lambda a, b: f"{a},{b}", _CODES, _CODES)
    return st.one_of(built, _NAMES, repeat, comma, st.text(max_size=4))


def _descrs() -> st.SearchStrategy[object]:
    shape = st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3)), st.just(()))
    return st.recursive(
        _strings(),
        lambda inner: st.one_of(
            st.tuples(inner, shape),
            st.lists(
                st.one_of(
                    st.tuples(st.sampled_from(["a", "b", ""]), inner),
                    st.tuples(st.sampled_from(["c", "d"]), inner, shape),
                    st.tuples(st.tuples(st.just("t"), st.just("e")), inner),
                ),
                max_size=3,
                unique_by=lambda f: str(f[0]),
            ),
        ),
        max_leaves=6,
    )


@settings(max_examples=150, deadline=None)
@given(descr=_descrs())
def test_descr_resolution_matches_numpy(descr: object) -> None:
    """mlchain issue #13, class 5: never "not object" where numpy says object."""
    truth = numpy_says(descr)
    mine = ours(descr)
    if truth is True:
        assert mine is True
    elif truth is False:
        assert mine in (False, None)  # None: a finding (fail closed), never a miss
    # numpy refuses it: numpy.load raises before reading any data, so nothing is asserted.


@settings(max_examples=150, deadline=None)
@given(text=_strings())
def test_itemsizes_match_numpy(text: str) -> None:
    """Where we claim an item size (joblib skips count * itemsize), numpy agrees."""
    try:
        layout = from_string(text)
    except DtypeError:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            real = np.dtype(text)
    except Exception:
        return  # numpy refuses it: the loader stops here
    assert layout.hasobject == real.hasobject
    if layout.itemsize is not None and not layout.hasobject:
        assert layout.itemsize == real.itemsize


# ---------------------------------------------------------------- header differential

_DESCR_TEXT = st.sampled_from(
    [
        "'<f8'",
        "'|O'",
        "'O'",
        "'object'",
        '"O8"',
        "'O +8'",
        "'2O'",
        "('O', (2,))",
        "[('a', '<f4'), ('b', 'O')]",
        "[('名', 'O')]",
        "[('a', '<i2', (2,))]",
        "'<U3'",
        "'f8,O'",
        "'|V8'",
        "[('', '|V4'), ('x', 'O')]",
        "{'aO': 1}",
        "b'O'",
        "'Ox'",
    ]
)
_SHAPE_TEXT = st.sampled_from(["(3,)", "()", "(2, 2)", "[3]", "3", "(True,)", "(-1,)", "(3L,)"])
_ORDER_TEXT = st.sampled_from(["False", "True", "0", "None"])
_SPACE = st.sampled_from(["", " ", "  ", "\n", "\t", " \n"])


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    parts = [
        ("'descr'", draw(_DESCR_TEXT)),
        ("'fortran_order'", draw(_ORDER_TEXT)),
        ("'shape'", draw(_SHAPE_TEXT)),
    ]
    if draw(st.booleans()):
        parts = draw(st.permutations(parts))
    if draw(st.integers(0, 9)) == 0:
        parts.append(("'extra'", "1"))
    if draw(st.integers(0, 9)) == 0:
        parts.append(("'descr'", draw(_DESCR_TEXT)))  # a repeated key: the last one wins
    quote = draw(st.sampled_from(["'", '"']))
    body = ", ".join(f"{k.replace(chr(39), quote)}:{draw(_SPACE)}{v}" for k, v in parts)
    lead = draw(st.sampled_from(["", " ", "\t", "  \t"]))
    trail = draw(st.sampled_from(["", ",", ", "])) + "}" + draw(_SPACE) + "\n"
    version = draw(st.sampled_from([1, 2, 3]))
    text = lead + "{" + body + trail
    try:
        raw = text.encode("utf-8" if version == 3 else "latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8")  # a v1/v2 reader decodes it as latin-1 mojibake
    size = struct.pack("<H" if version == 1 else "<I", len(raw))
    return b"\x93NUMPY" + bytes([version, 0]) + size + raw


def _v3_reader() -> Any:
    """numpy's private header reader (v3 has no public one); its module moved in numpy 2."""
    impl = getattr(np.lib, "_format_impl", np_format)
    return impl._read_array_header


def numpy_header(data: bytes) -> tuple[bool, int] | None:
    """(hasobject, data offset) as numpy.lib.format reads the header, or None if it refuses."""
    handle = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = np_format.read_magic(handle)
            if version == (1, 0):
                _shape, _order, dtype = np_format.read_array_header_1_0(handle)
            elif version == (2, 0):
                _shape, _order, dtype = np_format.read_array_header_2_0(handle)
            else:
                _shape, _order, dtype = _v3_reader()(handle, version)
    except Exception:
        return None
    return bool(dtype.hasobject), handle.tell()


@settings(max_examples=150, deadline=None)
@given(data=headers())
def test_header_reading_matches_numpy(data: bytes) -> None:
    """mlchain issue #13, class 5: a header numpy reads, we read the same way or refuse."""
    truth = numpy_header(data)
    try:
        mine = parse_header(data)
    except NpyError:
        return  # a finding: numpy accepting what we refuse is failing closed
    if truth is None:
        return  # numpy refuses: np.load raises before reading any data
    hasobject, offset = truth
    assert mine.data_offset == offset
    assert mine.has_object == hasobject


@pytest.mark.parametrize(
    ("text", "version", "hasobject"),
    [
        ("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", 1, True),
        ('{"shape": (2, 2), "descr": "object", "fortran_order": True}', 2, True),
        ("\t {'descr': [('名', 'O')], 'fortran_order': False, 'shape': ()}  \n", 3, True),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'descr': 'O'}", 1, True),
        ("{'descr': 'O', 'fortran_order': False, 'shape': (3,), 'descr': '<f8'}", 1, False),
        ("{'descr': ('O', (2,)), 'fortran_order': False, 'shape': (1,)}", 2, True),
    ],
)
def test_header_spellings_numpy_accepts(text: str, version: int, hasobject: bool) -> None:
    """Whitespace, quotes, key order, repeated keys, v1/v2/v3 and UTF-8: read like numpy."""
    raw = text.encode("utf-8" if version == 3 else "latin-1")
    size = struct.pack("<H" if version == 1 else "<I", len(raw))
    data = b"\x93NUMPY" + bytes([version, 0]) + size + raw
    assert numpy_header(data) == (hasobject, len(data))
    header = parse_header(data)
    assert (header.has_object, header.data_offset) == (hasobject, len(data))


def test_every_installed_numpy_type_name_resolves_like_numpy() -> None:
    """Every name in the installed numpy's ``sctypeDict`` and every one-letter type code."""
    names = [k for k in np.sctypeDict if isinstance(k, str)]
    names += list(np.typecodes["All"])
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            real = np.dtype(name)
        if real.type.__module__ != "numpy":
            continue  # registered by another package (ml_dtypes' bfloat16): refused by us
        layout = from_string(name)
        assert layout.hasobject == real.hasobject, name
        if layout.itemsize is not None:
            assert layout.itemsize == real.itemsize, name
