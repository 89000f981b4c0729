"""An opt-in result cache: re-scanning an unchanged model costs no more than listing it.

Trust model (also in docs/scan.md):

- A cached result is reused only when the file's ``(device, inode, size, mtime_ns, ctime_ns)``,
  its reported path, mlchain's version, the pickle allowlist version, the rule catalogue and the
  scan options (limits, ``--allow-global``) are all unchanged. ``ctime`` cannot be set by an
  unprivileged user, so rewriting a file and restoring its mtime still invalidates the entry.
  Someone who controls the clock or the file system (root) can defeat this: do not share a cache
  across trust boundaries, and leave it off in CI unless the runner is yours.
- The cache is one SQLite file inside the given folder, which must be private (mode 0700): a folder
  others can write to is refused, because a poisoned cache would turn any file clean.
- Only the parent process reads and writes the cache; workers never see it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from dataclasses import asdict
from pathlib import Path

from mlchain import __version__
from mlchain.errors import UsageError
from mlchain.models import ScanResult
from mlchain.report import result_from_dict, result_to_dict
from mlchain.rules import RULES
from mlchain.scan.base import ScanOptions
from mlchain.scan.pickle.allowlist import ALLOWLIST_VERSION
from mlchain.scan.walk import Entry

CACHE_FILE = "mlchain-scan-cache.sqlite3"


def _fingerprint(options: ScanOptions) -> str:
    """Everything besides the file that decides a result."""
    material = json.dumps(
        {
            "mlchain": __version__,
            "allowlist": ALLOWLIST_VERSION,
            "rules": sorted((r.id, r.severity.label) for r in RULES.values()),
            "limits": asdict(options.limits),
            "allow": sorted(options.allow_globals),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


class ResultCache:
    """Scan results keyed by file identity; see the module docstring for what is trusted."""

    def __init__(self, directory: Path, options: ScanOptions) -> None:
        """Open (or create) the cache in ``directory``.

        Raises:
            UsageError: if the folder cannot be created or others may write to it.
        """
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = directory.stat().st_mode
        except OSError as exc:
            raise UsageError(f"Cannot use {directory} as a scan cache: {exc.strerror}.") from exc
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UsageError(
                f"The scan cache {directory} is writable by other users; a poisoned cache would "
                "make files look clean.",
                hint="Use a private folder (chmod 700) or drop --cache.",
            )
        self._fingerprint = _fingerprint(options)
        self._db = sqlite3.connect(directory / CACHE_FILE)
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT)")

    def close(self) -> None:
        """Commit and close the database."""
        self._db.commit()
        self._db.close()

    def key(self, entry: Entry) -> str | None:
        """The identity of ``entry`` now, or ``None`` when it cannot be cached (special files)."""
        if entry.skipped is not None or entry.escape is not None:
            return None
        try:
            st = entry.path.stat()
        except OSError:
            return None
        parts = (
            self._fingerprint,
            str(entry.rel),
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            entry.expected_sha256 or "",
        )
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def get(self, key: str) -> ScanResult | None:
        """The cached result for ``key``, if any (a corrupt row is treated as a miss)."""
        row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return result_from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: ScanResult) -> None:
        """Remember ``result`` under ``key``."""
        self._db.execute(
            "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)",
            (key, json.dumps(result_to_dict(result))),
        )


__all__ = ["CACHE_FILE", "ResultCache", "result_from_dict"]
