"""Where joblib's ``NumpyArrayWrapper`` leaves the file after its BUILD opcode.

``joblib.load`` unpickles with ``NumpyUnpickler`` (a ``pickle._Unpickler``). After every BUILD
whose object is a ``joblib.numpy_pickle.NumpyArrayWrapper``, it reads the array from the file
*directly* and then goes on unpickling from wherever the file position is. If we skip a different
number of bytes than joblib reads, the opcodes joblib runs next are not the ones we scan. This
module is that arithmetic, as a pure function of the wrapper's attributes and the stream, read
from ``NumpyArrayWrapper.read``/``read_array``/``read_mmap`` (joblib 1.6; 1.2-1.5 differ only in
reading an object array's stream with ``pickle.load`` on the same file, GHSA-m62q-453p-gv66;
before 1.2 no padding attribute was written) and numpy's ``dtype.__setstate__``:

* The attributes are the BUILD state (``inst.__dict__.update(state)``, then ``setattr`` for the
  slot state of a ``(state, slotstate)`` pair) on an instance made by ``__new__`` (NEWOBJ,
  ``copyreg``, INST/OBJ without arguments), or by ``__init__(subclass, shape, order, dtype,
  allow_mmap=False, numpy_array_alignment_bytes=16)`` when the class is called with arguments.
* ``dtype.hasobject`` true: a fresh unpickler reads a pickle right after BUILD (no padding).
  For a pickled ``numpy.dtype(code, align, copy=True)`` that is bit 0 of the flags in its BUILD
  state, whatever the type code says.
* Otherwise: when ``numpy_array_alignment_bytes`` is set and not ``None`` (its value is never
  used), one byte gives the number of padding bytes that follow; then ``count * itemsize`` bytes,
  ``count`` being the product of the shape as int64 (1 for ``()``); the reshape that follows
  raises unless every dimension is a non-negative ``int`` and the byte size fits in int64.
  ``read_mmap`` (``mmap_mode`` with ``allow_mmap``) ends at the same offset; it also maps object
  dtypes as raw bytes and accepts an itemsize of 0, where ``read_array`` divides by zero.

Anything the model cannot decide exactly (a value only known at load time, a dtype spelling or
state not modelled, an attribute set through a truncated dict) raises :class:`FrameError`; so
does a wrapper on which joblib raises (which ends the load). Callers report it (fail closed).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

from mlchain.scan import numpy_dtype
from mlchain.scan.numpy_dtype import DtypeError, Layout
from mlchain.scan.pickle.values import MAX_ITEMS, Call, Global, SDict, SList

Buffer = bytes | bytearray | memoryview | mmap.mmap

_INIT_ARGS = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_INT64_MAX = (1 << 63) - 1
_MAX_FLAGS = 1 << 31
_CONSTANTS = (type(None), bool, int, float, str, bytes)


class FrameError(Exception):
    """joblib raises here, or its reading cannot be modelled exactly (fail closed)."""


@dataclass(frozen=True, slots=True)
class ArrayFrame:
    """How joblib reads the array data that follows a wrapper's BUILD."""

    nested_pickle: bool
    """A fresh unpickler reads a pickle that starts at :attr:`start` (object arrays)."""
    start: int
    """Offset of the array data (after the padding) or of the nested pickle."""
    end: int
    """Offset where joblib reads its next opcode (raw data only; equals ``start`` otherwise)."""


def array_frame(instance: object, state: object, data: Buffer, pos: int, end: int) -> ArrayFrame:
    """Model ``NumpyArrayWrapper.read`` for the wrapper ``instance`` built with ``state``.

    Args:
        instance: The symbolic wrapper object (the BUILD target).
        state: The BUILD argument.
        data: The stream (indexable bytes); only the padding byte is read.
        pos: Offset just after the BUILD opcode (the file position joblib reads from).
        end: End of the stream.

    Raises:
        FrameError: joblib raises, or the reading is not modelled exactly.
    """
    attrs = _attributes(instance, state)
    if "shape" not in attrs or "dtype" not in attrs:
        raise FrameError("the wrapper has no shape or no dtype (joblib raises)")
    layout = pickled_layout(attrs["dtype"])
    allow_mmap = _truth(attrs.get("allow_mmap", False), "allow_mmap")
    if layout.hasobject:
        if allow_mmap:
            raise FrameError(
                "object array marked allow_mmap: joblib.load with mmap_mode maps it as raw "
                "bytes and plain joblib.load unpickles it, so the two read different streams"
            )
        _count(attrs["shape"], strict=False)
        return ArrayFrame(True, pos, pos)
    if "order" not in attrs:
        raise FrameError("the wrapper has no order (joblib raises)")
    count = _count(attrs["shape"], strict=True)
    itemsize = layout.itemsize
    if itemsize is None:
        raise FrameError("the dtype's item size depends on the platform")
    if _nonzero_product(attrs["shape"]) * max(itemsize, 1) > _INT64_MAX:
        # numpy sizes an array from its non-zero dimensions even when it is empty.
        raise FrameError("the array's byte size overflows (numpy raises)")
    align = attrs.get("numpy_array_alignment_bytes")
    _constant(align, "numpy_array_alignment_bytes")
    start = pos
    if align is not None:
        # read(1) then read(n): short reads at the end of the file are not errors here.
        start = min(end, pos + 1 + data[pos]) if pos < end else end
    if itemsize == 0 and not allow_mmap:
        raise FrameError("zero-size dtype (joblib's read_array divides by zero)")
    nbytes = count * itemsize
    if start + nbytes > end:
        raise FrameError(f"array data ({nbytes} bytes at offset {start}) runs past the end")
    return ArrayFrame(False, start, start + nbytes)


def _attributes(instance: object, state: object) -> dict[str, object]:
    """The wrapper's instance attributes after ``pickle._Unpickler.load_build``."""
    if not isinstance(instance, Call):
        raise FrameError("the wrapper object is not modelled")
    attrs: dict[str, object] = {}
    if instance.kind == "call" and instance.args:
        # With no arguments this may be INST/OBJ, which use __new__ (a REDUCE would raise).
        args = instance.args
        if not 4 <= len(args) <= len(_INIT_ARGS):
            raise FrameError(f"NumpyArrayWrapper called with {len(args)} arguments (joblib raises)")
        attrs = {"allow_mmap": False, "numpy_array_alignment_bytes": 16}
        attrs.update(zip(_INIT_ARGS, args, strict=False))
    slotstate: object = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    for part, what in ((state, "state"), (slotstate, "slot state")):
        if isinstance(part, SDict):
            if len(part.pairs) >= MAX_ITEMS:
                raise FrameError(f"the wrapper's {what} has too many entries to follow")
            for key, value in part.pairs:
                if isinstance(key, str) and what == "slot state" and key.startswith("__"):
                    # setattr(inst, "__class__", ...) can make it no wrapper at all.
                    raise FrameError(f"the wrapper's slot state sets {key[:40]}")
                if isinstance(key, str):
                    attrs[key] = value
                elif not isinstance(key, _CONSTANTS):
                    raise FrameError(f"the wrapper's {what} has a key computed at load time")
        elif _truth(part, what):
            raise FrameError(f"the wrapper's {what} is not a dict (joblib raises)")
    return attrs


def _constant(value: object, what: str) -> None:
    if isinstance(value, (*_CONSTANTS, tuple, SList, SDict)):
        return
    raise FrameError(f"{what} is computed at load time")


def _truth(value: object, what: str) -> bool:
    if isinstance(value, (SList, SDict)):
        return value.count > 0
    if isinstance(value, (*_CONSTANTS, tuple)):
        return bool(value)
    raise FrameError(f"{what} is computed at load time")


def _count(shape: object, *, strict: bool) -> int:
    """Items read: ``numpy.multiply.reduce`` of the shape as int64, as ``read_array`` does.

    ``strict`` (raw data): joblib then reshapes to ``shape``, which raises unless every
    dimension is a non-negative ``int`` and the product does not overflow int64.
    """
    if isinstance(shape, SList):
        if shape.count != len(shape.items):
            raise FrameError("the shape list is too long to follow")
        dims: list[object] = list(shape.items)
    elif isinstance(shape, tuple):
        dims = list(shape)
    else:
        raise FrameError("the shape is not a tuple")
    count = 1
    for dim in dims:
        if strict:
            if type(dim) is not int or dim < 0:
                raise FrameError("the shape is not a tuple of sizes (joblib raises)")
        elif not isinstance(dim, int):
            raise FrameError("the shape is not a tuple of integers")
        count *= int(dim)
    if strict and count > _INT64_MAX:
        raise FrameError("the shape's product overflows int64 (joblib raises)")
    return count


def _nonzero_product(shape: object) -> int:
    dims = shape.items if isinstance(shape, SList) else shape
    product = 1
    for dim in dims if isinstance(dims, (list, tuple)) else ():
        if isinstance(dim, int) and dim > 0:
            product *= dim
    return product


def pickled_layout(value: object, level: int = 0) -> Layout:
    """Item size and ``hasobject`` of a pickled ``numpy.dtype(code, align, copy)`` + its state.

    Follows ``arraydescr_setstate``: the state's flags decide ``hasobject`` (bit 0); for
    flexible types (``S``/``U``/``V``) its ``elsize`` is the item size; a structured or subarray
    state must be a ``V`` dtype whose fields agree with its flags.

    Raises:
        FrameError: numpy raises, or the dtype is not modelled exactly.
    """
    if level > numpy_dtype.MAX_DEPTH:
        raise FrameError("dtype nests too deeply")
    if not (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and (value.func.module, value.func.name) == ("numpy", "dtype")
        and value.kind in ("call", "new")
        and value.hook is None
    ):
        raise FrameError("the dtype is not a plain numpy.dtype(...)")
    args = value.args
    if (
        len(args) != 3
        or not isinstance(args[0], str)
        or type(args[1]) not in (bool, int)
        or args[2] not in (True, 1)
        or type(args[2]) not in (bool, int)
    ):
        raise FrameError("numpy.dtype(...) arguments are not (code, align, copy=True)")
    try:
        base = numpy_dtype.from_string(args[0])
    except DtypeError as exc:
        raise FrameError(str(exc)) from None
    state = value.state
    if state is None:
        return base
    if (
        not isinstance(state, tuple)
        or len(state) not in (8, 9)
        or state[0] not in (3, 4)
        or not all(type(v) in (bool, int) for v in state[5:8])
        or not isinstance(state[1], str)
        or state[1] not in ("<", ">", "|", "=")
    ):
        raise FrameError("numpy.dtype state is not a version 3/4 state")
    subarray, names, fields = state[2], state[3], state[4]
    elsize, flags = int(state[5]), int(state[7])
    if not 0 <= flags < _MAX_FLAGS:
        raise FrameError("numpy.dtype state has out-of-range flags")
    hasobject = bool(flags & 1)
    if base.hasobject and not hasobject:
        raise FrameError("an object dtype whose state clears hasobject")
    if subarray is not None or names is not None or fields is not None:
        if not (base.flexible and args[0].lstrip("<>|=")[:1] == "V"):
            raise FrameError("structured dtype state on a dtype that is not void")
        if not hasobject:
            for inner in _inner_dtypes(subarray, names, fields):
                if pickled_layout(inner, level + 1).hasobject:
                    raise FrameError("a structured dtype hides object fields from its flags")
        itemsize: int | None = elsize
    elif base.flexible:
        itemsize = elsize
    else:
        itemsize = base.itemsize
    if itemsize is not None and itemsize < 0:
        raise FrameError("numpy.dtype state has a negative item size")
    return Layout(itemsize, hasobject, base.flexible)


def _inner_dtypes(subarray: object, names: object, fields: object) -> list[object]:
    inner: list[object] = []
    if subarray is not None:
        if not (isinstance(subarray, tuple) and len(subarray) == 2):
            raise FrameError("numpy.dtype subarray state is not (dtype, shape)")
        inner.append(subarray[0])
    if names is not None or fields is not None:
        if not isinstance(names, tuple) or not isinstance(fields, SDict):
            raise FrameError("numpy.dtype fields state is not (names, fields)")
        if len(fields.pairs) >= MAX_ITEMS:
            raise FrameError("numpy.dtype has too many fields to follow")
        for _key, spec in fields.pairs:
            if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
                raise FrameError("numpy.dtype field is not (dtype, offset[, title])")
            inner.append(spec[0])
    return inner
