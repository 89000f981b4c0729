"""Every command that reads a saved scan report uses one loader (mlchain issue #16, item 2).

``sbom --scan-report`` and ``policy check --scan`` read the same file the same way: the same
size limit, schema validation, error text and exit code (2 when the file is not a scan report,
3 when it cannot be read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import FIXTURES, run_cli
from mlchain.report import load_report, report_to_dict, result_from_dict, result_to_dict
from mlchain.scan import ScanOptions, scan_paths
from policy_inputs import POLICIES

MODEL = FIXTURES / "hfmodel" / "benign" / "tiny-llama"
POLICY = POLICIES / "no-finding-above-low.yaml"

MALFORMED = {
    "not-json": "{not json",
    "not-an-object": "[1, 2]",
    "not-ours": '{"results": []}',
    "wrong-shape": '{"schema_version": "1.0", "tool": {"name": "other"}}',
}


def _sbom(path: Path) -> Any:
    return run_cli("sbom", str(MODEL), "--scan-report", str(path))


def _policy(path: Path) -> Any:
    return run_cli("policy", "check", "--policy", str(POLICY), "--scan", str(path))


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_scan_report_gets_the_same_exit_code_from_sbom_and_policy(
    tmp_path: Path, content: str
) -> None:
    bad = tmp_path / "scan.json"
    bad.write_text(content)
    sbom, policy = _sbom(bad), _policy(bad)
    assert sbom.exit_code == policy.exit_code == 2
    assert "Traceback" not in sbom.output + policy.output
    first = [line for line in sbom.stderr.splitlines() if "scan report" in line]
    assert first and first == [line for line in policy.stderr.splitlines() if "scan report" in line]


def test_a_missing_scan_report_gets_exit_3_from_both(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    assert _sbom(missing).exit_code == _policy(missing).exit_code == 3


def test_a_real_scan_report_is_accepted_by_both(tmp_path: Path) -> None:
    good = tmp_path / "scan.json"
    good.write_text(json.dumps(report_to_dict(scan_paths([MODEL], ScanOptions(jobs=1)))))
    assert load_report(good)["summary"]["files"] >= 1
    assert _sbom(good).exit_code == 0
    checked = _policy(good)  # the policy decides (it also wants a verification result)
    assert checked.exit_code in (0, 1)
    assert "scan report" not in checked.stderr


def test_results_round_trip_through_the_one_home() -> None:
    report = scan_paths([FIXTURES / "pickle" / "malicious"], ScanOptions(jobs=1))
    assert report.findings
    for result in report.results:
        assert result_from_dict(json.loads(json.dumps(result_to_dict(result)))) == result


def test_the_report_names_the_allowlist_it_was_judged_with() -> None:
    from mlchain.scan.pickle.allowlist import ALLOWLIST_VERSION

    report = scan_paths([MODEL], ScanOptions(jobs=1))
    assert report.allowlist_version == ALLOWLIST_VERSION
    assert report_to_dict(report)["tool"]["pickleallowlist_version"] == ALLOWLIST_VERSION
