"""The table fits the terminal, sorts worst first and never cuts a path mid-token (#18 item 4)."""

from __future__ import annotations

import dataclasses
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
    text = TableFormatter(width=120).render(_report())
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


# Lines as the clean-scan summary prints them: printable ASCII words (paths, reasons, counts)
# with leading and repeated spaces, sometimes longer than the width, sometimes not ASCII.
_LINE = st.text(alphabet=st.sampled_from([*"abz/._-:()0129 ", "é", "\t", "界"]), max_size=150)


@given(st.lists(st.tuples(_LINE, st.sampled_from(["", "dim", "bold"])), max_size=6), st.data())
def test_plain_summary_is_what_rich_prints(
    lines: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Without findings to show, the table prints without rich; the text must be rich's."""
    width = data.draw(st.integers(min_value=40, max_value=160))
    table = TableFormatter(width=width)
    by_rich = table._rich([], lines)
    if all(table._plain(text) for text, _ in lines):
        assert "".join(f"{text}\n" for text, _ in lines) == by_rich
    else:  # the lines that rich would change are exactly the ones left to rich
        assert any(
            len(text) > width or not (text.isascii() and text.isprintable()) for text, _ in lines
        )


def test_clean_scan_does_not_import_rich(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "a.txt").write_text("hello\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mlchain.output.table import TableFormatter\n"
        "from mlchain.scan import scan_paths\n"
        f"text = TableFormatter(width=120).render(scan_paths([Path({str(tmp_path)!r})]))\n"
        "assert 'file(s) scanned' in text, text\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_clean_scan_in_colour_still_goes_through_rich() -> None:
    empty = ScanResult(Location(PurePosixPath("e.bin"), root="."), ArtifactFormat.EMPTY)
    report = ScanReport(
        results=(dataclasses.replace(empty, skipped="empty file (0 bytes)"),),
        roots=(".",),
        tool_version="0",
    )
    coloured = TableFormatter(color=True, width=120).render(report)
    plain = TableFormatter(width=120).render(report)
    assert "\x1b[1mNot scanned (1):" in coloured  # bold, from rich
    assert "\x1b" not in plain
    assert plain.splitlines()[1:] == ["Not scanned (1):", "  e.bin: empty file (0 bytes)"]
