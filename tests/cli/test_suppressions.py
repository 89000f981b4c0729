"""Excludes, suppressions and baselines (issue #18 item 2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES, run_cli, validate_report, validate_sarif

EVIL = FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl"  # critical
BENIGN_SAFETENSORS = next((FIXTURES / "safetensors" / "benign").glob("*.safetensors"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the current folder) holding models/evil.pkl and models/ok.safetensors."""
    (tmp_path / "models").mkdir()
    shutil.copy(EVIL, tmp_path / "models" / "evil.pkl")
    shutil.copy(BENIGN_SAFETENSORS, tmp_path / "models" / "ok.safetensors")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scan(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_cli("scan", "-f", "json", *args)
    document = json.loads(result.stdout) if result.stdout else {}
    if document:
        validate_report(document)
    return result.exit_code, document


def test_exclude_flag_leaves_files_out_and_lists_them(project: Path) -> None:
    code, report = _scan("--exclude", "*.pkl", "models")
    assert code == 0
    assert [r["location"]["file"] for r in report["results"]] == ["models/ok.safetensors"]
    assert "models/evil.pkl" in report["metadata"]["excluded"]


def test_mlchainignore_in_the_current_folder_is_honoured(project: Path) -> None:
    (project / ".mlchainignore").write_text("# fixtures\nmodels/evil.pkl\n")
    code, report = _scan("models")
    assert code == 0
    assert "models/evil.pkl" in report["metadata"]["excluded"]


def test_mlchainignore_inside_the_scanned_model_is_not_read(project: Path) -> None:
    """The model's author must not ship the file that hides the model's payload."""
    (project / "models" / ".mlchainignore").write_text("evil.pkl\n*.pkl\n")
    code, report = _scan("models")
    assert code == 1
    assert any(r["findings"] for r in report["results"])


def test_ignore_file_that_is_a_fifo_is_refused(project: Path) -> None:
    import os

    os.mkfifo(project / "fifo")
    result = run_cli("scan", "--ignore-file", str(project / "fifo"), "models")
    assert result.exit_code == 2
    assert "FIFO" in result.stderr


def _config(project: Path, text: str) -> None:
    (project / ".mlchain.yaml").write_text(text)


def test_glob_suppression_silences_a_non_critical_finding(project: Path) -> None:
    (project / "models" / "weird.bin").write_bytes(
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x05mymod\x94\x8c\x03Cls\x94\x93\x94."
    )
    _config(
        project,
        "suppressions:\n"
        "  - rule: pickle-unknown-import\n"
        "    path: 'models/*.bin'\n"
        "    reason: our own class, reviewed in PR 12\n",
    )
    code, report = _scan("--fail-on", "high", "models/weird.bin")
    assert code == 0, report
    assert [s["by"] for s in report["suppressed"]] == [".mlchain.yaml#1"]
    assert report["suppressed"][0]["reason"] == "our own class, reviewed in PR 12"


def test_a_glob_never_hides_a_critical_finding(project: Path) -> None:
    _config(
        project,
        "suppressions:\n"
        "  - rule: pickle-dangerous-call\n"
        "    path: 'models/**'\n"
        "    reason: trying to hide everything\n",
    )
    code, report = _scan("models")
    assert code == 1
    assert "suppressed" not in report


def test_critical_needs_the_exact_file_and_its_digest(project: Path) -> None:
    evil = project / "models" / "evil.pkl"
    _config(
        project,
        "suppressions:\n"
        "  - rule: pickle-dangerous-call\n"
        "    path: models/evil.pkl\n"
        f"    sha256: {_sha256(evil)}\n"
        "    reason: deliberately malicious test fixture\n",
    )
    code, report = _scan("models")
    assert code == 0
    assert report["suppressed"][0]["finding"]["rule_id"] == "pickle-dangerous-call"
    # the file changes: the suppression no longer applies
    evil.write_bytes(evil.read_bytes() + b"\n")
    code, report = _scan("models")
    assert code == 1


def test_expired_suppression_fails_the_run(project: Path) -> None:
    yesterday = dt.date.today() - dt.timedelta(days=1)
    _config(
        project,
        "suppressions:\n"
        "  - rule: pickle-unknown-import\n"
        "    path: 'nothing/**'\n"
        "    reason: old\n"
        f"    expires: {yesterday.isoformat()}\n",
    )
    result = run_cli("scan", "models/ok.safetensors")
    assert result.exit_code == 1
    assert "expired" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("suppressions:\n  - rule: no-such-rule\n    path: x\n    reason: r\n", "unknown rule"),
        ("suppressions:\n  - rule: pickle-nested\n    path: x\n", "`reason` is required"),
        ("suppressions:\n  - {rule: pickle-nested, path: x, reason: r, expires: soon}\n", "YYYY"),
        ("suppressions:\n  - {rule: pickle-nested, path: x, reason: r, sha256: abc}\n", "sha256"),
        ("supressions: []\n", "unknown key"),
    ],
)
def test_malformed_suppression_file_is_a_usage_error(
    project: Path, text: str, message: str
) -> None:
    _config(project, text)
    result = run_cli("scan", "models/ok.safetensors")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_pyproject_tool_table_is_read(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.mlchain]\nsuppressions = [{rule = "pickle-dangerous-call", path = "models/*", '
        'reason = "x"}]\n'
    )
    code, _ = _scan("models")
    assert code == 1  # critical: a glob does not hide it, but the file was read and parsed
    (project / "pyproject.toml").write_text('[tool.mlchain]\nsuppressions = "nope"\n')
    assert _scan("models")[0] == 2


def test_baseline_reports_only_new_findings(project: Path) -> None:
    weird = project / "models" / "weird.bin"
    weird.write_bytes(
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x05mymod\x94\x8c\x03Cls\x94\x93\x94."
    )
    run_cli("scan", "-f", "json", "-o", "baseline.json", "models/weird.bin")
    code, report = _scan("--baseline", "baseline.json", "models/weird.bin")
    assert code == 0
    assert [s["by"] for s in report["suppressed"]] == ["baseline"]
    # a new file with a new finding is reported
    shutil.copy(weird, project / "models" / "weird2.bin")
    code, _ = _scan("--baseline", "baseline.json", "models/weird.bin", "models/weird2.bin")
    assert code == 1


def test_baseline_never_hides_a_critical_finding_without_a_digest(project: Path) -> None:
    run_cli("scan", "-f", "json", "-o", "baseline.json", "models")
    code, _ = _scan("--baseline", "baseline.json", "models")
    assert code == 1


def test_sarif_marks_suppressed_results(project: Path) -> None:
    evil = project / "models" / "evil.pkl"
    _config(
        project,
        "suppressions:\n  - rule: pickle-dangerous-call\n    path: models/evil.pkl\n"
        f"    sha256: {_sha256(evil)}\n    reason: fixture\n",
    )
    result = run_cli("scan", "-f", "sarif", "models")
    log = json.loads(result.stdout)
    validate_sarif(log)
    suppressed = [r for r in log["runs"][0]["results"] if r.get("suppressions")]
    assert suppressed
    assert suppressed[0]["suppressions"][0]["justification"] == ".mlchain.yaml#1: fixture"
