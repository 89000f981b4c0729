"""Temporary stand-in for mlchain.scan.pickle.vm until the real VM branch is merged.

Installed only when the real module cannot be imported. Walks opcodes with pickletools (no
unpickling) and flags os/posix/subprocess/builtins globals.
"""

from __future__ import annotations

import pickletools
import sys
import types
from dataclasses import dataclass, field

DANGEROUS = {"os", "posix", "nt", "subprocess", "runpy"}


def install() -> bool:
    """Install the stand-in if the real VM is missing; return True when the stand-in is active."""
    try:
        import mlchain.scan.pickle.vm as vm
    except ImportError:
        pass
    else:
        return bool(getattr(vm, "STANDIN", False))
    from mlchain.scan.base import finding

    @dataclass(slots=True)
    class PickleScan:
        findings: list = field(default_factory=list)
        end: int = 0
        pickles: int = 0
        globals: set = field(default_factory=set)

    def scan_pickle(data, location, ctx, *, start=0, max_pickles=None, depth=0):
        raw = bytes(data[start:])
        out = PickleScan(end=start)
        pos = 0
        while pos < len(raw) and (max_pickles is None or out.pickles < max_pickles):
            strings: list[str] = []
            import io

            stream = io.BytesIO(raw[pos:])
            try:
                for op, arg, _ in pickletools.genops(stream):
                    if isinstance(arg, str):
                        strings.append(arg)
                    glob = None
                    if op.name in ("GLOBAL", "INST"):
                        glob = tuple(arg.split(" ", 1))
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        glob = (strings[-2], strings[-1])
                    if glob:
                        out.globals.add(glob)
                        if glob[0].split(".")[0] in DANGEROUS:
                            out.findings.append(
                                finding(
                                    "pickle-dangerous-call",
                                    f"calls {glob[0]}.{glob[1]}",
                                    location,
                                    evidence=f"{glob[0]}.{glob[1]}",
                                )
                            )
            except Exception as exc:
                out.findings.append(finding("parse-error", f"bad pickle: {exc}", location))
                out.end = start + len(raw)
                return out
            pos += stream.tell()
            out.pickles += 1
            out.end = start + pos
        return out

    pkg = types.ModuleType("mlchain.scan.pickle")
    pkg.__path__ = []
    mod = types.ModuleType("mlchain.scan.pickle.vm")
    mod.PickleScan = PickleScan
    mod.scan_pickle = scan_pickle
    mod.STANDIN = True
    sys.modules.setdefault("mlchain.scan.pickle", pkg)
    sys.modules["mlchain.scan.pickle.vm"] = mod
    return True
