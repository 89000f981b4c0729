"""skops archives: the schema's types judged the way skops' get_untrusted_types does (#14, item 8).

Fixtures and ``expected_untrusted.json`` come from ``fixtures/gen_skops.py``: the expected lists
are skops' own ``get_untrusted_types`` output, so these tests are a differential against skops.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from container_helpers import scan_bytes
from mlchain.models import ArtifactFormat, Severity
from mlchain.scan import scan_paths
from mlchain.scan.skops import untrusted_types

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "skops"
EXPECTED: dict[str, list[str]] = json.loads((FIXTURES / "expected_untrusted.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_untrusted_types_match_skops(name: str) -> None:
    with zipfile.ZipFile(FIXTURES / name) as archive:
        schema = json.loads(archive.read("schema.json"))
    assert untrusted_types(schema) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "benign").iterdir()))
def test_real_skops_dumps_pass_the_gate(name: str) -> None:
    report = scan_paths([FIXTURES / "benign" / name])
    assert report.results[0].format is ArtifactFormat.SKOPS
    assert not [f for f in report.findings if f.severity >= Severity.MEDIUM]


def test_memory_unsafe_tree_predictor_is_medium() -> None:
    found = {(f.rule_id, f.severity) for f in scan_paths([FIXTURES / "review"]).findings}
    assert found == {("skops-untrusted-type", Severity.MEDIUM)}


@pytest.mark.parametrize(
    ("name", "evidence", "severity"),
    [
        ("function_os_system.skops", "posix.system", Severity.CRITICAL),
        ("partial_eval.skops", "builtins.eval", Severity.CRITICAL),
        ("foreign_class.skops", "__main__.Shift", Severity.CRITICAL),
    ],
)
def test_malicious_skops_dumps(name: str, evidence: str, severity: Severity) -> None:
    # FunctionTransformer(func=os.system) and kin: skops' own documented risk.
    found = {(f.evidence, f.severity) for f in scan_paths([FIXTURES / "malicious" / name]).findings}
    assert (evidence, severity) in found


def test_nested_skops_zip_is_still_scanned_as_a_zip() -> None:
    inner = (FIXTURES / "malicious" / "function_os_system.skops").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as outer:
        outer.writestr("model.skops", inner)
        outer.writestr("payload.pkl", b"cos\nsystem\n(S'true'\ntR.")
    findings = scan_bytes(buf.getvalue(), ArtifactFormat.ZIP)
    assert any(f.severity is Severity.CRITICAL for f in findings)
    assert not [f for f in findings if f.rule_id == "not-scanned" and "skops" in f.message]
