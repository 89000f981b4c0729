"""``mlchain scan``: parse arguments, call the core, render, pick the exit code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    SeverityChoice,
    allow_global_option,
    allowed_globals,
    fail_on_option,
    format_option,
    jobs_option,
    output_option,
    strict_option,
)
from mlchain.errors import UsageError
from mlchain.output import OutputFormat

if TYPE_CHECKING:
    from mlchain.models import ScanReport, Severity
    from mlchain.scan.base import ScanOptions
    from mlchain.sources.hub import HubRef
    from mlchain.sources.oci import OciRef

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
        list[str],
        typer.Argument(
            help="Model files or folders, a Hugging Face cache folder, or one hf://org/name[@rev] "
            "or oci://REGISTRY/REPO[:TAG|@DIGEST] reference",
            show_default=False,
            metavar="PATH...",
        ),
    ],
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
    with error_boundary():
        from mlchain.scan import ScanOptions, scan_paths

        allowed = allowed_globals(allow_global)
        options = ScanOptions(allow_globals=allowed, jobs=jobs, cache_dir=cache)
        hub = _hub_reference(paths)
        local: list[Path] = []
        oci = _oci_reference(paths)
        if oci is not None:
            if explain:
                raise UsageError("--explain works on local files; pull the model first.")
            report = _scan_oci(oci, options, require_pinned=require_pinned)
        elif hub is not None:
            if explain:
                raise UsageError("--explain works on local files; download the model first.")
            from mlchain.sources.hub import scan_hub

            report, materialized = scan_hub(
                hub,
                options,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                require_pinned=require_pinned,
            )
            console.info(f"resolved {hub.uri} to commit {materialized.commit}")
        else:
            local = _check_paths(paths)
            report = scan_paths(local, options, progress=_progress_callback())
        gate = fail_on.to_severity()
        color = output is None and console.stdout_is_color_terminal()
        formatter = fmt.formatter(color=color, fail_on=gate, strict=strict)
        console.write_output(formatter.render(report), output)
        extra = {
            OutputFormat.SARIF: sarif_output,
            OutputFormat.JSON: json_output,
            OutputFormat.JUNIT: junit_output,
        }
        for extra_fmt, target in extra.items():
            if target is not None:
                text = extra_fmt.formatter(fail_on=gate, strict=strict).render(report)
                console.write_output(text, target)
        _github_step_summary(report, gate)
        from mlchain.output.table import summary_line

        console.info(summary_line(report))
        if explain:
            _explain(local, options, to_stderr=output is None and fmt is not OutputFormat.TABLE)
    failed = report.exceeds(fail_on.to_severity(), strict=strict)
    raise typer.Exit(ExitCode.FAIL if failed else ExitCode.OK)


def _github_step_summary(report: ScanReport, gate: Severity | None) -> None:
    """Append a Markdown summary to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions sets it."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from mlchain.output.github import job_summary

    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(job_summary(report, fail_on=gate))
    except OSError as exc:  # the summary is a courtesy: never fail the scan over it
        console.info(f"warning: cannot append the job summary to {target}: {exc.strerror}")


def _explain(paths: list[Path], options: object, *, to_stderr: bool) -> None:
    """Print fickling decompilations; stdout unless a machine-readable report is there."""
    import sys

    from mlchain.scan.base import ScanOptions
    from mlchain.scan.pickle.explain import explain_paths, render_explanations

    assert isinstance(options, ScanOptions)
    text = render_explanations(explain_paths(paths, options))
    stream = sys.stderr if to_stderr else sys.stdout
    stream.write(text)
    stream.flush()


def _oci_reference(args: list[str]) -> OciRef | None:
    if not any(a.startswith("oci://") for a in args):
        return None
    if len(args) > 1:
        raise UsageError("Scan one oci:// reference at a time, without local paths beside it.")
    from mlchain.sources.oci import parse_oci_uri

    return parse_oci_uri(args[0])


def _scan_oci(ref: OciRef, options: ScanOptions, *, require_pinned: bool) -> ScanReport:
    from mlchain.sources.oci_auth import docker_config_paths
    from mlchain.sources.oci_client import client_for
    from mlchain.sources.oci_model import check_pinned, scan_oci

    check_pinned(ref, require_pinned)
    client = client_for(ref, docker_config_paths(os.environ, Path.home()))
    report, pulled = scan_oci(client, ref, options, require_pinned=require_pinned)
    if ref.digest is None:
        console.info(f"resolved {ref.uri} to {pulled.manifest.digest}")
    return report


def _hub_reference(args: list[str]) -> HubRef | None:
    if any(a.startswith("oci://") for a in args):
        return None
    if not any(a.startswith(("hf://", "http://", "https://")) for a in args):
        return None  # local paths only: skip importing the Hub source (~9 ms)
    from mlchain.sources.hub import parse_hub_uri

    refs = [parse_hub_uri(a) for a in args]
    hub = [r for r in refs if r is not None]
    if not hub:
        return None
    if len(args) > 1:
        raise UsageError("Scan one hf:// reference at a time, without local paths beside it.")
    return hub[0]


def _check_paths(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args]
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise UsageError(
            f"No such file or directory: {', '.join(missing)}.",
            hint="Check the path; mlchain scans local files and folders and hf:// references.",
        )
    return paths


def _progress_callback() -> Callable[[int, int], None] | None:
    """Return a progress callback drawing on stderr when it is a terminal, else ``None``."""
    import sys

    if console.state.quiet or not sys.stderr.isatty():
        return None

    def progress(done: int, total: int) -> None:
        if total >= 50 and (done % 25 == 0 or done == total):
            end = "\n" if done == total else "\r"
            sys.stderr.write(f"scanning {done}/{total} files{end}")
            sys.stderr.flush()

    return progress
