"""Hashing progress on stderr: a bar on a terminal, one log line per big step in CI.

Installed by the app callback (:func:`install`) unless ``--no-progress`` or ``--quiet``. On a
terminal a transient rich bar (bytes, speed, time left) appears for models of at least
:data:`BAR_MIN_BYTES`; elsewhere (CI logs) hashing of at least :data:`LOG_MIN_BYTES` logs a start
line and a summary with the throughput, e.g. ``hashed 20.0 GiB in 35 s (585 MiB/s)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlchain.cli import console

if TYPE_CHECKING:
    from mlchain.signing.hashwatch import HashProgress

BAR_MIN_BYTES = 64 << 20
"""Smaller models hash in well under a second: no bar."""
LOG_MIN_BYTES = 256 << 20
"""Smaller hashing steps are not worth a log line in CI."""


def human_bytes(count: float) -> str:
    """``1536`` -> ``1.5 KiB``; binary units, one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def throughput_line(progress: HashProgress) -> str:
    """``hashed 20.0 GiB in 35 s (585 MiB/s)``."""
    seconds = max(progress.elapsed, 1e-6)
    rate = progress.done_bytes / seconds / (1 << 20)
    shown = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    return f"hashed {human_bytes(progress.done_bytes)} in {shown} ({rate:.0f} MiB/s)"


class ConsoleHashReporter:
    """The CLI's :class:`mlchain.signing.hashwatch.HashReporter`."""

    def __init__(self, *, terminal: bool) -> None:
        self._terminal = terminal
        self._bar: Any = None
        self._task: Any = None
        self._logged = False

    def start(self, progress: HashProgress) -> None:
        """Open the bar (terminal) or log the start of a big step (CI)."""
        self._logged = False
        if self._terminal and progress.total_bytes >= BAR_MIN_BYTES:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("hashing"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console.err_console(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("hashing", total=progress.total_bytes)
        elif not self._terminal and progress.total_bytes >= LOG_MIN_BYTES:
            self._logged = True
            console.info(f"hashing {human_bytes(progress.total_bytes)} ...")

    def update(self, progress: HashProgress) -> None:
        """Move the bar."""
        if self._bar is not None:
            self._bar.update(self._task, completed=progress.done_bytes)

    def finish(self, progress: HashProgress, *, completed: bool) -> None:
        """Close the bar (it leaves no line behind); log the throughput in CI."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._logged and completed:
            console.info(throughput_line(progress))


SCAN_MIN_FILES = 20
"""Fewer files scan in a blink: no counter."""


def scan_counter() -> Callable[[int, int], None] | None:
    """A ``scanning N/M files`` counter for a terminal's stderr, else ``None``.

    The line is redrawn in place (carriage return); :func:`mlchain.cli.console.error` ends it
    first, so an ``interrupted`` message never overwrites it.
    """
    if console.state.quiet or console.state.no_progress or not sys.stderr.isatty():
        return None

    def count(done: int, total: int) -> None:
        if total < SCAN_MIN_FILES or not (done % 10 == 0 or done == total):
            return
        last = done == total
        sys.stderr.write(f"\rscanning {done}/{total} files" + ("\n" if last else ""))
        sys.stderr.flush()
        console.state.progress_line_open = not last

    return count


def install(*, enabled: bool) -> None:
    """Install the reporter for this run (or none: ``--no-progress``, ``--quiet``)."""
    from mlchain.signing import hashwatch

    if not enabled:
        hashwatch.set_reporter(None)
        return
    terminal = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    hashwatch.set_reporter(ConsoleHashReporter(terminal=terminal))


def apply_global_flags(*, verbose: bool, quiet: bool, no_progress: bool) -> None:
    """Act on ``-v``, ``-q`` and ``--no-progress`` (the root command, or the fast scan path)."""
    console.state.verbose = verbose
    console.state.quiet = quiet and not verbose
    console.state.no_progress = no_progress
    install(enabled=not (no_progress or console.state.quiet))
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
