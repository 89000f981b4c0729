"""``mlchain policy check|init``: evaluate saved results against a policy, write a starter."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import ResultFormat, format_option, output_option
from mlchain.errors import UsageError
from mlchain.output.verdicts import decision_summary, render_decision

HELP = (
    "Check saved results against a model policy, or write a starter policy.\n\n"
    "Exit codes for `check`: 0 allowed; 1 denied; 2 bad policy or usage; 3 an input file "
    "could not be read."
)

app = typer.Typer(
    name="policy",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)


@app.command(no_args_is_help=True)
def check(
    policy: Annotated[
        Path,
        typer.Option("--policy", "-p", envvar="MLCHAIN_POLICY", help="Policy file (YAML)"),
    ],
    scan: Annotated[
        Path | None,
        typer.Option("--scan", help="Scan report written by `mlchain scan -f json`"),
    ] = None,
    verification: Annotated[
        Path | None,
        typer.Option("--verification", help="Verification result JSON from `mlchain verify`"),
    ] = None,
    provenance: Annotated[
        Path | None, typer.Option("--provenance", help="In-toto provenance statement JSON")
    ] = None,
    sbom: Annotated[Path | None, typer.Option("--sbom", help="CycloneDX BOM JSON")] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Model file or folder to describe")
    ] = None,
    fmt: Annotated[
        ResultFormat, format_option("Output format", envvar="MLCHAIN_POLICY_FORMAT")
    ] = ResultFormat.TABLE,
    output: Annotated[Path | None, output_option("Write the result to this file")] = None,
) -> None:
    """Evaluate saved scan/verification/provenance/SBOM results against a policy."""
    with error_boundary():
        from mlchain.policy import PolicyInputs, evaluate, load_policy
        from mlchain.report import load_report

        loaded = load_policy(policy)
        inputs = PolicyInputs(
            verification=_read(verification, "verification result"),
            scan=load_report(scan) if scan is not None else None,
            provenance=_read(provenance, "provenance statement"),
            sbom=_read(sbom, "SBOM"),
            model=describe_path(model) if model is not None else None,
        )
        decision = evaluate(loaded, inputs)
        text = render_decision(decision, json_format=fmt is ResultFormat.JSON)
        console.write_output(text, output)
        console.info(decision_summary(decision))
    raise typer.Exit(ExitCode.OK if decision.allowed else ExitCode.FAIL)


def describe_path(path: Path) -> dict[str, Any]:
    """The ``model`` input for ``policy check --model PATH``: the scan's walk and detection.

    Formats come from content detection (headers only); nothing is loaded or scanned. The
    result has the shape :func:`mlchain.policy.inputs.describe_model` reads from a scan report.

    Raises:
        InputError: if ``path`` does not exist or cannot be listed.
    """
    from mlchain.policy.inputs import describe_model
    from mlchain.scan.detect import detect, read_head
    from mlchain.scan.walk import walk

    results: list[dict[str, Any]] = []
    for entry in walk(path, []):
        fmt: str | None = None
        if entry.skipped is None and entry.escape is None:
            try:
                fmt = detect(entry.path, read_head(entry.path), entry.size).format.value
            except OSError:
                fmt = None
        elif entry.escape is not None:
            fmt = "symlink-escape"
        results.append({"location": {"path": str(entry.rel)}, "size": entry.size, "format": fmt})
    return describe_model({"results": results})


def _read(path: Path | None, what: str) -> dict[str, Any] | None:
    from mlchain.policy.inputs import read_json_input

    return None if path is None else read_json_input(path, what)


@app.command(name="init")
def init(
    output: Annotated[Path, output_option("Where to write the policy ('-' for stdout)")] = Path(
        "mlchain-policy.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented starter policy."""
    with error_boundary():
        from mlchain.policy.starter import STARTER_POLICY

        if str(output) == "-":
            sys.stdout.write(STARTER_POLICY)
        else:
            _write_new(output, STARTER_POLICY, force=force)
            console.info(f"wrote {output}; edit the authorities, then `mlchain policy check`.")
    raise typer.Exit(ExitCode.OK)


def _write_new(target: Path, text: str, *, force: bool) -> None:
    """Write ``text`` atomically; without ``force`` never replace an existing file."""
    if not force and os.path.lexists(target):
        raise UsageError(f"{target} already exists.", hint="Pass --force to overwrite it.")
    from mlchain.atomic import write_atomically

    try:
        write_atomically(target, text, exclusive=not force)
    except FileExistsError:
        raise UsageError(
            f"{target} already exists.", hint="Pass --force to overwrite it."
        ) from None
