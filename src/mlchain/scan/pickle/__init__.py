"""Pickle-family scanning: a symbolic VM that emulates CPython's unpickler without executing it.

Public API (stable; the container scanners build on it):

* :func:`scan_pickle` and :class:`PickleScan` (:mod:`.vm`) scan one raw pickle stream.
* :class:`PickleScanner` (:mod:`.scanner`) is the registered scanner for raw pickle files.
* :data:`ALLOWLIST_VERSION` (:mod:`.version`) identifies the allowlist behind a verdict.

Inside, :mod:`.vm` drives passes of :class:`~.machine.Machine` (one pass over a stream), whose
opcode handlers live in :mod:`.opcodes`; :mod:`.verdict` grades the globals a pass saw and
:mod:`.evaluate` folds values built at load time (bytes handed to nested deserializers).

fickling is used only to render ``--explain`` decompilations (:mod:`.explain`); the verdict
always comes from our own VM.
"""

from __future__ import annotations

from typing import Any

from mlchain.scan.pickle.version import ALLOWLIST_VERSION

__all__ = ["ALLOWLIST_VERSION", "PickleScan", "scan_pickle"]


def __getattr__(name: str) -> Any:
    # The VM is imported on first use only: reports read ALLOWLIST_VERSION from this package,
    # and a safetensors-only scan should not pay for importing the pickle machinery.
    if name in {"PickleScan", "scan_pickle"}:
        from mlchain.scan.pickle import vm

        return getattr(vm, name)
    raise AttributeError(name)
