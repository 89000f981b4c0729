"""Hugging Face config.json scanner: auto_map / custom_pipelines references, strict JSON."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import Artifact, Limits, ScanContext, ScanOptions
from mlchain.scan.hf_config import HfConfigScanner
from mlchain.scan.remote_code import code_references
from mlchain.scan.strict_json import JsonProblem, parse_strict

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "repo"


def _scan(path: Path, limits: Limits | None = None) -> list[Finding]:
    artifact = Artifact(
        path,
        Location(PurePosixPath(path.name)),
        path.parent,
        path.stat().st_size,
        ArtifactFormat.HF_CONFIG,
    )
    ctx = ScanContext(ScanOptions(limits=limits or Limits()))
    return list(HfConfigScanner().scan(artifact, ctx))


def _config(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    return path


def test_config_without_auto_map_is_clean() -> None:
    assert _scan(FIXTURES / "benign" / "plain" / "config.json") == []


def test_pipeline_routes_config_json_to_this_scanner() -> None:
    report = scan_paths([FIXTURES / "malicious" / "auto_map_local"])
    formats = {str(r.location.path): r.format for r in report.results}
    assert formats["config.json"] is ArtifactFormat.HF_CONFIG
    assert formats["modeling_foo.py"] is ArtifactFormat.PYTHON


def test_local_auto_map_names_module_class_and_presence() -> None:
    findings = _scan(FIXTURES / "malicious" / "auto_map_local" / "config.json")
    assert {f.rule_id for f in findings} == {"hf-remote-code"}
    assert {f.severity for f in findings} == {Severity.HIGH}
    model = next(f for f in findings if "AutoModel " in f.message)
    assert "modeling_foo.FooModel" in model.message
    assert "modeling_foo.py is in the model folder" in model.message


def test_missing_module_file_is_said(tmp_path: Path) -> None:
    findings = _scan(_config(tmp_path, {"auto_map": {"AutoModel": "modeling_x.XModel"}}))
    assert "NOT in the folder" in findings[0].message


def test_submodule_reference_resolves_to_nested_file(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("")
    findings = _scan(_config(tmp_path, {"auto_map": {"AutoModel": "pkg.mod.Cls"}}))
    assert "pkg/mod.py is in the model folder" in findings[0].message


def test_cross_repository_reference_is_critical() -> None:
    findings = _scan(FIXTURES / "malicious" / "auto_map_remote" / "config.json")
    assert [(f.rule_id, f.severity) for f in findings] == [("hf-remote-code", Severity.CRITICAL)]
    assert "evil-org/payload" in findings[0].message


def test_path_like_module_is_critical() -> None:
    findings = _scan(FIXTURES / "malicious" / "auto_map_bad_module" / "config.json")
    assert [(f.rule_id, f.severity) for f in findings] == [("hf-remote-code", Severity.CRITICAL)]


def test_tokenizer_style_list_values_and_nulls(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoTokenizer": ["tokenization_x.XTok", None]}}
    findings = _scan(_config(tmp_path, doc))
    assert len(findings) == 1
    assert "tokenization_x.XTok" in findings[0].message


def test_custom_pipelines_impl_is_code(tmp_path: Path) -> None:
    doc = {"custom_pipelines": {"text-classification": {"impl": "pipe.MyPipeline", "pt": []}}}
    findings = _scan(_config(tmp_path, doc))
    assert [f.rule_id for f in findings] == ["hf-remote-code"]
    assert "custom_pipelines.text-classification" in findings[0].message


@pytest.mark.parametrize(
    "auto_map", [None, "modeling.X", ["a.B"], {"AutoModel": 5}, {"AutoModel": [1, {}]}]
)
def test_odd_auto_map_shapes_do_not_crash(tmp_path: Path, auto_map: object) -> None:
    findings = _scan(_config(tmp_path, {"auto_map": auto_map}))
    assert all(f.rule_id == "hf-remote-code" for f in findings)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b'{"a": 1,}', "invalid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b"[" * 100_000 + b"]" * 100_000, "deeply"),
    ],
)
def test_non_strict_json_is_a_parse_error(tmp_path: Path, text: bytes, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(text)
    findings = _scan(path)
    assert [f.rule_id for f in findings] == ["parse-error"]
    assert needle in findings[0].message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_literals_are_low_and_scanning_goes_on(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(f'{{"eps": {literal}, "auto_map": {{"AutoModel": "m.C"}}}}')
    findings = _scan(path)
    assert ("parse-error", Severity.LOW) in {(f.rule_id, f.severity) for f in findings}
    assert "hf-remote-code" in {f.rule_id for f in findings}


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"auto_map": {}, "auto_map": {"AutoModel": "m.C"}}')
    findings = _scan(path)
    assert ("parse-error", Severity.MEDIUM) in {(f.rule_id, f.severity) for f in findings}
    assert "hf-remote-code" in {f.rule_id for f in findings}


def test_oversized_config_is_a_limit_finding(tmp_path: Path) -> None:
    path = _config(tmp_path, {"pad": "x" * 5000})
    findings = _scan(path, Limits(max_header_bytes=1000))
    assert [f.rule_id for f in findings] == ["scan-limit-exceeded"]


def test_code_references_parses_repo_module_class() -> None:
    (ref,) = code_references({"auto_map": {"AutoModel": "org/repo--pkg.mod.Cls"}})
    assert (ref.repo, ref.module, ref.cls, ref.valid) == ("org/repo", "pkg.mod", "Cls", True)
    assert ref.module_file == "pkg/mod.py"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_strict_json_random_bytes_raise_only_json_problem(data: bytes) -> None:
    tracemalloc.start()
    try:
        parse_strict(data)
    except JsonProblem:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 1024 * 1024


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["auto_map", "AutoModel", "impl", "x"]), children, max_size=4
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=200), st.booleans())
def test_scanner_never_raises_on_mutated_configs(doc: object, cut: int, wrap: bool) -> None:
    text = json.dumps({"auto_map": doc} if wrap else doc).encode()
    mutated = text[: cut % (len(text) + 1)] if cut % 3 == 0 else text
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_bytes(mutated)
        findings = _scan(path)
    assert all(f.rule_id in {"hf-remote-code", "parse-error"} for f in findings)


def test_unzipped_keras_config_gets_keras_checks(tmp_path: Path) -> None:
    doc = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"layers": [{"module": "builtins", "class_name": "function", "config": "exec"}]},
        "registered_name": None,
    }
    findings = _scan(_config(tmp_path, doc))
    assert ("keras-foreign-module", Severity.CRITICAL) in {
        (f.rule_id, f.severity) for f in findings
    }


def test_plain_keras_shaped_config_is_clean(tmp_path: Path) -> None:
    doc = {"module": "keras", "class_name": "Sequential", "config": {"layers": []}}
    assert _scan(_config(tmp_path, doc)) == []


@pytest.mark.parametrize("name", ["preprocessor_config.json", "processor_config.json"])
def test_processor_configs_are_scanned_too(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(json.dumps({"auto_map": {"AutoProcessor": "proc.P"}}))
    report = scan_paths([tmp_path])
    assert report.results[0].format is ArtifactFormat.HF_CONFIG
    assert [f.rule_id for f in report.findings] == ["hf-remote-code"]


def test_reference_count_is_bounded() -> None:
    refs = code_references({"auto_map": {f"Auto{i}": f"m{i}.C" for i in range(10_000)}})
    assert len(refs) == 200
