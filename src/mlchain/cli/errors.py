"""The CLI's error boundary and exit-code contract (docs/exit-codes.md)."""

from __future__ import annotations

import enum
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from mlchain.cli import console
from mlchain.errors import MlchainError, PolicyError


@enum.unique
class ExitCode(enum.IntEnum):
    """Documented exit codes; tested in tests/cli/test_exit_codes.py."""

    OK = 0
    FAIL = 1
    """Findings at or above --fail-on, a policy violation, or a verification failure."""
    USAGE = 2
    ERROR = 3
    """mlchain could not complete: I/O, network or internal error. Results are incomplete."""
    INTERRUPTED = 130


@contextmanager
def error_boundary() -> Iterator[None]:
    """Turn errors into one diagnostic paragraph on stderr and the documented exit code.

    Tracebacks are shown only with ``--verbose``. ``typer.Exit`` subclasses ``RuntimeError``,
    so typer's own exceptions (exit, abort, usage errors) are re-raised untouched first.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except MlchainError as exc:
        _maybe_traceback()
        if isinstance(exc, PolicyError) and "\n" in exc.message:
            # A policy file's errors, one per line (file:line: problem), then what to do.
            console.error(f"{exc.message}\n{exc.hint}", lines=True)
        else:
            console.error(exc.diagnostics())
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.error("interrupted; no output was written.")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Exception as exc:
        _maybe_traceback()
        console.error(
            f"internal error ({type(exc).__name__}: {exc}). Results are incomplete. This is a "
            "bug in mlchain: run again with --verbose and report the traceback."
        )
        raise typer.Exit(ExitCode.ERROR) from None


def _maybe_traceback() -> None:
    if console.state.verbose:
        console.err_console().print(traceback.format_exc(), markup=False, highlight=False)
