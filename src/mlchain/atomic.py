"""Atomic file writing: a temp file in the same folder, fsync, then a rename.

Reports, signatures and attestations all go through :func:`write_atomically`, so a failed or
interrupted run never leaves a half-written file where a pipeline expects a complete one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mlchain.errors import OutputError


def write_atomically(path: Path, text: str, *, what: str = "", exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The temporary file is renamed over ``path``, or with ``exclusive`` hard-linked into place,
    which fails if ``path`` exists (no check-then-write race).

    Raises:
        FileExistsError: with ``exclusive``, when ``path`` exists.
        OutputError: if the file cannot be written; no partial file is left behind.
    """
    target = path.expanduser()
    directory = target.parent if str(target.parent) else Path()
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, target)  # the temporary name is removed below
        else:
            Path(tmp).replace(target)
            tmp = None
    except FileExistsError:
        if exclusive:
            raise
        raise OutputError(f"Cannot write {path}: a file appeared in its place.") from None
    except OSError as exc:
        label = f"{what} " if what else ""
        raise OutputError(f"Cannot write {label}{path}: {exc.strerror or exc}.") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
