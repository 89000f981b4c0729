"""The two consoles (stdout for data, stderr for everything else) and atomic report writing."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlchain.errors import OutputError

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(slots=True)
class State:
    """Global CLI flags, set by the app callback."""

    verbose: bool = False
    quiet: bool = False


state = State()


def err_console() -> Console:
    """The stderr console (progress, summaries, diagnostics). Respects NO_COLOR and non-TTYs."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def stdout_is_color_terminal() -> bool:
    """Whether data written to stdout may carry colour."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def info(message: str) -> None:
    """Print an informational line to stderr unless ``--quiet``."""
    if not state.quiet:
        _plain(message)


def error(message: str) -> None:
    """Print an error paragraph to stderr (always, even with ``--quiet``)."""
    _plain(f"error: {message}")


def _plain(message: str) -> None:
    # Plain text, no rich: nothing here is markup, control characters are stripped (hostile
    # strings were cleaned by whoever built the message; this is a second line of defence),
    # and importing rich costs about 15 ms of every run.
    from mlchain.sanitize import clean

    sys.stderr.write(clean(message, limit=4000) + "\n")
    sys.stderr.flush()


def write_output(text: str, output: Path | None) -> None:
    """Write ``text`` to stdout, or atomically to ``output`` (temp file + rename).

    A failed or interrupted write leaves no partial file behind.

    Raises:
        OutputError: if the file cannot be written.
    """
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_atomically(output.expanduser(), text)
    except OSError as exc:
        raise OutputError(f"Cannot write {output}: {exc.strerror or exc}.") from exc


def write_atomically(target: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``target`` through a temporary file in the same folder.

    The temporary file is renamed over ``target``, or with ``exclusive`` hard-linked into place,
    which fails if ``target`` exists (no check-then-write race). Either way no partial file is
    ever left behind.

    Raises:
        FileExistsError: with ``exclusive``, when ``target`` exists.
        OSError: when the file cannot be written.
    """
    directory = target.parent if str(target.parent) else Path()
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp_name, target)  # the temporary name is removed below
        else:
            Path(tmp_name).replace(target)
            tmp_name = None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                Path(tmp_name).unlink()
