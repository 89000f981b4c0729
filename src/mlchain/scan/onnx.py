"""ONNX scanner: custom operator domains, Python operators, opsets and external-data paths.

The model is never loaded with the ``onnx`` package. :mod:`mlchain.scan.protowire` walks the
protobuf wire format over an ``mmap`` and descends only into the messages that matter::

    ModelProto -> graph, opset_import, functions (FunctionProto), training_info
    GraphProto -> node, initializer, sparse_initializer
    NodeProto  -> domain, op_type, attribute (t / tensors / g / graphs / s)
    TensorProto -> data_location, external_data (key/value) -- raw_data is skipped by length

so a multi-gigabyte model with inline weights costs a few pages of memory, and external data files
are only ``stat``-ed, never opened.

**The model folder** against which external-data locations are judged is the folder holding the
ONNX file, because that is the base directory ``onnx.load`` and ONNX Runtime resolve locations
against. A location must be a plain relative path that, after resolving every symbolic link,
stays inside that folder (so it is inside the scan root too when the ONNX file is).
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.protowire import (
    LEN,
    VARINT,
    Field,
    WireError,
    as_signed64,
    iter_fields,
    read_str,
)

log = logging.getLogger(__name__)

# --- onnx.proto field numbers (checked against the onnx.proto shipped by onnx 1.23) ------------
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 8, 20, 25
_TRAINING_INIT, _TRAINING_ALGO = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_NAME, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 3, 4, 5, 7
_ATTR_NAME, _ATTR_I, _ATTR_S, _ATTR_T, _ATTR_G = 1, 3, 4, 5, 6
_ATTR_STRINGS, _ATTR_TENSORS, _ATTR_GRAPHS = 9, 10, 11
_ATTR_SPARSE, _ATTR_SPARSES = 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_FUNC_NAME, _FUNC_NODE, _FUNC_OPSET, _FUNC_DOMAIN, _FUNC_ATTR_PROTO = 1, 7, 9, 10, 11
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_DATA_LOCATION_EXTERNAL = 1

STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview", "ai.onnx.training"}
)
"""Operator domains defined by the ONNX specification."""

RUNTIME_DOMAINS = frozenset(
    {
        "com.microsoft",  # ONNX Runtime contrib operators
        "com.microsoft.nchwc",  # CPU layout optimisation
        "com.microsoft.experimental",
        "com.ms.internal.nhwc",  # NHWC layout (WebGPU, XNNPACK, ...)
        "com.microsoft.dml",  # DirectML fused operators
        "org.pytorch.aten",  # ATen fallback operator of ORT training builds
    }
)
"""Domains whose kernels ship with ONNX Runtime itself (no extra native library is loaded)."""

EXTENSIONS_DOMAIN = "ai.onnx.contrib"
"""onnxruntime-extensions: a separate native library plus Python-function operators."""

KNOWN_OPSETS: dict[str, int] = {
    "": 28,
    "ai.onnx": 28,
    "ai.onnx.ml": 5,
    "ai.onnx.preview.training": 1,
    "ai.onnx.preview": 1,
    "ai.onnx.training": 1,
    "com.microsoft": 1,
    "com.microsoft.nchwc": 1,
    "com.microsoft.experimental": 1,
}
"""Highest opset version per domain known statically; a newer installed ``onnx`` may know more."""

EXTERNAL_DATA_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})
"""Keys ``onnx.external_data_helper.ExternalDataInfo`` understands."""

PYTHON_OP_TYPES = frozenset({"PyOp", "PyFunc", "PythonOp", "PyOpV2"})
_CODE_ATTRS = frozenset(
    {"module", "class_name", "compute", "code", "source", "script", "func", "function", "py_code"}
)
_CODE_HINT = re.compile(r"\bimport\s+\w|\bdef\s+\w+\s*\(|__import__|\bexec\s*\(|\beval\s*\(")
_DECIMAL = re.compile(r"[0-9]{1,20}")
_DRIVE = re.compile(r"^[A-Za-z]:")

MAX_GRAPH_DEPTH = 32
"""Subgraph nesting (If/Loop/Scan bodies, functions) deeper than this is a parse error."""
MAX_DISTINCT_OPS = 10_000
MAX_DETAIL_FINDINGS = 20
"""Per rule, further occurrences are summarised in one finding."""
_TIME_CHECK_EVERY = 4096


class _Stop(Exception):
    """Internal: a limit was reached; the finding is already recorded."""


@dataclass(slots=True)
class _OpSeen:
    count: int
    where: str
    offset: int


@dataclass(slots=True)
class _PathVerdict:
    problems: list[tuple[str, Severity, str]]
    """``(rule_id, severity, message)`` per problem with the location itself."""
    size: int | None
    """Size of the referenced regular file, when it is one."""


@dataclass(slots=True)
class _Walk:
    """State of one model walk: what was found and the findings emitted so far."""

    buf: mmap.mmap | bytes
    artifact: Artifact
    ctx: ScanContext
    base: Path
    findings: list[Finding] = field(default_factory=list)
    ops: dict[tuple[str, str], _OpSeen] = field(default_factory=dict)
    functions: set[tuple[str, str]] = field(default_factory=set)
    opsets: list[tuple[str, int, str, int]] = field(default_factory=list)
    paths: dict[str, _PathVerdict] = field(default_factory=dict)
    emitted: dict[tuple[str, Severity | None], int] = field(default_factory=dict)
    steps: int = 0
    """Protobuf fields visited; the time budget is checked every few thousand."""
    ops_overflow: bool = False

    # --- reporting ---------------------------------------------------------------------------
    def report(
        self,
        rule_id: str,
        message: str,
        offset: int | None,
        *,
        evidence: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        key = (rule_id, severity)
        seen = self.emitted.get(key, 0)
        self.emitted[key] = seen + 1
        if seen < MAX_DETAIL_FINDINGS:
            loc = Location(self.artifact.location.path, self.artifact.location.member, offset)
            self.findings.append(
                finding(rule_id, message, loc, evidence=evidence, severity=severity)
            )

    def summarise_overflow(self) -> None:
        for (rule_id, severity), count in self.emitted.items():
            if count > MAX_DETAIL_FINDINGS:
                self.findings.append(
                    finding(
                        rule_id,
                        f"{count - MAX_DETAIL_FINDINGS} more occurrences of this problem "
                        "were not listed separately",
                        self.artifact.location,
                        severity=severity,
                    )
                )

    def tick(self) -> None:
        self.steps += 1
        if self.steps % _TIME_CHECK_EVERY == 0 and self.ctx.out_of_time():
            self.findings.append(
                finding(
                    "scan-limit-exceeded",
                    f"time limit of {self.ctx.limits.max_seconds_per_file:g}s reached after "
                    f"{self.steps} protobuf fields; the rest of the model was not examined",
                    self.artifact.location,
                )
            )
            raise _Stop

    # --- messages ----------------------------------------------------------------------------
    def model(self) -> None:
        saw_graph = False
        for f in iter_fields(self.buf, 0, len(self.buf)):
            self.tick()
            if f.wire_type != LEN:
                continue
            if f.number == _MODEL_GRAPH:
                saw_graph = True
                self.graph(f.start, f.end, "graph", 1)
            elif f.number == _MODEL_OPSET:
                self.opset(f, "model")
            elif f.number == _MODEL_FUNCTIONS:
                self.function(f, 1)
            elif f.number == _MODEL_TRAINING:
                for g in iter_fields(self.buf, f.start, f.end):
                    if g.wire_type == LEN and g.number in (_TRAINING_INIT, _TRAINING_ALGO):
                        part = "initialization" if g.number == _TRAINING_INIT else "algorithm"
                        self.graph(g.start, g.end, f"training_info.{part}", 1)
        if not saw_graph:
            raise WireError("the model has no graph (not an ONNX ModelProto)", 0)

    def opset(self, f: Field, where: str) -> None:
        domain, version = "", 0
        for g in iter_fields(self.buf, f.start, f.end):
            if g.number == _OPSET_DOMAIN and g.wire_type == LEN:
                domain = read_str(self.buf, g, 512)
            elif g.number == _OPSET_VERSION and g.wire_type == VARINT:
                version = as_signed64(g.value)
        if len(self.opsets) < MAX_DISTINCT_OPS:
            self.opsets.append((domain, version, where, f.offset))
        elif len(self.opsets) == MAX_DISTINCT_OPS:
            self.opsets.append(("", 1, where, f.offset))  # sentinel: report the limit once
            self.findings.append(
                finding(
                    "scan-limit-exceeded",
                    f"more than {MAX_DISTINCT_OPS} opset imports; later ones were not checked",
                    self.artifact.location,
                )
            )

    def function(self, f: Field, depth: int) -> None:
        # Two passes: the name and domain may follow the body on the wire, and nothing is
        # buffered (a hostile function cannot make the walker hold a list of its fields).
        name, domain = "", ""
        for g in iter_fields(self.buf, f.start, f.end):
            self.tick()
            if g.wire_type == LEN and g.number == _FUNC_NAME:
                name = read_str(self.buf, g, 512)
            elif g.wire_type == LEN and g.number == _FUNC_DOMAIN:
                domain = read_str(self.buf, g, 512)
        self.functions.add((domain, name))
        where = f"function {domain}::{name}"
        for g in iter_fields(self.buf, f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _FUNC_NODE:
                self.node(g, where, depth)
            elif g.number == _FUNC_OPSET:
                self.opset(g, where)
            elif g.number == _FUNC_ATTR_PROTO:
                self.attribute(g, where, depth)

    def graph(self, start: int, end: int, where: str, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise WireError(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels", start)
        index = 0
        for f in iter_fields(self.buf, start, end):
            self.tick()
            if f.wire_type != LEN:
                continue
            if f.number == _GRAPH_NODE:
                self.node(f, f"{where}/node[{index}]", depth)
                index += 1
            elif f.number == _GRAPH_INITIALIZER:
                self.tensor(f, f"{where}/initializer")
            elif f.number == _GRAPH_SPARSE_INITIALIZER:
                self.sparse(f, f"{where}/sparse_initializer")

    def node(self, f: Field, where: str, depth: int) -> None:
        op_type, domain, name = "", "", ""
        first_attribute = -1
        for g in iter_fields(self.buf, f.start, f.end):
            self.tick()
            if g.wire_type != LEN:
                continue
            if g.number == _NODE_OP_TYPE:
                op_type = read_str(self.buf, g, 512)
            elif g.number == _NODE_DOMAIN:
                domain = read_str(self.buf, g, 512)
            elif g.number == _NODE_NAME:
                name = read_str(self.buf, g, 200)
            elif g.number == _NODE_ATTRIBUTE and first_attribute < 0:
                first_attribute = g.offset
        label = f"{where}({name or op_type})"
        key = (domain, op_type)
        seen = self.ops.get(key)
        if seen is not None:
            seen.count += 1
        elif len(self.ops) < MAX_DISTINCT_OPS:
            self.ops[key] = _OpSeen(1, label, f.offset)
        elif not self.ops_overflow:
            self.ops_overflow = True
            self.findings.append(
                finding(
                    "scan-limit-exceeded",
                    f"more than {MAX_DISTINCT_OPS} distinct operator types; later ones were "
                    "not checked",
                    self.artifact.location,
                )
            )
        strings: dict[str, str] = {}
        ints: dict[str, int] = {}
        if first_attribute >= 0:  # second pass, from the first attribute's key on
            for g in iter_fields(self.buf, first_attribute, f.end):
                if g.wire_type == LEN and g.number == _NODE_ATTRIBUTE:
                    self.attribute(g, label, depth, strings, ints)
        self.check_node_code(domain, op_type, label, f.offset, strings, ints)

    def attribute(
        self,
        f: Field,
        where: str,
        depth: int,
        strings: dict[str, str] | None = None,
        ints: dict[str, int] | None = None,
    ) -> None:
        name = "?"
        for g in iter_fields(self.buf, f.start, f.end):
            self.tick()
            if g.number == _ATTR_NAME and g.wire_type == LEN:
                name = read_str(self.buf, g, 200)
        here = f"{where}.{name}"
        for g in iter_fields(self.buf, f.start, f.end):
            if g.wire_type == VARINT:
                if g.number == _ATTR_I and ints is not None and len(ints) < 64:
                    ints[name] = as_signed64(g.value)
            elif g.wire_type != LEN:
                continue
            elif g.number in (_ATTR_S, _ATTR_STRINGS):
                if strings is not None and len(strings) < 64:
                    strings.setdefault(name, read_str(self.buf, g, 2048))
            elif g.number in (_ATTR_T, _ATTR_TENSORS):
                self.tensor(g, here)
            elif g.number in (_ATTR_SPARSE, _ATTR_SPARSES):
                self.sparse(g, here)
            elif g.number in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(g.start, g.end, here, depth + 1)

    def sparse(self, f: Field, where: str) -> None:
        for g in iter_fields(self.buf, f.start, f.end):
            if g.wire_type == LEN and g.number in (_SPARSE_VALUES, _SPARSE_INDICES):
                self.tensor(g, where)

    def tensor(self, f: Field, where: str) -> None:
        name = ""
        external = False
        has_entries = False
        values: dict[str, str] = {}
        for g in iter_fields(self.buf, f.start, f.end):
            self.tick()
            if g.number == _TENSOR_DATA_LOCATION and g.wire_type == VARINT:
                external = g.value == _DATA_LOCATION_EXTERNAL
            elif g.wire_type != LEN:
                continue
            elif g.number == _TENSOR_NAME:
                name = read_str(self.buf, g, 200)
            elif g.number == _TENSOR_EXTERNAL_DATA:
                # Entries are judged as they come: nothing is buffered but the known keys.
                has_entries = True
                key, value = "", ""
                for h in iter_fields(self.buf, g.start, g.end):
                    if h.wire_type == LEN and h.number == _ENTRY_KEY:
                        key = read_str(self.buf, h, 256)
                    elif h.wire_type == LEN and h.number == _ENTRY_VALUE:
                        value = read_str(self.buf, h, 8192)
                self.external_entry(f"tensor {name!r} ({where})", key, value, g.offset, values)
        if external or has_entries:
            self.check_external(name, where, f.offset, external, values)

    # --- checks ------------------------------------------------------------------------------
    def external_entry(
        self, label: str, key: str, value: str, at: int, values: dict[str, str]
    ) -> None:
        if key not in EXTERNAL_DATA_KEYS:
            self.report(
                "onnx-external-data-invalid",
                f"{label} uses the undocumented external-data key {key!r}; "
                "onnx copies every key onto an object with setattr",
                at,
                evidence=f"{key}={value}",
            )
            return
        if key in values:
            self.report(
                "onnx-external-data-invalid",
                f"{label} repeats the external-data key {key!r}; the last one wins",
                at,
                evidence=f"{key}={value}",
            )
        values[key] = value

    def check_external(
        self,
        name: str,
        where: str,
        offset: int,
        external: bool,
        values: dict[str, str],
    ) -> None:
        label = f"tensor {name!r} ({where})"
        if not external:
            self.report(
                "onnx-external-data-invalid",
                f"{label} has external_data entries but data_location is not EXTERNAL; "
                "loaders disagree on whether they are used",
                offset,
                severity=Severity.LOW,
            )
        location = values.get("location")
        if location is None:
            if external:
                self.report(
                    "onnx-external-data-invalid",
                    f"{label} is stored externally but names no location",
                    offset,
                )
            return
        for key in ("basepath",):
            if values.get(key):
                self.report(
                    "onnx-external-data-invalid",
                    f"{label} sets {key!r}, which no saver writes",
                    offset,
                    evidence=f"{key}={values[key]}",
                )
        verdict = self.check_path(location)
        for rule_id, severity, message in verdict.problems:
            self.report(
                rule_id,
                f"{label}: external data {message}",
                offset,
                evidence=location,
                severity=severity,
            )
        self.check_range(label, offset, values, verdict.size)

    def check_range(
        self, label: str, offset: int, values: dict[str, str], size: int | None
    ) -> None:
        numbers: dict[str, int] = {}
        for key in ("offset", "length"):
            text = values.get(key)
            if text is None:
                continue
            if not _DECIMAL.fullmatch(text):
                self.report(
                    "onnx-external-data-invalid",
                    f"{label}: external-data {key} is not a plain non-negative integer",
                    offset,
                    evidence=f"{key}={text}",
                )
                return
            numbers[key] = int(text)
        if size is None:
            return
        start = numbers.get("offset", 0)
        length = numbers.get("length")
        stop = start + (length or 0)
        if start > size or stop > size:
            self.report(
                "onnx-external-data-invalid",
                f"{label}: external data range [{start}, {stop}) lies past the end of the "
                f"{size}-byte data file",
                offset,
                evidence=f"offset={start} length={length}",
            )

    def check_path(self, location: str) -> _PathVerdict:
        cached = self.paths.get(location)
        if cached is None:
            cached = _judge_location(self.base, location)
            if len(self.paths) < MAX_DISTINCT_OPS:
                self.paths[location] = cached
        return cached

    def check_node_code(
        self,
        domain: str,
        op_type: str,
        label: str,
        offset: int,
        strings: dict[str, str],
        ints: dict[str, int],
    ) -> None:
        if domain in STANDARD_DOMAINS:
            return
        code_attrs = (
            {}
            if domain in RUNTIME_DOMAINS  # ORT's own kernels take no code
            else {k: v for k, v in strings.items() if k in _CODE_ATTRS or _CODE_HINT.search(v)}
        )
        if op_type in PYTHON_OP_TYPES or code_attrs:
            order = ("module", "class_name", "compute")
            items = sorted(
                (code_attrs or strings).items(),
                key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]),
            )
            shown = "; ".join(f"{k}={v}" for k, v in items)
            self.report(
                "onnx-custom-op",
                f"node {label} is a Python operator ({domain or 'ai.onnx'}::{op_type}): the "
                "runtime imports and runs the Python code it names",
                offset,
                evidence=shown or f"{domain}::{op_type}",
                severity=Severity.CRITICAL,
            )
        if domain == "com.microsoft" and op_type == "EPContext" and ints.get("embed_mode", 1) == 0:
            path = strings.get("ep_cache_context", "")
            verdict = self.check_path(path)
            for rule_id, severity, message in verdict.problems:
                self.report(
                    rule_id,
                    f"EPContext node {label}: ep_cache_context {message}",
                    offset,
                    evidence=path,
                    severity=severity,
                )

    # --- after the walk ----------------------------------------------------------------------
    def finish(self) -> None:
        self.check_domains()
        self.check_opsets()
        self.summarise_overflow()

    def check_domains(self) -> None:
        by_domain: dict[str, list[tuple[str, _OpSeen]]] = {}
        for (domain, op_type), seen in self.ops.items():
            if domain in STANDARD_DOMAINS or domain in RUNTIME_DOMAINS:
                continue
            if (domain, op_type) in self.functions:
                continue  # a model-local function: its body was walked like the main graph
            by_domain.setdefault(domain, []).append((op_type, seen))
        for domain, ops in sorted(by_domain.items()):
            ops.sort(key=lambda item: item[1].offset)
            first = ops[0][1]
            listed = ", ".join(f"{op} x{seen.count}" for op, seen in ops[:20])
            if domain == EXTENSIONS_DOMAIN:
                why = "need the onnxruntime-extensions native library (and may call Python)"
            else:
                why = "are not shipped by any standard runtime; loading them loads native code"
            self.report(
                "onnx-custom-op",
                f"operators from domain {domain!r} {why}; first at {first.where}",
                first.offset,
                evidence=f"{domain}: {listed}",
            )

    def check_opsets(self) -> None:
        newer: dict[str, int] | None = None
        for domain, version, where, offset in self.opsets:
            known = KNOWN_OPSETS.get(domain)
            if known is None:
                continue
            if 1 <= version <= known:
                continue
            if version > known:
                if newer is None:
                    newer = _installed_opsets()
                if version <= newer.get(domain, 0):
                    continue
            highest = max(known, (newer or {}).get(domain, 0))
            self.report(
                "onnx-unknown-opset",
                f"{where} imports opset {version} of domain {domain or 'ai.onnx'!r}, which no "
                f"released ONNX defines (highest known: {highest})",
                offset,
                evidence=f"{domain or 'ai.onnx'}={version}",
            )


def _installed_opsets() -> dict[str, int]:
    """Highest opset per domain known to the installed ``onnx`` (imported only when needed)."""
    try:
        from onnx import defs

        table = defs.C.schema_version_map()
    except Exception:  # an absent or broken onnx install only loses the refinement
        log.debug("onnx opset table unavailable", exc_info=True)
        return {}
    result = {str(d): int(v[1]) for d, v in table.items()}
    if "" in result:
        result["ai.onnx"] = result[""]
    return result


def _judge_location(base: Path, location: str) -> _PathVerdict:
    """Judge one external-data location relative to the model folder ``base``; never opens it."""
    escape, invalid = "onnx-external-data-escape", "onnx-external-data-invalid"
    if not location:
        return _PathVerdict([(invalid, Severity.MEDIUM, "location is empty")], None)
    if "\x00" in location:
        return _PathVerdict(
            [(escape, Severity.CRITICAL, "location contains a NUL byte (path truncation)")], None
        )
    if location.startswith(("/", "\\")) or _DRIVE.match(location):
        special = location.replace("\\", "/").startswith(("/dev/", "/proc/", "/sys/"))
        what = "is an absolute path to a device or kernel file" if special else "is absolute"
        return _PathVerdict([(escape, Severity.CRITICAL, what)], None)
    parts = re.split(r"[\\/]", location)
    if ".." in parts:
        return _PathVerdict(
            [(escape, Severity.CRITICAL, "climbs out of the model folder with '..'")], None
        )
    if len(location.encode("utf-8", "surrogatepass")) > 4000:
        return _PathVerdict([(invalid, Severity.MEDIUM, "location is implausibly long")], None)
    try:
        real_base = os.path.realpath(base)
        target = os.path.realpath(base / location)
    except (OSError, ValueError) as exc:
        return _PathVerdict([(invalid, Severity.MEDIUM, f"cannot be resolved ({exc})")], None)
    if os.path.commonpath([real_base, target]) != real_base:
        return _PathVerdict(
            [
                (
                    escape,
                    Severity.CRITICAL,
                    "resolves through a symbolic link to a file outside the model folder "
                    f"({target})",
                )
            ],
            None,
        )
    try:
        st = Path(target).stat()
    except FileNotFoundError:
        return _PathVerdict([(invalid, Severity.MEDIUM, "file does not exist")], None)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _PathVerdict([(invalid, Severity.MEDIUM, f"cannot be examined ({reason})")], None)
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return _PathVerdict(
            [(escape, Severity.CRITICAL, "is a device, FIFO or socket, not a data file")], None
        )
    if not stat.S_ISREG(mode):
        return _PathVerdict([(invalid, Severity.MEDIUM, "is not a regular file")], None)
    problems: list[tuple[str, Severity, str]] = []
    if st.st_nlink > 1:
        problems.append(
            (
                invalid,
                Severity.MEDIUM,
                f"is a file with {st.st_nlink} hard links; a hard link can expose a file from "
                "elsewhere on the same file system (CVE-2026-34446)",
            )
        )
    return _PathVerdict(problems, st.st_size)


class OnnxScanner:
    """Scans ONNX models with a bounded wire-format walk; never imports ``onnx`` for parsing."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield findings for the ONNX model at ``artifact.path``."""
        with artifact.path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                yield finding("parse-error", "empty ONNX file", artifact.location)
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                if hasattr(buf, "madvise") and hasattr(mmap, "MADV_RANDOM"):
                    buf.madvise(mmap.MADV_RANDOM)  # no read-ahead into skipped tensor data
                walk = _Walk(buf, artifact, ctx, artifact.path.absolute().parent)
                yield from _run(walk)


def _run(walk: _Walk) -> list[Finding]:
    try:
        walk.model()
    except _Stop:
        pass
    except WireError as exc:
        loc = walk.artifact.location
        walk.findings.append(
            finding(
                "parse-error",
                f"malformed ONNX protobuf: {exc}; the rest of the model was not examined",
                Location(loc.path, loc.member, exc.offset),
            )
        )
    walk.finish()
    return walk.findings


def scan_bytes(data: bytes, artifact: Artifact, ctx: ScanContext) -> list[Finding]:
    """Scan an in-memory ONNX model (for tests and archive members); same rules as files."""
    return _run(_Walk(data, artifact, ctx, artifact.path.absolute().parent))


__all__ = ["EXTERNAL_DATA_KEYS", "KNOWN_OPSETS", "RUNTIME_DOMAINS", "OnnxScanner", "scan_bytes"]
