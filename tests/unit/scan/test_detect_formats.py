"""Detection hooks for the formats of mlchain issue #14 (items 5, 8 and 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchain.models import ArtifactFormat, Severity
from mlchain.scan import scan_paths
from mlchain.scan.detect import detect


def _scan(tmp_path: Path, name: str, data: bytes) -> set[tuple[str, Severity]]:
    path = tmp_path / name
    path.write_bytes(data)
    return {(f.rule_id, f.severity) for f in scan_paths([path]).findings}


@pytest.mark.parametrize("name", ["model.mlmodel", "model.engine", "m.tflite", "m.h5", "g.pb"])
def test_unreadable_model_claims_fail_closed(tmp_path: Path, name: str) -> None:
    # mlchain issue #14, item 9: a name claiming a model format mlchain cannot read.
    assert ("model-unsupported", Severity.MEDIUM) in _scan(tmp_path, name, bytes(range(256)))


def test_unrecognised_data_without_model_claim_stays_not_scanned(tmp_path: Path) -> None:
    path = tmp_path / "blob.dat"
    path.write_bytes(bytes(range(256)))
    result = scan_paths([path]).results[0]
    assert result.findings == ()
    assert result.skipped


def test_text_with_a_model_extension_is_not_a_model(tmp_path: Path) -> None:
    assert _scan(tmp_path, "notes.pb", b"just some text\n") == set()


def test_json_key_spelling_tfl3_is_not_tflite(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer_config.json"
    path.write_bytes(b'{"aaTFL3": 1}')
    assert detect(path, path.read_bytes(), path.stat().st_size).format is not ArtifactFormat.TFLITE


@pytest.mark.parametrize(
    ("name", "data", "severity"),
    [
        # mlchain issue #14, item 5: no loader could use these bytes.
        ("model.safetensors", b"\x00" * 64, Severity.LOW),
        ("model.gguf", b"\x00" * 64, Severity.LOW),
        ("model.onnx", b"\xff" * 64, Severity.LOW),
        ("weights.pt", b"\x00\x01\x02" * 20, Severity.LOW),
        # ...but a pickle loader runs anything that starts with an opcode.
        ("weights.pt", b"c" + bytes(range(1, 60)), Severity.HIGH),
    ],
)
def test_format_mismatch_grading(
    tmp_path: Path, name: str, data: bytes, severity: Severity
) -> None:
    found = _scan(tmp_path, name, data)
    assert ("format-mismatch", severity) in found


def test_text_format_savedmodel_fails_closed(tmp_path: Path) -> None:
    # tf.saved_model.load reads saved_model.pbtxt when there is no .pb (mlchain issue #14, item 9).
    found = _scan(tmp_path, "saved_model.pbtxt", b"saved_model_schema_version: 1\nmeta_graphs {}\n")
    assert found == {("model-unsupported", Severity.MEDIUM)}
