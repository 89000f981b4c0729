"""The floor plan of ``src/mlchain``, enforced (docs/architecture.md draws it).

An AST walk over every module, function-local and ``TYPE_CHECKING`` imports included, maps each
``import``/``from ... import`` to the mlchain module it names. Two properties are checked:

* **Boundary rules** (:data:`NEVER`): pairs of layers where an arrow would mean the design has
  leaked (a scanner that knows an output format, a reader that imports its own router, ...).
* **No import cycles at all** among the modules, computed as strongly-connected components of the
  graph. A circle means neither side can be read, tested or changed on its own.

Breaks that exist today are listed in :data:`KNOWN`, each with the issue that removes it. The test
fails when a new break appears *and* when a listed one disappears without being removed from the
list, so the list is always the exact truth.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "mlchain"

NEVER: list[tuple[str, str, str]] = [  # (importer prefix, imported prefix, why)
    ("mlchain.", "mlchain.cli", "nothing below the CLI imports it (only _entry/__main__ do)"),
    ("mlchain.scan", "mlchain.output", "scanning knows no output format"),
    ("mlchain.scan", "mlchain.policy", "scanning knows no policy"),
    ("mlchain.scan", "mlchain.signing", "scanning knows no signing"),
    ("mlchain.output", "mlchain.scan", "formatters render a ScanReport only"),
    ("mlchain.policy", "mlchain.scan", "policy evaluates documents, it does not walk or detect"),
    ("mlchain.scan.containers.", "mlchain.scan.containers.dispatch", "recursion is handed in"),
    ("mlchain.scan.detect", "mlchain.scan.containers.dispatch", "detection uses readers only"),
    ("mlchain.scan.magic", "mlchain.scan.containers.dispatch", "detection uses readers only"),
]
"""Boundary rules. A prefix ending in ``.`` matches sub-modules only; otherwise the module itself
and its sub-modules. A module never breaks a rule by importing itself."""

ALLOWED_CLI_IMPORTERS = frozenset({"mlchain._entry", "mlchain.__main__"})

KNOWN_BREAKS: dict[tuple[str, str], str] = {}
"""Boundary breaks that exist today, with the issue that removes them."""

KNOWN_CYCLES: dict[frozenset[str], str] = {}
"""Import cycles (strongly-connected components) that exist today, with their issue."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The mlchain module ``name`` refers to (a module, or the module defining an attribute)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports() -> dict[str, frozenset[str]]:
    """Module -> the mlchain modules it imports anywhere in its body."""
    graph: dict[str, frozenset[str]] = {}
    for name, path in modules().items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}")  # a sub-module, or an attribute of base
        # "from pkg import attr" resolves to pkg itself when attr is no sub-module. Importing a
        # sub-module also runs its parent packages' __init__, but that is not an arrow we draw.
        resolved = {t for t in map(_resolve, targets) if t is not None and t != name}
        graph[name] = frozenset(resolved)
    return graph


def _matches(module: str, prefix: str) -> bool:
    if prefix.endswith("."):
        return module.startswith(prefix)
    return module == prefix or module.startswith(prefix + ".")


def boundary_breaks() -> dict[tuple[str, str], str]:
    """Every (importer, imported) pair that breaks a rule of :data:`NEVER`, with the reason."""
    found: dict[tuple[str, str], str] = {}
    for importer, targets in imports().items():
        for target in targets:
            for source_prefix, target_prefix, why in NEVER:
                if not (_matches(importer, source_prefix) and _matches(target, target_prefix)):
                    continue
                if _matches(importer, target_prefix):
                    continue  # inside the layer itself
                if target_prefix == "mlchain.cli" and importer in ALLOWED_CLI_IMPORTERS:
                    continue
                found[(importer, target)] = why
    return found


def cycles() -> list[frozenset[str]]:
    """Strongly-connected components with more than one module (Tarjan, iterative)."""
    graph = imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    components.append(frozenset(members))
    return components


def test_the_walk_sees_the_package() -> None:
    graph = imports()
    assert "mlchain.scan.detect" in graph
    assert "mlchain.models" in graph["mlchain.scan.base"]
    # function-local imports count: scan_paths imports the HF cache locator inside a function
    assert "mlchain.sources.hfcache" in graph["mlchain.scan"]


def test_no_new_boundary_break() -> None:
    found = boundary_breaks()
    new = {pair: why for pair, why in found.items() if pair not in KNOWN_BREAKS}
    assert not new, "imports that cross a layer boundary:\n" + "\n".join(
        f"  {a} -> {b}: {why}" for (a, b), why in sorted(new.items())
    )


def test_known_boundary_breaks_are_still_real() -> None:
    gone = sorted(set(KNOWN_BREAKS) - set(boundary_breaks()))
    assert not gone, f"fixed, remove from KNOWN_BREAKS: {gone}"


FLOOR = {
    "mlchain.models": set(),
    "mlchain.errors": set(),
    "mlchain.sanitize": set(),
    "mlchain.inputfile": set(),
    "mlchain.jsontext": set(),
    "mlchain.report": {"mlchain.models", "mlchain.errors", "mlchain.inputfile"},
    "mlchain.scan.containers.buffer": set(),
    "mlchain.fstree": set(),
}
"""Ground-floor modules and everything they may import of mlchain."""


@pytest.mark.parametrize("module", sorted(FLOOR))
def test_the_floor_stands_on_nothing(module: str) -> None:
    assert imports()[module] <= FLOOR[module], sorted(imports()[module] - FLOOR[module])


def test_no_new_import_cycle() -> None:
    new = [sorted(c) for c in cycles() if c not in KNOWN_CYCLES]
    assert not new, "modules that import each other in a circle:\n" + "\n".join(
        f"  {' <-> '.join(c)}" for c in new
    )


def test_known_cycles_are_still_real() -> None:
    gone = [sorted(c) for c in set(KNOWN_CYCLES) - set(cycles())]
    assert not gone, f"fixed, remove from KNOWN_CYCLES: {gone}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [{"a", "b"}]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [{"a", "b", "c"}]),
    ],
)
def test_cycle_finder(
    monkeypatch: pytest.MonkeyPatch, graph: dict[str, set[str]], expected: list[set[str]]
) -> None:
    """The component search itself finds circles (so an empty answer means something)."""
    fake = {k: frozenset(v - {k}) for k, v in graph.items()}
    monkeypatch.setattr(f"{__name__}.imports", lambda: fake)
    assert sorted(map(sorted, cycles())) == sorted(map(sorted, expected))
