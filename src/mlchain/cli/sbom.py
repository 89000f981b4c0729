"""``mlchain sbom``: a CycloneDX 1.6 ML-BOM for one model."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    AllowSymlinksOption,
    IgnoreOption,
    ModelPathArgument,
    check_model_path,
    digest_model_for_statement,
    format_option,
    output_option,
    render_statement,
    source_date_epoch,
    statement_signing_method,
    with_sign_options,
)
from mlchain.errors import UsageError

HELP = (
    "Write a CycloneDX 1.6 ML-BOM for a model: the model with its model card, every file with "
    "its sha256 (the digests the OMS signature covers), base models, datasets and, with "
    "--scan-report, the scan verdict.\n\n"
    "Facts come from config.json, safetensors headers, GGUF metadata and the README.md front "
    "matter; nothing is loaded or executed. Output is deterministic (timestamp only from "
    "SOURCE_DATE_EPOCH). --attestation wraps the BOM in an in-toto statement (predicate type "
    "https://cyclonedx.org/bom) over the model's files; --sign also signs it like `mlchain sign` "
    "signs models. Exit codes: 0 written; 2 usage error; 3 could not complete."
)


@enum.unique
class SbomFormat(str, enum.Enum):
    """Values of ``sbom --format``."""

    JSON = "json"
    XML = "xml"


@with_sign_options
def sbom(
    ctx: typer.Context,
    model_path: ModelPathArgument,
    fmt: Annotated[SbomFormat, format_option("CycloneDX encoding")] = SbomFormat.JSON,
    output: Annotated[Path | None, output_option("Write the BOM to this file (atomically)")] = None,
    hf_repo: Annotated[
        str | None,
        typer.Option("--hf-repo", help="Hugging Face repository org/name[@commit] (for the purl)"),
    ] = None,
    scan_report: Annotated[
        Path | None,
        typer.Option("--scan-report", help="JSON from `mlchain scan -f json` to record"),
    ] = None,
    base_model: Annotated[
        list[str] | None,
        typer.Option("--base-model", help="Base model (org/name or URI) to add; repeatable"),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Training dataset (org/name or URI) to add; repeatable"),
    ] = None,
    use_case: Annotated[
        list[str] | None,
        typer.Option("--use-case", help="Intended use, for the model card; repeatable"),
    ] = None,
    limitation: Annotated[
        list[str] | None,
        typer.Option("--limitation", help="Known technical limitation; repeatable"),
    ] = None,
    ignore: IgnoreOption = None,
    allow_symlinks: AllowSymlinksOption = False,
    attestation: Annotated[
        bool,
        typer.Option(
            "--attestation",
            help="Wrap the BOM in an in-toto statement over the model files (implied by --sign)",
        ),
    ] = False,
) -> None:
    """Write a CycloneDX 1.6 ML-BOM for a model."""
    with error_boundary():
        from mlchain.sbom import cyclonedx
        from mlchain.sbom.modelinfo import extract_model_info

        check_model_path(model_path)
        method = statement_signing_method(ctx)
        as_statement = attestation or method is not None
        if as_statement and fmt is SbomFormat.XML:
            raise UsageError("--attestation and --sign wrap the JSON BOM; drop -f xml.")
        if hf_repo is not None:
            cyclonedx.parse_hf_repo(hf_repo)
        report = cyclonedx.load_scan_report(scan_report) if scan_report else None
        inputs = cyclonedx.BomInputs(
            hf_repo=hf_repo,
            base_models=tuple(base_model or ()),
            datasets=tuple(dataset or ()),
            use_cases=tuple(use_case or ()),
            limitations=tuple(limitation or ()),
            scan_report=report,
            timestamp=source_date_epoch(os.environ),
        )
        model_path, _, digests = digest_model_for_statement(
            model_path, ignore, output, allow_symlinks=allow_symlinks
        )
        info = extract_model_info(model_path, list(digests))
        if fmt is SbomFormat.XML:
            text = cyclonedx.render_xml(digests, info, inputs)
        elif as_statement:
            document = cyclonedx.bom_statement(digests, cyclonedx.build_bom(digests, info, inputs))
            text = render_statement(document, method)
        else:
            text = cyclonedx.render_json(cyclonedx.build_bom(digests, info, inputs))
        console.write_output(text, output)
        for problem in info.problems:
            console.info(f"note: {problem}")
        console.info(
            f"ML-BOM for {len(digests)} files written" + (f" to {output}" if output else "")
        )
    raise typer.Exit(ExitCode.OK)
