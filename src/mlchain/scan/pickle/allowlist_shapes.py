"""The vocabulary of the pickle allowlist: an entry, and the shapes of use it reviews.

:mod:`mlchain.scan.pickle.allowlist_data` writes the entries in these terms and
:mod:`mlchain.scan.pickle.allowlist` answers questions about them; this module sits below both,
so neither imports the other's data at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from mlchain.scan.pickle.values import Blob, Call, Global, SDict, SList, SSet

_MAX_RANGE = 1 << 24
"""Longest ``range`` rebuilt: containers built from it are iterated in full at load time."""
_MAX_FRACTION_TEXT = 4096
"""Longest ``Fraction`` string rebuilt (``Fraction.__reduce__`` writes ``str(self)``)."""
_RE_DEBUG = 128
"""``re.DEBUG``: compiling with it prints the parsed pattern to the loader's stdout."""


# NamedTuples, not dataclasses: 900-odd entries are built on every scan that meets a pickle,
# and a tuple is several times cheaper to define and to construct (issue #19, start-up).
class Shape(NamedTuple):
    """A named rule on the arguments of a call or rebuild, with the text the docs show."""

    name: str
    description: str
    check: Callable[[tuple[object, ...]], bool]


class Entry(NamedTuple):
    """One reviewed global: how it may be used, and why that use is inert."""

    module: str
    name: str
    reason: str
    call: Shape | None = None
    new: Shape | None = None
    source: str = ""
    """Which library and version the reason was read from (``stdlib``, ``torch 2.13.0``...)."""

    @property
    def qualname(self) -> str:
        """``module.name`` as users write it."""
        return f"{self.module}.{self.name}"


# ------------------------------------------------------------------------- argument shapes -----


def _is_constant(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes, Blob))


def is_plain(value: object, depth: int = 0) -> bool:
    """A constant, or a builtin container fully known to hold only plain values."""
    if _is_constant(value) or _is_latin1_bytes(value):
        return True
    if depth > 8:
        return False
    if isinstance(value, tuple):
        return all(is_plain(v, depth + 1) for v in value)
    if isinstance(value, (SList, SSet)):
        return value.count == len(value.items) and all(is_plain(v, depth + 1) for v in value.items)
    if isinstance(value, SDict):
        return value.count == len(value.pairs) and all(
            is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.pairs
        )
    return False


def _is_latin1_bytes(value: object) -> bool:
    # Protocol 0-2 spell a bytes constant as _codecs.encode(text, 'latin1').
    return (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and (value.func.module, value.func.name) == ("_codecs", "encode")
        and _latin1(value.args)
    )


def _global_in(value: object, names: frozenset[tuple[str, str]]) -> bool:
    return isinstance(value, Global) and (value.module, value.name) in names


def _func_in(value: object, names: frozenset[tuple[str, str]]) -> bool:
    return isinstance(value, Call) and _global_in(value.func, names)


def _any(_args: tuple[object, ...]) -> bool:
    return True


def _nothing(args: tuple[object, ...]) -> bool:
    return not args


def _one_constant(args: tuple[object, ...]) -> bool:
    return len(args) == 1 and _is_constant(args[0])


def _plain(args: tuple[object, ...]) -> bool:
    return all(is_plain(a) for a in args)


def _latin1(args: tuple[object, ...]) -> bool:
    return len(args) == 2 and isinstance(args[0], (str, Blob)) and args[1] in ("latin1", "latin-1")


def _no_size(args: tuple[object, ...]) -> bool:
    # bytes(n) / bytearray(n) allocate n zero bytes: a few bytes of pickle, any amount of memory.
    # Any other argument must be plain: bytes(obj) would run obj.__bytes__ or iterate it.
    if not _plain(args):
        return False
    return not args or not isinstance(args[0], int) or isinstance(args[0], bool) or args[0] == 0


def _small_range(args: tuple[object, ...]) -> bool:
    if not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
        return False
    ints = [int(a) for a in args]  # type: ignore[call-overload]
    try:
        return ints[-1] != 0 and len(range(*ints)) <= _MAX_RANGE
    except (OverflowError, ValueError):
        return False


def _fraction(args: tuple[object, ...]) -> bool:
    # Fraction('1e999999999') computes 10**999999999: only ints, or a string without exponent.
    if len(args) == 1 and isinstance(args[0], str):
        text = args[0]
        return len(text) <= _MAX_FRACTION_TEXT and "e" not in text.lower()
    return 1 <= len(args) <= 2 and all(isinstance(a, int) and not isinstance(a, bool) for a in args)


def _re_flags(args: tuple[object, ...]) -> bool:
    if not 1 <= len(args) <= 2 or not isinstance(args[0], (str, bytes, Blob)):
        return False
    flags = args[1] if len(args) == 2 else 0
    return isinstance(flags, int) and not isinstance(flags, bool) and not flags & _RE_DEBUG


def _no_dunder_state(args: tuple[object, ...]) -> bool:
    # torch._utils._set_obj_state runs setattr(obj, key, value) for every key of the state.
    state = args[-1] if args else None
    parts = state if isinstance(state, tuple) else (state,)
    for part in parts:
        if isinstance(part, SDict):
            if part.count != len(part.pairs):
                return False
            if any(not isinstance(k, str) or k.startswith("__") for k, _ in part.pairs):
                return False
        elif part is not None and not isinstance(part, tuple):
            return False
    return True


_NDARRAY_TYPES = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "recarray"),
        ("numpy.rec", "recarray"),
        ("numpy.core.records", "recarray"),
        ("numpy._core.records", "recarray"),
        ("numpy.ma", "MaskedArray"),
        ("numpy.ma.core", "MaskedArray"),
    }
)
_BIT_GENERATORS = frozenset(
    {
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        ("numpy.random._philox", "Philox"),
        ("numpy.random._sfc64", "SFC64"),
    }
)
_BIT_GENERATOR_CTOR = frozenset({("numpy.random._pickle", "__bit_generator_ctor")})


def _ndarray_subtype(args: tuple[object, ...]) -> bool:
    # _reconstruct(subtype, shape, dtype) / _mareconstruct(subtype, baseclass, ...) create an
    # instance of ``subtype`` and run its __array_finalize__: only reviewed subtypes.
    head = [a for a in args[:2] if isinstance(a, Global)]
    return (
        bool(args)
        and isinstance(args[0], Global)
        and all(_global_in(a, _NDARRAY_TYPES) for a in head)
    )


def _dtype_spec(args: tuple[object, ...]) -> bool:
    # numpy.dtype(obj, align, copy): a type code or a structured description, never an object
    # whose ``dtype`` attribute numpy would read.
    return bool(args) and is_plain(args[0]) and all(_is_constant(a) for a in args[1:])


def _bit_generator(args: tuple[object, ...]) -> bool:
    # __bit_generator_ctor(name_or_type) instantiates any *type* it is given, with no argument.
    allowed = _BIT_GENERATORS | _BIT_GENERATOR_CTOR
    return len(args) <= 2 and all(
        isinstance(a, str) or _global_in(a, allowed) or _func_in(a, allowed) for a in args
    )


ANY = Shape("any", "any arguments", _any)
NOTHING = Shape("no arguments", "no arguments (`cls.__new__(cls)`)", _nothing)
ONE_CONSTANT = Shape(
    "one constant",
    "exactly one constant argument (str, int, float, bool, None or bytes): an Enum value lookup",
    _one_constant,
)
PLAIN = Shape(
    "plain values",
    "only constants and builtin containers of constants, so no method of a rebuilt object runs",
    _plain,
)
LATIN1 = Shape("latin-1 text", "`(text, 'latin1')`, the protocol 2 spelling of bytes", _latin1)
NO_SIZE = Shape(
    "no size",
    "plain values, and not a positive int (an int argument allocates that many bytes)",
    _no_size,
)
SMALL_RANGE = Shape(
    "small range",
    f"int arguments describing at most {_MAX_RANGE} elements",
    _small_range,
)
FRACTION = Shape(
    "fraction",
    "ints, or a numerator/denominator string without an exponent (which expands to 10**exp)",
    _fraction,
)
RE_FLAGS = Shape(
    "pattern and flags",
    "a str/bytes pattern and int flags without `re.DEBUG` (which prints to stdout)",
    _re_flags,
)
NO_DUNDER_STATE = Shape(
    "no dunder state",
    "a state dict whose keys are fully known and none starts with `__` (it is applied by setattr)",
    _no_dunder_state,
)
NDARRAY_SUBTYPE = Shape(
    "ndarray subtype",
    "the array subtype(s) are `numpy.ndarray`, `recarray` or `MaskedArray`",
    _ndarray_subtype,
)
DTYPE_SPEC = Shape(
    "dtype spec",
    "a type code or structured description made of plain values",
    _dtype_spec,
)
BIT_GENERATOR = Shape(
    "bit generator",
    "names or classes of numpy's own bit generators only (the helper instantiates any type)",
    _bit_generator,
)
