"""The table fits the terminal, sorts worst first and never cuts a path mid-token (#18 item 4)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import FIXTURES, run_cli
from mlchain.models import (
    ArtifactFormat,
    Confidence,
    Finding,
    Location,
    ScanReport,
    ScanResult,
    Severity,
)
from mlchain.output.table import TableFormatter, elide_middle, wrap_path

LONG = "models/some-organisation/a-rather-long-model-name/checkpoints/step-000123/model.safetensors"
DIGEST = "a" * 32 + "b" * 32


def _report() -> ScanReport:
    def f(path: str, severity: Severity, rule: str, evidence: str | None = None) -> Finding:
        loc = Location(PurePosixPath(path), root=".")
        return Finding(rule, severity, Confidence.HIGH, "message text", loc, evidence)

    findings = (
        f("b.pkl", Severity.LOW, "pickle-class-reconstruction"),
        f(LONG, Severity.CRITICAL, "hf-cache-blob-mismatch", f"expected {DIGEST}"),
        f("a.pkl", Severity.HIGH, "pickle-unknown-import"),
    )
    results = tuple(ScanResult(x.location, ArtifactFormat.PICKLE, (x,)) for x in findings)
    return ScanReport(results=results, roots=(".",), tool_version="0")


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_no_line_exceeds_the_width(width: int) -> None:
    text = TableFormatter(width=width).render(_report())
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [80, 200])
def test_rows_are_sorted_worst_first(width: int) -> None:
    text = TableFormatter(width=width).render(_report())
    order = [text.index(label) for label in ("critical", "high", "low")]
    assert order == sorted(order)


def test_path_wrapped_only_at_separators_when_it_fits_a_line() -> None:
    text = TableFormatter(width=200).render(_report())
    assert LONG in text.replace("\n", "").replace(" ", "") or all(
        part in text for part in LONG.split("/")
    )


def test_digest_is_elided_in_the_middle_never_folded() -> None:
    text = TableFormatter(width=80).render(_report())
    assert "…" in text
    # no line holds a fragment of the digest that is not its start or end
    fragments = re.findall(r"[ab]{8,}", text)
    assert all(DIGEST.startswith(x) or DIGEST.endswith(x) for x in fragments)


def test_min_severity_hides_rows_but_says_so() -> None:
    text = TableFormatter(width=120, min_severity=Severity.HIGH).render(_report())
    assert "pickle-class-reconstruction" not in text
    assert "1 finding(s) below high not shown" in text


def test_min_severity_does_not_change_the_gate() -> None:
    evil = FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl"
    result = run_cli("scan", "--min-severity", "critical", "--fail-on", "info", str(evil))
    assert result.exit_code == 1


@given(
    st.lists(st.text(alphabet="abcdef_.-", min_size=1, max_size=40), min_size=1, max_size=8),
    st.integers(min_value=8, max_value=60),
)
def test_wrap_path_only_breaks_after_separators(parts: list[str], width: int) -> None:
    path = "/".join(parts)
    lines = wrap_path(path, width).split("\n")
    assert all(len(line) <= width for line in lines)
    if "…" not in "".join(lines):
        assert "".join(lines) == path
        assert all(line.endswith("/") for line in lines[:-1])


@given(
    st.text(alphabet=st.characters(blacklist_characters="…"), max_size=200),
    st.integers(min_value=1, max_value=80),
)
def test_elide_middle_keeps_both_ends(token: str, width: int) -> None:
    short = elide_middle(token, width)
    assert len(short) <= max(width, 0) or len(token) <= width
    if len(token) > width >= 3:
        head, _, tail = short.partition("…")
        assert token.startswith(head)
        assert token.endswith(tail)


def test_two_roots_never_print_the_same_name_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pkl").write_bytes(
            (FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl").read_bytes()
        )
    monkeypatch.chdir(tmp_path)
    result = run_cli("scan", "-f", "json", "a", "b")
    import json

    files = [r["location"]["file"] for r in json.loads(result.stdout)["results"]]
    assert files == ["a/model.pkl", "b/model.pkl"]
    table = run_cli("scan", "a", "b").stdout
    assert "a/model.pkl" in table
    assert "b/model.pkl" in table
