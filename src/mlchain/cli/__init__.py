"""The ``mlchain`` command line: the only place that parses arguments or picks exit codes.

Command modules are imported here but import their heavy dependencies (sigstore, onnx, ...)
only inside the command body, so ``mlchain --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlchain import __version__
from mlchain.cli import console
from mlchain.cli.errors import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 ok (nothing at or above --fail-on; signature and policy ok); "
    "1 findings at or above --fail-on, a policy violation or a failed verification; "
    "2 usage error; 3 could not complete (I/O, network or internal error); 130 interrupted."
)

GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet", "--no-progress"})


class _Group(TyperGroup):
    """The root group, which also accepts ``-v``/``-q`` after the subcommand.

    Users of kubectl, trivy and cosign type global flags anywhere (``mlchain scan -q models/``).
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Move global flags that follow the subcommand in front of it, then parse."""
        return super().parse_args(ctx, hoist_global_flags(self, ctx, args))


def hoist_global_flags(group: Any, ctx: Any, args: list[str]) -> list[str]:
    """Return ``args`` with ``-v``/``-q`` after the (sub)command moved to the front.

    A token is moved only where it is a flag: not the value of an option of that command, not
    after ``--``. Nothing else changes order. (Duck-typed: typer vendors its own click.)
    """
    position = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if position is None:
        return args
    command: Any = group.get_command(ctx, args[position])
    if command is None:
        return args
    start = position + 1
    if hasattr(command, "get_command"):  # a group (`policy check ...`): one level down
        sub = next((i for i in range(start, len(args)) if not args[i].startswith("-")), None)
        if sub is None or command.get_command(ctx, args[sub]) is None:
            return args
        command, start = command.get_command(ctx, args[sub]), sub + 1
    takes_value = {
        name
        for param in command.params
        if getattr(param, "param_type_name", "") == "option"
        and not param.is_flag
        and not param.count
        for name in (*param.opts, *param.secondary_opts)
    }
    moved: list[str] = []
    rest = args[:start]
    index = start
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in GLOBAL_FLAGS:
            moved.append(arg)
        else:
            rest.append(arg)
            if arg in takes_value and index + 1 < len(args):
                rest.append(args[index + 1])  # the option's value, whatever it looks like
                index += 1
        index += 1
    return moved + rest


app = typer.Typer(
    name="mlchain",
    cls=_Group,
    help="Secure the supply chain of machine-learning models: scan, sign, verify.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
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
    no_progress: Annotated[
        bool,
        typer.Option(
            "--no-progress",
            envvar="MLCHAIN_NO_PROGRESS",
            help="No progress bar (terminal) or hashing log lines (CI) on stderr",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit"
        ),
    ] = False,
) -> None:
    """Secure the supply chain of machine-learning models: scan, sign, verify."""
    from mlchain.cli import progress

    console.state.verbose = verbose
    console.state.quiet = quiet and not verbose
    console.state.no_progress = no_progress
    progress.install(enabled=not (no_progress or console.state.quiet))
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from mlchain.cli import (
        attest,
        keygen,
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
    app.command(name="keygen", help=keygen.HELP)(keygen.keygen)


_register()


def main() -> None:
    """Console-script entry point.

    Typer's standalone mode turns usage errors into exit 2 with a message; commands run inside
    :func:`mlchain.cli.errors.error_boundary`, which maps everything else onto the contract.
    """
    app(prog_name="mlchain")
