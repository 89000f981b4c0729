"""Every output format renders, validates against its schema, and neutralises hostile strings."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from helpers import run_cli, validate_report, validate_sarif
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
from mlchain.output.sarif import LEVELS, fingerprint
from mlchain.rules import RULES

HOSTILE = "evil\x1b[31m\nname[bold]"


def _report() -> ScanReport:
    loc = Location(PurePosixPath("sub/model.pt"), "archive/data.pkl", 42)
    findings = tuple(
        Finding(rule, sev, Confidence.HIGH, f"message {rule}", loc, evidence="os.system('x')")
        for rule, sev in [
            ("pickle-dangerous-call", Severity.CRITICAL),
            ("parse-error", Severity.HIGH),
        ]
    )
    return ScanReport(
        results=(
            ScanResult(
                Location(PurePosixPath("sub/model.pt")), ArtifactFormat.PYTORCH_ZIP, findings
            ),
            ScanResult(
                Location(PurePosixPath("x.bin")), ArtifactFormat.DATA, skipped="unrecognised"
            ),
        ),
        roots=("models",),
        tool_version="0.1.0",
        allowlist_additions=("foo.Bar",),
    )


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders(fmt: OutputFormat) -> None:
    text = fmt.formatter().render(_report())
    assert "pickle-dangerous-call" in text


def test_json_validates_against_shipped_schema() -> None:
    document = json.loads(OutputFormat.JSON.formatter().render(_report()))
    validate_report(document)
    assert document["schema_version"] == "1.0"
    assert document["summary"]["findings"]["critical"] == 1
    assert document["summary"]["max_severity"] == "critical"
    assert document["allowlist_additions"] == ["foo.Bar"]


def test_sarif_validates_against_official_schema() -> None:
    document = json.loads(OutputFormat.SARIF.formatter().render(_report()))
    validate_sarif(document)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(RULES)
    first = run["results"][0]
    assert first["level"] == "error"
    assert rule_ids[first["ruleIndex"]] == first["ruleId"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "sub/model.pt"
    assert location["region"]["byteOffset"] == 42
    assert first["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")
    for descriptor in run["tool"]["driver"]["rules"]:
        assert descriptor["help"]["text"]
        assert float(descriptor["properties"]["security-severity"]) >= 0
        assert descriptor["properties"]["tags"]
    assert run["properties"]["not_scanned"] == [{"uri": "x.bin", "reason": "unrecognised"}]


def test_sarif_levels_follow_severity() -> None:
    assert [LEVELS[s] for s in Severity] == ["note", "note", "warning", "error", "error"]


def test_fingerprint_depends_on_rule_path_and_evidence() -> None:
    loc = Location(PurePosixPath("a.pkl"))
    base = Finding("parse-error", Severity.HIGH, Confidence.HIGH, "m", loc, "e")
    same_other_offset = Finding("parse-error", Severity.HIGH, Confidence.HIGH, "m", loc.at(9), "e")
    other_evidence = Finding("parse-error", Severity.HIGH, Confidence.HIGH, "m", loc, "f")
    assert fingerprint(base) == fingerprint(same_other_offset)
    assert fingerprint(base) != fingerprint(other_evidence)


@pytest.mark.parametrize("fmt", ["json", "sarif", "table", "junit", "github"])
def test_hostile_file_names_are_neutralised(tmp_path: Path, fmt: str) -> None:
    try:
        (tmp_path / f"{HOSTILE}.safetensors").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 16)
    except OSError:  # pragma: no cover - file systems that refuse such names
        pytest.skip("file system refuses control characters in names")
    result = run_cli("scan", "-f", fmt, "--fail-on", "never", str(tmp_path))
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    if fmt == "json":
        validate_report(json.loads(result.stdout))
    elif fmt == "sarif":
        validate_sarif(json.loads(result.stdout))


def test_output_is_deterministic(tmp_path: Path) -> None:
    for name in ["b.safetensors", "a.safetensors", "c/d.gguf"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 16)
    first = run_cli("scan", "-f", "json", "--fail-on", "never", str(tmp_path)).stdout
    second = run_cli("scan", "-f", "json", "--fail-on", "never", "-j", "1", str(tmp_path)).stdout
    assert first == second
    paths = [r["location"]["path"] for r in json.loads(first)["results"]]
    assert paths == sorted(paths)


def test_output_file_written_atomically(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x\n")
    target = tmp_path / "out" / "report.sarif"
    target.parent.mkdir()
    result = run_cli("scan", "-f", "sarif", "-o", str(target), str(tmp_path / "README.md"))
    assert result.exit_code == 0
    assert result.stdout == ""
    validate_sarif(json.loads(target.read_text()))
    assert [p.name for p in target.parent.iterdir()] == ["report.sarif"]


def test_summary_goes_to_stderr_and_quiet_silences_it(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x\n")
    loud = run_cli("scan", "-f", "json", str(tmp_path))
    assert "scanned 1 file(s)" in loud.stderr
    json.loads(loud.stdout)
    quiet = run_cli("-q", "scan", "-f", "json", str(tmp_path))
    assert quiet.stderr == ""
