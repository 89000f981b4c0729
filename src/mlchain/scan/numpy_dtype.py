"""NumPy dtype spellings, resolved the way ``numpy.dtype`` resolves them, without importing numpy.

Two questions decide how a loader frames NumPy data: does the dtype hold Python objects (then the
bytes are a pickle that ``numpy.load``/``joblib.load`` unpickle), and how many bytes is one item
(``joblib`` skips ``count * itemsize`` raw bytes). An attacker who finds a spelling that numpy
resolves to ``object`` but we do not hides a pickle from us, so this module follows numpy's own
string parser (``_convert_from_str`` in ``descriptor.c``) and ``numpy.lib.format.descr_to_dtype``,
and raises :class:`DtypeError` for everything it does not model exactly (callers fail closed).

Rules followed (read from numpy 1.26 and 2.x):

* An optional byte-order character (``<``, ``>``, ``=``, ``|``) is dropped; it never changes the
  size or whether the type holds objects.
* A string with a comma outside brackets, or a leading repeat count (``2O``, ``(2,)O``, ``()O``)
  is a "comma string" (a structured or subarray dtype), split as numpy's ``_commastring`` does;
  it holds objects when any item does (its item size is not modelled).
* ``M8``/``m8``/``datetime64``/``timedelta64`` with an optional ``[unit]`` are 8-byte dates.
* One character is a type code (``O`` is object; ``l``/``L``/``p``/``P``/``g``/``G`` have a
  platform-dependent size, reported as ``itemsize=None``).
* A kind followed by a C ``strtol`` number (which skips leading whitespace and takes a sign, so
  ``'O +8'`` and ``'O008'`` are object) is a sized type; NumPy 1.x truncates the number to a C
  ``int``, so ``'O4294967304'`` is ``O8`` there. Every ``O`` spelling with digits counts as
  object (``O4``/``O8`` on every platform; the others either mean object or fail to load).
* Anything else is looked up by name (``object``, ``object_``, ``float64``...), exactly, and
  only without a byte-order prefix (numpy looks up the whole string).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_DEPTH = 32
"""Nesting of structured/subarray descrs followed before giving up (fail closed)."""


class DtypeError(Exception):
    """numpy would refuse this dtype, or mlchain does not model it exactly."""


@dataclass(frozen=True, slots=True)
class Layout:
    """What a loader needs to know about one dtype."""

    itemsize: int | None
    """Bytes per item; ``None`` when it depends on the platform that loads the file."""
    hasobject: bool
    """The items are Python objects (the data is a pickle)."""
    flexible: bool = False
    """``S``/``U``/``V`` (and ``a``): a pickled dtype's state sets the size."""


_OBJECT = Layout(8, True)
_FIXED = {
    "?": 1,
    "b": 1,
    "B": 1,
    "h": 2,
    "H": 2,
    "i": 4,
    "I": 4,
    "q": 8,
    "Q": 8,
    "e": 2,
    "f": 4,
    "d": 8,
    "F": 8,
    "D": 16,
    "M": 8,
    "m": 8,
}
_PLATFORM = frozenset("lLpPgGnN")
_FLEXIBLE_CODES = {"S": 0, "U": 0, "V": 0, "a": 0, "c": 1}
_SIZED_KINDS = {
    "b": (1,),
    "i": (1, 2, 4, 8),
    "u": (1, 2, 4, 8),
    "f": (2, 4, 8, 12, 16),  # 12/16: long double on 32-bit/64-bit x86 (others refuse)
    "c": (8, 16, 24, 32),
}
"""Sizes ``PyArray_TypestrConvert`` maps to a type on some platform; numpy refuses the rest."""

_NAMES: dict[str, Layout] = {
    **dict.fromkeys(("object", "object_", "object0", "Object0", "O"), _OBJECT),
    **{
        n: Layout(0, False, flexible=True)
        for n in (
            "a",
            "bytes",
            "bytes_",
            "bytes0",
            "Bytes0",
            "string_",
            "str",
            "str_",
            "str0",
            "Str0",
            "unicode",
            "unicode_",
            "void",
            "void0",
            "Void0",
        )
    },
    **{
        n: Layout(size, False)
        for size, names in (
            (1, ("bool", "bool_", "bool8", "byte", "ubyte", "int8", "uint8")),
            (2, ("short", "ushort", "half", "int16", "uint16", "float16")),
            (4, ("int32", "uint32", "float32", "single", "intc", "uintc")),
            (
                8,
                (
                    "int64",
                    "uint64",
                    "float64",
                    "double",
                    "float",
                    "float_",
                    "longlong",
                    "ulonglong",
                    "complex64",
                    "csingle",
                    "singlecomplex",
                    "datetime64",
                    "timedelta64",
                ),
            ),
            (16, ("complex128", "cdouble", "complex", "cfloat", "complex_")),
            (16, ("float128",)),
            (32, ("complex256",)),
            (12, ("float96",)),
            (24, ("complex192",)),
        )
        for n in names
    },
    **{
        n: Layout(None, False)
        for n in (
            "int",
            "int_",
            "uint",
            "intp",
            "uintp",
            "int0",
            "uint0",
            "long",
            "ulong",
            "longdouble",
            "longfloat",
            "clongdouble",
            "clongfloat",
            "longcomplex",
            # NumPy < 1.20 capitalised aliases: sizes not re-verified, so no size is claimed.
            "Int8",
            "UInt8",
            "Int16",
            "UInt16",
            "Int32",
            "UInt32",
            "Int64",
            "UInt64",
            "Float16",
            "Float32",
            "Float64",
            "Float96",
            "Float128",
            "Complex32",
            "Complex64",
            "Complex96",
            "Complex128",
            "Complex192",
            "Complex256",
        )
    },
}
"""Names numpy 1.x/2.x look up in ``sctypeDict`` (platform-sized ones have ``itemsize=None``)."""

_VOID_NAMES = frozenset({"void", "void0", "Void0"})
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")
_DATETIME = re.compile(
    r"(?:[Mm]8|datetime64|timedelta64)"
    r"(?:\[ *[0-9]*(?:Y|M|W|D|h|m|s|ms|us|\u03bcs|ns|ps|fs|as|generic)\])?"
)
_LONG_MAX = (1 << 63) - 1


def _c_int(value: int) -> int:
    """NumPy 1.x's ``(int)strtol(...)``: clamp to ``LONG_MAX``, then keep the low 32 bits."""
    value = min(value, _LONG_MAX) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _digit(text: str, at: int) -> bool:
    return text[at] in "0123456789"  # C's '0'..'9', not str.isdigit


def is_comma_string(text: str) -> bool:
    """Whether numpy parses this spelling as several fields (``_check_for_commastring``)."""
    if not text:
        return False
    if _digit(text, 0) or (len(text) > 1 and text[0] in "<>|=" and _digit(text, 1)):
        return True
    if text.startswith("()") or (len(text) > 3 and text[0] in "<>|=" and text[1:3] == "()"):
        return True
    depth = 0
    for ch in text:
        if ch == "," and depth == 0:
            return True
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
    return False


_FORMAT = re.compile(
    r"(?P<order1>[<>|=]?)(?P<repeats> *[(]?[ ,0-9]*[)]? *)(?P<order2>[<>|=]?)"
    r"(?P<dtype>[A-Za-z0-9.?]*(?:\[[a-zA-Z0-9,.]+\])?)"
)
_SEP = re.compile(r"\s*,\s*")
_TRAILING_SPACE = re.compile(r"\s+$")


def comma_items(text: str) -> tuple[list[str | tuple[str, object]], bool]:
    """Split a comma string as ``numpy._core._internal._commastring`` does.

    Returns the items (``code`` or ``(code, repeats)``) and whether they form a list (a
    separator was seen: a structured dtype); a lone item with repeats is a subarray. Byte
    orders are dropped (they change neither the size nor whether the type holds objects), so a
    conflict between two of them is not detected.

    Raises:
        DtypeError: numpy refuses the string.
    """
    items: list[str | tuple[str, object]] = []
    is_list = False
    at = 0
    while at < len(text):
        match = _FORMAT.match(text, at)
        if match is None:  # pragma: no cover - the pattern matches the empty string
            raise DtypeError(f"comma string {text[:40]!r} is not understood")
        _order1, repeats, _order2, code = match.groups()
        at = match.end()
        if at < len(text):
            if _TRAILING_SPACE.match(text, at):
                at = len(text)
            else:
                sep = _SEP.match(text, at)
                if sep is None:
                    raise DtypeError(f"comma string {text[:40]!r} is not understood")
                at = sep.end()
                is_list = True
        if repeats == "":
            items.append(code)
        else:
            try:
                count = ast.literal_eval(repeats)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise DtypeError(f"repeat count in {text[:40]!r} is not understood") from None
            items.append((code, count))
        if len(items) > 1024:
            raise DtypeError("comma string has too many fields")
    if not items:
        raise DtypeError("empty comma string")
    return items, is_list


def from_string(text: str, level: int = 0) -> Layout:
    """Resolve a dtype string as ``numpy.dtype(text)`` does.

    Raises:
        DtypeError: numpy refuses it on every platform, or this spelling is not modelled.
    """
    if not text:
        raise DtypeError("empty dtype string")
    if is_comma_string(text):
        if level > MAX_DEPTH:
            raise DtypeError("comma string nests too deeply")
        found = False
        for item in comma_items(text)[0]:
            code = item if isinstance(item, str) else item[0]
            found = from_string(code, level + 1).hasobject or found
        return Layout(None, found)
    body = text[1:] if text[0] in "<>|=" else text
    if not body:
        raise DtypeError("a byte-order character alone is not a dtype")
    if _DATETIME.fullmatch(body):
        return Layout(8, False)
    if len(body) == 1:
        code = body
        if code == "O":
            return _OBJECT
        if code in _FIXED:
            return Layout(_FIXED[code], False)
        if code in _FLEXIBLE_CODES:
            return Layout(_FLEXIBLE_CODES[code], False, flexible=True)
        if code in _PLATFORM:
            return Layout(None, False)
        raise DtypeError(f"unknown type code {code!r}")
    kind, rest = body[0], body[1:]
    number = _STRTOL.fullmatch(rest)
    if number is not None:
        sign, digits = number.groups()
        value = int(digits) * (-1 if sign == "-" else 1)
        if kind == "O":
            return _OBJECT  # O4/O8 (or a NumPy 1.x truncation of it); the rest do not load
        if value < 0:
            raise DtypeError(f"negative size in dtype {text[:40]!r}")
        if value > 0x7FFFFFFF:
            # NumPy 2 refuses it; NumPy 1.x truncates it to a C int.
            value = _c_int(value)
            if value < 0:
                raise DtypeError(f"size overflows in dtype {text[:40]!r}")
        if kind in "Sa":
            return Layout(value, False, flexible=True)
        if kind == "V":
            return Layout(value, False, flexible=True)
        if kind == "U":
            if value > 0x1FFFFFFF:
                raise DtypeError(f"size overflows in dtype {text[:40]!r}")
            return Layout(value * 4, False, flexible=True)
        if value in _SIZED_KINDS.get(kind, ()):
            return Layout(value, False)
        raise DtypeError(f"unknown sized type {text[:40]!r}")
    if body is text and text in _NAMES:
        return _NAMES[text]
    raise DtypeError(f"unknown dtype {text[:40]!r}")


def _is_shape(value: object) -> bool:
    if isinstance(value, int):
        return True
    return isinstance(value, tuple) and all(isinstance(d, int) for d in value)


def _unnamed_void(descr: object, shape: object, level: int = 0) -> bool:
    """Whether ``numpy.dtype((descr, shape))`` is a void type without field names.

    ``descr_to_dtype`` drops such a field when its name is ``''`` (padding), even when it is a
    subarray of objects; a subarray dtype's type is ``numpy.void``.
    """
    if shape != () or level > MAX_DEPTH:
        return shape != ()
    if isinstance(descr, str):
        if is_comma_string(descr):
            items, is_list = comma_items(descr)
            if is_list:
                return False  # a structured dtype: it has field names
            item = items[0]
            if isinstance(item, str):
                return _unnamed_void(item, (), level + 1)
            return _unnamed_void(item[0], item[1], level + 1)
        body = descr[1:] if descr[:1] in ("<", ">", "|", "=") else descr
        return body[:1] == "V" or descr in _VOID_NAMES
    if isinstance(descr, tuple) and len(descr) >= 2:
        return _unnamed_void(descr[0], descr[1], level + 1)
    return False


def descr_has_object(descr: object, level: int = 0) -> bool:
    """Whether ``numpy.lib.format.descr_to_dtype(descr)`` holds Python objects.

    ``descr`` is the header's literal: a dtype string, a ``(descr, shape)`` subarray tuple, or
    an iterable of fields ``(name, descr[, shape])`` (a list, but numpy iterates whatever it is
    given: a dict's keys, a set, a 2-character string as ``(name, code)``).

    Raises:
        DtypeError: numpy would refuse it, or it is outside what is modelled.
    """
    if level > MAX_DEPTH:
        raise DtypeError("descr nests too deeply")
    if isinstance(descr, str):
        return from_string(descr).hasobject
    if isinstance(descr, tuple):
        if len(descr) < 2:
            raise DtypeError("subarray descr without a shape")
        if not _is_shape(descr[1]):
            raise DtypeError("subarray shape is not an integer or a tuple of integers")
        if isinstance(descr[0], str) and from_string(descr[0]).itemsize == 0:
            raise DtypeError("subarray of an unsized flexible dtype")
        return descr_has_object(descr[0], level + 1)
    if isinstance(descr, dict):
        fields: list[object] = list(descr)
    elif isinstance(descr, (list, set, frozenset)):
        fields = list(descr)
    else:
        raise DtypeError(f"descr is a {type(descr).__name__}, not a dtype")
    found = False
    refused: DtypeError | None = None
    for field in fields:
        if isinstance(field, dict):
            parts: list[object] = list(field)
        elif isinstance(field, (tuple, list, str)):
            parts = list(field)
        else:
            raise DtypeError("structured dtype field is not a (name, type[, shape]) tuple")
        if len(parts) not in (2, 3):
            raise DtypeError("structured dtype field is not a (name, type[, shape]) tuple")
        if len(parts) == 3 and not _is_shape(parts[2]):
            raise DtypeError("field shape is not an integer or a tuple of integers")
        if parts[0] == "" and _unnamed_void(parts[1], parts[2] if len(parts) == 3 else ()):
            continue  # descr_to_dtype drops it as padding: numpy never reads it
        try:
            found = descr_has_object(parts[1], level + 1) or found
        except DtypeError as exc:
            refused = refused or exc
    if refused is not None and not found:
        raise refused
    return found  # an object field makes it a pickle even if another field is refused
