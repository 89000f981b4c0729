"""TorchScript code members: which operators the archive's code can reach.

``torch.jit.save`` writes the model's methods as TorchScript source under ``<archive>/code/``
(``torch.jit.load`` compiles them with torch's own parser, never with Python) and PyTorch Mobile
(``.ptl``) adds the compiled operator table to ``bytecode.pkl``. TorchScript cannot import Python
modules: what it can do is decided by the *operators* it calls. The serialized dialect names them
in a few fixed shapes, which is what this module checks, after ``ast.parse`` (never compile, never
exec) of each code member:

* ``torch.<op>(...)`` resolves to ``aten::<op>``; ``ops.<namespace>.<op>(...)`` to
  ``<namespace>::<op>``; ``__torch__.<qualified>`` names the archive's own classes and functions;
  ``CONSTANTS.cN`` the constant table; a short list of TorchScript builtins and type names.
* The operators must exist in torch's registry (:mod:`.torchscript_ops`, generated from
  ``torch._C._jit_get_all_schemas()``). Those that touch files (``aten::save``,
  ``aten::from_file``, ``debugprims::load_tensor``) are ``torchscript-dangerous-op`` (critical),
  also as methods (``(x).save(path)``) and through ``getattr``; distributed collectives
  (``c10d``, ``symm_mem``...) talk to other processes (high). A namespace torch does not define
  needs a native library that the loading process must have loaded: ``torchscript-unknown-op``
  (high); an unknown operator in a torch namespace is medium (a newer torch may define it).
* Any other free name, an ``import``, a ``lambda``, ``global`` or a dunder attribute outside the
  dialect is ``torchscript-python-reach`` (high): standard saves never contain one.

Because torch's parser is not Python's, the raw text is checked as well: control characters the
two tokenizers may split differently, and file-operator names appearing anywhere (in a string or
comment the AST walk did not attribute) are findings.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import MiB, finding
from mlchain.scan.containers.zipreader import is_code_member

if TYPE_CHECKING:
    from mlchain.scan.containers.zipreader import Buffer, ZipEntry

MAX_CODE_BYTES = 8 * MiB
"""Largest single code member parsed (real ones are kilobytes)."""
MAX_FINDINGS_PER_MEMBER = 20

DANGEROUS_OPS: dict[str, str] = {
    "aten::save": "writes any value to a file path (torch.save from inside the model)",
    "aten::from_file": "reads or memory-maps any file into a tensor",
    "debugprims::load_tensor": "reads a tensor from a file",
}
"""Operators registered by stock torch that read or write files."""

NETWORK_NAMESPACES = frozenset(
    {"c10d", "_c10d_functional", "_c10d_functional_autograd", "symm_mem", "_dtensor"}
)
"""Distributed collectives: they send tensors to, and receive them from, other processes."""

EXTENSION_OPS: dict[str, frozenset[str]] = {
    "torchvision": frozenset(
        {"nms", "roi_align", "roi_pool", "ps_roi_align", "ps_roi_pool", "deform_conv2d"}
        | {"_interpolate_bilinear2d_aa", "_interpolate_bicubic2d_aa", "_cuda_version"}
    ),
}
"""Compute-only operators of well-known extension libraries (the library must be imported)."""

NETWORK_CLASS_NAMESPACES = frozenset({"c10d", "dist_rpc", "dist_c10d"})
EXTRA_CLASSES = frozenset(
    {
        "xnnpack.LinearOpContext",
        "xnnpack.Conv2dOpContext",
        "xnnpack.TransposeConv2dOpContext",
        "quantized.Conv1dPackedParamsBase",
    }
)
"""TorchBind classes of mobile-optimised and quantized saves absent from the schema listing."""

_DANGEROUS_NAMES = frozenset(op.split("::")[1] for op in DANGEROUS_OPS)

BUILTINS = frozenset(
    {
        # serialized-dialect specials (torch/csrc/jit/serialization/import_source.cpp)
        "torch", "ops", "__torch__", "CONSTANTS", "annotate", "unchecked_cast", "uninitialized",
        "fork", "awaitable", "inf", "nan", "infj", "nanj",
        # TorchScript builtin functions (compiled to aten/prim operators, never Python)
        "print", "range", "len", "enumerate", "zip", "min", "max", "abs", "all", "any", "sum",
        "isinstance", "hasattr", "getattr", "float", "int", "bool", "str", "complex", "list",
        "dict", "tuple", "divmod", "ord", "chr", "round", "pow", "hash", "hex", "oct", "bin",
        "sorted", "reversed", "id",
        # type names in annotations
        "Tensor", "Optional", "List", "Dict", "Tuple", "Final", "NoneType", "Device", "Future",
        "Union", "Any", "number", "Module", "NamedTuple", "Enum", "Storage", "Generator",
        "Stream", "Layout", "ScalarType", "MemoryFormat", "QScheme", "Await", "RRef", "Capsule",
        "Interface", "__annotations__", "__parameters__", "__buffers__",
    }
)  # fmt: skip
"""Free names the serialized dialect may use."""

SAFE_DUNDERS = frozenset(
    {
        "__init__", "__new__", "__enter__", "__exit__", "__getitem__", "__setitem__",
        "__len__", "__contains__", "__annotations__", "__parameters__", "__buffers__",
        "__getstate__", "__setstate__", "__str__", "__repr__", "__hash__", "__eq__", "__ne__",
        "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__sub__", "__mul__", "__iter__",
        "__next__", "__bool__", "__int__", "__float__", "__call__",
    }
)  # fmt: skip
"""Dunder methods TorchScript classes define and call; others are Python object internals."""

_FORBIDDEN_NODES: dict[type[ast.AST], str] = {
    ast.Import: "an import statement",
    ast.ImportFrom: "an import statement",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement",
    ast.Lambda: "a lambda",
    ast.AsyncFunctionDef: "an async function",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
    ast.Try: "a try statement",
}
"""Python constructs the TorchScript serializer never writes."""

_SUSPECT_CHARS = re.compile("[\x00\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_DANGEROUS_TEXT = re.compile(r"(?:(?:\.|::)\s*(save)|(?<![A-Za-z0-9_])(from_file|load_tensor))\b")
_OP_STRING = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*::[A-Za-z_][A-Za-z0-9_]*")
_PICKLE_STRING_OPS = {0x8C: 1, ord("X"): 4, 0x8D: 8}
"""SHORT_BINUNICODE, BINUNICODE, BINUNICODE8: opcode -> length-field size."""


@functools.cache
def op_table() -> dict[str, frozenset[str]]:
    """Operator names per namespace, from the generated table."""
    from mlchain.scan.torchscript_ops import OPS

    return {ns: frozenset(names.split()) for ns, names in OPS.items()}


@dataclass(slots=True)
class _Report:
    location: Location
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, rule: str, message: str, evidence: str, severity: Severity | None = None) -> None:
        key = (rule, evidence)
        if key in self.seen or len(self.findings) >= MAX_FINDINGS_PER_MEMBER:
            return
        self.seen.add(key)
        self.findings.append(
            finding(rule, message, self.location, evidence=evidence, severity=severity)
        )


def judge_op(namespace: str, name: str, report: _Report, how: str) -> None:
    """Report ``namespace::name`` unless it is a registered, compute-only operator."""
    qualified = f"{namespace}::{name}"
    if qualified in DANGEROUS_OPS:
        report.add(
            "torchscript-dangerous-op",
            f"TorchScript code calls {qualified}, which {DANGEROUS_OPS[qualified]}",
            how,
        )
        return
    if namespace in NETWORK_NAMESPACES:
        report.add(
            "torchscript-dangerous-op",
            f"TorchScript code calls the distributed operator {qualified}, which exchanges "
            "tensors with other processes",
            how,
            severity=Severity.HIGH,
        )
        return
    table = op_table()
    if namespace in table:
        if name not in table[namespace]:
            report.add(
                "torchscript-unknown-op",
                f"TorchScript code calls {qualified}, which torch does not register (a newer "
                "torch may; otherwise loading fails or a native extension provides it)",
                how,
                severity=Severity.MEDIUM,
            )
        return
    if name in EXTENSION_OPS.get(namespace, ()):
        return
    report.add(
        "torchscript-unknown-op",
        f"TorchScript code calls {qualified} from namespace {namespace!r}, which torch does not "
        "define: a native library must be loaded to provide it",
        how,
    )


def _chain(node: ast.expr) -> tuple[ast.expr, list[str]]:
    """Split ``a.b.c`` into its root expression and attribute names."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.reverse()
    return node, parts


RESERVED = frozenset(
    {"torch", "ops", "__torch__", "CONSTANTS", "annotate", "unchecked_cast", "uninitialized"}
    | {"fork", "awaitable"}
)
"""Names of the serialized dialect's global environment: the serializer never rebinds them, and
the walker always judges them as the globals they are (a parameter named ``ops`` in one function
does not hide ``ops.<ns>.<op>`` in another)."""


def _bound_names(tree: ast.AST) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


class _Walker:
    def __init__(self, report: _Report, bound: set[str]) -> None:
        self.report = report
        self.bound = bound

    def run(self, tree: ast.AST) -> None:
        for name in sorted(self.bound & RESERVED):
            self.report.add(
                "torchscript-python-reach",
                f"TorchScript code rebinds the dialect's global name {name!r}, which the "
                "TorchScript serializer never does",
                name,
            )
        self.bound -= RESERVED
        inner: set[int] = set()  # attributes that are part of a longer chain
        for node in ast.walk(tree):
            kind = _FORBIDDEN_NODES.get(type(node))
            if kind is not None:
                self.report.add(
                    "torchscript-python-reach",
                    f"TorchScript code contains {kind}, which the TorchScript serializer never "
                    "writes",
                    ast.dump(node)[:80],
                )
            if isinstance(node, ast.Attribute):
                if id(node) not in inner:
                    root, parts = _chain(node)
                    value: ast.AST = node.value
                    while isinstance(value, ast.Attribute):
                        inner.add(id(value))
                        value = value.value
                    self.attribute(root, parts)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.name(node.id)
            elif isinstance(node, ast.Call):
                self.getattr_call(node)

    def name(self, name: str) -> None:
        if name in self.bound or name in BUILTINS:
            return
        self.report.add(
            "torchscript-python-reach",
            f"TorchScript code uses the name {name!r}, which is neither defined in the code nor "
            "part of the TorchScript dialect",
            name,
        )

    def attribute(self, root: ast.expr, parts: list[str]) -> None:
        if isinstance(root, ast.Name) and root.id not in self.bound:
            if root.id == "torch":
                self.torch_attr(parts)
                return
            if root.id == "ops":
                self.ops_attr(parts)
                return
            if root.id == "__torch__":
                if parts[:2] == ["torch", "classes"]:
                    self.torchbind(parts[2:])
                return
            if root.id == "CONSTANTS":
                return
        for part in parts:
            self.method(part)

    def torch_attr(self, parts: list[str]) -> None:
        rest = parts[1:] if parts[:1] == ["autograd"] else parts
        evidence = "torch." + ".".join(parts)
        if len(rest) == 1:
            judge_op("aten", rest[0], self.report, evidence)
        elif rest:
            self.report.add(
                "torchscript-unknown-op",
                f"TorchScript code uses {evidence}, which resolves to no torch operator",
                evidence,
                severity=Severity.MEDIUM,
            )

    def torchbind(self, parts: list[str]) -> None:
        """Judge ``__torch__.torch.classes.<ns>.<Class>``: a native (TorchBind) class."""
        from mlchain.scan.torchscript_ops import CLASSES

        name = ".".join(parts[:2])
        evidence = "__torch__.torch.classes." + ".".join(parts)
        if parts[:1] and parts[0] in NETWORK_CLASS_NAMESPACES:
            self.report.add(
                "torchscript-dangerous-op",
                f"TorchScript code uses the distributed native class {name}, which talks to "
                "other processes",
                evidence,
                severity=Severity.HIGH,
            )
        elif len(parts) < 2 or (name not in CLASSES and name not in EXTRA_CLASSES):
            self.report.add(
                "torchscript-unknown-op",
                f"TorchScript code uses the native class {name!r}, which torch does not "
                "register: a native library must be loaded to provide it",
                evidence,
            )

    def ops_attr(self, parts: list[str]) -> None:
        evidence = "ops." + ".".join(parts)
        if len(parts) >= 2:
            judge_op(parts[0], parts[1], self.report, evidence)
            for extra in parts[2:]:
                self.method(extra)
        elif parts and parts[0] not in op_table() and parts[0] not in EXTENSION_OPS:
            judge_op(parts[0], "?", self.report, evidence)

    def method(self, name: str) -> None:
        if name in _DANGEROUS_NAMES:
            op = next(q for q in DANGEROUS_OPS if q.endswith("::" + name))
            self.report.add(
                "torchscript-dangerous-op",
                f"TorchScript code calls the method .{name}(), which binds to {op} and "
                f"{DANGEROUS_OPS[op]}",
                "." + name,
            )
        elif name.startswith("__") and name.endswith("__") and name not in SAFE_DUNDERS:
            self.report.add(
                "torchscript-python-reach",
                f"TorchScript code reaches the attribute {name!r}, a Python object internal "
                "outside the TorchScript dialect",
                name,
            )

    def getattr_call(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in ("getattr", "hasattr")):
            return
        if len(node.args) >= 2:
            target = node.args[1]
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                root, parts = _chain(node.args[0])
                self.attribute(root, [*parts, target.value])
            else:
                self.report.add(
                    "torchscript-python-reach",
                    "TorchScript code calls getattr with a computed attribute name",
                    ast.dump(node)[:80],
                )


def check_code(source: bytes, location: Location) -> list[Finding]:
    """Findings for one ``code/**.py`` member's bytes."""
    report = _Report(location)
    if len(source) > MAX_CODE_BYTES:
        report.add(
            "scan-limit-exceeded",
            f"TorchScript code member is larger than {MAX_CODE_BYTES} bytes; not checked",
            f"{len(source)} bytes",
        )
        return report.findings
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.add("parse-error", "TorchScript code member is not UTF-8", str(exc))
        return report.findings
    suspect = _SUSPECT_CHARS.search(text)
    if suspect is not None:
        report.add(
            "torchscript-python-reach",
            "TorchScript code contains a control or line-separator character that torch's "
            "tokenizer and Python's may split differently",
            repr(text[max(0, suspect.start() - 20) : suspect.end() + 20]),
        )
    try:
        tree = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        report.add(
            "parse-error",
            "TorchScript code member does not parse; what torch's own parser makes of it was "
            "not checked",
            f"{type(exc).__name__}: {exc}",
        )
        return report.findings
    try:
        _Walker(report, _bound_names(tree)).run(tree)
    except RecursionError:  # ast.walk is iterative; this only guards ast.dump
        report.add("scan-limit-exceeded", "TorchScript code nests too deeply", "depth")
    _text_pass(text, report)
    return report.findings


def _text_pass(text: str, report: _Report) -> None:
    if any(key[0] == "torchscript-dangerous-op" for key in report.seen):
        return
    match = _DANGEROUS_TEXT.search(text)
    if match is not None:
        name = match.group(1) or match.group(2)
        report.add(
            "torchscript-dangerous-op",
            f"the file operator name {name!r} appears in TorchScript code outside any call "
            "mlchain could attribute (a string, comment or parser differential)",
            text[max(0, match.start() - 30) : match.end() + 30],
            severity=Severity.HIGH,
        )


def pickle_strings(data: bytes) -> Iterator[tuple[int, str]]:
    """Yield ``(offset, text)`` for length-prefixed pickle strings holding ``ns::op`` names."""
    for match in _OP_STRING.finditer(data):
        start = match.start()
        for opcode, width in _PICKLE_STRING_OPS.items():
            at = start - 1 - width
            if at >= 0 and data[at] == opcode:
                length = int.from_bytes(data[at + 1 : start], "little")
                yield start, data[start : start + length].decode("utf-8", "replace")
                break
        else:
            yield start, match.group(0).decode("ascii")


def check_bytecode(data: bytes, location: Location) -> list[Finding]:
    """Findings for a PyTorch Mobile ``bytecode.pkl``: its operator table, read as strings."""
    report = _Report(location)
    for _offset, text in pickle_strings(data):
        head = text.split(".", 1)[0]  # overloads are stored apart, but be lenient
        namespace, _, name = head.partition("::")
        if namespace and name and namespace.isidentifier() and name.isidentifier():
            judge_op(namespace, name, report, text[:80])
    match = _DANGEROUS_TEXT.search(data.decode("latin-1"))
    if match is not None and not any(k[0] == "torchscript-dangerous-op" for k in report.seen):
        name = match.group(1) or match.group(2)
        report.add(
            "torchscript-dangerous-op",
            f"the file operator name {name!r} appears in the mobile bytecode",
            name,
            severity=Severity.HIGH,
        )
    return report.findings


def scan_archive_code(
    buf: Buffer, entries: Iterable[ZipEntry], location: Location
) -> Iterator[Finding]:
    """Read every code member of a TorchScript zip (bounded) and check it."""
    from mlchain.scan.containers.streams import CorruptStream, Inflater, LimitHit, spool
    from mlchain.scan.containers.zipreader import METHOD_CODECS, member_chunks

    members = [e for e in entries if is_code_member(e.name) and not e.is_dir]
    code = [e.name for e in members if e.name.endswith(".py")]
    if code:
        yield finding(
            "torchscript-code",
            f"TorchScript archive with {len(code)} code members; their operators were checked",
            location.with_member(code[0]),
            evidence=", ".join(code[:5]),
        )
    for entry in members:
        loc = location.with_member(entry.name)
        codec = METHOD_CODECS.get(entry.method)
        if codec is None or entry.data_offset < 0:
            continue  # reported by the zip scanner
        if entry.uncompressed_size > MAX_CODE_BYTES:
            yield finding(
                "scan-limit-exceeded",
                f"TorchScript code member declares {entry.uncompressed_size} bytes (limit "
                f"{MAX_CODE_BYTES}); its operators were not checked",
                loc,
            )
            continue
        try:
            with spool(
                Inflater(codec), member_chunks(buf, entry), max_bytes=MAX_CODE_BYTES, max_ratio=1000
            ) as sp:
                data = bytes(sp.view()[: sp.size])
        except (LimitHit, CorruptStream) as exc:
            yield finding(
                "parse-error",
                "TorchScript code member could not be read; its operators were not checked",
                loc,
                evidence=str(exc),
            )
            continue
        yield from check_members([(entry.name, data)], location)


def check_members(members: Iterable[tuple[str, bytes]], location: Location) -> Iterator[Finding]:
    """Findings for the code members (``.py``) and mobile bytecode of one archive."""
    for name, data in members:
        loc = location.with_member(name)
        if name.endswith("bytecode.pkl"):
            yield from check_bytecode(data, loc)
        else:
            yield from check_code(data, loc)


__all__ = [
    "DANGEROUS_OPS",
    "check_bytecode",
    "check_code",
    "check_members",
    "is_code_member",
    "judge_op",
    "op_table",
    "pickle_strings",
    "scan_archive_code",
]
