"""ONNX scanner: fixtures, external-data paths, domains, opsets, malformed input, resources."""

from __future__ import annotations

import mmap
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path, PurePosixPath

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.scan import onnx as onnx_scan
from mlchain.scan import scan_paths
from mlchain.scan.base import Artifact, Limits, ScanContext, ScanOptions
from mlchain.scan.onnx import OnnxScanner, scan_bytes
from mlchain.scan.protowire import WireError, iter_fields

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "onnx"
REPO = Path(__file__).resolve().parents[3]
MiB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------
def _scan(path: Path, limits: Limits | None = None) -> list[Finding]:
    artifact = Artifact(
        path,
        Location(PurePosixPath(path.name)),
        path.parent,
        path.stat().st_size,
        ArtifactFormat.ONNX,
    )
    return list(OnnxScanner().scan(artifact, ScanContext(ScanOptions(limits=limits or Limits()))))


def _scan_data(data: bytes, folder: Path | None = None) -> list[Finding]:
    folder = folder or Path("/nonexistent-model-dir")
    artifact = Artifact(
        folder / "m.onnx", Location(PurePosixPath("m.onnx")), folder, len(data), ArtifactFormat.ONNX
    )
    return scan_bytes(data, artifact, ScanContext(ScanOptions()))


def _rules(findings: list[Finding]) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in findings}


def _io(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [16])


def _external_model(entries: dict[str, str], *, external: bool = True) -> bytes:
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[16])
    if external:
        tensor.data_location = TensorProto.EXTERNAL
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])], "g", [_io("X")], [_io("Y")], [tensor]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def _write_model(folder: Path, entries: dict[str, str], **kw: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(_external_model(entries, **kw))
    return path


# --- fixtures ---------------------------------------------------------------------------------
BENIGN = sorted(p for p in FIXTURES.glob("benign/**/*.onnx"))


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.name)
def test_benign_fixtures_have_no_finding_at_or_above_medium(path: Path) -> None:
    findings = _scan(path)
    assert [f for f in findings if f.severity >= Severity.MEDIUM] == []


def test_benign_fixture_set_covers_the_required_shapes() -> None:
    names = {p.name for p in BENIGN}
    assert {"standard.onnx", "model.onnx", "contrib_op.onnx", "if_subgraph.onnx"} <= names
    assert {"loop_subgraph.onnx", "local_function.onnx"} <= names


EXPECTED = {
    "traversal.onnx": ("onnx-external-data-escape", Severity.CRITICAL),
    "traversal_inner.onnx": ("onnx-external-data-escape", Severity.CRITICAL),
    "absolute.onnx": ("onnx-external-data-escape", Severity.CRITICAL),
    "dev_zero.onnx": ("onnx-external-data-escape", Severity.CRITICAL),
    "missing_file.onnx": ("onnx-external-data-invalid", Severity.MEDIUM),
    "unknown_keys.onnx": ("onnx-external-data-invalid", Severity.MEDIUM),
    "offset_past_eof.onnx": ("onnx-external-data-invalid", Severity.MEDIUM),
    "custom_domain.onnx": ("onnx-custom-op", Severity.HIGH),
    "pyop_code.onnx": ("onnx-custom-op", Severity.CRITICAL),
    "unknown_opset.onnx": ("onnx-unknown-opset", Severity.MEDIUM),
    "hidden_in_subgraph.onnx": ("onnx-custom-op", Severity.HIGH),
    "hidden_in_function.onnx": ("onnx-custom-op", Severity.HIGH),
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_malicious_fixture_is_flagged(name: str, expected: tuple[str, Severity]) -> None:
    assert expected in _rules(_scan(FIXTURES / "malicious" / name))


def test_every_malicious_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("malicious/*.onnx")} == set(EXPECTED)


def test_pyop_evidence_shows_the_code() -> None:
    findings = _scan(FIXTURES / "malicious" / "pyop_code.onnx")
    crit = [f for f in findings if f.severity is Severity.CRITICAL]
    assert crit
    assert "os.system" in (crit[0].evidence or "")
    assert "module=payload" in (crit[0].evidence or "")


def test_hidden_custom_op_location_names_the_subgraph() -> None:
    findings = _scan(FIXTURES / "malicious" / "hidden_in_subgraph.onnx")
    assert any("then_branch" in f.message for f in findings)
    findings = _scan(FIXTURES / "malicious" / "hidden_in_function.onnx")
    assert any("function local.fn::Innocent" in f.message for f in findings)


def test_pipeline_detects_and_dispatches_onnx() -> None:
    report = scan_paths([FIXTURES / "malicious" / "absolute.onnx"])
    result = report.results[0]
    assert result.format is ArtifactFormat.ONNX
    assert result.skipped is None
    assert result.max_severity is Severity.CRITICAL


# --- external data paths ----------------------------------------------------------------------
def test_valid_external_data_is_clean(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(64))
    path = _write_model(tmp_path, {"location": "w.bin", "offset": "0", "length": "64"})
    assert _scan(path) == []


def test_external_data_in_subfolder_is_clean(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(bytes(64))
    path = _write_model(tmp_path, {"location": "weights/w.bin", "length": "64"})
    assert _scan(path) == []


def test_symlink_to_file_outside_folder_escapes(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("token")
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").symlink_to(outside / "secret")
    findings = _scan(_write_model(model, {"location": "w.bin"}))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)
    assert "symbolic link" in findings[0].message


def test_symlink_in_parent_component_escapes(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("token")
    model = tmp_path / "model"
    model.mkdir()
    (model / "sub").symlink_to(outside, target_is_directory=True)
    findings = _scan(_write_model(model, {"location": "sub/secret"}))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


def test_symlink_staying_inside_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(bytes(64))
    (tmp_path / "w.bin").symlink_to("real.bin")
    assert _scan(_write_model(tmp_path, {"location": "w.bin"})) == []


def test_symlink_to_device_escapes(tmp_path: Path) -> None:
    (tmp_path / "w.bin").symlink_to("/dev/zero")
    findings = _scan(_write_model(tmp_path, {"location": "w.bin"}))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


def test_fifo_inside_folder_is_flagged(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "w.bin")
    findings = _scan(_write_model(tmp_path, {"location": "w.bin"}))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


def test_hard_link_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.bin").write_bytes(bytes(64))
    model = tmp_path / "model"
    model.mkdir()
    os.link(tmp_path / "elsewhere.bin", model / "w.bin")
    findings = _scan(_write_model(model, {"location": "w.bin"}))
    assert any("hard link" in f.message for f in findings)
    assert ("onnx-external-data-invalid", Severity.MEDIUM) in _rules(findings)


@pytest.mark.parametrize(
    "location",
    ["/etc/passwd", "\\\\server\\share\\x", "C:\\Windows\\win.ini", "a/../../x", "..\\x", "x\x00y"],
)
def test_lexical_escapes(tmp_path: Path, location: str) -> None:
    findings = _scan(_write_model(tmp_path, {"location": location}))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ({"location": "w.bin", "offset": "+5"}, "not a plain"),
        ({"location": "w.bin", "length": "1_000"}, "not a plain"),
        ({"location": "w.bin", "offset": "-1"}, "not a plain"),
        ({"location": "w.bin", "offset": "60", "length": "8"}, "past the end"),
        ({"location": "w.bin", "offset": "65"}, "past the end"),
        ({"location": ""}, "empty"),
        ({"offset": "0"}, "names no location"),
        ({"location": "w.bin", "basepath": "/"}, "basepath"),
    ],
)
def test_invalid_external_data(tmp_path: Path, entries: dict[str, str], needle: str) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(64))
    findings = _scan(_write_model(tmp_path, entries))
    assert any(needle in f.message for f in findings), findings
    assert all(f.rule_id == "onnx-external-data-invalid" for f in findings)


def test_entries_without_external_location_are_low(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(64))
    findings = _scan(_write_model(tmp_path, {"location": "w.bin"}, external=False))
    assert _rules(findings) == {("onnx-external-data-invalid", Severity.LOW)}


def test_findings_are_capped_and_summarised(tmp_path: Path) -> None:
    tensors = []
    for i in range(60):
        t = TensorProto(name=f"W{i}", data_type=TensorProto.FLOAT, dims=[1])
        t.data_location = TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = "location", f"missing{i}.bin"
        tensors.append(t)
    graph = helper.make_graph([], "g", [], [], tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    findings = _scan(path)
    assert len(findings) == onnx_scan.MAX_DETAIL_FINDINGS + 1
    assert "40 more" in findings[-1].message


def test_attribute_tensor_external_data_is_checked(tmp_path: Path) -> None:
    t = TensorProto(name="C", data_type=TensorProto.FLOAT, dims=[1])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../../etc/shadow"
    node = helper.make_node("Constant", [], ["Y"], value=t)
    graph = helper.make_graph([node], "g", [], [_io("Y")])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(_scan(path))


def test_epcontext_cache_path_is_checked(tmp_path: Path) -> None:
    node = helper.make_node(
        "EPContext", ["X"], ["Y"], domain="com.microsoft", embed_mode=0, ep_cache_context="../x.bin"
    )
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())
    findings = _scan(path)
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)
    assert "EPContext" in findings[0].message


# --- domains and opsets -----------------------------------------------------------------------
def _node_model(domain: str, op: str = "Op", version: int = 1, **attrs: object) -> bytes:
    node = helper.make_node(op, ["X"], ["Y"], domain=domain, **attrs)
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, version))
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


@pytest.mark.parametrize("domain", sorted(onnx_scan.RUNTIME_DOMAINS | {"ai.onnx", "ai.onnx.ml"}))
def test_runtime_domains_pass(domain: str) -> None:
    findings = _scan_data(_node_model(domain))
    assert not [f for f in findings if f.rule_id == "onnx-custom-op"]


def test_extensions_domain_is_custom() -> None:
    findings = _scan_data(_node_model("ai.onnx.contrib", "GPT2Tokenizer"))
    assert _rules(findings) == {("onnx-custom-op", Severity.HIGH)}
    assert "onnxruntime-extensions" in findings[0].message


def test_python_op_in_any_domain_is_critical() -> None:
    data = _node_model("my.ops", "PyOp", module="mymodule", class_name="Multi")
    findings = _scan_data(data)
    assert ("onnx-custom-op", Severity.CRITICAL) in _rules(findings)


def test_code_in_string_attribute_is_critical() -> None:
    data = _node_model("my.ops", "Thing", payload="import os; os.system('x')")
    assert ("onnx-custom-op", Severity.CRITICAL) in _rules(_scan_data(data))


def test_standard_domain_string_attributes_are_not_code() -> None:
    data = _node_model("", "Relu", mode="import os")
    assert _scan_data(data) == []


def test_unregistered_domain_with_local_function_name_only_passes_when_defined() -> None:
    data = _node_model("local.fn", "AddRelu")
    assert ("onnx-custom-op", Severity.HIGH) in _rules(_scan_data(data))


def test_static_opset_table_covers_installed_onnx() -> None:
    from onnx import defs

    for domain, (_, highest) in defs.C.schema_version_map().items():
        if domain in onnx_scan.KNOWN_OPSETS:
            assert onnx_scan.KNOWN_OPSETS[domain] >= highest, domain
    assert onnx_scan.KNOWN_OPSETS[""] >= defs.onnx_opset_version()


def test_latest_opset_is_known() -> None:
    from onnx import defs

    node = helper.make_node("Relu", ["X"], ["Y"])
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", defs.onnx_opset_version())]
    )
    assert _scan_data(model.SerializeToString()) == []


def test_installed_onnx_refines_static_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(onnx_scan.KNOWN_OPSETS, "", 10)
    node = helper.make_node("Relu", ["X"], ["Y"])
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert _scan_data(model.SerializeToString()) == []


@pytest.mark.parametrize(
    ("domain", "version"), [("", 0), ("", -3), ("ai.onnx.ml", 99), ("com.microsoft", 7)]
)
def test_unknown_opset_versions(domain: str, version: int) -> None:
    node = helper.make_node("Relu", ["X"], ["Y"])
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, version)])
    assert ("onnx-unknown-opset", Severity.MEDIUM) in _rules(_scan_data(model.SerializeToString()))


def test_function_opset_import_is_checked() -> None:
    fn = helper.make_function(
        "local.fn",
        "F",
        ["a"],
        ["b"],
        [helper.make_node("Relu", ["a"], ["b"])],
        [helper.make_opsetid("", 500)],
    )
    node = helper.make_node("F", ["X"], ["Y"], domain="local.fn")
    graph = helper.make_graph([node], "g", [_io("X")], [_io("Y")])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)],
        functions=[fn],
    )
    findings = _scan_data(model.SerializeToString())
    assert _rules(findings) == {("onnx-unknown-opset", Severity.MEDIUM)}
    assert "function local.fn::F" in findings[0].message


def test_training_info_graphs_are_walked() -> None:
    evil = helper.make_graph(
        [helper.make_node("Backdoor", ["X"], ["Y"], domain="evil.ops")],
        "algo",
        [_io("X")],
        [_io("Y")],
    )
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g", [_io("X")], [_io("Y")])
    model = helper.make_model(graph)
    info = model.training_info.add()
    info.algorithm.CopyFrom(evil)
    findings = _scan_data(model.SerializeToString())
    assert ("onnx-custom-op", Severity.HIGH) in _rules(findings)
    assert "training_info.algorithm" in findings[0].message


# --- malformed input --------------------------------------------------------------------------
def _nested_if(depth: int) -> bytes:
    # Built by hand: the protobuf runtime itself refuses to build messages this deep.
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "leaf", [], [])
    inner = graph.SerializeToString()
    for _ in range(depth):
        attr = _len_field(1, 11) + b"then_branch" + _varint(20 << 3) + _varint(5)
        attr += _len_field(6, len(inner)) + inner
        node = _len_field(4, 2) + b"If" + _len_field(5, len(attr)) + attr
        inner = _len_field(1, len(node)) + node
    return _varint(1 << 3) + _varint(8) + _len_field(7, len(inner)) + inner


def test_deep_subgraph_nesting_is_a_parse_error() -> None:
    assert _scan_data(_nested_if(10)) == []
    findings = _scan_data(_nested_if(onnx_scan.MAX_GRAPH_DEPTH + 2))
    assert [f.rule_id for f in findings] == ["parse-error"]
    assert "nested deeper" in findings[0].message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x08" + b"\xff" * 11, "varint"),
        (b"\x08\x08\x3a\x7f\x00", "runs past"),
        (b"\x08\x08\x3b", "wire type"),
        (b"\x00\x01", "field number 0"),
        (b"\x08\x08", "no graph"),
        (b"\x08\x08\x3a\x02\x0a\x05", "runs past"),
    ],
)
def test_malformed_bytes_are_parse_errors(data: bytes, needle: str) -> None:
    findings = _scan_data(data)
    assert [f.rule_id for f in findings] == ["parse-error"]
    assert needle in findings[0].message
    assert findings[0].location.offset is not None


def test_truncated_fixture_reports_findings_found_before_the_damage(tmp_path: Path) -> None:
    data = (FIXTURES / "malicious" / "custom_domain.onnx").read_bytes()
    findings = _scan_data(data[:-1])
    assert "parse-error" in {f.rule_id for f in findings}


def test_empty_file_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    assert [f.rule_id for f in _scan(path)] == ["parse-error"]


def test_time_limit_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_scan, "_TIME_CHECK_EVERY", 1)
    monkeypatch.setattr(ScanContext, "out_of_time", lambda self: True)
    findings = _scan_data((FIXTURES / "benign" / "standard.onnx").read_bytes())
    assert [f.rule_id for f in findings] == ["scan-limit-exceeded"]


def _walk_everything(data: bytes, start: int, end: int, depth: int = 0) -> None:
    for f in iter_fields(data, start, end):
        if f.wire_type == 2 and depth < 20:
            try:
                _walk_everything(data, f.start, f.end, depth + 1)
            except WireError:
                pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_protowire_random_bytes_only_raise_wire_error(data: bytes) -> None:
    offset = 0
    try:
        _walk_everything(data, 0, len(data))
    except WireError as exc:
        offset = exc.offset
    assert 0 <= offset <= len(data)


SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*/*.onnx"))]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.integers(min_value=0, max_value=4096),
    st.integers(min_value=0, max_value=7),
    st.booleans(),
)
def test_mutated_models_never_raise(seed: bytes, where: int, bit: int, truncate: bool) -> None:
    data = bytearray(seed)
    where %= len(data)
    if truncate:
        del data[where:]
    else:
        data[where] ^= 1 << bit
    findings = _scan_data(bytes(data))
    assert all(isinstance(f, Finding) for f in findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    tracemalloc.start()
    try:
        findings = _scan_data(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(isinstance(f, Finding) for f in findings)
    assert peak < 2 * MiB


# --- resources: big models are never read -----------------------------------------------------
def _read_chars() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, payload_len: int) -> bytes:
    return _varint(number << 3 | 2) + _varint(payload_len)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_200mib_external_data_is_never_read(tmp_path: Path) -> None:
    size = 200 * MiB
    with (tmp_path / "weights.bin").open("wb") as handle:
        handle.truncate(size)  # sparse
    tensors = []
    chunk = size // 100
    for i in range(100):
        t = TensorProto(name=f"W{i}", data_type=TensorProto.FLOAT, dims=[chunk // 4])
        t.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", "weights.bin"),
            ("offset", str(i * chunk)),
            ("length", str(chunk)),
        ):
            e = t.external_data.add()
            e.key, e.value = key, value
        tensors.append(t)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"])], "g", [_io("X")], [_io("Y")], tensors
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())

    before = _read_chars()
    tracemalloc.start()
    try:
        findings = _scan(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = _read_chars() - before
    assert findings == []
    assert read < 64 * 1024, f"read {read} bytes"
    assert peak < 2 * MiB, f"peak {peak}"


class _CountingMmap(mmap.mmap):
    """An mmap that counts how many bytes the scanner indexes or slices."""

    touched = 0

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        value = super().__getitem__(index)
        _CountingMmap.touched += len(value) if isinstance(value, bytes) else 1
        return value


def test_200mib_inline_weights_are_skipped_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = 200 * MiB
    tensor_head = (
        _varint(1 << 3 | 0)
        + _varint(raw // 4)  # dims
        + _varint(2 << 3 | 0)
        + _varint(1)  # data_type FLOAT
        + _len_field(8, 1)
        + b"W"  # name
        + _len_field(9, raw)  # raw_data header; the bytes follow
    )
    tensor_len = len(tensor_head) + raw
    node = helper.make_node("Backdoor", ["X"], ["Y"], domain="evil.ops").SerializeToString()
    node_field = _len_field(1, len(node)) + node
    graph_len = len(node_field) + len(_len_field(5, tensor_len)) + tensor_len
    path = tmp_path / "big.onnx"
    with path.open("wb") as handle:
        handle.write(_varint(1 << 3) + _varint(8))  # ir_version
        handle.write(
            _len_field(7, graph_len) + node_field + _len_field(5, tensor_len) + tensor_head
        )
        handle.seek(raw, os.SEEK_CUR)  # sparse hole: the weights
        opset = b"\x10\x11"  # version 17
        handle.write(_len_field(8, len(opset)) + opset)
    assert path.stat().st_size > raw

    monkeypatch.setattr(mmap, "mmap", _CountingMmap)
    _CountingMmap.touched = 0
    faults_before = resource.getrusage(resource.RUSAGE_SELF)
    tracemalloc.start()
    try:
        findings = _scan(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    faults_after = resource.getrusage(resource.RUSAGE_SELF)
    faults = (faults_after.ru_minflt - faults_before.ru_minflt) + (
        faults_after.ru_majflt - faults_before.ru_majflt
    )
    assert _rules(findings) == {("onnx-custom-op", Severity.HIGH)}
    assert peak < 2 * MiB
    assert 0 < _CountingMmap.touched < 4096, _CountingMmap.touched
    # Touching every page of the (sparse) weights costs ~500 faults here; the scan needs a few.
    assert faults < 100, faults


def test_scanning_does_not_import_onnx(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mlchain.scan import scan_paths\n"
        f"r = scan_paths([Path({str(FIXTURES / 'benign')!r}),"
        f" Path({str(FIXTURES / 'malicious' / 'custom_domain.onnx')!r})])\n"
        "assert r.findings\n"
        "bad = sorted(m for m in sys.modules if m == 'onnx' or m.startswith('onnx.'))\n"
        "print(bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_location_after_many_junk_entries_is_still_checked(tmp_path: Path) -> None:
    entries = {f"junk{i}": "x" for i in range(100)}
    entries["location"] = "../outside.bin"
    findings = _scan(_write_model(tmp_path, entries))
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


def test_repeated_location_key_is_flagged_and_last_one_judged(tmp_path: Path) -> None:
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[16])
    tensor.data_location = TensorProto.EXTERNAL
    for value in ("w.bin", "/etc/passwd"):
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", value
    (tmp_path / "w.bin").write_bytes(bytes(64))
    graph = helper.make_graph([], "g", [], [], [tensor])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    findings = _scan(path)
    assert any("repeats" in f.message for f in findings)
    assert ("onnx-external-data-escape", Severity.CRITICAL) in _rules(findings)


FIELDS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=(1 << 29) - 1),
        st.one_of(st.integers(min_value=0, max_value=(1 << 64) - 1), st.binary(max_size=300)),
    ),
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(FIELDS)
def test_protowire_decodes_what_was_encoded(fields: list[tuple[int, int | bytes]]) -> None:
    data = b""
    for number, value in fields:
        if isinstance(value, int):
            data += _varint(number << 3) + _varint(value)
        else:
            data += _len_field(number, len(value)) + value
    decoded = []
    for f in iter_fields(data, 0, len(data)):
        decoded.append((f.number, f.value if f.wire_type == 0 else data[f.start : f.end]))
    assert decoded == fields


def test_protowire_agrees_with_protobuf_on_a_real_model() -> None:
    data = (FIXTURES / "benign" / "loop_subgraph.onnx").read_bytes()
    model = onnx.ModelProto.FromString(data)
    numbers = [f.number for f in iter_fields(data, 0, len(data))]
    assert numbers == [d.number for d, _ in model.ListFields()]


def test_runtime_domain_string_attributes_are_not_code() -> None:
    data = _node_model("com.microsoft", "FusedGemm", activation="Relu", function="x")
    assert _scan_data(data) == []


def test_python_op_type_in_runtime_domain_is_still_critical() -> None:
    data = _node_model("com.microsoft", "PyOp", module="m", class_name="C")
    assert ("onnx-custom-op", Severity.CRITICAL) in _rules(_scan_data(data))
