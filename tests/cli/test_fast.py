"""The typer-free scan path (mlchain.cli.fast) reads a command line exactly as typer does.

Three layers: its tables match typer's scan command; random command lines parse to the same
call either way (or the fast path declines); and whole runs print and exit the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import FIXTURES
from mlchain.cli import fast


def _scan_command() -> Any:
    from mlchain.cli.root import load_command

    return load_command("scan")


def _root_params() -> list[Any]:
    import typer

    from mlchain.cli.root import app

    return list(typer.main.get_group(app).params)


def _envvars(params: list[Any]) -> set[str]:
    found: set[str] = set()
    for param in params:
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str):
            found.add(envvar)
        elif envvar:
            found.update(envvar)
    return found


def test_environment_lists_every_variable_of_scan_and_the_root() -> None:
    assert set(fast.ENVIRONMENT) == _envvars(_scan_command().params) | _envvars(_root_params())


def test_global_flags_are_the_roots() -> None:
    from mlchain.cli.root import GLOBAL_FLAGS

    assert set(fast.GLOBAL_FLAGS) == set(GLOBAL_FLAGS)
    by_opt = {opt: p.name for p in _root_params() for opt in p.opts}
    assert {flag: by_opt[flag] for flag in fast.GLOBAL_FLAGS} == fast.GLOBAL_FLAGS


def test_option_table_matches_typers_command() -> None:
    params = {p.name: p for p in _scan_command().params}
    for flag, (name, kind) in fast.OPTIONS.items():
        param = params[name]
        assert flag in param.opts, flag
        assert set(param.opts) <= set(fast.OPTIONS), f"every spelling of {name} is read"
        type_name = param.type.name
        expected = {
            "flag": lambda p: p.is_flag,
            "path": lambda p: type_name == "path" and not p.multiple,
            "patterns": lambda p: p.multiple and type_name == "str",
            "count": lambda p: type_name == "int range" and (p.type.min, p.type.max) == (0, None),
            "format": lambda p: list(p.type.choices) == [f.value for f in fast_choices("format")],
            "severity": lambda p: (
                list(p.type.choices) == [s.value for s in fast_choices("severity")]
            ),
        }[kind]
        assert expected(param), (flag, kind, type_name)
    assert set(fast.defaults()) == set(params), "defaults() names every parameter of run"


def fast_choices(kind: str) -> list[Any]:
    from mlchain.cli.choices import SeverityChoice
    from mlchain.output import OutputFormat

    return list(OutputFormat) if kind == "format" else list(SeverityChoice)


# --- Random command lines, parsed both ways --------------------------------------------------

_VALUES = ["json", "JSON", "sarif", "table", "high", "never", "0", "3", "07", "-1", "x", "", "a b"]
_TOKENS = st.one_of(
    st.sampled_from(
        [
            "scan",
            "models",
            "a b.pkl",
            "-q",
            "--quiet",
            "-v",
            "--no-progress",
            "--strict",
            "--explain",
            "--",
            "-h",
            "--version",
            "-fjson",
            "--format=json",
            "--format=",
            "-f=json",
            "--nope",
            "--allow-global",
            "--executor",
            "-",
        ]
    ),
    st.sampled_from(sorted(fast.OPTIONS)),
    st.sampled_from(_VALUES),
)
_ENV = st.dictionaries(st.sampled_from(["MLCHAIN_FORMAT", "MLCHAIN_STRICT", "OTHER"]), st.just("1"))


def _typer_reading(args: list[str], env: dict[str, str]) -> tuple[int, Any]:
    """Run typer's parse of ``args``: (exit code, (flags, params) it called the body with)."""
    import mlchain.cli.progress as progress
    import mlchain.cli.scan_run as scan_run
    from mlchain.cli.root import app

    seen: dict[str, Any] = {}

    def body(**params: Any) -> None:
        seen["params"] = params
        raise SystemExit(0)

    def flags(**values: bool) -> None:
        seen["flags"] = values

    real_run, real_flags = scan_run.run, progress.apply_global_flags
    scan_run.run, progress.apply_global_flags = body, flags  # type: ignore[assignment]
    try:
        clean = dict.fromkeys(fast.ENVIRONMENT)
        result = CliRunner().invoke(app, args, env={**clean, **env}, catch_exceptions=False)
    finally:
        scan_run.run, progress.apply_global_flags = real_run, real_flags  # type: ignore[assignment]
    if "params" not in seen:
        return result.exit_code, None
    return result.exit_code, (seen["flags"], seen["params"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=7), st.booleans(), _ENV)
def test_fast_path_reads_token_soup_as_typer_does(
    tokens: list[str], lead: bool, env: dict[str, str]
) -> None:
    args = (["scan"] if lead else []) + tokens
    mine = fast.parse(args, env)
    if mine is None:
        return  # declined: typer parses it, as before
    code, theirs = _typer_reading(args, env)
    assert code == 0
    assert theirs == mine


_GOOD = {
    "format": ["json", "sarif", "table", "junit", "jsonl", "github"],
    "severity": ["critical", "high", "medium", "low", "info", "never"],
    "count": ["0", "1", "2", "07"],
    "path": ["r.json", "out dir/x.sarif", "./c.yaml", "="],
    "patterns": ["*.md", "x/", "!keep.md", "a=b"],
}
_BAD = ["JSON", "High", "-1", "+2", "", "-x", "1.5", "٣"]


def _option(flag: str) -> st.SearchStrategy[list[str]]:
    kind = fast.OPTIONS[flag][1]
    if kind == "flag":
        return st.just([flag])
    good = st.sampled_from(_GOOD[kind])
    values = st.one_of(good, good, good, st.sampled_from(_BAD))
    if flag.startswith("--"):
        return values.flatmap(lambda v: st.sampled_from([[flag, v], [f"{flag}={v}"]]))
    return values.map(lambda v: [flag, v])


_PIECE = st.one_of(
    st.sampled_from(["models", "a b.pkl", "m.pt", "scan"]).map(lambda p: [p]),
    st.sampled_from(sorted(fast.GLOBAL_FLAGS)).map(lambda f: [f]),
    st.sampled_from(sorted(fast.OPTIONS)).flatmap(_option),
    st.sampled_from(sorted(fast.OPTIONS)).flatmap(_option),
    st.sampled_from(sorted(fast.OPTIONS)).flatmap(_option),
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(fast.GLOBAL_FLAGS)), max_size=2),
    st.lists(_PIECE, min_size=1, max_size=6),
)
def test_fast_path_reads_command_lines_as_typer_does(
    leading: list[str], pieces: list[list[str]]
) -> None:
    """Mostly well-formed lines: the fast path takes many, and must read each as typer does."""
    args = [*leading, "scan", *(token for piece in pieces for token in piece)]
    mine = fast.parse(args, {})
    if mine is None:
        return
    code, theirs = _typer_reading(args, {})
    assert code == 0, args
    assert theirs == mine, args


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "models"],
        ["-q", "scan", "-f", "json", "-o", "r.json", "--fail-on", "high", "a", "b"],
        ["scan", "--strict", "-j", "2", "--min-severity", "low", "m", "--no-progress"],
        ["scan", "--exclude", "*.md", "--exclude", "x/", "--config", "c.yaml", "m"],
        ["scan", "--sarif-output=s.sarif", "--json-output", "j", "--junit-output", "x.xml", "m"],
        ["scan", "--baseline", "b.json", "--ignore-file", "i", "-v", "m"],
    ],
)
def test_common_command_lines_take_the_fast_path(args: list[str]) -> None:
    mine = fast.parse(args, {})
    assert mine is not None
    assert fast.parse(tuple(args), {}) == mine  # any sequence, not only a list
    assert _typer_reading(args, {}) == (0, mine)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["scan"], {}),
        (["scan", "-h"], {}),
        (["scan", "-f", "JSON", "m"], {}),
        (["scan", "m", "--explain"], {}),
        (["scan", "-f", "json", "-f", "sarif", "m"], {}),
        (["scan", "--", "-odd-name"], {}),
        (["verify", "m"], {}),
        (["scan", "m"], {"MLCHAIN_FAIL_ON": "high"}),
        (["scan", "m"], {"MLCHAIN_NO_PROGRESS": ""}),
    ],
)
def test_everything_else_is_left_to_typer(args: list[str], env: dict[str, str]) -> None:
    assert fast.parse(args, env) is None


# --- Whole runs -----------------------------------------------------------------------------

_TYPER_MAIN = "import sys\nfrom mlchain.cli.root import main\nsys.argv[0] = 'mlchain'\nmain()\n"
_ENTRY_MAIN = (
    "import sys\nfrom mlchain._entry import main\nsys.argv[0] = 'mlchain'\n"
    "try:\n    main()\nfinally:\n    print('typer' in sys.modules, file=sys.stderr)\n"
)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in fast.ENVIRONMENT}
    env["COLUMNS"] = "100"
    return env


def _run(code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(),
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        [str(FIXTURES / "safetensors" / "benign")],
        [str(FIXTURES / "pickle" / "malicious"), "--fail-on", "critical"],
        ["-q", "scan-target", "-f", "json"],
        [str(FIXTURES / "pickle"), "-f", "sarif", "--strict", "-o", "{tmp}/r.sarif"],
        [str(FIXTURES / "pickle" / "benign"), "--min-severity", "high", "--json-output", "{tmp}/j"],
        ["no-such-folder"],
        [str(FIXTURES / "pickle" / "benign"), "--baseline", "{tmp}/missing.json"],
    ],
)
def test_whole_runs_print_and_exit_as_typer_does(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "scan-target").mkdir()
    (tmp_path / "scan-target" / "m.pkl").write_bytes(
        (FIXTURES / "pickle" / "malicious" / "cprofile_run.pkl").read_bytes()
    )
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "-q":
        args = ["-q", "scan", *args[1:]]
    else:
        args = ["scan", *args]
    outputs = [p for p in args if p.startswith(str(tmp_path)) and not p.endswith(".json")]
    mine = _run(_ENTRY_MAIN, args, tmp_path)
    written = {p: Path(p).read_bytes() for p in outputs if Path(p).exists()}
    for p in written:
        Path(p).unlink()
    theirs = _run(_TYPER_MAIN, args, tmp_path)
    *lines, typer_loaded = mine.stderr.rstrip("\n").split("\n")
    assert typer_loaded == "False", "this command line must take the fast path"
    assert mine.returncode == theirs.returncode
    assert mine.stdout == theirs.stdout
    assert "\n".join(lines) == theirs.stderr.rstrip("\n")
    assert written == {p: Path(p).read_bytes() for p in outputs if Path(p).exists()}
