"""TensorFlow SavedModel, keras_metadata.pb and checkpoints (mlchain issue #14, items 4 and 7).

Real files come from ``fixtures/gen_savedmodel.py`` (TensorFlow 2.21, tf_keras 2.21, run in a
separate venv); crafted protobufs are built here with a tiny wire encoder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import Artifact, ScanContext, ScanOptions
from mlchain.scan.detect import detect, read_head
from mlchain.scan.savedmodel import SavedModelScanner, escaping_path, known_ops

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "savedmodel"
BENIGN = FIXTURES / "benign"
MALICIOUS = FIXTURES / "malicious"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fld(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def node(name: str, op: str, inputs: tuple[str, ...] = (), attrs: bytes = b"") -> bytes:
    body = fld(1, name.encode()) + fld(2, op.encode())
    body += b"".join(fld(3, i.encode()) for i in inputs)
    return fld(1, body + attrs)


def const_string(value: str) -> bytes:
    tensor = fld(1, 7) + fld(8, value.encode())  # dtype DT_STRING, string_val
    return fld(5, fld(1, b"value") + fld(2, fld(8, tensor)))


def saved_model(*nodes: bytes, library: bytes = b"") -> bytes:
    graph = b"".join(nodes) + (fld(2, library) if library else b"")
    meta_graph = fld(1, fld(4, b"serve")) + fld(2, graph)
    return fld(1, 1) + fld(2, meta_graph)


def scan_pb(tmp_path: Path, data: bytes, name: str = "saved_model.pb") -> list:
    path = tmp_path / name
    path.write_bytes(data)
    return list(scan_paths([path]).findings)


def rules(findings: list, at_least: Severity = Severity.MEDIUM) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in findings if f.severity >= at_least}


def test_real_savedmodels_are_detected_and_clean() -> None:
    report = scan_paths([BENIGN])
    formats = {r.location.path.name: r.format for r in report.results}
    assert formats["saved_model.pb"] is ArtifactFormat.SAVEDMODEL
    assert formats["keras_metadata.pb"] is ArtifactFormat.KERAS_METADATA
    assert formats["fingerprint.pb"] is ArtifactFormat.TF_DATA
    assert formats["variables.index"] is ArtifactFormat.TF_DATA
    assert formats["ckpt.data-00000-of-00001"] is ArtifactFormat.TF_DATA
    assert [f for f in report.findings if f.severity >= Severity.MEDIUM] == []
    assert not [r for r in report.results if r.skipped and r.location.path.suffix != ".txt"]


def test_savedmodel_is_no_longer_taken_for_onnx() -> None:
    path = BENIGN / "dense_module" / "saved_model.pb"
    renamed = detect(Path("x.bin"), read_head(path), path.stat().st_size)
    assert renamed.format is ArtifactFormat.SAVEDMODEL


def test_onnx_models_stay_onnx() -> None:
    paths = sorted((FIXTURES.parent / "onnx").glob("*/*.onnx"))
    assert len(paths) > 5
    for path in paths:
        detected = detect(path, read_head(path), path.stat().st_size).format
        assert detected is not ArtifactFormat.SAVEDMODEL, path


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("read_file", ("tf-io-op", Severity.HIGH)),
        ("write_file", ("tf-io-op", Severity.HIGH)),
        ("matching_files", ("tf-io-op", Severity.HIGH)),
        ("save_outside", ("tf-io-op", Severity.HIGH)),
        ("numpy_function", ("tf-python-op", Severity.CRITICAL)),
        ("custom_op", ("tf-custom-op", Severity.HIGH)),
        ("tf_keras_lambda", ("keras-lambda", Severity.CRITICAL)),
    ],
)
def test_real_malicious_savedmodels_are_found(folder: str, expected: tuple[str, Severity]) -> None:
    assert expected in rules(list(scan_paths([MALICIOUS / folder]).findings))


def test_op_table_has_the_ops_savedmodels_use() -> None:
    for op in ("MatMul", "SaveV2", "RestoreV2", "StatefulPartitionedCall", "PyFunc", "ReadFile"):
        assert op in known_ops()


def test_python_op_in_the_top_level_graph(tmp_path: Path) -> None:
    findings = scan_pb(tmp_path, saved_model(node("p", "EagerPyFunc")))
    assert ("tf-python-op", Severity.CRITICAL) in rules(findings)


def test_function_attribute_naming_an_op_is_judged(tmp_path: Path) -> None:
    func = fld(5, fld(1, b"f") + fld(2, fld(10, fld(1, b"PyFuncStateless"))))
    findings = scan_pb(tmp_path, saved_model(node("call", "PartitionedCall", attrs=func)))
    assert ("tf-python-op", Severity.CRITICAL) in rules(findings)


def test_relative_checkpoint_path_is_fine(tmp_path: Path) -> None:
    findings = scan_pb(
        tmp_path,
        saved_model(
            node("save/Const", "Const", attrs=const_string("model")),
            node("save/SaveV2", "SaveV2", ("save/Const",)),
        ),
    )
    assert rules(findings) == set()


def test_remote_restore_path_is_reported(tmp_path: Path) -> None:
    findings = scan_pb(
        tmp_path,
        saved_model(
            node("c", "Const", attrs=const_string("gs://bucket/ckpt")),
            node("r", "RestoreV2", ("c:0",)),
        ),
    )
    assert ("tf-io-op", Severity.HIGH) in rules(findings)


def test_custom_op_in_stripped_op_list(tmp_path: Path) -> None:
    op_list = fld(2, fld(1, fld(1, b"ZzCustomKernel")))
    data = fld(1, 1) + fld(2, fld(1, op_list) + fld(2, node("a", "NoOp")))
    assert ("tf-custom-op", Severity.HIGH) in rules(scan_pb(tmp_path, data))


def test_truncated_savedmodel_is_a_parse_error(tmp_path: Path) -> None:
    data = (BENIGN / "dense_module" / "saved_model.pb").read_bytes()
    assert ("parse-error", Severity.HIGH) in rules(scan_pb(tmp_path, data[: len(data) // 2]))


def test_saved_model_name_with_other_content_is_a_parse_error(tmp_path: Path) -> None:
    findings = scan_pb(tmp_path, b"\x0a\x03abc")
    assert ("parse-error", Severity.HIGH) in rules(findings)


@pytest.mark.parametrize(
    ("path", "escapes"),
    [
        ("variables/variables", False),
        ("model", False),
        ("/etc/passwd", True),
        ("../../x", True),
        ("C:\\x", True),
        ("hdfs://h/x", True),
    ],
)
def test_escaping_path(path: str, escapes: bool) -> None:
    assert escaping_path(path) is escapes


def test_checkpoint_shard_without_index_stays_unrecognised(tmp_path: Path) -> None:
    shard = tmp_path / "w.data-00000-of-00001"
    shard.write_bytes(bytes(range(256)))
    result = scan_paths([shard]).results[0]
    assert result.format is ArtifactFormat.DATA


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved_model.pb"
        path.write_bytes(b"\x08\x01\x12" + data)
        artifact = Artifact(
            path,
            Location(PurePosixPath("saved_model.pb")),
            Path(tmp),
            len(data) + 3,
            ArtifactFormat.SAVEDMODEL,
        )
        for f in SavedModelScanner().scan(artifact, ScanContext(ScanOptions())):
            assert f.rule_id


def test_frozen_graphdef_is_scanned(tmp_path: Path) -> None:
    benign = scan_paths([BENIGN / "frozen_graph.pb"])
    assert benign.results[0].format is ArtifactFormat.TF_GRAPHDEF
    assert benign.findings == ()
    bad = scan_paths([MALICIOUS / "frozen_read_file.pb"])
    assert ("tf-io-op", Severity.HIGH) in rules(list(bad.findings))


def test_graphdef_with_versions_before_nodes_is_still_a_graph(tmp_path: Path) -> None:
    # Protobuf field order is free: a graph listing `versions` (4) first is the same graph.
    versions = fld(4, fld(1, 1))
    data = versions + node("r", "ReadFile")
    found = scan_pb(tmp_path, data, name="frozen.pb")
    assert ("tf-io-op", Severity.HIGH) in rules(found)


def test_graphdef_with_only_a_library(tmp_path: Path) -> None:
    function = fld(1, fld(1, fld(1, b"f")) + fld(3, fld(1, b"n") + fld(2, b"WriteFile")))
    found = scan_pb(tmp_path, fld(2, function), name="graph.pb")
    assert ("tf-io-op", Severity.HIGH) in rules(found)


def test_truncated_graphdef_is_a_parse_error_naming_the_graphdef(tmp_path: Path) -> None:
    """SavedModel and GraphDef share one file walker; each names its own format."""
    data = node("r", "ReadFile") + node("w", "WriteFile")
    found = scan_pb(tmp_path, data[:-3], name="frozen.pb")
    assert [(f.rule_id, f.message) for f in found] == [
        ("parse-error", "GraphDef protobuf is malformed; the rest was not examined")
    ]


def test_onnx_test_vectors_are_data(tmp_path: Path) -> None:
    tensor = fld(1, 3) + fld(2, 1) + fld(8, b"x") + fld(9, bytes(12))  # dims, dtype, name, raw
    path = tmp_path / "input_0.pb"
    path.write_bytes(tensor)
    result = scan_paths([path]).results[0]
    assert result.format is ArtifactFormat.ML_DATA
    assert result.findings == ()
