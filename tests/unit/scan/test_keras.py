"""Keras v3 .keras scanner: Lambda bytecode, foreign modules, safe_mode bypasses, zip sanity."""

from __future__ import annotations

import io
import json
import stat
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import Artifact, Limits, ScanContext, ScanOptions
from mlchain.scan.keras import KerasScanner

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "repo"
KERAS = FIXTURES / "malicious" / "keras"


def _scan(path: Path, limits: Limits | None = None) -> list[Finding]:
    artifact = Artifact(
        path,
        Location(PurePosixPath(path.name)),
        path.parent,
        path.stat().st_size,
        ArtifactFormat.KERAS,
    )
    return list(KerasScanner().scan(artifact, ScanContext(ScanOptions(limits=limits or Limits()))))


def _rules(findings: list[Finding]) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in findings}


def _zip(path: Path, members: dict[str, bytes], infos: list[zipfile.ZipInfo] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in infos or []:
            archive.writestr(info, b"x")
    return path


def _model(tmp_path: Path, config: object, **extra: bytes) -> Path:
    members = {"config.json": json.dumps(config).encode(), "metadata.json": b"{}", **extra}
    return _zip(tmp_path / "m.keras", members)


def _layer(module: str, class_name: str, config: object) -> dict:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def test_benign_keras_model_is_clean() -> None:
    assert _scan(FIXTURES / "benign" / "keras" / "model.keras") == []


def test_pipeline_detects_keras() -> None:
    report = scan_paths([FIXTURES / "benign" / "keras" / "model.keras"])
    assert report.results[0].format is ArtifactFormat.KERAS
    assert report.findings == ()


EXPECTED = {
    "lambda.keras": ("keras-lambda", Severity.CRITICAL),
    "foreign_function.keras": ("keras-foreign-module", Severity.CRITICAL),
    "enable_unsafe.keras": ("keras-unsafe-reference", Severity.CRITICAL),
    "get_file.keras": ("keras-unsafe-reference", Severity.CRITICAL),
    "tfsm_layer.keras": ("keras-unsafe-reference", Severity.CRITICAL),
    "lookup_vocabulary.keras": ("keras-unsafe-reference", Severity.HIGH),
    "zip_slip.keras": ("archive-suspicious-member", Severity.HIGH),
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_malicious_fixture_is_flagged(name: str, expected: tuple[str, Severity]) -> None:
    assert expected in _rules(_scan(KERAS / name))


def test_every_malicious_fixture_has_an_expectation() -> None:
    assert {p.name for p in KERAS.glob("*.keras")} == set(EXPECTED)


def test_lambda_evidence_names_bytecode_contents() -> None:
    (f,) = [f for f in _scan(KERAS / "lambda.keras") if f.rule_id == "keras-lambda"]
    assert "marshalled bytecode" in (f.evidence or "")
    assert "system" in (f.evidence or "")


def test_enable_unsafe_then_lambda_reports_both() -> None:
    rules = {f.rule_id for f in _scan(KERAS / "enable_unsafe.keras")}
    assert {"keras-lambda", "keras-unsafe-reference"} <= rules


def test_bare_lambda_function_outside_lambda_layer(tmp_path: Path) -> None:
    fn = {"class_name": "__lambda__", "config": {"code": "AAAA", "defaults": None}}
    config = _layer("keras.layers", "Dense", {"activation": fn})
    assert ("keras-lambda", Severity.CRITICAL) in _rules(_scan(_model(tmp_path, config)))


def test_custom_class_outside_keras_is_high(tmp_path: Path) -> None:
    config = _layer("my_project.layers", "Fancy", {"name": "fancy"})
    assert _rules(_scan(_model(tmp_path, config))) == {("keras-foreign-module", Severity.HIGH)}


@pytest.mark.parametrize("module", ["builtins", "subprocess", "os.path", "importlib"])
def test_dangerous_modules_are_critical(tmp_path: Path, module: str) -> None:
    config = _layer(module, "Whatever", {})
    assert ("keras-foreign-module", Severity.CRITICAL) in _rules(_scan(_model(tmp_path, config)))


@pytest.mark.parametrize("module", ["keras", "keras.layers", "keras_hub.models", "tf_keras.layers"])
def test_keras_namespaces_pass(tmp_path: Path, module: str) -> None:
    assert _scan(_model(tmp_path, _layer(module, "Dense", {"units": 1}))) == []


def test_lookup_with_inline_vocabulary_is_clean(tmp_path: Path) -> None:
    config = _layer("keras.layers", "StringLookup", {"vocabulary": ["a", "b"]})
    assert _scan(_model(tmp_path, config)) == []


def test_missing_config_is_a_parse_error(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.keras", {"metadata.json": b"{}"})
    assert [f.rule_id for f in _scan(path)] == ["parse-error"]


def test_damaged_zip_is_a_parse_error(tmp_path: Path) -> None:
    good = (FIXTURES / "benign" / "keras" / "model.keras").read_bytes()
    path = tmp_path / "m.keras"
    path.write_bytes(good[: len(good) // 2])
    assert [f.rule_id for f in _scan(path)] == ["parse-error"]


def test_strict_json_in_config(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.keras", {"config.json": b'{"a": 1,}'})
    assert [f.rule_id for f in _scan(path)] == ["parse-error"]
    path = _zip(tmp_path / "n.keras", {"config.json": b'{"a": NaN}'})
    assert [(f.rule_id, f.severity) for f in _scan(path)] == [("parse-error", Severity.LOW)]


def test_oversized_config_is_a_limit(tmp_path: Path) -> None:
    path = _model(tmp_path, {"pad": "x" * 4000})
    findings = _scan(path, Limits(max_header_bytes=1000))
    assert [f.rule_id for f in findings] == ["scan-limit-exceeded"]


def test_member_count_limit(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.keras", {f"f{i}": b"" for i in range(20)})
    findings = _scan(path, Limits(max_members=10))
    assert [f.rule_id for f in findings] == ["scan-limit-exceeded"]


@pytest.mark.parametrize("name", ["/abs/x", "a/../../x", "C:\\x", "dir\\x"])
def test_suspicious_member_names(tmp_path: Path, name: str) -> None:
    path = _model(tmp_path, {}, **{name: b"x"})
    assert ("archive-suspicious-member", Severity.HIGH) in _rules(_scan(path))


def test_symlink_member(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "m.keras"
    _zip(path, {"config.json": b"{}"}, [info])
    assert ("archive-suspicious-member", Severity.HIGH) in _rules(_scan(path))


def test_duplicate_member(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr("config.json", b"{}")
        archive.writestr("config.json", b"{}")
    assert "archive-suspicious-member" in {f.rule_id for f in _scan(path)}


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    doc: object = {}
    for _ in range(400):
        doc = {"config": doc}
    findings = _scan(_model(tmp_path, doc))
    assert [f.rule_id for f in findings] == ["scan-limit-exceeded"]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["Lambda", "keras", "os", "get_file"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["module", "class_name", "config", "function", "vocabulary", "name"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=7))
def test_random_configs_and_corrupted_zips_never_raise(doc: object, where: int, bit: int) -> None:
    import tempfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(doc))
        archive.writestr("metadata.json", "{}")
    data = bytearray(buffer.getvalue())
    if where % 2:
        data[where % len(data)] ^= 1 << bit
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        path.write_bytes(bytes(data))
        findings = _scan(path)
    assert all(isinstance(f, Finding) for f in findings)


def test_torch_module_wrapper_is_critical(tmp_path: Path) -> None:
    config = _layer("keras.layers", "TorchModuleWrapper", {"module": "gASV..."})
    assert ("keras-unsafe-reference", Severity.CRITICAL) in _rules(_scan(_model(tmp_path, config)))


def test_config_key_named_module_is_not_an_import(tmp_path: Path) -> None:
    config = _layer("keras.layers", "Dense", {"module": "not-an-import", "units": 1})
    assert _scan(_model(tmp_path, config)) == []
