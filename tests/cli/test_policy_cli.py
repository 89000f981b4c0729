"""`mlchain policy check|init`: exit codes, output and error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlchain.cli import app
from policy_cases import MALFORMED
from policy_inputs import POLICIES, finding, scan_report, verification

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture
def policy() -> Path:
    return POLICIES / "no-finding-above-low.yaml"


def test_check_allows_exit_0(tmp_path: Path, policy: Path) -> None:
    result = invoke(
        "policy",
        "check",
        "--policy",
        str(policy),
        "--verification",
        str(write(tmp_path, "v.json", verification())),
        "--scan",
        str(write(tmp_path, "s.json", scan_report(finding("low")))),
    )
    assert result.exit_code == 0, result.output
    assert "ALLOWED by policy no-finding-above-low" in result.stdout
    assert re.search(r"\[pass\] +scan ", result.stdout)


def test_check_denies_exit_1_with_messages(tmp_path: Path, policy: Path) -> None:
    result = invoke(
        "policy",
        "check",
        "--policy",
        str(policy),
        "--verification",
        str(write(tmp_path, "v.json", verification())),
        "--scan",
        str(write(tmp_path, "s.json", scan_report(finding("critical")))),
    )
    assert result.exit_code == 1
    assert "DENIED by policy no-finding-above-low" in result.stdout
    assert re.search(r"\[FAIL\] +scan ", result.stdout)
    assert "critical pickle-unsafe-import" in result.stdout
    assert re.search(r"\[FAIL\] +max-severity-low ", result.stdout)


def test_check_json_output_to_file(tmp_path: Path, policy: Path) -> None:
    out = tmp_path / "decision.json"
    result = invoke(
        "policy",
        "check",
        "--policy",
        str(policy),
        "-f",
        "json",
        "-o",
        str(out),
        "--scan",
        str(write(tmp_path, "s.json", scan_report())),
    )
    assert result.exit_code == 1
    data = json.loads(out.read_text())
    assert data["allowed"] is False
    assert {r["name"]: r["passed"] for r in data["results"]} == {
        "signature": False,
        "authorities": False,
        "scan": True,
        "no-unsigned-files": False,  # no verification input given
        "max-severity-low": True,
    }


def test_check_without_inputs_denies(policy: Path) -> None:
    result = invoke("policy", "check", "--policy", str(policy))
    assert result.exit_code == 1
    assert "no verification result was provided" in result.stdout


def test_check_bad_policy_exit_2_with_file_and_line(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "p.yaml",
        (POLICIES / "key-signed.yaml")
        .read_text()
        .replace("failOn: medium", "failOn: medium\n    failon: high"),
    )
    result = invoke("policy", "check", "--policy", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:13: unknown field 'failon'" in result.stderr
    assert "Traceback" not in result.output


def test_check_missing_policy_exit_2(tmp_path: Path) -> None:
    result = invoke("policy", "check", "--policy", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2
    assert "Cannot read policy file" in result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "Cannot read"), ("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object")],
)
def test_check_unreadable_input_exit_3(
    tmp_path: Path, policy: Path, content: str | None, fragment: str
) -> None:
    # A saved scan report has its own loader (mlchain.report.load_report, exit 2 when malformed,
    # see tests/cli/test_report_input.py); the other JSON inputs are read as plain JSON objects.
    path = tmp_path / "provenance.json"
    if content is not None:
        path.write_text(content)
    result = invoke("policy", "check", "--policy", str(policy), "--provenance", str(path))
    assert result.exit_code == 3
    assert fragment in result.stderr


def test_check_bad_policy_wins_over_bad_input(tmp_path: Path) -> None:
    bad = write(tmp_path, "p.yaml", "kind: [")
    result = invoke("policy", "check", "--policy", str(bad), "--scan", str(tmp_path / "none"))
    assert result.exit_code == 2


def test_check_model_description(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "weights.pkl").write_bytes(b"\x80\x04N.")
    policy = write(
        tmp_path,
        "p.yaml",
        (POLICIES / "key-signed.yaml")
        .read_text()
        .replace("  scan:\n    failOn: medium\n", "")
        .replace(
            "  validations:\n",
            "  validations:\n    - name: no-pickles\n"
            "      expression: 'model.files.all(f, !f.format.startsWith(\"pickle\"))'\n"
            "      message: pickle file in the model\n",
        ),
    )
    (tmp_path / "keys").symlink_to(POLICIES / "keys")
    result = invoke("policy", "check", "--policy", str(policy), "--model", str(model), "-f", "json")
    data = json.loads(result.stdout)
    no_pickles = next(r for r in data["results"] if r["name"] == "no-pickles")
    assert no_pickles == {
        "name": "no-pickles",
        "kind": "validation",
        "passed": False,
        "message": "pickle file in the model",
    }
    missing = invoke("policy", "check", "--policy", str(policy), "--model", str(tmp_path / "x"))
    assert missing.exit_code == 3


def test_check_table_output_cleans_hostile_strings(tmp_path: Path, policy: Path) -> None:
    evil = finding("critical", message="\x1b[31mred\x1b[0m\nFAKE PASS line")
    result = invoke(
        "policy",
        "check",
        "--policy",
        str(policy),
        "--scan",
        str(write(tmp_path, "s.json", scan_report(evil))),
    )
    assert "\x1b" not in result.stdout
    assert "\nFAKE PASS" not in result.stdout


def test_init_writes_valid_policy_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "policy.yaml"
    first = invoke("policy", "init", "--output", str(out))
    assert first.exit_code == 0, first.output
    text = out.read_text()
    assert text.startswith("# mlchain model policy")
    check = invoke("policy", "check", "--policy", str(out))
    assert check.exit_code == 1  # valid policy, no inputs -> deny
    out.write_text("mine")
    second = invoke("policy", "init", "--output", str(out))
    assert second.exit_code == 2
    assert "already exists" in second.stderr
    assert "--force" in second.stderr
    assert out.read_text() == "mine"
    third = invoke("policy", "init", "--output", str(out), "--force")
    assert third.exit_code == 0
    assert out.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["policy.yaml"]  # no temp files left


def test_init_to_stdout() -> None:
    result = invoke("policy", "init", "-o", "-")
    assert result.exit_code == 0
    assert "apiVersion: mlchain.dev/v1alpha1" in result.stdout


def test_policy_help_lists_commands() -> None:
    result = invoke("policy", "--help")
    assert result.exit_code == 0
    assert "check" in result.stdout
    assert "init" in result.stdout


def test_help_does_not_import_policy_engine() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom mlchain.cli import app\n"
        "print(sorted(m for m in ('cel', 'jsonschema', 'yaml', 'mlchain.policy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [m[1:] for m in MALFORMED if m[1] is not None],
    ids=[m[0] for m in MALFORMED if m[1] is not None],
)
def test_check_every_malformed_policy_exits_2_with_file_line(
    tmp_path: Path, text: str, line: int, fragments: list[str]
) -> None:
    path = write(tmp_path, "policy.yaml", text)
    result = invoke(
        "policy",
        "check",
        "--policy",
        str(path),
        "--verification",
        str(write(tmp_path, "v.json", verification())),
    )
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}:" in result.stderr
    for fragment in fragments:
        assert fragment in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert result.stdout == ""
