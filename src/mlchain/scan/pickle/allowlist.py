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
next to the model. Bump :data:`ALLOWLIST_VERSION` (in :mod:`.version`) on every change: it is
recorded in reports and in the cache key, so a verdict can be traced to the list that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlchain.scan.pickle.allowlist_shapes import (
    ANY,
    NOTHING,
    ONE_CONSTANT,
    PLAIN,
    Entry,
    Shape,
    is_plain,
)
from mlchain.scan.pickle.values import Global, SDict
from mlchain.scan.pickle.version import ALLOWLIST_VERSION

__all__ = [
    "ALLOWLIST",
    "ALLOWLIST_VERSION",
    "ANY",
    "NOTHING",
    "ONE_CONSTANT",
    "PLAIN",
    "SAFE_GLOBALS",
    "Entry",
    "Shape",
    "entry_for",
    "is_allowlisted",
    "is_reconstructable",
    "known_library",
    "looks_like_class",
    "use_is_inert",
]


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
        state_ok = plain_base or len(args) < 3 or is_plain(args[2])
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
