"""``mlchain attest``: scan a model and state the result as an in-toto attestation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli import console
from mlchain.cli.choices import SeverityChoice, allowed_globals
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    AllowSymlinksOption,
    IgnoreOption,
    ModelPathArgument,
    allow_global_option,
    check_model_path,
    digest_model_for_statement,
    fail_on_option,
    jobs_option,
    output_option,
    render_statement,
    source_date_epoch,
    statement_signing_method,
    strict_option,
    with_sign_options,
)

HELP = (
    "Scan a model and write an in-toto Statement v1 saying what the scan found "
    "(predicate type https://mlchain.dev/attestations/scan/v1), over the same file digests the "
    "OMS signature covers.\n\n"
    "The predicate holds the whole JSON scan report, the verdict and the --fail-on threshold. "
    "With --sign it is signed like `mlchain sign` signs models and the output is a Sigstore "
    "bundle, which `mlchain verify-attestation` checks against the files on disk. The "
    "attestation is written either way. Exit codes: 0 verdict pass; 1 verdict fail (findings "
    "at or above --fail-on, unscanned files with --strict); 2 usage error; 3 could not complete."
)


@with_sign_options
def attest(
    ctx: typer.Context,
    model_path: ModelPathArgument,
    fail_on: Annotated[
        SeverityChoice, fail_on_option("Verdict fail on findings at or above this")
    ] = SeverityChoice.MEDIUM,
    strict: Annotated[bool, strict_option("Verdict fail if a file was not scanned")] = False,
    allow_global: Annotated[
        list[str] | None,
        allow_global_option(
            "Treat this pickle global (module.name) as safe; recorded in the attestation"
        ),
    ] = None,
    jobs: Annotated[int, jobs_option("Worker processes")] = 0,
    ignore: IgnoreOption = None,
    allow_symlinks: AllowSymlinksOption = False,
    output: Annotated[
        Path | None, output_option("Write the attestation to this file (atomically)")
    ] = None,
) -> None:
    """Scan a model and write a scan attestation."""
    with error_boundary():
        from mlchain.attest.scan import build_scan_attestation
        from mlchain.scan import ScanOptions, scan_paths

        check_model_path(model_path)
        method = statement_signing_method(ctx)
        allowed = allowed_globals(allow_global)
        # Hash first, then scan: the statement names the bytes that were hashed, and the scan
        # must then have seen every one of those files (checked in the predicate).
        model_path, skip, digests = digest_model_for_statement(
            model_path, ignore, output, allow_symlinks=allow_symlinks
        )
        report = scan_paths([model_path], ScanOptions(allow_globals=allowed, jobs=jobs))
        document = build_scan_attestation(
            report,
            digests,
            fail_on=fail_on.to_severity(),
            strict=strict,
            ignore=skip,
            finished_on=source_date_epoch(os.environ),
        )
        console.write_output(render_statement(document, method), output)
        verdict = document["predicate"]["verdict"]
        from mlchain.output.table import summary_line

        console.info(summary_line(report))
        console.info(
            ("signed " if method else "")
            + f"scan attestation for {len(digests)} files written"
            + (f" to {output}" if output else "")
            + f"; verdict {verdict}"
        )
    raise typer.Exit(ExitCode.OK if verdict == "pass" else ExitCode.FAIL)
