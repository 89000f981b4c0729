"""``mlchain scan``: its options, for typer. The body is :func:`mlchain.cli.scan_run.run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli.choices import SeverityChoice
from mlchain.cli.options import (
    allow_global_option,
    fail_on_option,
    format_option,
    jobs_option,
    output_option,
    strict_option,
)
from mlchain.cli.scan_run import Executor
from mlchain.output import OutputFormat

HELP = (
    "Scan model files and folders for unsafe content, without loading them.\n\n"
    "Formats are detected from content: pickle (raw, PyTorch zip/legacy, NumPy, joblib), "
    "safetensors, ONNX, GGUF and model-repository files. Exit codes: 0 nothing at or above "
    "--fail-on; 1 findings at or above it (or unscanned files with --strict); 2 usage error; "
    "3 could not complete.\n\n"
    "--explain adds a fickling decompilation of every raw pickle file after the report (on "
    "stdout, or on stderr when a JSON/SARIF report is written to stdout). It is for reading "
    "only: verdicts and exit codes always come from mlchain's own pickle VM."
)


def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model files or folders, a Hugging Face cache folder, or one hf://org/name[@rev] "
            "or oci://REGISTRY/REPO[:TAG|@DIGEST] reference",
            show_default=False,
            metavar="PATH...",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat, format_option("Output format", envvar="MLCHAIN_FORMAT")
    ] = OutputFormat.TABLE,
    output: Annotated[
        Path | None, output_option("Write the report to this file", envvar="MLCHAIN_OUTPUT")
    ] = None,
    fail_on: Annotated[
        SeverityChoice, fail_on_option("Exit 1 on findings at or above this")
    ] = SeverityChoice.MEDIUM,
    strict: Annotated[bool, strict_option("Also exit 1 if a file was not scanned")] = False,
    min_severity: Annotated[
        SeverityChoice | None,
        typer.Option(
            "--min-severity",
            envvar="MLCHAIN_MIN_SEVERITY",
            case_sensitive=False,
            help="Show only findings at or above this in the table (display only: the gate "
            "and JSON/SARIF/JUnit still see every finding)",
            show_default=False,
        ),
    ] = None,
    allow_global: Annotated[
        list[str] | None,
        allow_global_option(
            "Treat this pickle global (module.name) as safe; repeatable, shown in the report"
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            envvar="MLCHAIN_EXPLAIN",
            help="Also print a fickling decompilation of each raw pickle (after the report)",
        ),
    ] = False,
    jobs: Annotated[int, jobs_option("Worker processes (0: one per core)")] = 0,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            envvar="MLCHAIN_EXECUTOR",
            case_sensitive=False,
            help="Where files are scanned: local (this machine) or ray (a Ray cluster: "
            "RAY_ADDRESS, else a local Ray; needs pip install 'mlchain[ray]')",
        ),
    ] = Executor.LOCAL,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            envvar="MLCHAIN_FROM_FILE",
            help="Also scan the paths and hf:// references listed in this file, one a line "
            "(# comments; relative paths are relative to the file's folder; - reads stdin)",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            envvar="MLCHAIN_CACHE",
            help="Reuse results for unchanged files from this private folder (off by default; "
            "see docs/scan.md for what it trusts)",
        ),
    ] = None,
    require_pinned: Annotated[
        bool,
        typer.Option(
            "--require-pinned",
            envvar="MLCHAIN_REQUIRE_PINNED",
            help="Refuse hf:// references not pinned to a full commit id and oci:// references "
            "not pinned to a digest",
        ),
    ] = False,
    sarif_output: Annotated[
        Path | None,
        typer.Option(
            "--sarif-output",
            envvar="MLCHAIN_SARIF_OUTPUT",
            help="Also write a SARIF report to this file",
        ),
    ] = None,
    json_output: Annotated[
        Path | None,
        typer.Option(
            "--json-output", envvar="MLCHAIN_JSON_OUTPUT", help="Also write a JSON report here"
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Leave out files matching this gitignore-style pattern (repeatable; relative to "
            "the current folder); excluded files are listed in the report",
            show_default=False,
        ),
    ] = None,
    ignore_file: Annotated[
        Path | None,
        typer.Option(
            "--ignore-file",
            envvar="MLCHAIN_IGNORE_FILE",
            help="Read exclude patterns from this file (default: ./.mlchainignore when present)",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="MLCHAIN_CONFIG",
            help="Suppression file (default: ./.mlchain.yaml, or [tool.mlchain] in "
            "./pyproject.toml)",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            envvar="MLCHAIN_BASELINE",
            help="Report only findings that are not in this saved `scan -f json` report",
            show_default=False,
        ),
    ] = None,
    junit_output: Annotated[
        Path | None,
        typer.Option(
            "--junit-output",
            envvar="MLCHAIN_JUNIT_OUTPUT",
            help="Also write a JUnit XML report to this file",
        ),
    ] = None,
) -> None:
    """Scan model files and folders for unsafe content, without loading them."""
    from mlchain.cli.scan_run import run

    run(
        paths=paths,
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        strict=strict,
        min_severity=min_severity,
        allow_global=allow_global,
        explain=explain,
        jobs=jobs,
        executor=executor,
        from_file=from_file,
        cache=cache,
        require_pinned=require_pinned,
        sarif_output=sarif_output,
        json_output=json_output,
        exclude=exclude,
        ignore_file=ignore_file,
        config=config,
        baseline=baseline,
        junit_output=junit_output,
    )
