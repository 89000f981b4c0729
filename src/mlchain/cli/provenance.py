"""``mlchain provenance``: a SLSA Provenance v1 statement over the model's OMS file digests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlchain.cli import console
from mlchain.cli.attestation import (
    CertificateChainOption,
    CertificateOption,
    IdentityTokenOption,
    KeyOption,
    SignFlag,
    StagingOption,
    TrustConfigOption,
    render_statement,
    signing_method,
)
from mlchain.cli.errors import ExitCode, error_boundary

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


def provenance(
    ctx: typer.Context,
    model_path: Annotated[Path, typer.Argument(help="Model file or folder", show_default=False)],
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
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Leave this path (relative to the model folder) out"),
    ] = None,
    allow_symlinks: Annotated[
        bool,
        typer.Option(
            "--allow-symlinks", help="Accept symlinks to regular files inside the model folder"
        ),
    ] = False,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not record the current git commit")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the statement to this file (atomically)"),
    ] = None,
    sign: SignFlag = False,
    key: KeyOption = None,
    certificate: CertificateOption = None,
    certificate_chain: CertificateChainOption = None,
    identity_token: IdentityTokenOption = None,
    trust_config: TrustConfigOption = None,
    staging: StagingOption = False,
) -> None:
    """Describe how a model was built (SLSA Provenance v1)."""
    with error_boundary():
        from mlchain.provenance import context as build_ctx
        from mlchain.provenance import statement as st

        check_model_path(model_path)
        env = dict(os.environ)
        method = signing_method(
            ctx,
            sign=sign,
            key=key,
            certificate=certificate,
            certificate_chain=certificate_chain,
            identity_token=identity_token,
            trust_config=trust_config,
            staging=staging,
        )
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
        model_path = st.model_root(model_path)
        skip = ignored_paths(model_path, ignore or (), output)
        digests = st.digest_model(model_path, skip, allow_symlinks=allow_symlinks)
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
    epoch = env.get("SOURCE_DATE_EPOCH")
    return st.parse_timestamp(epoch, "SOURCE_DATE_EPOCH") if epoch else None


def check_model_path(model_path: Path) -> None:
    """Refuse a model path that does not exist (a usage error, exit 2)."""
    from mlchain.errors import UsageError

    if not os.path.lexists(model_path):
        raise UsageError(
            f"No such file or directory: {model_path}.",
            hint="Give the local model file or folder (download hf:// models first).",
        )


def ignored_paths(
    model_path: Path, ignore: list[str] | tuple[str, ...], output: Path | None
) -> list[str]:
    """``--ignore`` paths, ``model.sig`` and the output file when it lies in the model folder.

    ``--ignore`` is read as ``mlchain sign --ignore`` reads it (relative to the current folder
    when that names something inside the model, else relative to the model folder).
    """
    from mlchain.signing.manifest import DEFAULT_SIGNATURE_NAME, relative_ignores

    if not model_path.is_dir():
        return []
    given = [Path(p.strip()) for p in ignore if p.strip()]
    skip = {p.as_posix() for p in relative_ignores(model_path, given)}
    skip.add(DEFAULT_SIGNATURE_NAME)
    if output is not None and str(output) != "-":
        import contextlib

        with contextlib.suppress(ValueError):  # written outside the model: nothing to leave out
            skip.add(output.resolve().relative_to(model_path.resolve()).as_posix())
    return sorted(skip)
