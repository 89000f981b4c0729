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


def _modules_after(*args: str) -> set[str]:
    """Run ``mlchain ARGS`` in a fresh interpreter; return every module it imported."""
    code = (
        "import sys, json\nfrom mlchain._entry import main\n"
        f"sys.argv = ['mlchain', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    return set(json.loads(result.stderr.rpartition("MODULES ")[2]))


HEAVY = ("rich", "sigstore", "model_signing", "cryptography", "huggingface_hub", "onnx", "jinja2")


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if m.split(".")[0] in {*HEAVY, "cel", "celpy", "pydantic", "requests"}
    )


def test_json_scan_of_one_safetensors_imports_nothing_heavy() -> None:
    """mlchain issue #19, item 6: a one-file scan imports only what scanning needs: no other
    command's module, no rich for JSON output, no signing, policy, hub or template engine."""
    one = FIXTURES / "safetensors" / "benign" / "f32.safetensors"
    modules = _modules_after("scan", "-f", "json", str(one))
    assert "mlchain.scan.safetensors" in modules  # the scan did run
    assert _heavy(modules) == []
    other_commands = {"sign", "verify", "policy", "provenance", "sbom", "attest", "keygen"}
    assert (
        sorted(
            m
            for m in modules
            if m.rpartition(".")[2] in other_commands and m.startswith("mlchain.cli.")
        )
        == []
    )


def test_help_imports_no_command_module() -> None:
    """``--help`` lists every command from the table in ``mlchain.cli`` alone."""
    modules = _modules_after("--help")
    from mlchain.cli import COMMANDS

    loaded = sorted(f"mlchain.cli.{e[0]}" for e in COMMANDS.values())
    assert [m for m in loaded if m in modules] == []
    assert _heavy(modules) == []


def test_command_table_matches_each_command_module() -> None:
    """The lazily listed help line of each command is the start of its module's ``HELP``, and
    each command loads."""
    import importlib

    from mlchain.cli import COMMANDS, load_command

    for name, (module_name, attribute, line) in COMMANDS.items():
        module = importlib.import_module(f"mlchain.cli.{module_name}")
        assert hasattr(module, attribute), name
        assert " ".join(module.HELP.split()).startswith(" ".join(line.split())), name
        command = load_command(name)
        assert command is not None and command.name == name
    assert load_command("no-such-command") is None
