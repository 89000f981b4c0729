"""The allowlist of Jinja constructs a chat template may use, and the walker that enforces it.

A blocklist of sandbox-escape tricks loses to the next trick (``%c`` formatting, ``center``
padding, ``map(attribute=...)``, ``caller()``, keyword-argument smuggling...). This module
inverts the rule: it names the small subset of Jinja that real chat templates use (measured on
the 74 templates of ``fixtures/chat_templates_real/``: llama.cpp's ``models/templates`` and vLLM's
examples, i.e. the templates of the big model families) and reports everything else.

The template is parsed with Jinja2's own parser and never rendered. The walker then checks:

* **Node types.** Only output, ``if``/``for``/``set``/``set`` blocks/``macro``/``filter``
  blocks/``with``/``break``/``continue``/``generation`` and plain expressions (constants,
  names, literal attribute access, subscripts, arithmetic, comparisons, ``~``, lists, dicts,
  conditional expressions, calls and filters as below). ``{% call %}``/``caller``,
  ``include``/``import``/``extends``/``block``, ``autoescape`` and anything else are outside.
* **Names.** Attribute names are literals by Jinja's grammar; one starting with ``_`` or in
  :data:`UNSAFE_ATTRIBUTES` is critical (it is how every escape starts). Jinja's globals with a
  route to module globals (``cycler``, ``joiner``, ``lipsum``, ``namespace``, ``self``...) may
  only be called, never inspected. ``caller``/``varargs``/``kwargs`` are outside.
* **Calls.** Globals: :data:`GLOBAL_FUNCTIONS` plus the template's own macros. Methods:
  :data:`METHODS` (string and dict helpers; ``str.format`` only on a literal format string whose
  fields do not walk attributes). No ``*args``/``**kwargs`` in any call or filter (that is
  keyword-argument smuggling), no keyword name starting with ``_``.
* **Filters and tests.** :data:`FILTERS` and :data:`TESTS`. Filters that resolve attribute
  paths (``map(attribute=...)``, ``selectattr``, ``sort(attribute=...)``...) and filters that
  name another filter or test (``map('lower')``, ``select('odd')``) take literal names only.
* **Computed names.** Every expression gets an abstract value: a number, data from the
  renderer's context (messages, tools...), literal strings the template wrote, or a string
  *built at render time* from template text (``~``, ``+``, ``%``, ``format``, ``join``,
  ``replace``, slicing, string filters and methods). Values flow through ``set``, loops,
  namespaces, ``append`` and macro parameters until nothing changes. A subscript key may be a
  number, context data or a known literal; a built string there is at least high, and critical
  when :mod:`mlchain.scan.jinja_fold` can spell it as a dangerous name.

The analysis over-approximates (it ignores scopes and joins every assignment of a name), so it
may call a legitimate template unusual, never an unusual one fine.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from mlchain.models import Severity
from mlchain.scan.jinja_fold import Folder, format_field_names

MAX_RANGE = 100_000
"""Jinja's sandbox refuses ``range()`` longer than this (``MAX_RANGE``); so do we."""
_MAX_LITERALS = 256
_MAX_ROUNDS = 50
_MAX_BIND_WORK = 400_000
"""Bound on binding evaluations (rounds x binders) for hostile templates."""

UNSAFE_ATTRIBUTES = frozenset(
    {
        # Jinja's sandbox lists (functions, methods, generators, coroutines, async generators)
        "func_closure",
        "func_code",
        "func_dict",
        "func_defaults",
        "func_globals",
        "im_class",
        "im_func",
        "im_self",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_code",
        "ag_frame",
        # type.mro and frame/traceback/code internals reachable without underscores
        "mro",
        "f_globals",
        "f_builtins",
        "f_locals",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
    }
)
"""Attribute names the sandbox refuses although they do not start with an underscore."""

ESCAPE_GLOBALS = frozenset({"self", "cycler", "joiner", "namespace", "lipsum", "dict", "range"})
"""Jinja globals that are Python callables: their attributes lead to module globals."""

HOST_NAMES = frozenset(
    {"config", "request", "url_for", "get_flashed_messages", "os", "sys", "subprocess"}
    | {"builtins", "importlib", "popen", "eval", "exec", "getattr", "setattr", "globals"}
    | {"caller", "varargs", "kwargs", "super", "environment", "context"}
    | {"self", "cycler", "joiner", "lipsum", "dict"}
)
"""Names no chat renderer provides; a template reading them probes the host or the engine."""

SUSPICIOUS_ATTRIBUTES = frozenset(
    {"popen", "system", "import_module", "load_module", "check_output", "getattr", "setattr"}
    | {"eval", "exec", "globals", "builtins", "modules", "subprocess", "spawn"}
)
"""Attribute names that only a probe for the host's modules would read."""

GLOBAL_FUNCTIONS = frozenset({"namespace", "range", "raise_exception", "strftime_now", "loop"})
"""Functions a chat renderer provides (Hugging Face adds ``raise_exception`` and
``strftime_now``; ``loop`` is callable in recursive loops)."""

METHODS = frozenset(
    {"get", "items", "keys", "values", "split", "rsplit", "splitlines", "strip", "lstrip"}
    | {"rstrip", "startswith", "endswith", "replace", "lower", "upper", "title", "capitalize"}
    | {"find", "rfind", "count", "index", "isdigit", "isspace", "isalpha", "isalnum", "format"}
    # Kimi K2 keeps a queue of tool-call ids; harmless on data, tracked as a flow below.
    | {"append", "pop"}
)
"""Methods real templates call: read-only helpers of str/dict/list, and Kimi's queue."""

_NUMERIC_METHODS = frozenset(
    {"startswith", "endswith", "find", "rfind", "count", "index"}
    | {"isdigit", "isspace", "isalpha", "isalnum"}
)
_PASSING_METHODS = frozenset({"items", "keys", "values", "pop", "get"})
_CUTTING = frozenset({"split", "rsplit", "splitlines", "strip", "lstrip", "rstrip", "trim"})
"""Methods and filters whose result is a piece of their input: their arguments only say where
to cut, so data stays data (template text is still built)."""

FILTERS = frozenset(
    {"tojson", "length", "count", "trim", "string", "default", "d", "join", "items", "lower"}
    | {"upper", "safe", "dictsort", "list", "replace", "selectattr", "rejectattr", "select"}
    | {"reject", "indent", "map", "from_json", "int", "float", "unique", "sort", "min", "max"}
    | {"first", "last", "capitalize", "title", "abs", "round", "e", "escape", "format"}
    | {"reverse", "sum", "wordcount", "batch", "groupby"}
)
"""Filters real templates use (``from_json`` is llama.cpp's). Not listed, among others:
``attr`` (a computed getattr), ``center``/``wordwrap``/``truncate``/``urlize``/``xmlattr``/
``pprint``/``filesizeformat``/``random``, which no template needs and which were used to build
or reach names."""

_NUMERIC_FILTERS = frozenset({"length", "count", "int", "float", "abs", "round", "wordcount"})
_PASSING_FILTERS = frozenset(
    {"default", "d", "safe", "items", "dictsort", "list", "selectattr", "rejectattr", "select"}
    | {"reject", "unique", "sort", "min", "max", "first", "last", "batch", "groupby", "map"}
    | {"sum", "e", "escape"}
)
"""Filters whose result is (part of) their input: values pass through unchanged."""

ATTRIBUTE_KEYWORDS = {
    "map": "attribute",
    "sort": "attribute",
    "unique": "attribute",
    "min": "attribute",
    "max": "attribute",
    "sum": "attribute",
    "join": "attribute",
    "groupby": "attribute",
}
"""Filters that resolve an attribute path given by keyword (``map(attribute='a.b')``)."""
ATTRIBUTE_POSITION = {
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
    "sum": 0,
    "sort": 2,
    "unique": 1,
    "min": 1,
    "max": 1,
    "join": 1,
}
"""Where the attribute path sits among the positional arguments (``sort(false, false, 'a')``)."""

TESTS = frozenset(
    {"defined", "undefined", "string", "none", "mapping", "iterable", "sequence", "false"}
    | {"true", "boolean", "number", "integer", "float", "equalto", "eq", "==", "ne", "!="}
    | {"in", "lower", "upper", "odd", "even", "divisibleby", "gt", "lt", "ge", "le", ">"}
    | {"<", ">=", "<=", "greaterthan", "lessthan", "sameas"}
)
"""Tests real templates use: type and value checks, none of which reads attributes."""

ALLOWED_NODES = frozenset(
    {"Template", "Output", "TemplateData", "Const", "Name", "Getattr", "Getitem", "Slice"}
    | {"Call", "Keyword", "Filter", "Test", "If", "For", "Assign", "AssignBlock", "NSRef"}
    | {"Macro", "Compare", "Operand", "And", "Or", "Not", "Neg", "Pos", "Add", "Sub", "Mul"}
    | {"Div", "FloorDiv", "Mod", "Concat", "CondExpr", "List", "Tuple", "Dict", "Pair"}
    | {"Break", "Continue", "Scope", "FilterBlock", "With"}
)
"""Jinja node types a chat template may contain (``Scope`` is Hugging Face's
``{% generation %}`` block). Notably absent: ``CallBlock`` (``{% call %}``), ``Include``,
``Import``, ``FromImport``, ``Extends``, ``Block``, ``Pow`` and the eval-context modifiers."""

_UNARY_TEXT = frozenset(
    {"lower", "upper", "title", "capitalize", "string", "tojson", "e", "escape", "from_json"}
)
"""Filters and methods that convert one value: data stays data (template text is built)."""
_TOKEN_NAME = re.compile(r"_tokens?$")
_LOOP_NUMBERS = frozenset(
    {"index", "index0", "revindex", "revindex0", "length", "depth", "depth0", "first", "last"}
)


@dataclass(frozen=True, slots=True)
class Value:
    """What an expression may evaluate to, abstractly."""

    literals: frozenset[str] = frozenset()
    """Strings written in the template that the value may be (or contain, for containers)."""
    built: bool = False
    """May be a string assembled at render time from template text."""
    data: bool = False
    """May be data from the renderer's context."""
    namespace: bool = False
    """May be a ``namespace()`` object, whose attributes are tracked by name."""

    def __or__(self, other: Value) -> Value:
        literals = self.literals | other.literals
        built = self.built or other.built
        if len(literals) > _MAX_LITERALS:
            literals, built = frozenset(), True
        return Value(literals, built, self.data or other.data, self.namespace or other.namespace)

    @property
    def textual(self) -> bool:
        """Whether template text can be part of this value."""
        return self.built or bool(self.literals)


NUMBER = Value()
DATA = Value(data=True)
BUILT = Value(built=True)
NAMESPACE = Value(data=True, namespace=True)


def _transform(*values: Value) -> Value:
    """The result of a string operation: built when template text goes in."""
    if any(v.textual for v in values):
        return BUILT
    return DATA if any(v.data for v in values) else NUMBER


def _build(*values: Value) -> Value:
    """The result of assembling a string from pieces: built unless only numbers go in.

    Assembling is ``~``, ``+``, ``%``, ``*``, ``join``, ``replace``, ``format``... Pieces of
    context data are predictable (``(message|list)[2][4:5]`` is the ``_`` of ``tool_calls``), so
    assembling them spells names as well as template text does.
    """
    if any(v.textual or v.data for v in values):
        return BUILT
    return NUMBER


def _union(values: Iterator[Value] | list[Value]) -> Value:
    out = NUMBER
    for value in values:
        out = out | value
    return out


@dataclass(frozen=True, slots=True)
class Issue:
    """One construct outside the allowlist."""

    rule: str
    message: str
    evidence: str | None
    severity: Severity | None = None


def dangerous_name(name: str) -> bool:
    """Whether reading the attribute ``name`` is how a sandbox escape starts."""
    return name.startswith("_") or name in UNSAFE_ATTRIBUTES


def iter_nodes(tree: Any) -> Iterator[Any]:
    """Every node of the tree, iteratively (hostile templates can nest deeply)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


class Checker:
    """Evaluates the flows of one template to a fixed point, then checks every node."""

    def __init__(self, tree: Any) -> None:
        self.nodes = list(iter_nodes(tree))
        self.folder = Folder(self.nodes)
        self.vars: dict[str, Value] = {}
        self.attrs: dict[str, Value] = {}
        """Namespace attributes (``ns.x``) by name, over every namespace of the template."""
        self.macros = {n.name: n for n in self.nodes if isinstance(n, nodes.Macro)}
        self.defined = {
            n.name for n in self.nodes if isinstance(n, nodes.Name) and n.ctx in ("store", "param")
        }
        self._solve()

    # --- flows ------------------------------------------------------------------------------

    def _solve(self) -> None:
        binders = [
            n
            for n in self.nodes
            if isinstance(
                n, (nodes.Assign, nodes.AssignBlock, nodes.For, nodes.With, nodes.Macro, nodes.Call)
            )
        ]
        rounds = max(2, min(_MAX_ROUNDS, _MAX_BIND_WORK // max(1, len(binders))))
        for round_number in range(rounds):
            before = (dict(self.vars), dict(self.attrs))
            # Alternate directions: a chain of sets converges in two rounds either way.
            for node in binders if round_number % 2 == 0 else reversed(binders):
                self._bind(node)
            if (self.vars, self.attrs) == before:
                return
        # Not converged within the work bound: assume the worst of every variable.
        for name in list(self.vars):
            self.vars[name] = self.vars[name] | BUILT | DATA
        for attr in list(self.attrs):
            self.attrs[attr] = self.attrs[attr] | BUILT | DATA

    def _assign(self, target: Any, value: Value) -> None:
        if isinstance(target, nodes.Name):
            self.vars[target.name] = self.vars.get(target.name, NUMBER) | value
        elif isinstance(target, nodes.NSRef):
            self.attrs[target.attr] = self.attrs.get(target.attr, NUMBER) | value
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            for item in target.items:
                self._assign(item, value)

    def _bind(self, node: Any) -> None:
        if isinstance(node, nodes.Assign):
            self._assign(node.target, self.value(node.node))
        elif isinstance(node, nodes.AssignBlock):
            body = [self.value(child) for child in node.body]
            self._assign(node.target, _build(*body) if len(body) != 1 else body[0])
        elif isinstance(node, nodes.For):
            self._assign(node.target, self.value(node.iter))
        elif isinstance(node, nodes.With):
            for target, value in zip(node.targets, node.values, strict=False):
                self._assign(target, self.value(value))
        elif isinstance(node, nodes.Macro):
            for arg, default in zip(reversed(node.args), reversed(node.defaults), strict=False):
                self._assign(arg, self.value(default))
        elif isinstance(node, nodes.Call):
            self._bind_call(node)

    def _bind_call(self, node: Any) -> None:
        func = node.node
        if isinstance(func, nodes.Name) and func.name == "namespace":
            for kw in node.kwargs:
                self.attrs[kw.key] = self.attrs.get(kw.key, NUMBER) | self.value(kw.value)
        elif isinstance(func, nodes.Name) and func.name in self.macros:
            macro = self.macros[func.name]
            for arg, value in zip(macro.args, node.args, strict=False):
                self._assign(arg, self.value(value))
            by_name = {arg.name: arg for arg in macro.args}
            for kw in node.kwargs:
                if kw.key in by_name:
                    self._assign(by_name[kw.key], self.value(kw.value))
        elif isinstance(func, nodes.Getattr) and func.attr == "append":
            # `list.append(x)`: the list now holds x's value.
            self._assign_into(func.node, _union([self.value(a) for a in node.args]))

    def _assign_into(self, container: Any, value: Value) -> None:
        while isinstance(container, nodes.Getitem):
            container = container.node
        if isinstance(container, nodes.Name):
            self._assign(container, value)
        elif isinstance(container, nodes.Getattr):
            self.attrs[container.attr] = self.attrs.get(container.attr, NUMBER) | value

    def value(self, node: Any, depth: int = 0) -> Value:
        """The abstract value of expression ``node`` under the current flows."""
        if node is None:
            return NUMBER
        if depth > 200:
            return BUILT | DATA
        v = self.value
        d = depth + 1
        if isinstance(node, nodes.Const):
            return Value(frozenset({node.value})) if isinstance(node.value, str) else NUMBER
        if isinstance(node, nodes.TemplateData):
            return Value(frozenset({node.data}))
        if isinstance(node, nodes.Name):
            # A name the template sets may still hold the context's value where no set ran.
            return self.vars.get(node.name, NUMBER) | self._free_name(node.name)
        if isinstance(node, nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "loop":
                if node.attr in _LOOP_NUMBERS:
                    return NUMBER
                if node.attr in ("previtem", "nextitem"):
                    return DATA
            base = v(node.node, d)
            if base.namespace:
                return self.attrs.get(node.attr, DATA)
            return base
        if isinstance(node, nodes.Getitem):
            base = v(node.node, d)
            if isinstance(node.arg, nodes.Slice) and base.textual:
                return BUILT
            return base
        if isinstance(node, (nodes.List, nodes.Tuple)):
            return _union([v(item, d) for item in node.items])
        if isinstance(node, nodes.Dict):
            return _union([v(p.key, d) | v(p.value, d) for p in node.items])
        if isinstance(node, (nodes.Concat, nodes.Output)):
            parts = [v(item, d) for item in node.nodes]
            return parts[0] if len(parts) == 1 else _build(*parts)
        if isinstance(node, nodes.Add):
            left, right = v(node.left, d), v(node.right, d)
            if isinstance(node.left, (nodes.List, nodes.Tuple)) or isinstance(
                node.right, (nodes.List, nodes.Tuple)
            ):
                return left | right  # list concatenation keeps the items
            if _is_number(node.left) or _is_number(node.right):
                return NUMBER  # str + number raises: this is arithmetic
            return _build(left, right)
        if isinstance(node, (nodes.Mod, nodes.Mul)):
            return _build(v(node.left, d), v(node.right, d))
        if isinstance(node, (nodes.And, nodes.Or)):
            return v(node.left, d) | v(node.right, d)  # Jinja returns an operand
        if isinstance(node, nodes.CondExpr):
            return v(node.expr1, d) | v(node.expr2, d)
        if isinstance(node, nodes.Filter):
            return self._filter_value(node, d)
        if isinstance(node, nodes.Call):
            return self._call_value(node, d)
        # Arithmetic, comparisons, tests, `not`: numbers and booleans.
        return NUMBER

    def _free_name(self, name: str) -> Value:
        """The value of a name the template reads but never sets (the renderer's context)."""
        if name in ESCAPE_GLOBALS or name in GLOBAL_FUNCTIONS or name in self.macros:
            # Their string forms ("<class 'jinja2.utils.Cycler'>") are engine text, not data:
            # slices of them spell names the template never wrote.
            return BUILT
        if _TOKEN_NAME.search(name):
            # bos_token, eos_token, additional_special_tokens... come from the same
            # tokenizer_config.json / GGUF metadata as the template: the author wrote them.
            return BUILT
        return DATA

    def _filter_value(self, node: Any, depth: int) -> Value:
        base = self.value(node.node, depth)
        args = [self.value(a, depth) for a in node.args]
        args += [self.value(k.value, depth) for k in node.kwargs]
        if node.name in _NUMERIC_FILTERS:
            return NUMBER
        if node.name in _CUTTING:
            return BUILT if base.textual else base
        if node.name in _PASSING_FILTERS:
            if node.name in ("default", "d"):
                return base | _union(args)
            return base
        if node.name in _UNARY_TEXT:
            return _transform(base, *args)
        return _build(base, *args)

    def _call_value(self, node: Any, depth: int) -> Value:
        func = node.node
        args = [self.value(a, depth) for a in node.args]
        args += [self.value(k.value, depth) for k in node.kwargs]
        if isinstance(func, nodes.Name):
            if func.name in ("range", "namespace"):
                return NUMBER if func.name == "range" else NAMESPACE
            if func.name in self.macros:
                return BUILT  # a macro returns its rendered body: template text
            if func.name == "loop":
                return DATA
            # strftime_now('__class__') returns its format; raise_exception never returns.
            return _transform(*args)
        if isinstance(func, nodes.Getattr):
            base = self.value(func.node, depth)
            if func.attr in _NUMERIC_METHODS:
                return NUMBER
            if func.attr in _CUTTING:
                return BUILT if base.textual else base
            if func.attr in _PASSING_METHODS:
                return base | _union(args) if func.attr == "get" else base
            if func.attr in _UNARY_TEXT:
                return _transform(base, *args)
            return _build(base, *args)
        return BUILT | DATA

    # --- checks -----------------------------------------------------------------------------

    def issues(self) -> Iterator[Issue]:
        """Every construct outside the allowlist, most specific first."""
        for node in self.nodes:
            line = f"line {getattr(node, 'lineno', '?')}"
            kind = type(node).__name__
            if kind not in ALLOWED_NODES:
                yield _high(f"uses {_describe(node)}, which chat templates do not need ({line})")
                continue
            if isinstance(node, nodes.Name):
                yield from self._name(node, line)
            elif isinstance(node, nodes.Getattr):
                yield from self._getattr(node, line)
            elif isinstance(node, nodes.NSRef):
                if dangerous_name(node.attr):
                    yield _critical(f"assigns the attribute {node.attr} ({line})", node.attr)
            elif isinstance(node, nodes.Getitem):
                yield from self._getitem(node, line)
            elif isinstance(node, nodes.Filter):
                yield from self._filter(node, line)
            elif isinstance(node, nodes.Test):
                if node.name not in TESTS:
                    yield _high(f"uses the test {node.name!r}, not on the list ({line})")
                yield from self._smuggling(node, line)
            elif isinstance(node, nodes.Call):
                yield from self._call(node, line)
            elif isinstance(node, nodes.Keyword) and dangerous_name(node.key):
                yield _critical(f"passes the keyword argument {node.key} ({line})", node.key)
            elif isinstance(node, nodes.Macro):
                if node.name.startswith("__") or node.name in GLOBAL_FUNCTIONS:
                    yield _high(f"defines a macro named {node.name!r} ({line})", node.name)
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                name = _dunder_in(node.value)
                if name is not None:
                    yield _critical(
                        f"string constant names the dunder attribute {name} ({line})", node.value
                    )
            elif isinstance(node, nodes.Mul):
                for side in (node.left, node.right):
                    if _big_int(side):
                        yield _high(f"repeats a value {side.value} times ({line})")  # type: ignore[attr-defined]

    def _name(self, node: Any, line: str) -> Iterator[Issue]:
        if node.ctx != "load":
            if node.name.startswith("__"):
                yield _critical(f"binds the name {node.name} ({line})", node.name)
            return
        if node.name.startswith("__"):
            yield _critical(f"uses the name {node.name} ({line})", node.name)
        elif node.name in HOST_NAMES and node.name not in self.defined:
            yield _high(
                f"uses the name {node.name!r}, which no chat renderer provides ({line})", node.name
            )

    def _getattr(self, node: Any, line: str) -> Iterator[Issue]:
        attr = node.attr
        if dangerous_name(attr):
            yield _critical(f"accesses the attribute {attr} ({line})", attr)
        receiver = node.node
        if (
            isinstance(receiver, nodes.Name)
            and receiver.name not in self.defined
            and (receiver.name in ESCAPE_GLOBALS or receiver.name in self.macros)
        ):
            yield _critical(
                f"reaches into the {receiver.name!r} callable ({receiver.name}.{attr}), a "
                f"known route to module globals ({line})",
                f"{receiver.name}.{attr}",
            )
        if attr in SUSPICIOUS_ATTRIBUTES:
            yield _high(
                f"accesses the attribute {attr!r}, which chat templates never need ({line})"
            )

    def _getitem(self, node: Any, line: str) -> Iterator[Issue]:
        receiver = node.node
        if (
            isinstance(receiver, nodes.Name)
            and receiver.name not in self.defined
            and (receiver.name in ESCAPE_GLOBALS or receiver.name in self.macros)
        ):
            yield _critical(f"subscripts the {receiver.name!r} callable ({line})", receiver.name)
        if isinstance(node.arg, nodes.Slice):
            return
        yield from self._name_value(node.arg, "subscripts with the key", line)

    def _name_value(
        self, node: Any, what: str, line: str, *, literal: bool = False
    ) -> Iterator[Issue]:
        """Check an expression used as an attribute or item name.

        ``literal`` demands a constant (attribute paths, filter and test names); otherwise
        numbers and context data are fine too (``messages[i]``, ``params[key]``).
        """
        value = self.value(node)
        folded = [c for c in self.folder.fold(node) or [] if _dangerous_path(c)]
        bad = folded or [c for c in value.literals if _dangerous_path(c)]
        if bad:
            yield _critical(f"{what} {bad[0]!r} ({line})", bad[0])
        elif value.built:
            yield _high(f"{what} a string built at render time ({line})")
        elif literal and not (isinstance(node, nodes.Const) and isinstance(node.value, str)):
            yield _high(f"{what} a name that is not a literal ({line})")

    def _filter(self, node: Any, line: str) -> Iterator[Issue]:
        name = node.name
        yield from self._smuggling(node, line)
        if name == "attr" or (
            name == "map"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and node.args[0].value == "attr"
        ):
            target = (
                node.args[0 if name == "attr" else 1] if len(node.args) > (name != "attr") else None
            )
            if target is not None:
                yield from self._name_value(target, "uses the attr filter to reach", line)
                if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
                    yield _critical(
                        f"uses the attr filter with a name computed at render time ({line})"
                    )
                names = self.folder.fold(target) or []
                if any(n in ("format", "format_map") for n in names):
                    # |attr('format') hands out str.format unchecked (CVE-2025-27516).
                    yield _critical(f"uses the attr filter to reach 'format' ({line})", "format")
            yield _high(f"uses the attr filter, a computed getattr ({line})")
            return
        if name not in FILTERS:
            yield _high(f"uses the filter {name!r}, not on the list ({line})", name)
            return
        keyword = ATTRIBUTE_KEYWORDS.get(name)
        for kw in node.kwargs:
            if kw.key == keyword:
                yield from self._name_value(
                    kw.value, f"the {name} filter resolves", line, literal=True
                )
        position = ATTRIBUTE_POSITION.get(name)
        if position is not None and len(node.args) > position:
            yield from self._name_value(
                node.args[position], f"the {name} filter resolves", line, literal=True
            )
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            if _big_int(arg):
                yield _high(f"passes {arg.value} to the {name} filter ({line})")
        if name == "map" and node.args and not any(kw.key == "attribute" for kw in node.kwargs):
            yield from self._named_callable(node.args[0], FILTERS, "filter", line)
        if name in ("select", "reject") and node.args:
            yield from self._named_callable(node.args[0], TESTS, "test", line)
        if name in ("selectattr", "rejectattr") and len(node.args) > 1:
            yield from self._named_callable(node.args[1], TESTS, "test", line)

    def _named_callable(
        self, node: Any, allowed: frozenset[str], what: str, line: str
    ) -> Iterator[Issue]:
        if not (isinstance(node, nodes.Const) and isinstance(node.value, str)):
            yield from self._name_value(node, f"names a {what} with", line, literal=True)
        elif node.value not in allowed:
            yield _high(f"applies the {what} {node.value!r}, not on the list ({line})", node.value)

    def _smuggling(self, node: Any, line: str) -> Iterator[Issue]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            yield _high(f"passes *args/**kwargs, which can smuggle names ({line})")
            for dyn in (node.dyn_args, node.dyn_kwargs):
                if dyn is not None:
                    bad = [c for c in self.value(dyn).literals if _dangerous_path(c)]
                    if bad:
                        yield _critical(f"smuggles the name {bad[0]!r} ({line})", bad[0])

    def _call(self, node: Any, line: str) -> Iterator[Issue]:
        yield from self._smuggling(node, line)
        func = node.node
        if isinstance(func, nodes.Name):
            if func.name not in GLOBAL_FUNCTIONS and func.name not in self.macros:
                yield _high(
                    f"calls {func.name!r}, which is not a renderer global or a macro ({line})",
                    func.name,
                )
            if func.name == "range":
                for arg in node.args:
                    if _big_int(arg):
                        yield _high(
                            f"loops over range({arg.value}), past the sandbox's limit ({line})"
                        )
        elif isinstance(func, nodes.Getattr):
            if func.attr not in METHODS:
                yield _high(f"calls the method {func.attr!r}, not on the list ({line})", func.attr)
            elif func.attr == "format":
                yield from self._format(func.node, line)
        else:
            yield _high(f"calls a computed function ({line})")

    def _format(self, receiver: Any, line: str) -> Iterator[Issue]:
        if not (isinstance(receiver, nodes.Const) and isinstance(receiver.value, str)):
            candidates = self.folder.fold(receiver) or []
            for template in candidates:
                yield from _format_fields(template, line)
            yield _high(f"calls str.format on a string that is not a literal ({line})")
            return
        yield from _format_fields(receiver.value, line)


def _format_fields(template: str, line: str) -> Iterator[Issue]:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        yield _high(f"calls str.format on a malformed format string ({line})", template[:80])
        return
    del fields
    for field_name in format_field_names(template):
        if "." in field_name or "[" in field_name:
            if any(
                _dangerous_path(p) for p in field_name.replace("[", ".").replace("]", "").split(".")
            ):
                yield _critical(
                    f"str.format field {{{field_name}}} walks attributes ({line})", field_name
                )
            else:
                yield _high(
                    f"str.format field {{{field_name}}} walks attributes or items ({line})",
                    field_name,
                )


def _is_number(node: Any) -> bool:
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    )


def _big_int(node: Any) -> bool:
    return isinstance(node, nodes.Const) and type(node.value) is int and abs(node.value) > MAX_RANGE


def _dangerous_path(path: str) -> bool:
    return any(dangerous_name(part) for part in path.split("."))


def _dunder_in(text: str) -> str | None:
    match = re.search(r"(?:^|[.\[\s'\"])(__\w+__)", text)
    return match.group(1) if match else None


def _describe(node: Any) -> str:
    names = {
        "CallBlock": "{% call %} (caller())",
        "Include": "{% include %}",
        "Import": "{% import %}",
        "FromImport": "{% from ... import %}",
        "Extends": "{% extends %}",
        "Block": "{% block %}",
        "Pow": "the ** operator",
    }
    return names.get(type(node).__name__, f"the construct {type(node).__name__}")


def _high(message: str, evidence: str | None = None) -> Issue:
    return Issue("chat-template-unlisted", message, evidence, Severity.HIGH)


def _critical(message: str, evidence: str | None = None) -> Issue:
    return Issue("chat-template-injection", message, evidence, Severity.CRITICAL)


__all__ = [
    "ALLOWED_NODES",
    "FILTERS",
    "GLOBAL_FUNCTIONS",
    "METHODS",
    "TESTS",
    "Checker",
    "Issue",
    "Value",
    "dangerous_name",
    "iter_nodes",
]
