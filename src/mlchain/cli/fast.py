"""``mlchain scan`` without typer, for the command lines CI jobs and people type most.

Importing typer and building the scan command's 20 options is about a third of a small scan's
start-up (mlchain issue #19, item 6): a one-file scan costs about 0.11 s of CPU with it and
0.07 s without. This module parses a strict subset of ``mlchain [-q|-v|--no-progress] scan ...``
and calls the same body as the typer command (:func:`mlchain.cli.scan_run.run`).

It declines (and typer then parses the whole command line, as it always did) on anything outside
that subset: help, ``--version``, an option not in :data:`OPTIONS`, a value that is empty, starts
with ``-`` or is not written exactly as the choice it names (click would fold ``JSON`` to
``json``; that stays click's job), a repeated option, ``--``, ``-fjson``, no path at all, and any
environment variable that sets an option of ``scan`` or of the root command
(:data:`ENVIRONMENT`). So it never has to reproduce click's conversion or error rules: on the
lines it accepts, there is exactly one reading. tests/cli/test_fast.py checks the tables here
against typer's command, and parses random command lines both ways requiring the same result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GLOBAL_FLAGS: dict[str, str] = {
    "-q": "quiet",
    "--quiet": "quiet",
    "-v": "verbose",
    "--verbose": "verbose",
    "--no-progress": "no_progress",
}
"""The root command's flags, which may also follow ``scan`` (``mlchain scan -q models/``)."""

OPTIONS: dict[str, tuple[str, str]] = {
    "-f": ("fmt", "format"),
    "--format": ("fmt", "format"),
    "-o": ("output", "path"),
    "--output": ("output", "path"),
    "--fail-on": ("fail_on", "severity"),
    "--min-severity": ("min_severity", "severity"),
    "--strict": ("strict", "flag"),
    "-j": ("jobs", "count"),
    "--jobs": ("jobs", "count"),
    "--sarif-output": ("sarif_output", "path"),
    "--json-output": ("json_output", "path"),
    "--junit-output": ("junit_output", "path"),
    "--config": ("config", "path"),
    "--baseline": ("baseline", "path"),
    "--ignore-file": ("ignore_file", "path"),
    "--exclude": ("exclude", "patterns"),
}
"""The scan options this path reads: flag -> (parameter of ``run``, kind of value)."""

ENVIRONMENT = frozenset(
    {
        "MLCHAIN_ALLOW_GLOBAL",
        "MLCHAIN_BASELINE",
        "MLCHAIN_CACHE",
        "MLCHAIN_CONFIG",
        "MLCHAIN_EXECUTOR",
        "MLCHAIN_EXPLAIN",
        "MLCHAIN_FAIL_ON",
        "MLCHAIN_FORMAT",
        "MLCHAIN_FROM_FILE",
        "MLCHAIN_IGNORE_FILE",
        "MLCHAIN_JOBS",
        "MLCHAIN_JSON_OUTPUT",
        "MLCHAIN_JUNIT_OUTPUT",
        "MLCHAIN_MIN_SEVERITY",
        "MLCHAIN_NO_PROGRESS",
        "MLCHAIN_OUTPUT",
        "MLCHAIN_REQUIRE_PINNED",
        "MLCHAIN_SARIF_OUTPUT",
        "MLCHAIN_STRICT",
    }
)
"""Every variable that sets an option of ``scan`` or of the root command: typer reads them."""


def defaults() -> dict[str, Any]:
    """The value of every parameter of ``run`` when its option is not given (typer's too)."""
    from mlchain.cli.choices import SeverityChoice
    from mlchain.cli.scan_run import Executor
    from mlchain.output import OutputFormat

    return {
        "paths": None,
        "fmt": OutputFormat.TABLE,
        "output": None,
        "fail_on": SeverityChoice.MEDIUM,
        "strict": False,
        "min_severity": None,
        "allow_global": None,
        "explain": False,
        "jobs": 0,
        "executor": Executor.LOCAL,
        "from_file": None,
        "cache": None,
        "require_pinned": False,
        "sarif_output": None,
        "json_output": None,
        "exclude": None,
        "ignore_file": None,
        "config": None,
        "baseline": None,
        "junit_output": None,
    }


def parse(
    args: Sequence[str], environ: Mapping[str, str]
) -> tuple[dict[str, bool], dict[str, Any]] | None:
    """Read a scan command line: (global flags, parameters of ``run``), or ``None`` to decline."""
    if any(name in environ for name in ENVIRONMENT):
        return None
    flags = {"verbose": False, "quiet": False, "no_progress": False}
    index = 0
    while index < len(args) and args[index] in GLOBAL_FLAGS:
        flags[GLOBAL_FLAGS[args[index]]] = True
        index += 1
    if index >= len(args) or args[index] != "scan":
        return None
    index += 1
    values: dict[str, Any] = {}
    paths: list[str] = []
    while index < len(args):
        arg = args[index]
        index += 1
        if arg in GLOBAL_FLAGS:
            flags[GLOBAL_FLAGS[arg]] = True
            continue
        if not arg.startswith("-"):
            paths.append(arg)
            continue
        name, equals, inline = arg.partition("=")
        spec = OPTIONS.get(name)
        if spec is None or (equals and not name.startswith("--")):
            return None
        param, kind = spec
        if kind == "flag":
            if equals or param in values:
                return None
            values[param] = True
            continue
        if not equals:
            if index >= len(args):
                return None
            inline = args[index]
            index += 1
        value = _convert(kind, inline)
        if value is None:
            return None
        if kind == "patterns":
            values.setdefault(param, []).append(value)
        elif param in values:
            return None
        else:
            values[param] = value
    if not paths:
        return None
    params = defaults()
    params.update(values)
    params["paths"] = paths
    return flags, params


def _convert(kind: str, text: str) -> Any:
    """``text`` as the option's value, or ``None`` where only click may decide what it means."""
    if not text or text.startswith("-"):
        return None
    if kind == "format":
        from mlchain.output import OutputFormat

        return next((f for f in OutputFormat if f.value == text), None)
    if kind == "severity":
        from mlchain.cli.choices import SeverityChoice

        return next((s for s in SeverityChoice if s.value == text), None)
    if kind == "count":
        return int(text) if text.isascii() and text.isdigit() else None
    if kind == "path":
        return Path(text)
    return text  # "patterns": the text as given


def run_fast(args: Sequence[str]) -> None:
    """Run ``mlchain scan`` without typer when :func:`parse` accepts ``args`` (it then exits)."""
    parsed = parse(args, os.environ)
    if parsed is None:
        return
    flags, params = parsed
    from mlchain.cli.progress import apply_global_flags
    from mlchain.cli.scan_run import run

    apply_global_flags(**flags)
    run(**params)
