"""JUnit and GitHub formats, several reports from one run, SARIF invocations (issue #18 item 3)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import pytest

from helpers import FIXTURES, run_cli, validate_report, validate_sarif
from mlchain.models import (
    ArtifactFormat,
    Confidence,
    Finding,
    Location,
    ScanReport,
    ScanResult,
    Severity,
)
from mlchain.output import OutputFormat
from mlchain.output.github import escape_data, escape_property, job_summary

MALICIOUS = FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl"


def _finding(path: str, rule: str, severity: Severity, message: str = "m") -> Finding:
    return Finding(rule, severity, Confidence.HIGH, message, Location(PurePosixPath(path)))


def _report() -> ScanReport:
    return ScanReport(
        results=(
            ScanResult(
                Location(PurePosixPath("bad.pkl")),
                ArtifactFormat.PICKLE,
                (
                    _finding("bad.pkl", "pickle-dangerous-call", Severity.CRITICAL),
                    _finding("bad.pkl", "pickle-class-reconstruction", Severity.LOW),
                ),
            ),
            ScanResult(Location(PurePosixPath("ok.safetensors")), ArtifactFormat.SAFETENSORS),
            ScanResult(Location(PurePosixPath("x.bin")), ArtifactFormat.DATA, skipped="unknown"),
        ),
        roots=("models",),
        tool_version="0.1.0",
    )


def test_junit_one_case_per_file_and_failures_at_the_gate() -> None:
    root = ET.fromstring(OutputFormat.JUNIT.formatter(fail_on=Severity.MEDIUM).render(_report()))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"bad.pkl", "ok.safetensors", "x.bin"}
    failures = cases["bad.pkl"].findall("failure")
    assert [f.get("type") for f in failures] == ["critical"]  # the low finding is below the gate
    assert "pickle-class-reconstruction" in (cases["bad.pkl"].findtext("system-out") or "")
    assert cases["ok.safetensors"].find("failure") is None
    assert cases["x.bin"].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")


def test_junit_with_fail_on_never_has_no_failure() -> None:
    text = OutputFormat.JUNIT.formatter(fail_on=None).render(_report())
    assert ET.fromstring(text).find(".//failure") is None


def test_junit_neutralises_characters_xml_forbids() -> None:
    report = ScanReport(
        results=(ScanResult(Location(PurePosixPath("a\x01b.pkl")), ArtifactFormat.PICKLE),),
        roots=(".",),
        tool_version="0.1.0",
    )
    case = ET.fromstring(OutputFormat.JUNIT.formatter().render(report)).find(".//testcase")
    assert case is not None
    assert case.get("name") == "a\ufffdb.pkl"


def test_github_annotations_level_per_severity() -> None:
    lines = OutputFormat.GITHUB.formatter().render(_report()).splitlines()
    assert lines[0].startswith("::error file=bad.pkl,title=pickle-dangerous-call (critical)::")
    assert lines[1].startswith("::notice file=bad.pkl,title=pickle-class-reconstruction (low)::")
    assert lines[2].startswith("::notice file=x.bin,title=not scanned::")


def test_github_annotation_cannot_be_injected_by_a_file_name() -> None:
    """A name with a newline and `::` must not start a workflow command of its own."""
    evil = "a,b:c%\n::add-mask::x"
    report = ScanReport(
        results=(
            ScanResult(
                Location(PurePosixPath(evil)),
                ArtifactFormat.PICKLE,
                (_finding(evil, "pickle-dangerous-call", Severity.HIGH, "msg\r\n::stop::"),),
            ),
        ),
        roots=(".",),
        tool_version="0.1.0",
    )
    text = OutputFormat.GITHUB.formatter().render(report)
    assert text.count("\n") == 1  # exactly one line: one annotation
    assert escape_property(evil) in text
    assert escape_data("msg\r\n::stop::") in text


def test_job_summary_counts_and_escapes_table_cells() -> None:
    summary = job_summary(_report(), fail_on=Severity.MEDIUM)
    assert "**failed**" in summary
    assert "1 critical" in summary
    assert "| critical | `pickle-dangerous-call` | bad.pkl | m |" in summary
    passing = job_summary(_report(), fail_on=None)
    assert "**passed**" in passing


def test_sarif_invocation_carries_the_gate_verdict() -> None:
    for fail_on, code in [(Severity.MEDIUM, 1), (None, 0)]:
        log = json.loads(OutputFormat.SARIF.formatter(fail_on=fail_on).render(_report()))
        validate_sarif(log)
        run = log["runs"][0]
        assert run["invocations"][0]["exitCode"] == code
        assert run["automationDetails"]["id"] == "mlchain/scan/"


def test_several_reports_from_one_run(tmp_path: Path) -> None:
    sarif, junit, report = tmp_path / "r.sarif", tmp_path / "r.xml", tmp_path / "r.json"
    result = run_cli(
        "scan",
        "-f",
        "TABLE",  # format names are case-insensitive
        "--sarif-output",
        str(sarif),
        "--junit-output",
        str(junit),
        "--json-output",
        str(report),
        str(MALICIOUS),
    )
    assert result.exit_code == 1
    assert "cprofile_run.pkl" in result.stdout  # the table still goes to stdout
    validate_sarif(json.loads(sarif.read_text()))
    validate_report(json.loads(report.read_text()))
    assert ET.fromstring(junit.read_text()).find(".//failure") is not None


def test_github_step_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = run_cli(
        "scan", "-f", "github", str(MALICIOUS), env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("::error file=")
    text = summary.read_text()
    assert text.startswith("earlier step\n## mlchain scan")


@pytest.mark.parametrize("spelling", ["SARIF", "Sarif", "sarif"])
def test_format_names_are_case_insensitive(spelling: str) -> None:
    result = run_cli("scan", "-f", spelling, "--fail-on", "never", str(MALICIOUS))
    assert result.exit_code == 0
    validate_sarif(json.loads(result.stdout))


def test_sarif_uris_are_relative_to_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub resolves %SRCROOT% against the repository: `path: models/` must say models/x."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "models").mkdir()
    (repo / "models" / "evil.pkl").write_bytes(MALICIOUS.read_bytes())
    monkeypatch.chdir(repo / "models")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    result = run_cli("scan", "-f", "sarif", ".")
    log = json.loads(result.stdout)
    validate_sarif(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "models/evil.pkl", "uriBaseId": "%SRCROOT%"}
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == f"file://{repo}/"
    # GITHUB_WORKSPACE wins over the .git lookup; files outside it get absolute URIs
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo / "models" / "sub"))
    outside = json.loads(run_cli("scan", "-f", "sarif", ".").stdout)
    uri = outside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": f"file://{repo}/models/evil.pkl"}
