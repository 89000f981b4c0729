"""The two consoles (stdout for data, stderr for everything else) and atomic report writing."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlchain.atomic import write_atomically

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(slots=True)
class State:
    """Global CLI flags, set by the app callback."""

    verbose: bool = False
    quiet: bool = False
    no_progress: bool = False
    """``--no-progress``: no progress bar or hashing log lines on stderr."""
    progress_line_open: bool = False
    """A ``\r``-terminated progress line is on stderr: end it before printing anything else."""


state = State()


def err_console() -> Console:
    """The stderr console (progress, summaries, diagnostics). Respects NO_COLOR and non-TTYs."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def stdout_is_color_terminal() -> bool:
    """Whether data written to stdout may carry colour.

    ``NO_COLOR`` (any value) turns colour off; otherwise a non-empty ``FORCE_COLOR`` turns it on
    even when stdout is not a terminal (CI logs that render ANSI), as rich and most tools do.
    """
    if "NO_COLOR" in os.environ:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def stdout_width() -> int:
    """Columns for tables on stdout: the terminal's, else ``COLUMNS``, else 120 (CI logs)."""
    if sys.stdout.isatty():
        import shutil  # only here: it imports bz2 and lzma (~5 ms of a one-file scan)

        return shutil.get_terminal_size(fallback=(120, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 120


def info(message: str) -> None:
    """Print an informational line to stderr unless ``--quiet``."""
    if not state.quiet:
        _plain(message)


def error(message: str, *, lines: bool = False) -> None:
    """Print an error paragraph to stderr (always, even with ``--quiet``).

    With ``lines`` the message's own line breaks (several errors of one policy file) are kept,
    each line cleaned on its own and indented under the first; otherwise a newline inside the
    message is shown escaped (it may come from a hostile file name).
    """
    if lines:
        first, *rest = message.split("\n")
        _plain(f"error: {first}")
        for line in rest:
            _plain(f"  {line}")
        return
    _plain(f"error: {message}")


def _plain(message: str) -> None:
    # Plain text, no rich: nothing here is markup, control characters are stripped (hostile
    # strings were cleaned by whoever built the message; this is a second line of defence),
    # and importing rich costs about 15 ms of every run.
    from mlchain.sanitize import clean

    if state.progress_line_open:  # "error: interrupted" must not overwrite "scanning 1150/8070"
        sys.stderr.write("\n")
        state.progress_line_open = False
    sys.stderr.write(clean(message, limit=4000) + "\n")
    sys.stderr.flush()


def write_output(text: str, output: Path | None) -> None:
    """Write ``text`` to stdout, or to ``output`` (see :mod:`mlchain.atomic`), creating its folder.

    A failed or interrupted write leaves no partial file behind.

    Raises:
        OutputError: if the file cannot be written.
    """
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    # A missing folder is created (the README's `-o model.mlchain/provenance.json` is mlchain's
    # own convention); only after the run succeeded, so a failed run leaves nothing behind.
    with contextlib.suppress(OSError):  # the write below reports what is wrong
        output.expanduser().parent.mkdir(parents=True, exist_ok=True)
    write_atomically(output, text)
