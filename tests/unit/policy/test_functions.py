"""mlchain's CEL functions, directly and through CEL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchain.policy.functions import (
    FUNCTIONS,
    findings,
    licenses,
    matches_glob,
    max_severity,
    severity_at_least,
)
from policy_inputs import finding, sbom, scan_report


@pytest.mark.parametrize(
    ("severity", "threshold", "expected"),
    [
        ("critical", "high", True),
        ("high", "high", True),
        ("medium", "high", False),
        (None, "info", False),
        ("LOW", "low", True),
    ],
)
def test_severity_at_least(severity: str | None, threshold: str, expected: bool) -> None:
    assert severity_at_least(severity, threshold) is expected


@pytest.mark.parametrize(("severity", "threshold"), [("bad", "high"), ("high", "bad"), (3, "high")])
def test_severity_at_least_rejects_garbage(severity: object, threshold: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        severity_at_least(severity, threshold)


def test_max_severity_and_findings() -> None:
    report = scan_report(finding("low"), finding("high"), finding("medium"))
    assert max_severity(report) == "high"
    assert [f["severity"] for f in findings(report)] == ["low", "high", "medium"]
    assert max_severity(scan_report()) is None
    with pytest.raises(TypeError):
        max_severity({"results": "x"})


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("model.py", "**/*.py", True),
        ("src/a/model.py", "**/*.py", True),
        ("src/model.py", "*.py", False),
        ("model.py", "*.py", True),
        ("a/b/c.bin", "a/**", True),
        ("a/b", "a/?", True),
        ("a/bc", "a/?", False),
        ("x.pkl", "*.[pP][kK][lL]", True),
        ("x.pkl", "*.[!p]kl", False),
        ("weird[", "weird[", True),
        ("a.b", "a?b", True),
        ("a+b", "a+b", True),
    ],
)
def test_matches_glob(path: str, pattern: str, expected: bool) -> None:
    assert matches_glob(path, pattern) is expected


def test_licenses_collects_all_components_and_flags_missing() -> None:
    bom = sbom("Apache-2.0", None, "MIT")
    bom["components"][0]["components"] = [
        {"type": "library", "name": "n", "licenses": [{"expression": "MIT OR Apache-2.0"}]}
    ]
    assert sorted(licenses(bom)) == sorted(
        ["Apache-2.0", "NOASSERTION", "MIT", "MIT OR Apache-2.0"]
    )
    with pytest.raises(TypeError):
        licenses([])


def test_every_function_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "policy.md").read_text()
    for name in FUNCTIONS:
        assert f"`{name}(" in doc, name


def test_glob_nfa_agrees_with_the_regex_form() -> None:
    """The linear matcher (mlchain issue #15, item 9) against the regex it replaced, on random
    globs and paths over a small alphabet."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mlchain.policy.functions import glob_regex, matches_glob

    pieces = st.sampled_from(["*", "**", "**/", "?", "a", "b", ".", "/", "[ab]", "[!a]"])
    globs = st.lists(pieces, max_size=6).map("".join)
    paths = st.text(alphabet="ab./", max_size=10)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(globs, paths)
    def agree(pattern: str, path: str) -> None:
        assert matches_glob(path, pattern) == (glob_regex(pattern).fullmatch(path) is not None)

    agree()
