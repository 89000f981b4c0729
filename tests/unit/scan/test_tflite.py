"""TFLite flatbuffers: custom and Flex operators (mlchain issue #14, item 8).

Real models from ``fixtures/gen_tflite.py`` (TensorFlow 2.21 converter).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Severity
from mlchain.scan import scan_paths
from mlchain.scan.tflite import CUSTOM, Malformed, operator_codes

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "tflite"


def found(path: Path) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([path]).findings}


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "benign").iterdir()))
def test_real_tflite_models_pass_the_gate(name: str) -> None:
    report = scan_paths([FIXTURES / "benign" / name])
    assert report.results[0].format is ArtifactFormat.TFLITE
    assert not [f for f in report.findings if f.severity >= Severity.MEDIUM]


def test_operator_codes_of_a_builtin_model() -> None:
    codes = operator_codes((FIXTURES / "benign" / "dense.tflite").read_bytes())
    assert codes
    assert all(code != CUSTOM for code, _ in codes)


def test_flex_compute_op_is_low() -> None:
    assert found(FIXTURES / "benign" / "flex_string_length.tflite") == {
        ("tflite-flex-op", Severity.LOW)
    }


def test_flex_read_file_is_reported() -> None:
    # Flex runs TensorFlow kernels, including file readers (mlchain issue #14, item 8).
    assert ("tf-io-op", Severity.HIGH) in found(FIXTURES / "malicious" / "flex_read_file.tflite")


def test_custom_operator_is_reported() -> None:
    assert ("tflite-custom-op", Severity.HIGH) in found(FIXTURES / "malicious" / "custom_op.tflite")


def test_truncated_tflite_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes((FIXTURES / "benign" / "dense.tflite").read_bytes()[:40])
    assert found(path) == {("model-unsupported", Severity.MEDIUM)}


def test_tflite_name_without_flatbuffer_is_model_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(bytes(range(200)))
    assert found(path) == {("model-unsupported", Severity.MEDIUM)}


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300))
def test_random_flatbuffers_never_raise(tail: bytes) -> None:
    try:
        operator_codes(b"\x10\x00\x00\x00TFL3" + tail)
    except Malformed:
        pass
