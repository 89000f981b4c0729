"""The ``mlchain`` command line: the only place that parses arguments or picks exit codes.

Command modules are imported here but import their heavy dependencies (sigstore, onnx, ...)
only inside the command body, so ``mlchain --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mlchain import __version__
from mlchain.cli import console
from mlchain.cli.errors import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 ok (nothing at or above --fail-on; signature and policy ok); "
    "1 findings at or above --fail-on, a policy violation or a failed verification; "
    "2 usage error; 3 could not complete (I/O, network or internal error); 130 interrupted."
)

app = typer.Typer(
    name="mlchain",
    help="Secure the supply chain of machine-learning models: scan, sign, verify.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mlchain {__version__}\n")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logs and tracebacks")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors on stderr")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit"
        ),
    ] = False,
) -> None:
    """Secure the supply chain of machine-learning models: scan, sign, verify."""
    console.state.verbose = verbose
    console.state.quiet = quiet and not verbose
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from mlchain.cli import (
        attest,
        policy,
        provenance,
        sbom,
        scan,
        sign,
        verify,
        verify_attestation,
    )

    app.command(name="scan", no_args_is_help=True, help=scan.HELP)(scan.scan)
    app.command(name="sign", no_args_is_help=True, help=sign.HELP)(sign.sign)
    app.command(name="verify", no_args_is_help=True, help=verify.HELP)(verify.verify)
    app.add_typer(policy.app, name="policy", help=policy.HELP)
    app.command(name="provenance", no_args_is_help=True, help=provenance.HELP)(
        provenance.provenance
    )
    app.command(name="sbom", no_args_is_help=True, help=sbom.HELP)(sbom.sbom)
    app.command(name="attest", no_args_is_help=True, help=attest.HELP)(attest.attest)
    app.command(name="verify-attestation", no_args_is_help=True, help=verify_attestation.HELP)(
        verify_attestation.verify_attestation
    )


_register()


def main() -> None:
    """Console-script entry point.

    Typer's standalone mode turns usage errors into exit 2 with a message; commands run inside
    :func:`mlchain.cli.errors.error_boundary`, which maps everything else onto the contract.
    """
    app(prog_name="mlchain")
