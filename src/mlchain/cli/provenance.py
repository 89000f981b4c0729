"""``mlchain provenance``: a SLSA Provenance v1 statement over the model's OMS file digests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    AllowSymlinksOption,
    IgnoreOption,
    ModelPathArgument,
    check_model_path,
    digest_model_for_statement,
    output_option,
    render_statement,
    source_date_epoch,
    statement_signing_method,
    with_sign_options,
)

if TYPE_CHECKING:
    import datetime as dt

HELP = (
    "Describe how a model was built as an in-toto Statement v1 with a SLSA Provenance v1 "
    "predicate.\n\n"
    "Subjects are the model's files with the same names and sha256 digests the OMS signature "
    "covers. Build facts come from the options and, when present, from GitHub Actions or GitLab "
    "CI variables; the training code's commit is read from the enclosing git repository. "
    "With --sign the statement is signed like `mlchain sign` signs models (Sigstore keyless, "
    "--key or --certificate) and the output is a Sigstore bundle. "
    "Exit codes: 0 written; 2 usage error; 3 could not complete."
)


@with_sign_options
def provenance(
    ctx: typer.Context,
    model_path: ModelPathArgument,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training configuration file (recorded with its digest)"),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Training parameter key=value (JSON-typed); repeatable"),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option("--base-model", help="Base model: hf://org/name@rev, a URI or a local path"),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset", help="Training dataset: URI[@sha256:HEX] or a local path; repeatable"
        ),
    ] = None,
    builder_id: Annotated[
        str | None,
        typer.Option(
            "--builder-id",
            envvar="MLCHAIN_BUILDER_ID",
            help="Builder URI (default: from the CI, else the local builder)",
        ),
    ] = None,
    started_on: Annotated[
        str | None,
        typer.Option("--started-on", help="When training started (ISO 8601 or Unix seconds)"),
    ] = None,
    finished_on: Annotated[
        str | None,
        typer.Option(
            "--finished-on",
            help="When training finished (ISO 8601 or Unix seconds; default SOURCE_DATE_EPOCH)",
        ),
    ] = None,
    ignore: IgnoreOption = None,
    allow_symlinks: AllowSymlinksOption = False,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not record the current git commit")
    ] = False,
    output: Annotated[
        Path | None, output_option("Write the statement to this file (atomically)")
    ] = None,
) -> None:
    """Describe how a model was built (SLSA Provenance v1)."""
    with error_boundary():
        from mlchain.provenance import context as build_ctx
        from mlchain.provenance import statement as st

        check_model_path(model_path)
        env = dict(os.environ)
        method = statement_signing_method(ctx)
        inputs = st.ProvenanceInputs(
            config=st.config_parameter(config, config.as_posix()) if config else None,
            parameters=st.parse_parameters(param or ()),
            base_model=base_model,
            base_model_ref=(
                st.model_reference(base_model, role="base-model") if base_model else None
            ),
            datasets=tuple(dataset or ()),
            dataset_refs=tuple(st.model_reference(d, role="dataset") for d in dataset or ()),
            started_on=st.parse_timestamp(started_on, "--started-on") if started_on else None,
            finished_on=_finished_on(finished_on, env),
        )
        if builder_id is not None:
            st.check_builder_id(builder_id)
        context = build_ctx.ci_context(env)
        if context is None:
            context = build_ctx.local_context(builder_id)
        elif builder_id is not None:
            from dataclasses import replace

            context = replace(context, builder_id=builder_id)
        model_path, skip, digests = digest_model_for_statement(
            model_path, ignore, output, allow_symlinks=allow_symlinks
        )
        source = None if no_git else build_ctx.git_source(Path.cwd())
        document = st.build_provenance(digests, inputs, context, source=source, ignore=skip)
        console.write_output(render_statement(document, method), output)
        console.info(
            ("signed " if method else "")
            + f"provenance for {len(digests)} files written"
            + (f" to {output}" if output else "")
            + f" (builder {context.builder_id})"
        )
    raise typer.Exit(ExitCode.OK)


def _finished_on(text: str | None, env: dict[str, str]) -> dt.datetime | None:
    from mlchain.provenance import statement as st

    if text:
        return st.parse_timestamp(text, "--finished-on")
    return source_date_epoch(env)
