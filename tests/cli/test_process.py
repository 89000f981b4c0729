"""Whole-process behaviour: the console script, piping JSON, --version, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import FIXTURES, REPO


def _mlchain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchain", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def test_version() -> None:
    from mlchain import __version__

    result = _mlchain("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mlchain {__version__}"


def test_help_lists_exit_codes_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom mlchain.cli import app\n"
        "heavy = {'onnx', 'gguf', 'numpy', 'sigstore', 'model_signing', 'torch', 'cel',"
        " 'fickling', 'ray'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
    result = _mlchain("--help")
    assert result.returncode == 0
    assert "Exit codes" in result.stdout


def test_scan_fixtures_json_pipes_into_json_parser() -> None:
    result = _mlchain("scan", "fixtures", "-f", "json")
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["files"] == len(document["results"]) > 0
    assert "Traceback" not in result.stderr


def test_no_args_prints_usage_with_exit_2() -> None:
    result = _mlchain()
    assert result.returncode == 2


def test_fixtures_folder_exists() -> None:
    assert Path(FIXTURES, "generate.py").is_file()
