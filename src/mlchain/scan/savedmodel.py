"""TensorFlow SavedModel: the ops its graphs and functions run, and Keras metadata.

``tf.saved_model.load`` (and ``keras.layers.TFSMLayer``, ``tf_keras.models.load_model``) rebuild
the graph in ``saved_model.pb`` and run its functions: whatever ops they hold run on the host.
TensorFlow itself is never imported; :mod:`mlchain.scan.protowire` walks the protobuf::

    SavedModel -> meta_graphs (2) -> MetaGraphDef
    MetaGraphDef -> meta_info_def (1) -> stripped_op_list (2) -> op (1) -> name (1)
                 -> graph_def (2) -> node (1), library (2) -> function (1) -> node_def (3)
    NodeDef -> name (1), op (2), input (3), attr (5) -> AttrValue (s, tensor, func, list)

Every op name is judged against the ops a stock TensorFlow registers
(:mod:`.savedmodel_ops`, generated from ``TF_GetAllOpList``):

* ``PyFunc``, ``PyFuncStateless``, ``EagerPyFunc`` call back into Python (critical,
  ``tf-python-op``);
* ops that read, write or list files, or talk to other machines, are ``tf-io-op`` (high);
  checkpoint and lookup-table ops (``SaveV2``, ``RestoreV2``, ``InitializeTableFromTextFileV2``,
  ...) are normal in every SavedModel and are reported only when their path is a constant that
  is absolute, climbs with ``..`` or names a remote filesystem;
* an op no stock build registers needs a custom op library loaded into the process
  (``tf-custom-op``, high).

``keras_metadata.pb`` (tf_keras SavedModels) holds one JSON config per layer: it is judged by the
same rules as a ``.keras`` config (:func:`mlchain.scan.keras.walk_config`), so a Lambda layer's
marshalled bytecode is ``keras-lambda``.
"""

from __future__ import annotations

import functools
import mmap
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.protowire import LEN, Buffer, Field, WireError, iter_fields, read_str

# --- saved_model.proto / meta_graph.proto / graph.proto / function.proto field numbers ---------
_SM_VERSION, _SM_META_GRAPHS = 1, 2
_MG_INFO, _MG_GRAPH = 1, 2
_INFO_OPS = 2
_OPLIST_OP, _OPDEF_NAME = 1, 1
_GRAPH_NODE, _GRAPH_LIBRARY = 1, 2
_LIB_FUNCTION = 1
_FUNC_SIGNATURE, _FUNC_NODE = 1, 3
_NODE_NAME, _NODE_OP, _NODE_INPUT, _NODE_ATTR = 1, 2, 3, 5
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_ATTR_LIST, _ATTR_S, _ATTR_TENSOR, _ATTR_FUNC = 1, 2, 8, 10
_LIST_S, _LIST_FUNC = 2, 9
_NAMEATTR_NAME, _NAMEATTR_ATTR = 1, 2
_TENSOR_STRING_VAL = 8

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

FILE_OPS = frozenset(
    {
        "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst",
        "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
        "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader",
        "TFRecordReaderV2", "LMDBReader", "RecordInput",
        "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2", "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset",
        "LMDBDataset", "ExperimentalLMDBDataset", "SqlDataset", "ExperimentalSqlDataset",
        "SaveDataset", "SaveDatasetV2", "LoadDataset", "DatasetToTFRecord",
        "ExperimentalDatasetToTFRecord", "SnapshotDataset", "SnapshotDatasetV2",
        "SnapshotDatasetReader", "SnapshotNestedDatasetReader", "MatchingFilesDataset",
        "ExperimentalMatchingFilesDataset",
        "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
        "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
        "WriteRawProtoSummary", "ImportEvent",
        "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
        "DebugNumericSummary", "DebugNumericSummaryV2",
        "LoadAndRemapMatrix", "GenerateVocabRemapping", "FileSystemSetConfiguration",
    }
)  # fmt: skip
"""Ops that read, write or list files (or debug dumps to file:// and grpc:// URLs)."""

NETWORK_OPS = frozenset(
    {
        "RemoteCall", "_Send", "_Recv", "_HostSend", "_HostRecv",
        "CollectiveReduce", "CollectiveReduceV2", "CollectiveReduceV3", "CollectiveGather",
        "CollectiveGatherV2", "CollectiveBcastSend", "CollectiveBcastRecv",
        "CollectiveBcastSendV2", "CollectiveBcastRecvV2", "CollectiveAllToAllV2",
        "CollectiveAllToAllV3", "CollectiveReduceScatterV2", "CollectiveInitializeCommunicator",
        "CollectiveAssignGroupV2",
        "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3",
        "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2",
        "RpcClient", "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcCall",
        "RpcCheckStatus", "RpcGetValue", "DeleteRpcFutureResource",
        "GcsConfigureCredentials", "GcsConfigureBlockCache",
    }
)  # fmt: skip
"""Ops that send to or receive from other processes or machines, or configure cloud access."""

PATH_OPS = frozenset(
    {
        "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice",
        "MergeV2Checkpoints", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
        "CacheDataset", "CacheDatasetV2",
    }
)  # fmt: skip
"""Ops every SavedModel uses on its own files; only constant paths leaving the model count."""

_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MAX_FINDINGS_PER_RULE = 20
MAX_ATTR_DEPTH = 16
_TIME_CHECK_EVERY = 4096


@functools.cache
def known_ops() -> frozenset[str]:
    """Op names a stock TensorFlow build registers."""
    from mlchain.scan.savedmodel_ops import OPS

    return frozenset(OPS.split())


def looks_like_savedmodel(head: bytes) -> bool:
    """SavedModel framing: schema version 1, then a MetaGraphDef opening with MetaInfoDef."""
    if len(head) < 5 or head[:3] != b"\x08\x01\x12":
        return False
    try:
        fields = iter_fields(head, 2, len(head))
        first = next(fields)
    except (WireError, StopIteration):
        # The meta graph is longer than the head: check its framing by hand.
        pos = 3
        while pos < len(head) and head[pos] & 0x80:
            pos += 1
        return pos + 1 < len(head) and head[pos + 1] == 0x0A
    return first.number == _SM_META_GRAPHS and first.end > first.start and head[first.start] == 0x0A


def looks_like_graphdef(head: bytes) -> bool:
    """A frozen ``GraphDef``: GraphDef fields only, with a NodeDef (name and op) or a library.

    Field order is free on the wire, so every top-level field in the head is looked at, not
    just the first (a graph may list ``versions`` or its function ``library`` before its nodes).
    """
    graph_like = False
    try:
        for f in iter_fields(head, 0, len(head)):
            if f.number not in (1, 2, 3, 4, 5):
                return False
            if f.number == _GRAPH_NODE and f.wire_type == LEN:
                inner = {g.number for g in iter_fields(head, f.start, f.end)}
                graph_like = graph_like or {_NODE_NAME, _NODE_OP} <= inner
            elif f.number == _GRAPH_LIBRARY and f.wire_type == LEN:
                graph_like = True
    except WireError as exc:
        # A field cut off by the end of the head is fine; garbage before it is not.
        return graph_like and exc.offset > len(head) - (1 << 16) + 64
    return graph_like


def escaping_path(path: str) -> bool:
    """Whether a constant checkpoint/vocabulary path leaves the model folder."""
    norm = path.replace("\\", "/")
    return (
        norm.startswith("/")
        or bool(re.match(r"^[A-Za-z]:", norm))
        or ".." in norm.split("/")
        or bool(_REMOTE.match(norm))
    )


class _Stop(Exception):
    """A limit was hit; the finding is already recorded."""


@dataclass(slots=True)
class _Node:
    op: str
    offset: int
    inputs: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    """String constants in ``value``/``s`` attributes (a Const's path, PrintV2's stream)."""
    funcs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Walk:
    buf: Buffer
    location: Location
    ctx: ScanContext
    findings: list[Finding] = field(default_factory=list)
    emitted: dict[str, int] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    referenced: dict[str, int] = field(default_factory=dict)
    steps: int = 0

    def report(
        self, rule: str, message: str, offset: int, evidence: str, severity: Severity | None = None
    ) -> None:
        seen = self.emitted.get(rule, 0)
        self.emitted[rule] = seen + 1
        if seen < MAX_FINDINGS_PER_RULE:
            loc = self.location.at(offset)
            self.findings.append(finding(rule, message, loc, evidence=evidence, severity=severity))

    def tick(self) -> None:
        self.steps += 1
        if self.steps % _TIME_CHECK_EVERY == 0 and self.ctx.out_of_time():
            self.findings.append(
                finding(
                    "scan-limit-exceeded",
                    "time limit reached; the rest of the SavedModel was not examined",
                    self.location,
                )
            )
            raise _Stop

    def fields(self, start: int, end: int) -> Iterator[Field]:
        for f in iter_fields(self.buf, start, end):
            self.tick()
            yield f

    # --- messages ----------------------------------------------------------------------------
    def saved_model(self) -> None:
        graphs = 0
        for f in self.fields(0, len(self.buf)):
            if f.number == _SM_META_GRAPHS and f.wire_type == LEN:
                graphs += 1
                self.meta_graph(f)
        if graphs == 0:
            raise WireError("no meta graph (not a SavedModel)", 0)
        for name, offset in self.referenced.items():
            if name not in self.functions:
                # A function attribute naming no library function instantiates that op.
                self.judge(_Node(name, offset), {}, f"function attribute {name!r}")

    def meta_graph(self, f: Field) -> None:
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _MG_GRAPH:
                self.graph(g)
            elif g.number == _MG_INFO:
                for h in self.fields(g.start, g.end):
                    if h.number == _INFO_OPS and h.wire_type == LEN:
                        self.op_list(h)

    def op_list(self, f: Field) -> None:
        for g in self.fields(f.start, f.end):
            if g.number == _OPLIST_OP and g.wire_type == LEN:
                for h in self.fields(g.start, g.end):
                    if h.number == _OPDEF_NAME and h.wire_type == LEN:
                        name = read_str(self.buf, h, 256)
                        if name not in known_ops():
                            self.custom(name, h.offset, "stripped_op_list")

    def graph(self, f: Field) -> None:
        nodes: dict[str, _Node] = {}
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _GRAPH_NODE:
                self.node(g, nodes)
            elif g.number == _GRAPH_LIBRARY:
                for h in self.fields(g.start, g.end):
                    if h.number == _LIB_FUNCTION and h.wire_type == LEN:
                        self.function(h)
        self.judge_scope(nodes, "graph")

    def function(self, f: Field) -> None:
        name = "?"
        nodes: dict[str, _Node] = {}
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _FUNC_SIGNATURE:
                for h in self.fields(g.start, g.end):
                    if h.number == _OPDEF_NAME and h.wire_type == LEN:
                        name = read_str(self.buf, h, 512)
            elif g.number == _FUNC_NODE:
                self.node(g, nodes)
        self.functions.add(name)
        self.judge_scope(nodes, f"function {name}")

    def node(self, f: Field, nodes: dict[str, _Node]) -> None:
        node = _Node("", f.offset)
        name = f"#{len(nodes)}"
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _NODE_NAME:
                name = read_str(self.buf, g, 512)
            elif g.number == _NODE_OP:
                node.op = read_str(self.buf, g, 256)
            elif g.number == _NODE_INPUT and len(node.inputs) < 8:
                node.inputs.append(read_str(self.buf, g, 512))
            elif g.number == _NODE_ATTR:
                for h in self.fields(g.start, g.end):
                    if h.number == _ENTRY_VALUE and h.wire_type == LEN:
                        self.attr_value(h, node, 0)
        nodes[name] = node

    def attr_value(self, f: Field, node: _Node, depth: int) -> None:
        if depth > MAX_ATTR_DEPTH:
            raise WireError(f"attributes nested deeper than {MAX_ATTR_DEPTH}", f.offset)
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _ATTR_S and len(node.strings) < 16:
                node.strings.append(read_str(self.buf, g, 1024))
            elif g.number == _ATTR_TENSOR:
                for h in self.fields(g.start, g.end):
                    wanted = h.number == _TENSOR_STRING_VAL and h.wire_type == LEN
                    if wanted and len(node.strings) < 16:
                        node.strings.append(read_str(self.buf, h, 1024))
            elif g.number == _ATTR_FUNC:
                self.name_attr(g, node, depth)
            elif g.number == _ATTR_LIST:
                for h in self.fields(g.start, g.end):
                    if h.wire_type != LEN:
                        continue
                    if h.number == _LIST_S and len(node.strings) < 16:
                        node.strings.append(read_str(self.buf, h, 1024))
                    elif h.number == _LIST_FUNC:
                        self.name_attr(h, node, depth)

    def name_attr(self, f: Field, node: _Node, depth: int) -> None:
        for g in self.fields(f.start, f.end):
            if g.wire_type != LEN:
                continue
            if g.number == _NAMEATTR_NAME:
                name = read_str(self.buf, g, 512)
                node.funcs.append(name)
                self.referenced.setdefault(name, g.offset)
            elif g.number == _NAMEATTR_ATTR:
                for h in self.fields(g.start, g.end):
                    if h.number == _ENTRY_VALUE and h.wire_type == LEN:
                        self.attr_value(h, node, depth + 1)

    # --- judgement ---------------------------------------------------------------------------
    def judge_scope(self, nodes: dict[str, _Node], where: str) -> None:
        for node in nodes.values():
            self.judge(node, nodes, where)

    def judge(self, node: _Node, scope: dict[str, _Node], where: str) -> None:
        op = node.op
        if op in PYTHON_OPS:
            self.report(
                "tf-python-op",
                f"{where} runs the {op} op, which calls a Python function when the model runs",
                node.offset,
                op,
            )
        elif op in FILE_OPS or op in NETWORK_OPS:
            kind = "reads, writes or lists files" if op in FILE_OPS else "talks to other machines"
            path = next((s for s in self._const_inputs(node, scope)), "")
            self.report(
                "tf-io-op",
                f"{where} runs the {op} op, which {kind}",
                node.offset,
                f"{op} {path}".strip(),
            )
        elif op in PATH_OPS:
            for path in self._const_inputs(node, scope):
                if escaping_path(path):
                    self.report(
                        "tf-io-op",
                        f"{where} runs {op} on the constant path {path!r}, outside the model",
                        node.offset,
                        f"{op} {path}",
                    )
        elif op == "PrintV2" and any(s.startswith("file://") for s in node.strings):
            self.report(
                "tf-io-op",
                f"{where} prints to a file with PrintV2",
                node.offset,
                next(s for s in node.strings if s.startswith("file://")),
            )
        elif op in ("DecodeProtoV2", "EncodeProto") and any(
            s not in ("", "local://") and ("/" in s or s.startswith("file")) for s in node.strings
        ):
            self.report(
                "tf-io-op",
                f"{where} runs {op} with a descriptor file read from disk",
                node.offset,
                ", ".join(node.strings[:3]),
            )
        elif op and op not in known_ops() and op not in self.functions:
            self.custom(op, node.offset, where)

    def _const_inputs(self, node: _Node, scope: dict[str, _Node]) -> Iterator[str]:
        for raw in node.inputs[:2]:
            source = scope.get(raw.lstrip("^").split(":", 1)[0])
            if source is not None and source.op == "Const":
                yield from source.strings[:4]

    def custom(self, op: str, offset: int, where: str) -> None:
        self.report(
            "tf-custom-op",
            f"{where} uses the op {op!r}, which stock TensorFlow does not register: a custom op "
            "library must be loaded into the process to run it",
            offset,
            op,
        )


def _walk_file(
    artifact: Artifact, ctx: ScanContext, what: str, run: Callable[[_Walk, mmap.mmap], None]
) -> list[Finding]:
    """Map ``artifact`` read-only and ``run`` the walker over it.

    Malformed protobuf is a ``parse-error``; what was found before it is kept.
    """
    if artifact.size == 0:
        return [finding("parse-error", f"empty {what}", artifact.location)]
    with (
        artifact.path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf,
    ):
        walk = _Walk(buf, artifact.location, ctx)
        try:
            run(walk, buf)
        except _Stop:
            pass
        except WireError as exc:
            walk.findings.append(
                finding(
                    "parse-error",
                    f"{what} protobuf is malformed; the rest was not examined",
                    artifact.location.at(exc.offset),
                    evidence=str(exc),
                )
            )
        return walk.findings


class SavedModelScanner:
    """Scans ``saved_model.pb`` without TensorFlow."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield op findings; malformed protobuf is a ``parse-error``."""
        yield from _walk_file(artifact, ctx, "SavedModel", lambda walk, _buf: walk.saved_model())


class GraphDefScanner:
    """Scans a frozen TF1 ``GraphDef`` (``frozen_inference_graph.pb``) like a SavedModel graph."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield op findings; malformed protobuf is a ``parse-error``."""
        yield from _walk_file(artifact, ctx, "GraphDef", _graph_def)


def _graph_def(walk: _Walk, buf: mmap.mmap) -> None:
    walk.graph(Field(_MG_GRAPH, LEN, 0, len(buf), 0, len(buf)))
    for name, offset in walk.referenced.items():
        if name not in walk.functions:
            walk.judge(_Node(name, offset), {}, f"function attribute {name!r}")


class KerasMetadataScanner:
    """Scans ``keras_metadata.pb`` (tf_keras SavedModels): each layer's JSON config."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield Keras config findings for every node's metadata JSON."""
        from mlchain.scan.keras import walk_config
        from mlchain.scan.strict_json import JsonProblem, parse_strict

        limit = ctx.limits.max_header_bytes
        if artifact.size > limit:
            yield finding(
                "scan-limit-exceeded",
                f"keras_metadata.pb is larger than {limit} bytes; not scanned",
                artifact.location,
            )
            return
        data = artifact.path.read_bytes()
        try:
            for f in iter_fields(data, 0, len(data)):
                if f.number != 1 or f.wire_type != LEN:
                    continue
                for g in iter_fields(data, f.start, f.end):
                    if g.number == 5 and g.wire_type == LEN:
                        loc = artifact.location.at(g.start)
                        try:
                            parsed = parse_strict(data[g.start : g.end], allow_constants=True)
                        except JsonProblem as exc:
                            yield finding("parse-error", f"layer metadata is not JSON: {exc}", loc)
                            continue
                        yield from walk_config(parsed.value, loc)
        except WireError as exc:
            yield finding(
                "parse-error",
                "keras_metadata.pb is malformed; the rest was not examined",
                artifact.location.at(exc.offset),
                evidence=str(exc),
            )


class TfDataScanner:
    """TensorFlow data files (checkpoint shards and index, ``fingerprint.pb``): no code path.

    ``tf.train.load_checkpoint``/``Checkpoint.restore`` read tensors from them by offset; nothing
    in them names an op, a class or a function, so they are recognised as inert data.
    """

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield nothing: the content is tensor bytes and checksums."""
        del artifact, ctx
        return iter(())


__all__ = [
    "FILE_OPS",
    "NETWORK_OPS",
    "PATH_OPS",
    "PYTHON_OPS",
    "GraphDefScanner",
    "KerasMetadataScanner",
    "SavedModelScanner",
    "TfDataScanner",
    "escaping_path",
    "known_ops",
    "looks_like_graphdef",
    "looks_like_savedmodel",
]
