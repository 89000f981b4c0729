"""Constant folding of Jinja expressions: every string an expression can evaluate to, statically.

Used by :mod:`mlchain.scan.chat_template` to say *which* name a computed attribute or key
spells (``'__cla' ~ 'ss__'``), so that a name built at render time that folds to a dunder is
reported as critical with the name as evidence. Folding is deliberately small: constants,
``~``/``+``/``%``/``*``, ``join``/``replace``/``reverse``/case filters, the same string methods,
slices, and ``{% set %}`` of such values. What it cannot fold is not trusted: the allowlist in
:mod:`mlchain.scan.jinja_allowlist` already reports any computed name at high severity.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from itertools import product
from typing import Any

from jinja2 import nodes

MAX_CANDIDATES = 32
MAX_FOLD_LEN = 4096
_MAX_CANDIDATES = MAX_CANDIDATES
_MAX_FOLD_LEN = MAX_FOLD_LEN

_STRING_FILTERS = frozenset(
    {"join", "replace", "reverse", "lower", "upper", "trim", "title", "capitalize", "format"}
    | {"string", "first", "last", "center", "indent", "striptags", "urlencode"}
)
_STRING_METHODS = frozenset(
    {"format", "format_map", "join", "replace", "lower", "upper", "strip", "lstrip", "rstrip"}
    | {"title", "capitalize", "swapcase", "casefold", "removeprefix", "removesuffix", "center"}
    | {"ljust", "rjust", "zfill", "translate", "expandtabs"}
)


class Folder:
    """Folds the string expressions of one parsed template."""

    def __init__(self, all_nodes: list[Any]) -> None:
        self.consts: dict[str, list[str]] = {}
        self._collect_assignments(all_nodes)

    def _collect_assignments(self, all_nodes: list[Any]) -> None:
        # Two rounds so that `set b = a ~ 'x'` after `set a = ...` folds too.
        for _ in range(2):
            for node in all_nodes:
                if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                    self._remember(node.target.name, self.fold(node.node))
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

    # --- folding ----------------------------------------------------------------------------

    def fold(self, node: Any, depth: int = 0) -> list[str] | None:
        """Every string ``node`` can evaluate to, when that is knowable statically."""
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
        if isinstance(node, nodes.Const) and isinstance(node.value, (int, float)):
            return [str(node.value)]
        return self.fold(node, depth)

    def _fold_list(self, node: Any, depth: int) -> list[list[str]] | None:
        if isinstance(node, (nodes.List, nodes.Tuple)):
            parts = [self._fold_any(item, depth + 1) for item in node.items]
            if all(p is not None for p in parts):
                return [p for p in parts if p is not None]
        return None

    def _fold_repeat(self, node: Any, depth: int) -> list[str] | None:
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


def format_field_names(template: str) -> list[str]:
    """The field names of a ``str.format`` template (``[]`` when it is malformed)."""
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
