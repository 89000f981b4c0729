"""``scan -f jsonl`` and ``--from-file``: streamed, line for line the JSON report; same gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlchain.scan
from helpers import FIXTURES, REPO, run_cli, validate_report
from mlchain.output import OutputFormat
from mlchain.output.json import report_to_dict, result_to_dict
from mlchain.scan import scan_paths
from mlchain.scan.base import Limits, ScanOptions
from mlchain.scan.stream import iter_scan, read_refs

EVIL = FIXTURES / "pickle" / "malicious" / "os_system_reduce.pkl"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _as_report(lines: list[dict]) -> dict:
    """Rebuild the JSON report's shape from a stream (results + suppressed + summary)."""
    *body, summary = lines
    assert summary["type"] == "summary"
    document = {k: v for k, v in summary.items() if k != "type"}
    document["results"] = [
        {k: v for k, v in r.items() if k != "type"} for r in body if r["type"] == "result"
    ]
    suppressed = [
        {k: v for k, v in r.items() if k != "type"} for r in body if r["type"] == "suppressed"
    ]
    if suppressed:
        document["suppressed"] = suppressed
    return document


def test_jsonl_stream_is_the_json_report_line_for_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    streamed = run_cli("scan", "-f", "jsonl", "-j", "1", "fixtures")
    whole = run_cli("scan", "-f", "json", "-j", "1", "fixtures")
    assert streamed.exit_code == whole.exit_code == 1
    document = _as_report(_lines(streamed.stdout))
    assert document == json.loads(whole.stdout)
    validate_report(document)


def test_jsonl_formatter_renders_a_whole_report_like_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    report = scan_paths([Path("fixtures/pickle")], ScanOptions(jobs=1))
    rendered = OutputFormat.JSONL.formatter().render(report)
    assert _as_report(_lines(rendered)) == report_to_dict(report)


def test_results_come_a_chunk_at_a_time_in_report_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("b", "a"):  # given b first: the report still lists a/ first
        (tmp_path / name).mkdir()
        for i in range(4):
            (tmp_path / name / f"m{i}.pkl").write_bytes(EVIL.read_bytes())
    options = ScanOptions(jobs=1, limits=Limits(max_files=6))
    roots = [Path("b"), Path("a")]
    calls: list[int] = []
    real = mlchain.scan._run_cached

    def counting(entries, options, progress):  # type: ignore[no-untyped-def]
        calls.append(len(entries))
        return real(entries, options, progress)

    monkeypatch.setattr(mlchain.scan, "_run_cached", counting)
    state, results = iter_scan(roots, options, chunk=2)
    first = next(results)
    assert calls == [2], "only the first chunk is scanned before the first result is yielded"
    streamed = [first, *results]
    assert calls == [2, 2, 2]
    expected = scan_paths(roots, options)
    assert [result_to_dict(r) for r in streamed] == [result_to_dict(r) for r in expected.results]
    assert state.total == len(expected.results) == 7  # 6 files plus the file-limit line


def test_jsonl_applies_the_baseline_as_the_json_report_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    base = tmp_path / "base.json"
    saved = run_cli("scan", "-f", "json", "-j", "1", "-o", str(base), "fixtures/pickle")
    assert saved.exit_code == 1
    args = ("--baseline", str(base), "-j", "1", "fixtures/pickle")
    streamed = run_cli("scan", "-f", "jsonl", *args)
    whole = run_cli("scan", "-f", "json", *args)
    assert streamed.exit_code == whole.exit_code
    document = _as_report(_lines(streamed.stdout))
    assert document["suppressed"], "the baseline must take findings out for this to test anything"
    expected = json.loads(whole.stdout)
    key = lambda s: json.dumps(s, sort_keys=True)  # noqa: E731
    assert sorted(document.pop("suppressed"), key=key) == sorted(
        expected.pop("suppressed"), key=key
    )
    assert document == expected


def test_jsonl_gate_follows_fail_on() -> None:
    assert run_cli("scan", "-f", "jsonl", "--fail-on", "never", str(EVIL)).exit_code == 0
    assert run_cli("scan", "-f", "jsonl", str(EVIL)).exit_code == 1


def test_jsonl_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "scan.jsonl"
    result = run_cli("scan", "-f", "jsonl", "-o", str(out), str(EVIL))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = _lines(out.read_text())
    assert [line["type"] for line in lines] == ["result", "summary"]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_jsonl_refuses_reports_that_need_the_whole_scan(tmp_path: Path) -> None:
    result = run_cli("scan", "-f", "jsonl", "--sarif-output", str(tmp_path / "s"), str(EVIL))
    assert result.exit_code == 2
    assert "-f jsonl" in result.stderr


def test_read_refs_comments_blanks_and_relative_paths(tmp_path: Path) -> None:
    listing = tmp_path / "lists" / "refs.txt"
    text = "# registry\n\n  models/a  \n/abs/b\nhf://org/name@main\n   # indented comment\n"
    assert read_refs(listing, text) == [
        str(tmp_path / "lists" / "models" / "a"),
        "/abs/b",
        "hf://org/name@main",
    ]


def test_from_file_scans_the_listed_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "registry"
    for name in ("one", "two"):
        (models / name).mkdir(parents=True)
        (models / name / "model.pkl").write_bytes(EVIL.read_bytes())
    (models / "refs.txt").write_text("# nightly\none\n\ntwo/model.pkl\n")
    monkeypatch.chdir(tmp_path)
    listed = run_cli("scan", "-f", "json", "--from-file", str(models / "refs.txt"))
    direct = run_cli("scan", "-f", "json", "registry/one", "registry/two/model.pkl")
    assert listed.exit_code == direct.exit_code == 1
    assert json.loads(listed.stdout)["results"] == json.loads(direct.stdout)["results"]
    streamed = run_cli("scan", "-f", "jsonl", "--from-file", str(models / "refs.txt"))
    assert len([1 for line in _lines(streamed.stdout) if line["type"] == "result"]) == 2


def test_from_file_on_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mlchain.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(EVIL.read_bytes())
    result = CliRunner().invoke(
        app, ["scan", "-f", "jsonl", "--from-file", "-"], input="evil.pkl\n"
    )
    assert result.exit_code == 1
    assert _lines(result.stdout)[0]["location"]["path"] == "evil.pkl"


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ("missing/model.pkl\n", "No such file"),
        # an oci:// reference is scanned alone (mlchain scan oci://...), never in a list
        ("oci://127.0.0.1:9/models/m:1\nmissing/model.pkl\n", "oci://"),
        ("# only a comment\n", "Nothing to scan"),
    ],
)
def test_from_file_errors_are_usage_errors(tmp_path: Path, listing: str, message: str) -> None:
    refs = tmp_path / "refs.txt"
    refs.write_text(listing)
    for fmt in ("json", "jsonl"):
        result = run_cli("scan", "-f", fmt, "--from-file", str(refs))
        assert result.exit_code == 2, (fmt, result.stderr)
        assert message in result.stderr


def test_unreadable_from_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("scan", "--from-file", str(tmp_path / "nope.txt"))
    assert result.exit_code == 2
    assert "--from-file" in result.stderr


def test_from_file_with_several_hub_references_streams_each(tmp_path: Path) -> None:
    from hfhub.server import FakeHub, FakeRepo

    commit = "0123456789abcdef0123456789abcdef01234567"
    tiny = FakeRepo("acme/tiny", {"config.json": b'{"model_type": "bert"}'})
    evil = FakeRepo("acme/evil", {"model.pkl": EVIL.read_bytes()})
    (tmp_path / "local.pkl").write_bytes(EVIL.read_bytes())
    refs = tmp_path / "refs.txt"
    refs.write_text("hf://acme/tiny\nlocal.pkl\nhf://acme/evil@main\n")
    with FakeHub([tiny, evil]) as hub:
        result = run_cli(
            "scan", "-f", "jsonl", "--from-file", str(refs), env={"HF_ENDPOINT": hub.url}
        )
    assert result.exit_code == 1, result.stderr
    lines = _lines(result.stdout)
    results = [line for line in lines if line["type"] == "result"]
    assert [(r.get("source"), r["location"]["path"]) for r in results] == [
        (None, "local.pkl"),
        (f"hf://acme/tiny@{commit}", "config.json"),
        (f"hf://acme/evil@{commit}", "model.pkl"),
    ]
    assert results[2]["max_severity"] == "critical"
    assert lines[-1]["roots"][1:] == [f"hf://acme/tiny@{commit}", f"hf://acme/evil@{commit}"]
