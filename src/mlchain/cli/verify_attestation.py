"""``mlchain verify-attestation``: check a signed attestation against its signer and the model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    AllowSymlinksOption,
    IgnoreOption,
    ResultFormat,
    check_model_path,
    format_option,
    ignored_paths,
    output_option,
    verifier_method,
    with_verifier_options,
)
from mlchain.errors import InputError
from mlchain.output.verdicts import render_attestations

HELP = (
    "Verify a signed attestation (provenance or scan attestation bundle) and check that its "
    "subjects are exactly the model's files on disk.\n\n"
    "Signer options are those of `mlchain verify`: --identity (or --identity-regexp) and "
    "--issuer for keyless bundles, --key PUBLIC.pem, or --certificate-chain CA.pem. Every subject "
    "must match a file by name and sha256 and every file must be a subject; a scan attestation "
    "must have the verdict pass. Exit codes: 0 verified; 1 verification failed; 2 usage error; "
    "3 could not check."
)


@with_verifier_options
def verify_attestation(
    ctx: typer.Context,
    bundle: Annotated[
        Path, typer.Argument(help="Attestation bundle (from --sign)", show_default=False)
    ],
    model_path: Annotated[
        Path, typer.Argument(help="Model file or folder it describes", show_default=False)
    ],
    predicate_type: Annotated[
        str | None,
        typer.Option("--predicate-type", help="Require this predicate type URI"),
    ] = None,
    builder_id: Annotated[
        str | None,
        typer.Option("--builder-id", help="Require this SLSA builder id (provenance)"),
    ] = None,
    ignore: IgnoreOption = None,
    allow_symlinks: AllowSymlinksOption = False,
    statement_output: Annotated[
        Path | None,
        typer.Option(
            "--statement-output",
            help="When verified, write the statement JSON here (for `policy check --provenance`)",
        ),
    ] = None,
    fmt: Annotated[ResultFormat, format_option("Output format")] = ResultFormat.TABLE,
    output: Annotated[Path | None, output_option("Write the result here")] = None,
) -> None:
    """Verify a signed attestation against its signer and the model on disk."""
    with error_boundary():
        from mlchain.attest.verify import verify_attestation as check
        from mlchain.provenance.statement import model_root

        check_model_path(model_path)
        method = verifier_method(ctx, model_path, bundle)
        try:
            from mlchain.signing.bundle import read_bundle_text

            bundle_json = read_bundle_text(bundle)
        except (OSError, ValueError) as exc:
            raise InputError(f"Cannot read the attestation bundle {bundle}: {exc}.") from exc
        model_path = model_root(model_path)
        skip = ignored_paths(model_path, ignore or (), None)
        result = check(
            bundle_json,
            method,
            model_path,
            ignore=skip,
            predicate_type=predicate_type,
            builder_id=builder_id,
            allow_symlinks=allow_symlinks,
        )
        result = replace(result, bundle=str(bundle))
        text = render_attestations([result], json_format=fmt is ResultFormat.JSON)
        console.write_output(text, output)
        if statement_output is not None and result.verified:
            from mlchain.provenance.statement import dumps

            console.write_output(dumps(result.statement), statement_output)
        if not result.verified:
            from mlchain.sanitize import clean

            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            console.error(
                f"the attestation does not match {model_path}: "
                f"{clean(result.errors[0], 400).rstrip('.')}{more}. Do not deploy this model; "
                "investigate who changed it."
            )
    raise typer.Exit(ExitCode.OK if result.verified else ExitCode.FAIL)
