"""Safe report writing: atomic for regular files, direct for devices and pipes.

Reports, signatures and attestations all go through :func:`write_atomically`:

* A new path, or an existing **regular file**, is written to a temp file in the same folder,
  fsync'ed, then renamed into place, so a failed or interrupted run never leaves a half-written
  file where a pipeline expects a complete one. A symbolic link is followed first, so the link
  stays a link and its target is replaced.
* Anything else that exists (``/dev/null``, ``/dev/stdout``, a FIFO, a terminal, any character
  device) is **written directly**, never renamed over: replacing ``/dev/null`` with a report as
  root would break the machine. A directory, a socket or a block device is refused.
* New files get the mode the user's umask gives a new file (0644 under umask 022), as ``>`` in
  a shell would, so a verifier running as another uid can read a signature; a regular file that
  is replaced keeps its mode. ``tempfile.mkstemp`` alone would leave 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from mlchain.errors import OutputError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """Return the process umask without a window in which it is changed (Linux reads /proc)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere: set and restore (the lock keeps our own threads out)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_atomically(path: Path, text: str, *, what: str = "", exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path``: atomically for regular files, directly for devices.

    The temporary file is renamed over ``path``, or with ``exclusive`` hard-linked into place,
    which fails if ``path`` exists (no check-then-write race).

    Raises:
        FileExistsError: with ``exclusive``, when ``path`` exists.
        OutputError: if the file cannot be written; no partial file is left behind.
    """
    label = f"{what} " if what else ""
    target = path.expanduser()
    try:
        info = target.stat()  # follows links: /dev/stdout -> /proc/self/fd/1 -> the real target
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"Cannot write {label}{path}: {exc.strerror or exc}.") from exc
    if info is not None and not stat.S_ISREG(info.st_mode):
        if exclusive:
            raise FileExistsError(str(path))
        _write_special(target, text, info.st_mode, label)
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace the link's target, keep the link
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~current_umask()
    directory = target.parent if str(target.parent) else Path()
    import tempfile  # here, not at the top: a report on stdout never needs it (start-up)

    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
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
        raise OutputError(f"Cannot write {label}{path}: {exc.strerror or exc}.") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()


def _write_special(target: Path, text: str, mode: int, label: str) -> None:
    """Write to an existing non-regular file in place (character device, FIFO)."""
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file, device or pipe"
        raise OutputError(
            f"Cannot write {label}{target}: it is {kind}.",
            hint="Name a file to write to (a new path, a regular file, or a device such as "
            "/dev/stdout).",
        )
    try:
        # No O_CREAT and no O_TRUNC: the node exists and is not ours to replace or truncate.
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputError(f"Cannot write {label}{target}: {exc.strerror or exc}.") from exc
