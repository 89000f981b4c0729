"""The ``mlchain`` command line: the only place that parses arguments or picks exit codes.

The typer application lives in :mod:`mlchain.cli.root`. This package itself imports nothing
heavy, so its typer-free modules (console, errors, choices, review, progress and the scan body)
can run ``mlchain scan`` on the fast path (:mod:`mlchain.cli.fast`) without typer, which is
about a third of a small scan's start-up (mlchain issue #19, item 6).
"""

from __future__ import annotations

from typing import Any

_ROOT_NAMES = frozenset(
    {"COMMANDS", "EXIT_CODES_HELP", "GLOBAL_FLAGS", "app", "hoist_global_flags", "load_command"}
)


def main() -> None:
    """Console-script entry point: the fast scan path when it applies, else the typer app."""
    import sys

    from mlchain.cli.fast import run_fast

    run_fast(sys.argv[1:])  # exits when it handled the command
    from mlchain.cli.root import main as root_main

    root_main()


def __getattr__(name: str) -> Any:
    """``from mlchain.cli import app`` (and the other names of :mod:`mlchain.cli.root`)."""
    if name in _ROOT_NAMES:
        from mlchain.cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
