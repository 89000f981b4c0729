"""Static analysis of Jinja chat templates (GGUF metadata, ``tokenizer_config.json``, ``.jinja``).

Chat templates are programs. Servers render them with Jinja2, and several rendered them outside
the sandbox: llama-cpp-python (CVE-2024-34359), vLLM, SGLang (CVE-2026-5760). From there a
template climbs ``().__class__.__base__.__subclasses__()`` or ``cycler.__init__.__globals__`` to
``os`` and runs commands the moment a prompt is formatted.

mlchain never renders a template. It parses it with Jinja2's own parser (the parser of the
hardened ``ImmutableSandboxedEnvironment``, so the tree is exactly what a server would compile)
and walks the tree:

* ``chat-template-injection`` (critical): anything the sandbox exists to refuse. Attribute or
  item access to names starting with ``_`` (dunders, private attributes) or to the frame/code
  attributes Jinja blocks; attribute access into the ``self``, ``cycler``, ``joiner``,
  ``namespace`` or ``lipsum`` globals (their ``__init__.__globals__`` leads to ``os``); the
  ``attr`` filter with a name that is dangerous or built at render time; attribute names
  assembled from pieces (``~``, ``+``, ``%``, ``format``, ``join``, ``replace``, reversed
  slices...) that fold to a dangerous name; ``str.format`` fields that walk attributes; and
  dunder names carried as string constants anywhere.
* ``chat-template-suspicious`` (medium): constructs ordinary chat templates never need. The
  ``attr`` filter with a plain name, subscripts whose key is built at render time, mutating
  methods the immutable sandbox refuses (``append``, ``update``...), Flask/OS-flavoured global
  names, template loading (``include``/``import``/``extends``), huge ``range()`` loops.
* A template Jinja2 cannot parse is ``chat-template-suspicious`` at **high** severity: it was not
  analysed, and a different template engine (llama.cpp's own) may accept what Jinja2 refuses.
  Its raw text is still searched for dunder names, which stay critical.

Folding is deliberately small: constants, ``~``/``+``/``%``, ``join``/``replace``/``reverse``/
case filters, the same string methods, slices, and ``{% set %}`` of such values. Anything it
cannot fold but that is used as an attribute name is reported anyway (fail closed).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.strict_json import JsonProblem, parse_strict

MAX_TEMPLATE_CHARS = 1_000_000
"""Largest template parsed; real chat templates are a few kB (the largest seen ~30 kB)."""

_MAX_CANDIDATES = 32
_MAX_FOLD_LEN = 4096
_MAX_FINDINGS = 20
_MAX_RANGE = 100_000
"""Jinja's sandbox refuses ``range()`` longer than this (``MAX_RANGE``)."""

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

ESCAPE_GLOBALS = frozenset({"self", "cycler", "joiner", "namespace", "lipsum"})
"""Jinja globals whose attributes lead to module globals (``lipsum.__globals__['os']``)."""

MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "popitem",
        "clear",
        "sort",
        "reverse",
        "update",
        "setdefault",
        "add",
        "discard",
        "difference_update",
        "symmetric_difference_update",
        "intersection_update",
        "appendleft",
        "extendleft",
        "popleft",
        "rotate",
    }
)
"""Methods ``ImmutableSandboxedEnvironment`` refuses to call (it forbids mutating containers)."""

SUSPICIOUS_ATTRIBUTES = frozenset(
    {
        "popen",
        "system",
        "import_module",
        "load_module",
        "check_output",
        "getattr",
        "setattr",
        "eval",
        "exec",
        "globals",
        "builtins",
        "modules",
        "subprocess",
        "spawn",
    }
)
SUSPICIOUS_NAMES = frozenset(
    {"config", "request", "url_for", "get_flashed_messages", "os", "sys", "subprocess"}
    | {"builtins", "importlib", "popen", "eval", "exec", "getattr", "setattr", "globals"}
)
"""Global names no chat renderer provides; templates probing for them probe the host."""

ATTRIBUTE_FILTERS = frozenset(
    {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}
)
"""Filters that take attribute paths (``map(attribute='a.b')``) and resolve them by getattr."""

_STRING_FILTERS = frozenset(
    {"join", "replace", "reverse", "lower", "upper", "trim", "title", "capitalize", "format"}
    | {"string", "first", "last", "center", "indent", "striptags", "urlencode"}
)
_STRING_METHODS = frozenset(
    {"format", "format_map", "join", "replace", "lower", "upper", "strip", "lstrip", "rstrip"}
    | {"title", "capitalize", "swapcase", "casefold", "removeprefix", "removesuffix", "center"}
    | {"ljust", "rjust", "zfill", "translate", "expandtabs"}
)
_FORMAT_METHODS = frozenset({"format", "format_map"})
_ASSEMBLERS = frozenset({"join", "replace", "format", "format_map", "reverse", "center"})
_DUNDER = re.compile(r"(?:^|[.\[\s'\"])(__\w+__)")


@dataclass(frozen=True, slots=True)
class _Issue:
    rule: str
    message: str
    evidence: str | None
    severity: Severity | None = None


def analyse_template(source: str, loc: Location, name: str | None = None) -> list[Finding]:
    """Return the findings for one chat template's Jinja ``source``.

    ``name`` is the template's name (``None`` for the default template); it appears in every
    message so a named variant is never confused with the default one.
    """
    label = "chat template" if name is None else f"chat template {name!r}"
    issues = _analyse(source)
    findings: list[Finding] = []
    seen: set[tuple[str, str, str | None]] = set()
    for issue in issues:
        key = (issue.rule, issue.message, issue.evidence)
        if key in seen:
            continue
        seen.add(key)
        findings.append(
            finding(
                issue.rule,
                f"{label}: {issue.message}",
                loc,
                evidence=issue.evidence,
                severity=issue.severity,
            )
        )
    findings.sort(key=lambda f: -int(f.severity))
    if len(findings) > _MAX_FINDINGS:
        rest = findings[_MAX_FINDINGS:]
        findings = findings[:_MAX_FINDINGS]
        findings.append(
            finding(
                "chat-template-suspicious",
                f"{label}: {len(rest)} further problems not listed",
                loc,
                severity=max(f.severity for f in rest),
            )
        )
    return findings


def _analyse(source: str) -> list[_Issue]:
    from jinja2 import TemplateSyntaxError

    if len(source) > MAX_TEMPLATE_CHARS:
        return [
            _Issue(
                "chat-template-suspicious",
                f"template of {len(source)} characters is too large to analyse",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [
            _Issue(
                "chat-template-suspicious",
                f"does not parse as Jinja (line {exc.lineno}: {exc.message}); it was not analysed",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        return [
            _Issue(
                "chat-template-suspicious",
                f"could not be parsed ({type(exc).__name__}); it was not analysed",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    return list(_Walker(tree).issues())


def _raw_dunders(source: str) -> list[_Issue]:
    found = dict.fromkeys(m.group(1) for m in _DUNDER.finditer(source[:MAX_TEMPLATE_CHARS]))
    return [
        _Issue("chat-template-injection", f"text names the dunder attribute {name}", name)
        for name in list(found)[:5]
    ]


@functools.cache
def _environment() -> Any:
    """The hardened environment whose parser we use; it never renders anything here."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Hugging Face renders with loopcontrols ({% break %}) and a {% generation %} block tag.
    return ImmutableSandboxedEnvironment(
        extensions=[loopcontrols, _generation_extension()], autoescape=False
    )


def _generation_extension() -> type:
    from jinja2 import nodes
    from jinja2.ext import Extension

    class GenerationTag(Extension):
        """Parse ``{% generation %}...{% endgeneration %}`` as a plain scope."""

        tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API declares a set

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return GenerationTag


class _Walker:
    """One pass over the parsed template collecting issues."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree
        self.consts: dict[str, list[str]] = {}
        self.built: set[str] = set()
        """Variables assigned a string assembled from parts (candidates for smuggled keys)."""

    def issues(self) -> Iterator[_Issue]:
        from jinja2 import nodes

        all_nodes = list(_iter_nodes(self.tree))
        self._collect_assignments(all_nodes)
        # Variables the template defines itself (`{% set sys = ... %}`) are not host globals.
        defined = {
            n.name for n in all_nodes if isinstance(n, nodes.Name) and n.ctx in ("store", "param")
        }
        for node in all_nodes:
            line = f"line {getattr(node, 'lineno', '?')}"
            if isinstance(node, nodes.Getattr):
                yield from self._getattr(node, line)
            elif isinstance(node, nodes.Getitem):
                yield from self._getitem(node, line)
            elif isinstance(node, nodes.Filter):
                yield from self._filter(node, line)
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                match = _DUNDER.search(node.value)
                if match:
                    yield _Issue(
                        "chat-template-injection",
                        f"string constant names the dunder attribute {match.group(1)} ({line})",
                        node.value,
                    )
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                if node.name.startswith("__"):
                    yield _Issue(
                        "chat-template-injection", f"uses the name {node.name} ({line})", node.name
                    )
                elif node.name in SUSPICIOUS_NAMES and node.name not in defined:
                    yield _Issue(
                        "chat-template-suspicious",
                        f"uses the global name {node.name!r}, which no chat renderer provides "
                        f"({line})",
                        node.name,
                    )
            elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
                yield _Issue(
                    "chat-template-suspicious",
                    f"loads another template with {type(node).__name__.lower()} ({line})",
                    None,
                )
            elif isinstance(node, nodes.Call):
                yield from self._call(node, line)

    # --- assignments ------------------------------------------------------------------------

    def _collect_assignments(self, all_nodes: list[Any]) -> None:
        from jinja2 import nodes

        # Two rounds so that `set b = a ~ 'x'` after `set a = ...` folds too.
        for _ in range(2):
            for node in all_nodes:
                if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                    self._remember(node.target.name, self.fold(node.node))
                    if _is_built_string(node.node):
                        self.built.add(node.target.name)
                elif isinstance(node, nodes.AssignBlock) and isinstance(node.target, nodes.Name):
                    parts = [self.fold(child) for child in node.body]
                    self._remember(node.target.name, _join_candidates(parts))
                elif (
                    isinstance(node, nodes.For)
                    and isinstance(node.target, nodes.Name)
                    and isinstance(node.iter, (nodes.List, nodes.Tuple))
                ):
                    values: list[str] = []
                    for item in node.iter.items:
                        values.extend(self.fold(item) or [])
                    self._remember(node.target.name, values or None)

    def _remember(self, name: str, values: list[str] | None) -> None:
        if values:
            merged = list(dict.fromkeys([*self.consts.get(name, []), *values]))
            self.consts[name] = merged[:_MAX_CANDIDATES]

    # --- checks -----------------------------------------------------------------------------

    def _getattr(self, node: Any, line: str) -> Iterator[_Issue]:
        from jinja2 import nodes

        attr = node.attr
        if _dangerous_name(attr):
            yield _Issue("chat-template-injection", f"accesses the attribute {attr} ({line})", attr)
        if isinstance(node.node, nodes.Name) and node.node.name in ESCAPE_GLOBALS:
            yield _Issue(
                "chat-template-injection",
                f"reaches into the {node.node.name!r} global ({node.node.name}.{attr}), a known "
                f"route to module globals ({line})",
                f"{node.node.name}.{attr}",
            )
        elif attr in SUSPICIOUS_ATTRIBUTES:
            yield _Issue(
                "chat-template-suspicious",
                f"accesses the attribute {attr!r}, which chat templates never need ({line})",
                attr,
            )

    def _getitem(self, node: Any, line: str) -> Iterator[_Issue]:
        from jinja2 import nodes

        if isinstance(node.node, nodes.Name) and node.node.name in ESCAPE_GLOBALS:
            yield _Issue(
                "chat-template-injection",
                f"subscripts the {node.node.name!r} global ({line})",
                node.node.name,
            )
        if isinstance(node.arg, nodes.Slice):
            return
        candidates = self.fold(node.arg)
        bad = [c for c in candidates or [] if _dangerous_name(c)]
        if bad:
            yield _Issue(
                "chat-template-injection", f"subscripts with the key {bad[0]!r} ({line})", bad[0]
            )
        elif _is_built_string(node.arg) or (
            isinstance(node.arg, nodes.Name) and node.arg.name in self.built
        ):
            yield _Issue(
                "chat-template-suspicious",
                f"subscripts with a key assembled at render time ({line})",
                ", ".join(candidates or [])[:80] or None,
            )

    def _filter(self, node: Any, line: str) -> Iterator[_Issue]:
        from jinja2 import nodes

        if node.name == "attr":
            arg = node.args[0] if node.args else None
            candidates = self.fold(arg) if arg is not None else None
            # |attr('format') hands out str.format unchecked (CVE-2025-27516).
            bad = [c for c in candidates or [] if _dangerous_name(c) or c in _FORMAT_METHODS]
            if bad:
                yield _Issue(
                    "chat-template-injection",
                    f"uses the attr filter to reach {bad[0]!r} ({line})",
                    bad[0],
                )
            elif not isinstance(arg, nodes.Const):
                yield _Issue(
                    "chat-template-injection",
                    f"uses the attr filter with a name built at render time ({line})",
                    ", ".join(candidates or [])[:80] or None,
                )
            else:
                yield _Issue(
                    "chat-template-suspicious",
                    f"uses the attr filter ({arg.value!r}), which chat templates never need "
                    f"({line})",
                    str(arg.value),
                )
        elif node.name in ATTRIBUTE_FILTERS:
            values = [*node.args, *(kw.value for kw in node.kwargs)]
            for value in values:
                for candidate in self.fold(value) or []:
                    if any(_dangerous_name(part) for part in candidate.split(".")):
                        yield _Issue(
                            "chat-template-injection",
                            f"the {node.name} filter resolves the attribute path "
                            f"{candidate!r} ({line})",
                            candidate,
                        )
        elif node.name == "format" and node.node is not None:
            yield from self._format_fields(node.node, line)

    def _call(self, node: Any, line: str) -> Iterator[_Issue]:
        from jinja2 import nodes

        func = node.node
        if isinstance(func, nodes.Getattr):
            if func.attr in MUTATING_METHODS:
                yield _Issue(
                    "chat-template-suspicious",
                    f"calls the mutating method {func.attr!r}, which the immutable sandbox "
                    f"refuses ({line})",
                    func.attr,
                )
            elif func.attr in ("format", "format_map"):
                yield from self._format_fields(func.node, line, method=True)
        elif isinstance(func, nodes.Name) and func.name == "range":
            for arg in node.args:
                if (
                    isinstance(arg, nodes.Const)
                    and type(arg.value) is int
                    and abs(arg.value) > _MAX_RANGE
                ):
                    yield _Issue(
                        "chat-template-suspicious",
                        f"loops over range({arg.value}), beyond the sandbox's limit of "
                        f"{_MAX_RANGE} ({line})",
                        str(arg.value),
                    )

    def _format_fields(self, fmt_node: Any, line: str, *, method: bool = False) -> Iterator[_Issue]:
        templates = self.fold(fmt_node)
        if templates is None:
            if method:
                yield _Issue(
                    "chat-template-suspicious",
                    f"calls str.format on a string built at render time ({line})",
                    None,
                )
            return
        if not method:
            return  # the |format filter uses printf-style %, which reads no attributes
        for template in templates:
            for field_name in _format_field_names(template):
                if "." in field_name or "[" in field_name:
                    yield _Issue(
                        "chat-template-injection",
                        f"str.format field {{{field_name}}} walks attributes or items ({line})",
                        field_name,
                    )

    # --- folding ----------------------------------------------------------------------------

    def fold(self, node: Any, depth: int = 0) -> list[str] | None:
        """Every string ``node`` can evaluate to, when that is knowable statically."""
        from jinja2 import nodes

        if depth > 32 or node is None:
            return None
        result: list[str] | None = None
        if isinstance(node, nodes.Const):
            result = [node.value] if isinstance(node.value, str) else None
        elif isinstance(node, nodes.TemplateData):
            result = [node.data]
        elif isinstance(node, nodes.Name):
            result = self.consts.get(node.name)
        elif isinstance(node, nodes.Output):
            result = _join_candidates([self.fold(n, depth + 1) for n in node.nodes])
        elif isinstance(node, nodes.Concat):
            result = _join_candidates([self._fold_any(n, depth + 1) for n in node.nodes])
        elif isinstance(node, nodes.Add):
            result = _join_candidates(
                [self.fold(node.left, depth + 1), self.fold(node.right, depth + 1)]
            )
        elif isinstance(node, nodes.Mod):
            result = self._fold_percent(node, depth)
        elif isinstance(node, nodes.Mul):
            result = self._fold_repeat(node, depth)
        elif isinstance(node, nodes.CondExpr):
            left = self.fold(node.expr1, depth + 1) or []
            right = self.fold(node.expr2, depth + 1) or []
            result = (left + right) or None
        elif isinstance(node, nodes.Filter):
            result = self._fold_filter(node, depth)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            result = self._fold_method(node, depth)
        elif isinstance(node, nodes.Getitem):
            result = self._fold_subscript(node, depth)
        if result is None:
            return None
        return [r[:_MAX_FOLD_LEN] for r in dict.fromkeys(result)][:_MAX_CANDIDATES]

    def _fold_any(self, node: Any, depth: int) -> list[str] | None:
        from jinja2 import nodes

        if isinstance(node, nodes.Const) and isinstance(node.value, (int, float)):
            return [str(node.value)]
        return self.fold(node, depth)

    def _fold_list(self, node: Any, depth: int) -> list[list[str]] | None:
        from jinja2 import nodes

        if isinstance(node, (nodes.List, nodes.Tuple)):
            parts = [self._fold_any(item, depth + 1) for item in node.items]
            if all(p is not None for p in parts):
                return [p for p in parts if p is not None]
        return None

    def _fold_repeat(self, node: Any, depth: int) -> list[str] | None:
        from jinja2 import nodes

        for text_node, count_node in ((node.left, node.right), (node.right, node.left)):
            if isinstance(count_node, nodes.Const) and type(count_node.value) is int:
                texts = self.fold(text_node, depth + 1)
                count = count_node.value
                if abs(count) > _MAX_FOLD_LEN:  # "" * 10**30 raises OverflowError
                    return None
                if texts is not None and all(len(t) * count <= _MAX_FOLD_LEN for t in texts):
                    return [t * count for t in texts]
        return None

    def _fold_percent(self, node: Any, depth: int) -> list[str] | None:
        from jinja2 import nodes

        left = self.fold(node.left, depth + 1)
        if left is None:
            return None
        if isinstance(node.right, nodes.Tuple):
            args = self._fold_list(node.right, depth)
        else:
            single = self._fold_any(node.right, depth + 1)
            args = [single] if single is not None else None
        if args is None:
            return None
        out: list[str] = []
        for fmt in left:
            for combo in _combinations(args):
                try:
                    out.append(_printf(fmt, combo))
                except (TypeError, ValueError, KeyError, OverflowError):
                    return None
        return out

    def _fold_filter(self, node: Any, depth: int) -> list[str] | None:
        name = node.name
        if name not in _STRING_FILTERS:
            return None
        if name == "join":
            seq = self._fold_list(node.node, depth)
            sep = self.fold(node.args[0], depth + 1) if node.args else [""]
            if seq is None or sep is None:
                return None
            return _join_each(sep, seq)
        base = self.fold(node.node, depth + 1)
        if base is None:
            return None
        args = [self._fold_any(a, depth + 1) for a in node.args]
        if any(a is None for a in args):
            return None
        out: list[str] = []
        for value in base:
            for combo in _combinations([a for a in args if a is not None]):
                folded = _apply_filter(name, value, combo)
                if folded is None:
                    return None
                out.append(folded)
        return out

    def _fold_method(self, node: Any, depth: int) -> list[str] | None:
        method = node.node.attr
        if method not in _STRING_METHODS or node.kwargs or node.dyn_args or node.dyn_kwargs:
            return None
        if method == "join":
            seq = self._fold_list(node.args[0], depth) if len(node.args) == 1 else None
            sep = self.fold(node.node.node, depth + 1)
            if seq is None or sep is None:
                return None
            return _join_each(sep, seq)
        base = self.fold(node.node.node, depth + 1)
        args = [self._fold_any(a, depth + 1) for a in node.args]
        if base is None or any(a is None for a in args):
            return None
        out: list[str] = []
        for value in base:
            for combo in _combinations([a for a in args if a is not None]):
                folded = _apply_method(method, value, combo)
                if folded is None:
                    return None
                out.append(folded)
        return out

    def _fold_subscript(self, node: Any, depth: int) -> list[str] | None:
        from jinja2 import nodes

        base = self.fold(node.node, depth + 1)
        if base is None:
            return None
        arg = node.arg
        if isinstance(arg, nodes.Slice):
            bounds: list[int | None] = []
            for part in (arg.start, arg.stop, arg.step):
                if part is None:
                    bounds.append(None)
                elif isinstance(part, nodes.Const) and type(part.value) is int:
                    bounds.append(part.value)
                elif (
                    isinstance(part, nodes.Neg)
                    and isinstance(part.node, nodes.Const)
                    and type(part.node.value) is int
                ):
                    bounds.append(-part.node.value)
                else:
                    return None
            if bounds[2] == 0:
                return None
            return [value[slice(*bounds)] for value in base]
        if isinstance(arg, nodes.Const) and type(arg.value) is int:
            return [value[arg.value] for value in base if -len(value) <= arg.value < len(value)]
        return None


def _iter_nodes(tree: Any) -> Iterator[Any]:
    """Every node of the tree, iteratively (hostile templates can nest deeply)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


def _dangerous_name(name: str) -> bool:
    return name.startswith("_") or name in UNSAFE_ATTRIBUTES


def _is_built_string(node: Any) -> bool:
    """Whether ``node`` assembles a string from parts (how attribute names are smuggled)."""
    from jinja2 import nodes

    if isinstance(node, (nodes.Concat, nodes.Mod)):
        return True
    if isinstance(node, nodes.Add):
        return (
            any(
                isinstance(side, nodes.Const) and isinstance(side.value, str)
                for side in (node.left, node.right)
            )
            or _is_built_string(node.left)
            or _is_built_string(node.right)
        )
    # Case and whitespace changes (`|lower`, `.strip()`) are ordinary; assembling is not.
    if isinstance(node, nodes.Filter):
        return node.name in _ASSEMBLERS
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        return node.node.attr in _ASSEMBLERS
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
        return isinstance(node.node, nodes.Const) and isinstance(node.node.value, str)
    return False


def _combinations(parts: list[list[str]]) -> Iterator[tuple[str, ...]]:
    for count, combo in enumerate(product(*parts)):
        if count >= _MAX_CANDIDATES:
            return
        yield combo


def _join_candidates(parts: list[list[str] | None]) -> list[str] | None:
    if any(p is None for p in parts):
        return None
    return _bounded_join("", _combinations([p for p in parts if p is not None]))


def _bounded_join(sep: str, combos: Iterator[tuple[str, ...]]) -> list[str] | None:
    """Join each combination, giving up (``None``) when a result would be unreasonably long."""
    out: list[str] = []
    for combo in combos:
        if sum(map(len, combo)) + len(sep) * len(combo) > _MAX_FOLD_LEN * 4:
            return None
        out.append(sep.join(combo))
    return out


def _join_each(seps: list[str], seq: list[list[str]]) -> list[str] | None:
    out: list[str] = []
    for sep in seps[:_MAX_CANDIDATES]:
        joined = _bounded_join(sep, _combinations(seq))
        if joined is None:
            return None
        out.extend(joined)
    return out


def _format_field_names(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError:
        return []


def _printf(fmt: str, args: tuple[str, ...]) -> str:
    # Only %s / %% are folded: other conversions would need numbers we do not track.
    if re.search(r"%[^s%]", fmt) or len(fmt) + sum(map(len, args)) > _MAX_FOLD_LEN * 4:
        raise ValueError("unsupported conversion")
    return fmt % args


def _simple_format(template: str, args: tuple[str, ...]) -> str | None:
    """``str.format`` restricted to ``{}``/``{0}`` fields without spec or conversion.

    Attribute-walking fields are never evaluated, not even on our own constant strings.
    """
    out: list[str] = []
    auto = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for literal, field_name, spec, conversion in parsed:
        out.append(literal)
        if field_name is None:
            continue
        if spec or conversion:
            return None
        if field_name == "":
            index = auto
            auto += 1
        elif field_name.isascii() and field_name.isdigit():  # "{²}" is a key, not an index
            index = int(field_name)
        else:
            return None
        if index >= len(args):
            return None
        out.append(args[index])
    result = "".join(out)
    return result if len(result) <= _MAX_FOLD_LEN * 4 else None


_INTEGER = re.compile(r"-?[0-9]{1,9}")
"""A count ``replace`` folds: ASCII digits only (``"²".isdigit()`` is true, ``int("²")`` fails)."""


def _replace(value: str, args: tuple[str, ...]) -> str | None:
    if len(args) not in (2, 3):
        return None
    old, new = args[0], args[1]
    count = int(args[2]) if len(args) == 3 and _INTEGER.fullmatch(args[2]) else -1
    hits = len(value) + 1 if old == "" else value.count(old)
    if len(value) + hits * len(new) > _MAX_FOLD_LEN * 4:
        return None
    return value.replace(old, new, count)


def _apply_filter(name: str, value: str, args: tuple[str, ...]) -> str | None:
    simple: dict[str, Callable[[str], str]] = {
        "reverse": lambda v: v[::-1],
        "lower": str.lower,
        "upper": str.upper,
        "trim": str.strip,
        "title": str.title,
        "capitalize": str.capitalize,
        "string": str,
        "first": lambda v: v[:1],
        "last": lambda v: v[-1:],
    }
    if name in simple and not args:
        return str(simple[name](value))
    if name == "replace":
        return _replace(value, args)
    if name == "format":
        try:
            return _printf(value, args)
        except (TypeError, ValueError):
            return None
    return None


def _apply_method(method: str, value: str, args: tuple[str, ...]) -> str | None:
    if method == "format":
        return _simple_format(value, args)
    if method == "format_map":
        return None
    if method == "replace":
        return _replace(value, args)
    if method in ("center", "ljust", "rjust", "zfill", "expandtabs", "translate"):
        return None
    func = getattr(str, method, None)
    if func is None:
        return None
    try:
        result = func(value, *args)
    except (TypeError, ValueError):
        return None
    return result if isinstance(result, str) else None


class TokenizerConfigScanner:
    """Analyses the chat templates of tokenizer configs and stand-alone template files.

    Hugging Face stores templates in ``tokenizer_config.json``, ``chat_template.json`` and
    ``*.jinja`` files; all three are read here.

    ``chat_template`` is either a string or a list of ``{"name": ..., "template": ...}``; every
    named template is analysed, not only the default. The file is read whole, within
    ``max_header_bytes``, and parsed as strict JSON: a duplicated ``chat_template`` key is itself
    suspicious (loaders disagree on which copy wins) and every copy is analysed.
    """

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield the findings for one tokenizer configuration or template file."""
        loc = artifact.location
        limit = ctx.limits.max_header_bytes
        if artifact.size > limit:
            yield finding(
                "scan-limit-exceeded",
                f"file of {artifact.size} bytes exceeds the limit of {limit} bytes",
                loc,
            )
            return
        with artifact.path.open("rb") as handle:
            data = handle.read(min(artifact.size, limit) + 1)
        if artifact.path.name.lower().endswith(".jinja"):
            try:
                source = data.decode("utf-8")
            except UnicodeDecodeError:
                yield finding("parse-error", "template file is not valid UTF-8", loc)
                return
            yield from analyse_template(source, loc, artifact.path.stem)
            return
        try:
            parsed = parse_strict(data)
        except JsonProblem as exc:
            yield finding("parse-error", f"tokenizer configuration is not strict JSON: {exc}", loc)
            return
        doc = parsed.value
        if not isinstance(doc, dict):
            yield finding("parse-error", "tokenizer configuration is not a JSON object", loc)
            return
        values = parsed.duplicate_values.get("chat_template")
        if values is not None:
            yield finding(
                "chat-template-suspicious",
                f"chat_template is defined {len(values)} times; loaders disagree on which wins",
                loc,
                severity=Severity.HIGH,
            )
        for value in values or [doc.get("chat_template")]:
            yield from _config_templates(value, loc)


def _config_templates(value: Any, loc: Location) -> Iterator[Finding]:
    if value is None:
        return
    if isinstance(value, str):
        yield from analyse_template(value, loc)
        return
    if not isinstance(value, list):
        yield finding(
            "chat-template-suspicious",
            "chat_template is neither a string nor a list of named templates",
            loc,
        )
        return
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        template = item.get("template") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(template, str):
            yield finding(
                "chat-template-suspicious",
                f"chat_template entry {index} is not a {{name, template}} pair of strings",
                loc,
            )
            continue
        yield from analyse_template(template, loc, name)


__all__ = ["MAX_TEMPLATE_CHARS", "TokenizerConfigScanner", "analyse_template"]
