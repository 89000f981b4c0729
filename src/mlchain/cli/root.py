"""The typer application behind ``mlchain``: the root group, its global flags and the commands.

Commands are registered lazily (:data:`COMMANDS`): only the invoked command's module is
imported, and command modules import their heavy dependencies (sigstore, onnx, ...) only inside
the command body, so ``mlchain --help``, ``--version`` and a one-file scan stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlchain import __version__
from mlchain.cli.errors import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 ok (nothing at or above --fail-on; signature and policy ok); "
    "1 findings at or above --fail-on, a policy violation or a failed verification; "
    "2 usage error; 3 could not complete (I/O, network or internal error); 130 interrupted."
)

GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet", "--no-progress"})


COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module under mlchain.cli, attribute, the first line of the module's HELP)
    "scan": (
        "scan",
        "scan",
        "Scan model files and folders for unsafe content, without loading them.",
    ),
    "sign": (
        "sign",
        "sign",
        "Sign a model file or folder (OpenSSF model signing, Sigstore bundle).",
    ),
    "verify": (
        "verify",
        "verify",
        "Verify a model file or folder against its signature (OpenSSF model signing).",
    ),
    "provenance": (
        "provenance",
        "provenance",
        "Describe how a model was built as an in-toto Statement v1 with a SLSA Provenance v1 "
        "predicate.",
    ),
    "sbom": (
        "sbom",
        "sbom",
        "Write a CycloneDX 1.6 ML-BOM for a model: the model with its model card,",
    ),
    "attest": (
        "attest",
        "attest",
        "Scan a model and write an in-toto Statement v1 saying what the scan found (predicate",
    ),
    "verify-attestation": (
        "verify_attestation",
        "verify_attestation",
        "Verify a signed attestation (provenance or scan attestation bundle) and check that its",
    ),
    "keygen": (
        "keygen",
        "keygen",
        "Generate an EC P-256 key pair for `mlchain sign --key` and `mlchain verify --key`.",
    ),
    "policy": (
        "policy",
        "app",
        "Check saved results against a model policy, or write a starter policy.",
    ),
}
"""Every command, in ``--help`` order. A command's module (and its options) is imported only when
that command runs: ``mlchain scan`` never imports signing, policy or attestation code, and
``--help`` lists the commands from this table alone (mlchain issue #19, item 6). A test checks
the help lines against each module's ``HELP``."""

_NO_ARGS_HELP = frozenset(COMMANDS) - {"keygen", "policy"}


def load_command(name: str) -> Any:
    """Import one command's module and build its click command (``None``: no such command)."""
    import importlib

    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module = importlib.import_module(f"mlchain.cli.{entry[0]}")
    target = getattr(module, entry[1])
    if isinstance(target, typer.Typer):  # a group of its own (``policy``)
        group = typer.main.get_group(target)
        group.name, group.help = name, module.HELP
        return group
    single = typer.Typer(rich_markup_mode=None, add_completion=False)
    single.command(name=name, no_args_is_help=name in _NO_ARGS_HELP, help=module.HELP)(target)
    return typer.main.get_command(single)


class _Group(TyperGroup):
    """The root group: commands load on first use, and ``-v``/``-q`` may follow the subcommand.

    Users of kubectl, trivy and cosign type global flags anywhere (``mlchain scan -q models/``).
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Move global flags that follow the subcommand in front of it, then parse."""
        return super().parse_args(ctx, hoist_global_flags(self, ctx, args))

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command's name, without importing any."""
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, built (and its module imported) on first use."""
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.commands[cmd_name] = command
        return self.commands[cmd_name]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the commands from :data:`COMMANDS` (importing none of them)."""
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(len(n) for n in COMMANDS)
        rows = [(n, make_default_short_help(COMMANDS[n][2], limit)) for n in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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
    from mlchain.cli.progress import apply_global_flags

    apply_global_flags(verbose=verbose, quiet=quiet, no_progress=no_progress)


def main() -> None:
    """Console-script entry point.

    Typer's standalone mode turns usage errors into exit 2 with a message; commands run inside
    :func:`mlchain.cli.errors.error_boundary`, which maps everything else onto the contract.
    """
    app(prog_name="mlchain")
