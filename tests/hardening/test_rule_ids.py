"""Every rule id written in ``src/mlchain`` is in the catalogue (mlchain issue #16, item 7).

``finding("pickle-dangerus-call", ...)`` would only fail at run time, when that path runs, as a
``scanner-error`` in place of the intended finding. This walks the source with ``ast`` and checks
every literal rule id given to a rule sink (first argument or ``rule_id=``/``rule=``), and every
literal compared with a ``.rule_id``/``.rule`` (``==``, ``!=``, ``in`` a literal collection or a
module-level constant collection), against ``mlchain.rules.RULES``. The sinks are
``finding(...)``, ``Abort(...)`` and ``event(...)``, plus every function, method or class of
``src`` whose first parameter (or first dataclass field) is named ``rule``/``rule_id``, found
by the same walk (``Issue(...)``, the scanners' ``report``/``add`` helpers...).

The type-checker alternative, a ``RuleId`` ``Literal`` on ``finding``, would need every caller
that passes a computed id to be rewritten; this test covers the same literals without that
churn.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from mlchain.rules import RULES

SRC = Path(__file__).resolve().parents[2] / "src" / "mlchain"
_CALLS = frozenset({"finding", "Abort", "event"})
_RULE_ATTRS = frozenset({"rule_id", "rule"})
_RULE_KEYWORDS = frozenset({"rule_id", "rule"})


def _strings(node: ast.AST | None, *, collections: bool = True) -> list[str]:
    """String constants of a rule-id expression: a literal, a conditional, a collection."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.IfExp):
        return _strings(node.body, collections=collections) + _strings(
            node.orelse, collections=collections
        )
    if not collections:  # a call's rule argument is one id, never a collection
        return []
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [s for element in node.elts for s in _strings(element)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        if node.func.id in {"frozenset", "set", "tuple"}:
            return _strings(node.args[0])
    return []


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_rule_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in _RULE_ATTRS


def rule_sinks(tree: ast.AST) -> set[str]:
    """Names of callables whose first parameter (or dataclass field) is a rule id."""
    sinks: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
            first = fields[0].target if fields else None
            if isinstance(first, ast.Name) and first.id in _RULE_KEYWORDS:
                sinks.add(node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    if _first_param(item) in _RULE_KEYWORDS:
                        sinks.add(node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name != "__init__" and _first_param(node) in _RULE_KEYWORDS:
                sinks.add(node.name)
    return sinks


def _first_param(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    if params and params[0] in {"self", "cls"}:
        params = params[1:]
    return params[0] if params else None


def rule_ids_in(source: str, sinks: frozenset[str] | set[str] = _CALLS) -> list[tuple[int, str]]:
    """``(line, rule id)`` for every literal rule id in ``source``."""
    tree = ast.parse(source)
    constants: dict[str, ast.AST] = {}
    for statement in tree.body:  # module-level collections compared with `.rule_id in NAME`
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                constants[target.id] = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            if statement.value is not None:
                constants[statement.target.id] = statement.value
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in sinks:
            if node.args:
                found += [(node.lineno, s) for s in _strings(node.args[0], collections=False)]
            for keyword in node.keywords:
                if keyword.arg in _RULE_KEYWORDS:
                    found += [(node.lineno, s) for s in _strings(keyword.value, collections=False)]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if not any(_is_rule_attr(side) for side in sides):
                continue
            for side in sides:
                if isinstance(side, ast.Name) and side.id in constants:
                    side = constants[side.id]
                found += [(node.lineno, s) for s in _strings(side)]
    return found


@functools.cache
def _all_rule_ids() -> list[tuple[str, int, str]]:
    sources = {p.relative_to(SRC).as_posix(): p.read_text() for p in sorted(SRC.rglob("*.py"))}
    sinks = set(_CALLS)
    for text in sources.values():
        sinks |= rule_sinks(ast.parse(text))
    out: list[tuple[str, int, str]] = []
    for rel, text in sources.items():
        out += [(rel, line, rule) for line, rule in rule_ids_in(text, sinks)]
    return out


def test_every_literal_rule_id_in_src_is_in_the_catalogue() -> None:
    unknown = [
        f"{rel}:{line}: {rule!r}" for rel, line, rule in _all_rule_ids() if rule not in RULES
    ]
    assert not unknown, "rule ids missing from mlchain.rules.RULES:\n" + "\n".join(unknown)


def test_the_walk_sees_the_rule_ids_of_the_source() -> None:
    """The check is not vacuous: it finds most catalogue ids written in the source, at the call
    sites and comparisons it claims to cover."""
    ids = {rule for _, _, rule in _all_rule_ids()}
    assert len(ids) >= 0.9 * len(RULES)
    assert {"file-unreadable", "pickle-persistent-id", "not-scanned"} <= ids


@pytest.mark.parametrize(
    "source",
    [
        'finding("pickle-dangerus-call", "m", loc)',
        'raise Abort("parse-eror", "m", 0)',
        'self.event("pickle-dangerous-cal", "m", 0)',
        'finding(rule_id="typo-rule", message="m", location=loc)',
        'finding("parse-error" if x else "parse-eror", "m", loc)',
        'ok = f.rule_id == "not-scaned"',
        'ok = "not-scaned" != item.rule_id',
        'ok = f.rule_id in ("parse-error", "typo-rule")',
        'RULESET = frozenset({"parse-error", "typo-rule"})\nok = f.rule_id in RULESET',
        'def report(self, rule, message): ...\nself.report("onnx-custom-opp", "m")',
        "@dataclass\nclass Issue:\n    rule: str\n    body: str\n"
        'Issue("chat-template-unlistd", "m")',
    ],
)
def test_a_misspelt_rule_id_is_caught(source: str) -> None:
    """Each construct the walk covers, with one misspelt id, is reported."""
    found = [rule for _, rule in rule_ids_in(source, _CALLS | rule_sinks(ast.parse(source)))]
    assert [rule for rule in found if rule not in RULES], found
