"""``--explain``: fickling decompilations beside our verdict; fickling failures are shown."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.gen_pickle import MALICIOUS
from typer.testing import CliRunner

from mlchain.cli import app
from mlchain.scan.pickle.explain import explain_file, render_explanations


def test_every_pickle_of_a_stream_is_decompiled(tmp_path: Path) -> None:
    path = tmp_path / "two.pkl"
    path.write_bytes(MALICIOUS["second_pickle_after_stop.pkl"])
    explained = explain_file(path, "two.pkl")
    assert [p.offset for p in explained.pickles] == [0, 32]
    assert any("system('touch" in line for line in explained.pickles[1].source)


def test_fickling_failure_is_shown_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "broken.pkl"
    path.write_bytes(MALICIOUS["nullifai_broken_after_payload.pkl"])
    text = render_explanations([explain_file(path, "broken.pkl")])
    assert "fickling could not decompile" in text


def test_cli_explain_keeps_json_stdout_parseable(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(MALICIOUS["os_system_reduce.pkl"])
    runner = CliRunner()
    result = runner.invoke(app, ["scan", "--explain", "--format", "json", str(path)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert "pickle-dangerous-call" in json.dumps(report)
    assert "from os import system" in result.stderr


def test_cli_explain_after_table(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(MALICIOUS["os_system_reduce.pkl"])
    result = CliRunner().invoke(app, ["scan", "--explain", str(path)])
    assert result.exit_code == 1
    assert result.stdout.index("pickle-dangerous-call") < result.stdout.index("from os import")
