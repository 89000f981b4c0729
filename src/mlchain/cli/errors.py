"""The CLI's error boundary and exit-code contract (docs/exit-codes.md)."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

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

    Tracebacks are shown only with ``--verbose``. typer's own exceptions (exit, abort, usage
    errors; ``typer.Exit`` subclasses ``RuntimeError``) are re-raised untouched first. The exit
    is a ``SystemExit``, which typer passes through as it is, so this module needs no typer:
    the fast scan path (:mod:`mlchain.cli.fast`) runs without importing it.
    """
    try:
        yield
    except _typer_exceptions():
        raise
    except MlchainError as exc:
        _maybe_traceback()
        if isinstance(exc, PolicyError) and "\n" in exc.message:
            # A policy file's errors, one per line (file:line: problem), then what to do.
            console.error(f"{exc.message}\n{exc.hint}", lines=True)
        else:
            console.error(exc.diagnostics())
        exit_with(exc.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; no output was written.")
        exit_with(ExitCode.INTERRUPTED)
    except Exception as exc:
        _maybe_traceback()
        console.error(
            f"internal error ({type(exc).__name__}: {exc}). Results are incomplete. This is a "
            "bug in mlchain: run again with --verbose and report the traceback."
        )
        exit_with(ExitCode.ERROR)


def exit_with(code: int) -> NoReturn:
    """End the command with ``code`` (typer passes a ``SystemExit`` through unchanged)."""
    raise SystemExit(int(code)) from None


def _typer_exceptions() -> tuple[type[BaseException], ...]:
    """The exceptions of typer when it is loaded (on the fast scan path none can be raised)."""
    typer = sys.modules.get("typer")
    if typer is None:
        return ()
    return (typer.Exit, typer.Abort, typer.TyperException)


def _maybe_traceback() -> None:
    if console.state.verbose:
        import traceback

        console.err_console().print(traceback.format_exc(), markup=False, highlight=False)
