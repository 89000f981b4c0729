"""The versioned, reviewed allowlist of pickle globals whose reconstruction is inert.

Allowlist beats blocklist: a global on this list, used the way the entry allows, produces no
finding; anything else is reported (high, or critical when :mod:`mlchain.scan.pickle.dangerous`
knows why). Entries are exact ``(module, qualname)`` pairs as ``find_class`` receives them; there
are no wildcards and no "well-known library" prefixes, because one class of an otherwise inert
library is enough for a gadget (numpy's ``memmap`` writes files, its ``DataSource`` removes
folders in a finaliser, pandas' computation expressions evaluate strings).

Each :class:`Entry` records *how* the global may be used and *why* that use is inert:

* ``call`` -- the arguments with which the loader may call it (REDUCE, INST, OBJ), as a named
  :class:`Shape`; the reason covers the call and the ``__setstate__`` of what it returns, which
  a later BUILD runs. ``None``: calling it was not reviewed, so a call is reported.
* ``new`` -- the arguments with which it may be rebuilt without ``__init__`` (NEWOBJ,
  NEWOBJ_EX, ``copyreg`` reconstructors: ``cls.__new__(cls, *args)``, then BUILD, which runs
  ``__setstate__`` or updates ``__dict__``). ``None``: rebuilding was not reviewed.
* Referencing a global without calling or rebuilding it (an argument of another call) is
  always allowed for an entry: it runs nothing.

The entries live in :mod:`mlchain.scan.pickle.allowlist_data`; ``docs/allowlist.md`` is generated
from them (``docs/gen_allowlist.py``) and a drift test keeps the two equal. Users extend the list
only with ``--allow-global module.name`` (``ScanOptions.allow_globals``), never from a file shipped
next to the model. Bump :data:`ALLOWLIST_VERSION` on every change: it is recorded in reports and
in the cache key, so a verdict can be traced to the list that produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mlchain.scan.pickle.values import Blob, Call, Global, SDict, SList, SSet

ALLOWLIST_VERSION = "2026.12.1"

_MAX_RANGE = 1 << 24
"""Longest ``range`` rebuilt: containers built from it are iterated in full at load time."""
_MAX_FRACTION_TEXT = 4096
"""Longest ``Fraction`` string rebuilt (``Fraction.__reduce__`` writes ``str(self)``)."""
_RE_DEBUG = 128
"""``re.DEBUG``: compiling with it prints the parsed pattern to the loader's stdout."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A named rule on the arguments of a call or rebuild, with the text the docs show."""

    name: str
    description: str
    check: Callable[[tuple[object, ...]], bool]


@dataclass(frozen=True, slots=True)
class Entry:
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


def _is_plain(value: object, depth: int = 0) -> bool:
    """A constant, or a builtin container fully known to hold only plain values."""
    if _is_constant(value) or _is_latin1_bytes(value):
        return True
    if depth > 8:
        return False
    if isinstance(value, tuple):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, (SList, SSet)):
        return value.count == len(value.items) and all(_is_plain(v, depth + 1) for v in value.items)
    if isinstance(value, SDict):
        return value.count == len(value.pairs) and all(
            _is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.pairs
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
    return all(_is_plain(a) for a in args)


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
    return bool(args) and _is_plain(args[0]) and all(_is_constant(a) for a in args[1:])


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


# ------------------------------------------------------------------------- the list ------------


def _index(entries: Iterable[Entry]) -> dict[tuple[str, str], Entry]:
    out: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        key = (entry.module, entry.name)
        if key in out:
            raise ValueError(f"duplicate allowlist entry {entry.qualname}")
        out[key] = entry
    return out


def _entries() -> dict[tuple[str, str], Entry]:
    from mlchain.scan.pickle.allowlist_data import ENTRIES

    return _index(ENTRIES)


ALLOWLIST: dict[tuple[str, str], Entry] = _entries()
"""Every reviewed entry, by ``(module, qualname)``."""

SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(ALLOWLIST)
"""Exact ``(module, qualname)`` pairs on the allowlist (in some shape of use)."""

KNOWN_LIBRARIES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "torch",
    "torchvision",
    "sklearn",
    "scipy",
    "transformers",
    "accelerate",
    "lightning",
    "pytorch_lightning",
    "timm",
    "optuna",
    "xgboost",
    "lightgbm",
    "catboost",
    "peft",
    "ultralytics",
    "joblib",
)
"""Top-level packages of well-known ML libraries. Being one of them grants nothing: it only
words the finding (a class of theirs that is rebuilt but not reviewed is high)."""


def entry_for(module: str, name: str) -> Entry | None:
    """The allowlist entry of ``module.name``, if there is one."""
    return ALLOWLIST.get((module, name))


def is_allowlisted(module: str, name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether ``module.name`` is on the built-in allowlist or was allowed by the user."""
    return (module, name) in ALLOWLIST or f"{module}.{name}" in extra


def use_is_inert(module: str, name: str, kind: str, args: tuple[object, ...]) -> bool:
    """Whether this use of an allowlisted global is one its entry reviewed as inert.

    ``kind`` is the VM's: ``call`` (REDUCE/INST/OBJ) or ``new`` (NEWOBJ and friends). Globals
    that are not on the list are graded elsewhere, so this returns ``True`` for them. The
    ``copyreg`` reconstructors are judged by the class they rebuild.
    """
    entry = ALLOWLIST.get((module, name))
    if entry is None:
        return True
    if kind == "call" and module in ("copyreg", "copy_reg"):
        return _copyreg_inert(name, args)
    shape = entry.call if kind == "call" else entry.new
    return shape is not None and shape.check(args)


def _copyreg_inert(name: str, args: tuple[object, ...]) -> bool:
    cls = args[0] if args else None
    if name == "_reconstructor":
        # _reconstructor(cls, base, state): base.__new__(cls, state), and base.__init__(obj,
        # state) when base is not object: that state must be plain, or base.__init__ (dict's,
        # list's...) would iterate an object through its own methods.
        base = args[1] if len(args) > 1 else None
        plain_base = isinstance(base, Global) and (base.module, base.name) in _OBJECT
        state_ok = plain_base or len(args) < 3 or _is_plain(args[2])
        return state_ok and all(_rebuildable(a, ()) for a in args[:2] if isinstance(a, Global))
    if name == "__newobj__":
        return not isinstance(cls, Global) or _rebuildable(cls, args[1:])
    if name == "__newobj_ex__":
        inner = args[1] if len(args) > 1 and isinstance(args[1], tuple) else ()
        kwargs = args[2] if len(args) > 2 else None
        plain_kwargs = kwargs is None or (isinstance(kwargs, SDict) and kwargs.count == 0)
        return not isinstance(cls, Global) or (plain_kwargs and _rebuildable(cls, inner))
    return True


_OBJECT = frozenset({("builtins", "object"), ("__builtin__", "object")})


def _rebuildable(cls: Global, args: tuple[object, ...]) -> bool:
    entry = ALLOWLIST.get((cls.module, cls.name))
    if entry is None:
        return True  # graded as an unknown import on its own
    return entry.new is not None and entry.new.check(args)


def is_reconstructable(module: str, name: str) -> bool:
    """Always ``False``: the "well-known library prefix" rule is gone (mlchain issue #13).

    Kept so that code written against the old rule fails closed (its branch never admits
    anything); use :func:`use_is_inert` and :func:`known_library` instead.
    """
    del module, name
    return False


def known_library(module: str) -> str | None:
    """The well-known ML library ``module`` belongs to, for wording findings."""
    top = module.split(".", 1)[0]
    return top if top in KNOWN_LIBRARIES else None


def looks_like_class(name: str) -> bool:
    """PEP 8 heuristic: a CapWords final name is a class, a lower-case one a function."""
    last = name.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper()
