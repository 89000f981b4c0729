"""Differential test: our reading of NumPy ``descr`` spellings against numpy's own.

mlchain issue #13, class 5: every descr numpy resolves to an object dtype must be scanned as a
pickle. For each generated descr, ``numpy.lib.format.descr_to_dtype`` (numpy only here, never in
``src/``) is the oracle: when it says ``hasobject`` we must say object; when it resolves a
non-object dtype we must not call it object unless we fail closed; what numpy refuses we refuse
or treat as a pickle (both are findings on non-pickle data).
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=300, deadline=None)
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
