r"""Evaluate, exactly and without running anything from the file, values built while loading.

A pickle can compute the bytes it hands to a nested deserializer (``torch.storage.
_load_from_bytes``, ``pickle.loads``, ``torch.load`` of an ``io.BytesIO``...) instead of
storing them as a constant: ``bytes([...])``, ``str.encode(..., 'latin-1')``, ``codecs.encode``,
``bytes.fromhex``, ``b''.join``, ``operator.add``, ``base64.b64decode``, ``zlib.decompress``,
memo aliasing and lists mutated after a reference was taken. :func:`evaluate` folds such a
symbolic value into the concrete Python value the loader would compute, using only a table of
pure functions on plain ``str``/``bytes``/``int``/``list``/``tuple`` values (each one the real
stdlib function, applied to values that are already concrete and bounded in size). Whatever it
cannot fold is :data:`OPAQUE`, and the caller fails closed.

Mutation is the subtle part. The loader evaluates ``bytes(L)`` when REDUCE runs, so a list or
bytearray changed later by APPENDS/SETITEMS must not change the result, and one changed earlier
in a way the VM does not model must not be trusted. The machine therefore :func:`freeze`\\ s the
arguments of every call to a foldable function when the call happens (copying list prefixes),
and records every object changed in a way it does not model (``mutated``); a frozen value that
was so changed is opaque.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import lzma
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from mlchain.scan.pickle.values import MAX_ITEMS, Blob, Call, Global, SList, SSet, Unknown

MAX_VALUE = 256 * 1024 * 1024
"""Largest value (bytes or characters) folded; anything larger is opaque."""

_MAX_DEPTH = 64


class _Opaque:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OPAQUE"


OPAQUE: object = _Opaque()
"""A value :func:`evaluate` cannot compute exactly."""

Data = bytes | bytearray | memoryview | object
"""The scanned buffer (``Blob`` values point into it)."""

_BUILTIN_MODULES = frozenset({"builtins", "__builtin__"})
_TYPES: dict[str, type] = {"bytes": bytes, "bytearray": bytearray, "str": str}
_ENCODING = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_BYTES_CODECS = frozenset({"base64", "hex", "quopri", "uu", "zlib", "bz2", "rot-13"})
_ONE_BYTE = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252"})
_SAFE_ARG = (str, bytes, bytearray, int, float, type(None), tuple, list, slice)


class _Fail(Exception):
    """The fold is impossible or would not match the loader: the value is opaque."""


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes, bytearray, list, tuple)) else 0


def _check(*values: object) -> None:
    if sum(_size(v) for v in values) > MAX_VALUE:
        raise _Fail("too large")


def _plain(args: tuple[object, ...], *types: type) -> None:
    for arg in args:
        if not isinstance(arg, types or _SAFE_ARG):
            raise _Fail("argument type")


def _codec(name: object) -> codecs.CodecInfo:
    if not isinstance(name, str) or not _ENCODING.fullmatch(name):
        raise _Fail("encoding")
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise _Fail("unknown encoding") from None
    short = info.name.removesuffix("_codec")
    if not getattr(info, "_is_text_encoding", True) and short not in _BYTES_CODECS:
        raise _Fail("codec")
    return info


def _inflate(data: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, MAX_VALUE + 1)
    if len(out) > MAX_VALUE or d.unconsumed_tail:
        raise _Fail("too large")
    return out


def _bounded(decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor, data: bytes) -> bytes:
    out = decompressor.decompress(data, MAX_VALUE + 1)
    if len(out) > MAX_VALUE or not decompressor.eof:
        raise _Fail("too large or truncated")
    return out


def _transcode(encode: bool, obj: Any, encoding: Any = "utf-8", errors: Any = "strict") -> object:
    _plain((obj,), str, bytes, bytearray)
    info = _codec(encoding)
    if not isinstance(errors, str):
        raise _Fail("errors")
    short = info.name.removesuffix("_codec")
    if not encode and short in {"zlib", "bz2"}:
        raw = bytes(obj) if isinstance(obj, (bytes, bytearray)) else None
        if raw is None:
            raise _Fail("codec input")
        return _inflate(raw, 15) if short == "zlib" else _bounded(bz2.BZ2Decompressor(), raw)
    if short not in _ONE_BYTE:
        _check(obj, obj, obj, obj)  # utf-32/utf-7 may grow the text up to four times
    _check(obj)
    if encode:
        return codecs.encode(obj, encoding, errors)
    return codecs.decode(obj, encoding, errors)


def _make(kind: type, *args: object) -> object:
    _plain(args)
    if len(args) == 1 and isinstance(args[0], int) and not 0 <= args[0] <= MAX_VALUE:
        raise _Fail("size")
    if len(args) >= 2 and kind is not str:
        _codec(args[1])
    if len(args) >= 2 and kind is str and isinstance(args[0], (bytes, bytearray)):
        _codec(args[1])
    _check(*args, *args, *args, *args)
    return kind(*args)


def _new(kind: type, *args: object) -> object:
    """``cls.__new__(cls, *args)`` (NEWOBJ, ``copyreg.__newobj__``): no ``__init__`` runs."""
    if kind is bytearray:
        return bytearray()  # bytearray fills itself in __init__, not __new__
    return _make(kind, *args)


def _concat(a: object, b: object) -> object:
    ok = (
        (isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, tuple) and isinstance(b, tuple))
        or (isinstance(a, list) and isinstance(b, list))
    )
    if not ok:
        raise _Fail("operand types")
    _check(a, b)
    return a + b  # type: ignore[operator]


def _join(sep: Any, items: Any) -> object:
    _plain((sep,), str, bytes, bytearray)
    if not isinstance(items, (list, tuple)):
        raise _Fail("join argument")
    _check(*items, *([sep] * len(items)))
    return sep.join(items)


def _getitem(obj: object, key: object) -> object:
    _plain((obj,), str, bytes, bytearray, list, tuple)
    _plain((key,), int, slice)
    return obj[key]  # type: ignore[index]


def _fromhex(kind: type, text: object) -> object:
    _plain((text,), str)
    return kind.fromhex(text)  # type: ignore[attr-defined]


def _method(kind: type, name: str) -> Callable[..., object] | None:
    """``kind.name`` as an unbound function of the receiver and the arguments."""
    if name == "fromhex" and kind is not str:
        return lambda *a: _fromhex(kind, *a)
    if name in {"__add__", "__iadd__"}:
        return _concat
    if name == "join":
        return _join
    if name == "__getitem__":
        return _getitem
    if name == "encode" and kind is str:
        return lambda s, *a: _transcode(True, s, *a) if isinstance(s, str) else _fail()
    if name == "decode" and kind is not str:
        return lambda b, *a: (
            _transcode(False, b, *a) if isinstance(b, (bytes, bytearray)) else _fail()
        )
    if name in {"strip", "lstrip", "rstrip", "lower", "upper", "swapcase"}:

        def plain_method(obj: object, *args: object) -> object:
            _plain((obj,), kind)
            _plain(args, str, bytes, bytearray, type(None))
            return getattr(obj, name)(*args)

        return plain_method
    return None


def _fail() -> object:
    raise _Fail("receiver type")


def _b64(func: Callable[..., bytes]) -> Callable[..., object]:
    def fold(*args: object) -> object:
        _plain(args, str, bytes, bytearray, bool, type(None))
        _check(*args)
        return func(*args)

    return fold


def _decompress(kind: str) -> Callable[..., object]:
    def fold(data: Any, *args: Any) -> object:
        _plain((data,), bytes, bytearray)
        raw = bytes(data)
        if kind == "zlib":
            _plain(args, int)
            return _inflate(raw, args[0] if args else 15)
        if args:
            raise _Fail("arguments")
        if kind == "gzip":
            return _inflate(raw, 31)
        return _bounded(bz2.BZ2Decompressor() if kind == "bz2" else lzma.LZMADecompressor(), raw)

    return fold


_FUNCTIONS: dict[tuple[str, str], Callable[..., object]] = {
    ("_codecs", "encode"): lambda *a: _transcode(True, *a),
    ("codecs", "encode"): lambda *a: _transcode(True, *a),
    ("_codecs", "decode"): lambda *a: _transcode(False, *a),
    ("codecs", "decode"): lambda *a: _transcode(False, *a),
    ("zlib", "decompress"): _decompress("zlib"),
    ("gzip", "decompress"): _decompress("gzip"),
    ("bz2", "decompress"): _decompress("bz2"),
    ("lzma", "decompress"): _decompress("lzma"),
    **{
        (m, f): _concat
        for m in ("operator", "_operator")
        for f in ("add", "concat", "iadd", "iconcat")
    },
    **{(m, "getitem"): _getitem for m in ("operator", "_operator")},
    **{
        ("base64", name): _b64(getattr(base64, name))
        for name in (
            "b64decode",
            "b64encode",
            "standard_b64decode",
            "urlsafe_b64decode",
            "b32decode",
            "b32hexdecode",
            "b16decode",
            "a85decode",
            "b85decode",
            "decodebytes",
        )
    },
    **{
        ("binascii", name): _b64(getattr(binascii, name))
        for name in ("a2b_base64", "a2b_hex", "unhexlify", "a2b_qp", "a2b_uu", "b2a_hex", "hexlify")
    },
}
"""Pure module functions the evaluator folds, by ``(module, name)`` as ``find_class`` resolves."""


def _builtin(module: str, name: str) -> Callable[..., object] | None:
    """A builtin type, or a dotted ``type.method`` (protocol 4 names), as a foldable function."""
    if module not in _BUILTIN_MODULES:
        return None
    head, _, attr = name.partition(".")
    if head == "slice" and not attr:
        return lambda *a: slice(*a) if all(isinstance(x, (int, type(None))) for x in a) else _fail()
    if head == "memoryview" and not attr:
        return lambda x: bytes(x) if isinstance(x, (bytes, bytearray)) else _fail()
    kind = _TYPES.get(head)
    if kind is None:
        return None
    if not attr:
        return lambda *a: _make(kind, *a)
    if "." in attr:
        return None
    return _method(kind, attr)


def _function(func: Global) -> Callable[..., object] | None:
    return _FUNCTIONS.get((func.module, func.name)) or _builtin(func.module, func.name)


def _getattr_method(func: object) -> tuple[object, str] | None:
    """``(receiver, name)`` when ``func`` is ``getattr(receiver, 'name')`` made at load time."""
    if (
        isinstance(func, Call)
        and func.kind == "call"
        and isinstance(func.func, Global)
        and func.func.module in _BUILTIN_MODULES
        and func.func.name == "getattr"
        and len(func.args) == 2
        and isinstance(func.args[1], str)
    ):
        return func.args[0], func.args[1]
    return None


_SNAPSHOT_MODULES = frozenset(
    {module for module, _ in _FUNCTIONS} | _BUILTIN_MODULES | {"copyreg", "io", "_io"}
)


def needs_snapshot(func: object, args: tuple[object, ...]) -> bool:
    """Whether a call of ``func`` may be folded later, so its arguments must be frozen now.

    True for the pure functions the evaluator knows (``builtins.bytes``, ``_codecs.encode``,
    ``builtins.bytes.fromhex``, ``base64.b64decode``, a method fetched with ``getattr``...) and
    for ``copyreg`` reconstruction of a builtin ``bytes``/``bytearray``/``str``.
    """
    if type(func) is Global:
        if func.module not in _SNAPSHOT_MODULES:
            return False  # the common case: a library class or function, decided in one lookup
        if func.name == "BytesIO" and func.module in {"io", "_io"}:
            return True  # BytesIO copies its initial bytes when it is made
        if func.module == "copyreg" and func.name in {"_reconstructor", "__newobj__"}:
            return bool(args) and _builtin_type(args[0]) is not None
        return _function(func) is not None
    return _getattr_method(func) is not None


_FREEZE_NODES = 256
"""Containers copied per snapshot; a larger argument graph becomes an :class:`Unknown`."""


def freeze(value: object, mutated: Mapping[int, object]) -> object:
    """Snapshot ``value`` as the loader sees it *now* (argument of a call being made).

    Lists are copied (later APPENDS must not change what was passed), and anything already
    changed in a way the VM does not model becomes an :class:`Unknown`. Shared and cyclic
    references are copied once; the work is bounded by :data:`_FREEZE_NODES`.
    """
    copies: dict[int, object] = {}

    def walk(item: object, depth: int) -> object:
        if id(item) in mutated:
            return Unknown("changed at load time in a way the scanner does not model")
        if not isinstance(item, (SList, bytearray, tuple)) or isinstance(item, SSet):
            return item
        done = copies.get(id(item))
        if done is not None:
            return done
        if depth > 8 or len(copies) >= _FREEZE_NODES:
            return Unknown("argument too large to snapshot")
        if isinstance(item, bytearray):
            copies[id(item)] = frozen = bytearray(item)
            return frozen
        if isinstance(item, tuple):
            copies[id(item)] = Unknown("cyclic tuple")  # tuples cannot contain themselves
            copies[id(item)] = frozen_tuple = tuple(walk(v, depth + 1) for v in item)
            return frozen_tuple
        copy = SList()
        copies[id(item)] = copy
        copy.items = [walk(v, depth + 1) for v in item.items]
        copy.count = item.count
        return copy

    return walk(value, 0)


_ERRORS = (
    _Fail,
    ValueError,
    TypeError,
    UnicodeError,
    OverflowError,
    LookupError,
    zlib.error,
    binascii.Error,
    lzma.LZMAError,
    OSError,
    EOFError,
    IndexError,
    MemoryError,
    RecursionError,
)


def evaluate(value: object, data: Data, mutated: Mapping[int, object]) -> object:
    """The concrete value of ``value`` at load time, or :data:`OPAQUE`.

    Each symbolic value is folded once per call (memo aliases and shared sub-values are not
    re-folded), and the bytes produced in one call are bounded by twice :data:`MAX_VALUE`.
    """
    try:
        return _Evaluation(data, mutated).eval(value, 0)
    except _ERRORS:
        return OPAQUE


_BUSY = object()


class _Evaluation:
    __slots__ = ("data", "done", "mutated", "spent")

    def __init__(self, data: Data, mutated: Mapping[int, object]) -> None:
        self.data = data
        self.mutated = mutated
        self.done: dict[int, object] = {}
        self.spent = 0

    def eval(self, value: object, depth: int) -> object:
        if value is None or isinstance(value, (str, bytes, int, float)):
            return value
        if depth > _MAX_DEPTH:
            raise _Fail("too deep")
        key = id(value)
        if key in self.mutated:
            raise _Fail("mutated")
        done = self.done.get(key)
        if done is _BUSY:
            raise _Fail("cycle")
        if done is not None:
            return done
        self.done[key] = _BUSY
        result = self._fold(value, depth)
        self.spent += _size(result)
        if self.spent > 2 * MAX_VALUE:
            raise _Fail("too much data")
        self.done[key] = result
        return result

    def values(self, items: tuple[object, ...] | list[object], depth: int) -> tuple[object, ...]:
        return tuple(self.eval(v, depth + 1) for v in items)

    def _fold(self, value: object, depth: int) -> object:
        if isinstance(value, bytearray):
            return bytearray(value)
        if isinstance(value, tuple):
            return self.values(value, depth)
        if isinstance(value, SSet):
            raise _Fail("set")
        if isinstance(value, SList):
            if value.count != len(value.items) or value.count > MAX_ITEMS:
                raise _Fail("list not kept whole")
            return list(self.values(value.items, depth))
        if isinstance(value, Blob):
            return _blob(value, self.data)
        if isinstance(value, Call):
            return self._call(value, depth)
        raise _Fail("not a value")

    def _call(self, call: Call, depth: int) -> object:
        func = call.func
        if call.kind == "reconstruct":
            # copyreg._reconstructor(cls, base, state): base.__new__(cls, state), then
            # base.__init__(obj, state) when base has its own __init__ (bytearray): for the
            # builtin types that is base(state). copyreg.__newobj__(cls, *a): cls.__new__(cls, *a).
            kind = _builtin_type(call.args[0] if call.args else None)
            name = func.name if isinstance(func, Global) else ""
            if kind is None:
                raise _Fail("reconstructed class")
            if (
                name == "_reconstructor"
                and len(call.args) == 3
                and _builtin_type(call.args[1]) is kind
            ):
                return _make(kind, *self.values(call.args[2:], depth))
            if name == "__newobj__":
                return _new(kind, *self.values(call.args[1:], depth))
            raise _Fail("reconstruction")
        if call.kind == "new":
            kind = _builtin_type(func)
            if kind is None:
                raise _Fail("new of an unknown class")
            return _new(kind, *self.values(call.args, depth))
        args = self.values(call.args, depth)
        method = _getattr_method(func)
        if method is not None:
            # getattr(obj, 'name')(*args): a bound method of a concrete value or a builtin type.
            receiver, name = method
            receiver_type = _builtin_type(receiver)
            if receiver_type is not None:
                unbound = _method(receiver_type, name)
                if unbound is None:
                    raise _Fail("method")
                return unbound(*args)
            value = self.eval(receiver, depth + 1)
            bound = _method(type(value), name) if type(value) in (str, bytes, bytearray) else None
            if bound is None or name == "fromhex":
                raise _Fail("method")
            return bound(value, *args)
        if not isinstance(func, Global):
            raise _Fail("computed callable")
        fold = _function(func)
        if fold is None:
            raise _Fail("not a pure function")
        return fold(*args)


def _blob(blob: Blob, data: Data) -> object:
    if blob.length > MAX_VALUE:
        raise _Fail("too large")
    raw = bytes(data[blob.start : blob.start + blob.length])  # type: ignore[index]
    if blob.kind == "bytes":
        return raw
    if blob.kind == "bytearray":
        return bytearray(raw)
    if blob.kind == "utf8":
        return raw.decode("utf-8", "surrogatepass")
    if blob.kind == "raw-unicode":
        return raw.decode("raw_unicode_escape")
    if blob.kind == "escape":
        if len(raw) < 2 or raw[:1] != raw[-1:] or raw[:1] not in (b"'", b'"'):
            raise _Fail("STRING not quoted")
        return codecs.escape_decode(raw[1:-1])[0].decode("latin-1")
    return raw.decode("latin-1")  # BINSTRING: str, as the VM keeps it


def _builtin_type(value: object) -> type | None:
    if isinstance(value, Global) and value.module in _BUILTIN_MODULES:
        return _TYPES.get(value.name)
    return None
