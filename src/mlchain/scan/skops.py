"""skops archives (``.skops``): the types ``schema.json`` makes skops construct or import.

``skops.io.load`` rebuilds an object tree from ``schema.json``; every node names a type or a
function as ``__module__``/``__class__``, which skops imports when it loads. skops refuses types
outside its default trusted set unless the caller passes them in ``trusted=``; users routinely pass
``get_untrusted_types()`` straight back, which is how ``FunctionTransformer(func=os.system)``
dumps run code. mlchain computes the same untrusted set as ``get_untrusted_types`` (the trusted
names are generated from skops' own lists, :mod:`.skops_types`) and grades it:

* functions and types from modules that run commands or code (``builtins.eval``, ``posix.system``,
  ``subprocess``...) or ``functools.partial`` wrappers: ``skops-untrusted-type`` critical;
* other untrusted types: high, except a few scikit-learn internals skops does not list but which
  only hold arrays (``sklearn.tree._tree.Tree``...): low.

The archive's ``.npy`` members are scanned by the container scanner as in any zip.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

from mlchain.models import ArtifactFormat, Finding, Severity
from mlchain.scan.base import Artifact, ScanContext, finding

DANGEROUS_ROOTS = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy",
        "pickle", "marshal", "ctypes", "pty", "code", "codeop", "webbrowser", "urllib", "http",
        "requests", "functools", "operator", "io", "pathlib", "tempfile", "multiprocessing",
        "joblib", "dill", "cloudpickle", "numpy.lib.npyio", "__main__",
    }
)  # fmt: skip
"""Module roots whose functions and classes run commands, code or I/O when called."""
DANGEROUS_BUILTINS = frozenset(
    {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "input"}
    | {"breakpoint", "globals", "locals", "vars", "type", "object"}
)
REVIEWED_INERT = frozenset({"sklearn.tree._tree.Tree"})
"""scikit-learn internals skops leaves untrusted but which only carry arrays and numbers
(``Tree.__setstate__`` checks its node array's dtype and shape)."""
MEMORY_UNSAFE = {
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor": "its node array is "
    "indexed without bounds checks: a crafted file can crash the process at inference "
    "(scikit-learn/scikit-learn#34558, which is why skops does not trust it)",
}
"""Types skops deliberately leaves untrusted for memory safety: medium, with the reason."""
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
MAX_NODES = 2_000_000


def referenced_types(schema: Any) -> set[str]:
    """Every ``module.name`` a schema's nodes make skops import (its trusted or not)."""
    found: set[str] = set()
    stack = [schema]
    seen = 0
    while stack and seen < MAX_NODES:
        value = stack.pop()
        seen += 1
        if isinstance(value, dict):
            module, name = value.get("__module__"), value.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            stack.extend(v for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, (dict, list)))
    return found


def untrusted_types(schema: Any) -> list[str]:
    """The types skops' ``get_untrusted_types`` would list for this schema."""
    from mlchain.scan.skops_types import TRUSTED

    return sorted(t for t in referenced_types(schema) if t not in TRUSTED)


def grade(type_name: str) -> Severity:
    """How dangerous trusting ``type_name`` is."""
    module, _, name = type_name.rpartition(".")
    if module == "builtins" and name in DANGEROUS_BUILTINS:
        return Severity.CRITICAL
    if any(module == r or module.startswith(r + ".") for r in DANGEROUS_ROOTS):
        return Severity.CRITICAL
    if type_name in REVIEWED_INERT:
        return Severity.LOW
    if type_name in MEMORY_UNSAFE:
        return Severity.MEDIUM
    return Severity.HIGH


class SkopsScanner:
    """Scans ``.skops`` archives: the zip container, then the schema's types."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield container findings and one ``skops-untrusted-type`` per untrusted type."""
        import dataclasses

        from mlchain.scan.containers.dispatch import ContainerScanner
        from mlchain.scan.strict_json import JsonProblem, parse_strict

        as_zip = dataclasses.replace(artifact, format=ArtifactFormat.ZIP)
        yield from ContainerScanner().scan(as_zip, ctx)
        member = artifact.location.with_member("schema.json")
        try:
            with artifact.path.open("rb") as raw, zipfile.ZipFile(raw) as archive:
                info = archive.getinfo("schema.json")
                if info.file_size > MAX_SCHEMA_BYTES:
                    yield finding(
                        "scan-limit-exceeded", "schema.json is too large; not checked", member
                    )
                    return
                with archive.open(info) as handle:
                    data = handle.read(MAX_SCHEMA_BYTES + 1)
        except (zipfile.BadZipFile, KeyError, NotImplementedError, RuntimeError, ValueError,
                EOFError, OSError) as exc:  # fmt: skip
            yield finding("parse-error", f"skops archive is unreadable: {exc}", artifact.location)
            return
        try:
            schema = parse_strict(data[:MAX_SCHEMA_BYTES]).value
        except JsonProblem as exc:
            yield finding("parse-error", f"schema.json is not strict JSON: {exc}", member)
            return
        for type_name in untrusted_types(schema):
            severity = grade(type_name)
            yield finding(
                "skops-untrusted-type",
                f"skops would import {type_name}, which it does not trust by default"
                + (
                    "; it runs commands or code when called"
                    if severity is Severity.CRITICAL
                    else (f"; {MEMORY_UNSAFE[type_name]}" if type_name in MEMORY_UNSAFE else "")
                ),
                member,
                evidence=type_name,
                severity=severity,
            )


__all__ = ["SkopsScanner", "grade", "referenced_types", "untrusted_types"]
