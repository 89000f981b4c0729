"""Python files in a model folder: severity by reference and risky constructs, never executed."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from fixtures.canary import CANARY_PATH
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, ScanOptions
from mlchain.scan.python_code import PythonCodeScanner, analyse_source

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "repo"


def _scan(path: Path, root: Path | None = None) -> list[Finding]:
    root = root or path.parent
    artifact = Artifact(
        path,
        Location(PurePosixPath(path.relative_to(root).as_posix())),
        root,
        path.stat().st_size,
        ArtifactFormat.PYTHON,
    )
    return list(PythonCodeScanner().scan(artifact, ScanContext(ScanOptions())))


def test_plain_helper_is_low_and_lists_imports() -> None:
    (f,) = _scan(FIXTURES / "benign" / "plain" / "helper.py")
    assert (f.rule_id, f.severity) == ("python-code", Severity.LOW)
    assert "helper.py" in f.message
    assert "imports: math" in (f.evidence or "")


def test_auto_map_module_with_os_system_is_high() -> None:
    (f,) = _scan(FIXTURES / "malicious" / "auto_map_local" / "modeling_foo.py")
    assert f.severity is Severity.HIGH
    assert "auto_map (AutoModel)" in f.message
    assert "risky imports: os" in (f.evidence or "")
    assert "system" in (f.evidence or "")


def test_auto_map_module_without_risky_code_is_medium() -> None:
    (f,) = _scan(FIXTURES / "malicious" / "auto_map_local" / "configuration_foo.py")
    assert f.severity is Severity.MEDIUM


def test_unreferenced_risky_file_is_medium(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("import subprocess\nfrom socket import socket\neval('1')\n")
    (f,) = _scan(path)
    assert f.severity is Severity.MEDIUM
    assert "socket, subprocess" in (f.evidence or "")
    assert "dynamic calls: eval" in (f.evidence or "")


def test_reference_from_root_config_into_subfolder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "pkg.mod.C"}}))
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "mod.py"
    path.write_text("X = 1\n")
    (f,) = _scan(path, tmp_path)
    assert f.severity is Severity.MEDIUM
    assert "auto_map" in f.message


@pytest.mark.parametrize(
    "source",
    [b"def (:\n", b"x = '\x00'\n\x00", b"(" * 5000 + b")" * 5000, b"\xff\xfe\x00bad", b""],
)
def test_unparsable_sources_do_not_crash(tmp_path: Path, source: bytes) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(source)
    (f,) = _scan(path)
    assert f.rule_id == "python-code"


def test_parse_problem_is_said_and_raises_severity(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"def (:\n")
    (f,) = _scan(path)
    assert "does not parse" in f.message
    assert f.severity is Severity.MEDIUM


def test_analysis_never_executes(tmp_path: Path) -> None:
    source = f"import os\nos.system('touch {CANARY_PATH}')\n".encode()
    imports, calls, problem = analyse_source(source)
    assert imports == ["os"]
    assert calls == ["system"]
    assert problem is None
    assert not Path(CANARY_PATH).exists()


def test_relative_imports_are_not_listed() -> None:
    imports, _, _ = analyse_source(b"from . import x\nfrom .y import z\nimport a.b\n")
    assert imports == ["a.b"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1024))
def test_random_source_never_raises(data: bytes) -> None:
    imports, calls, problem = analyse_source(data)
    assert isinstance(imports, list)
    assert isinstance(calls, list)
    assert problem is None or isinstance(problem, str)


def test_reference_from_tokenizer_config(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoTokenizer": ["tokenization_x.XTok", None]}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(doc))
    path = tmp_path / "tokenization_x.py"
    path.write_text("X = 1\n")
    (f,) = _scan(path)
    assert f.severity is Severity.MEDIUM
    assert "AutoTokenizer" in f.message
