"""An opt-in result cache: re-scanning an unchanged model costs no more than listing it.

Two keys lead to a result:

- **Identity** (this machine): the file's ``(device, inode, size, mtime_ns, ctime_ns)`` and its
  reported path. A hit costs one ``stat``; nothing is read.
- **Content** (any machine): the sha256 of the file's bytes, plus its file name (detection looks
  at the extension). Only results of self-contained formats are stored this way (pickles, PyTorch,
  NumPy, joblib, compressed streams: formats whose verdict depends on no other file), so an
  unchanged blob already scanned anywhere, under any folder, is not scanned again. A file that
  misses on identity is hashed where the scan runs (threads on all cores, or Ray's workers) before
  it is looked up; ``.safetensors`` and ``.gguf`` files are not, as their scan reads only a header.

Both keys also hold mlchain's version, the pickle allowlist version, the rule catalogue and the
scan options that change verdicts (limits, ``--allow-global``). Trust model (also in docs/scan.md):

- ``ctime`` cannot be set by an unprivileged user, so rewriting a file and restoring its mtime
  still invalidates its identity entry. A result is stored only if the file's identity is the same
  after the scan as before it was hashed: a file swapped between hashing and scanning is scanned
  but never stored, so it cannot file a clean verdict under another content's digest.
- Someone who controls the clock or the file system (root) can defeat this: do not share a cache
  across trust boundaries, and leave it off in CI unless the runner is yours.
- The cache is one SQLite file inside the given folder, which must be private: a folder that group
  or others can write to, or that belongs to another user (root excepted), is refused, because a
  poisoned cache would turn any file clean. A folder we may read but not write (a replica
  published by the one writer) is used read-only.
- Only the parent process reads and writes the cache; workers never see it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path, PurePosixPath

from mlchain import __version__
from mlchain.errors import UsageError
from mlchain.models import ArtifactFormat, Location, ScanResult
from mlchain.report import result_from_dict, result_to_dict
from mlchain.rules import RULES
from mlchain.scan.base import ScanOptions
from mlchain.scan.digest import file_digest
from mlchain.scan.pickle.version import ALLOWLIST_VERSION
from mlchain.scan.walk import Entry

CACHE_FILE = "mlchain-scan-cache.sqlite3"

CONTENT_FORMATS = frozenset(
    {
        ArtifactFormat.PICKLE,
        ArtifactFormat.PYTORCH_ZIP,
        ArtifactFormat.PYTORCH_LEGACY,
        ArtifactFormat.PYTORCH_TAR,
        ArtifactFormat.TORCHSCRIPT,
        ArtifactFormat.NUMPY,
        ArtifactFormat.NUMPY_ZIP,
        ArtifactFormat.JOBLIB,
        ArtifactFormat.GZIP,
        ArtifactFormat.BZIP2,
        ArtifactFormat.XZ,
        ArtifactFormat.ZLIB,
        ArtifactFormat.SAFETENSORS,
        ArtifactFormat.GGUF,
    }
)
"""Formats whose result depends on the file's bytes and name only (an allowlist): their results
are shared by content digest. Everything else (ONNX external data, safetensors indexes, Python
code beside a model, configuration) is judged with its neighbours and cached by identity only."""


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
        owner = directory.stat().st_uid
        if mode & (stat.S_IWGRP | stat.S_IWOTH) or owner not in {os.getuid(), 0}:
            raise UsageError(
                f"The scan cache {directory} is writable by other users; a poisoned cache would "
                "make files look clean.",
                hint="Use a private folder (chmod 700, owned by you) or drop --cache.",
            )
        self._fingerprint = _fingerprint(options)
        database = directory / CACHE_FILE
        self.read_only = not os.access(directory, os.W_OK)
        if self.read_only:
            if not database.is_file():
                raise UsageError(
                    f"The scan cache {directory} is read-only and holds no cache.",
                    hint="Point --cache at a replica of a cache folder, or at a writable folder.",
                )
            self._db = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
        else:
            self._db = sqlite3.connect(database)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT)"
            )

    def close(self) -> None:
        """Commit and close the database."""
        if not self.read_only:
            self._db.commit()
        self._db.close()

    def content_key(self, entry: Entry, digest: str) -> str:
        """The key of ``entry``'s content (its sha256 ``digest``) wherever the file lies."""
        parts = (self._fingerprint, "content", digest, entry.rel.name)
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def get_content(self, key: str, entry: Entry) -> ScanResult | None:
        """A result stored by content, moved to ``entry``'s path (``None`` on a miss)."""
        stored = self.get(key)
        if stored is None or stored.format not in CONTENT_FORMATS:
            return None
        return _moved(stored, entry.rel)

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
        if self.read_only:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)",
            (key, json.dumps(result_to_dict(result))),
        )


def _moved(result: ScanResult, path: PurePosixPath) -> ScanResult:
    """``result`` for the same content at ``path`` (locations at the old path follow it)."""
    old = result.location.path

    def move(loc: Location) -> Location:
        return dataclasses.replace(loc, path=path) if loc.path == old else loc

    findings = tuple(dataclasses.replace(f, location=move(f.location)) for f in result.findings)
    return dataclasses.replace(result, location=move(result.location), findings=findings)


HEADER_ONLY_SUFFIXES = (".safetensors", ".gguf")
"""Files whose scan reads only a header: hashing them would cost more than scanning them again, so
they are not looked up by content. Going by the name is safe here: a file not hashed is scanned."""


def worth_hashing(entry: Entry) -> bool:
    """Whether looking ``entry`` up by content can be cheaper than scanning it."""
    return not entry.rel.name.lower().endswith(HEADER_ONLY_SUFFIXES)


def _digests(entries: list[Entry], options: ScanOptions, jobs: int) -> list[str | None]:
    """Hash ``entries`` where the scan would run: Ray's workers, or ``jobs`` threads.

    hashlib releases the GIL on large buffers, so threads use every core.
    """
    if options.executor == "ray":
        from mlchain.scan.executors import ray_digests

        return ray_digests(entries, options)
    if jobs <= 1 or len(entries) < 2:
        return [file_digest(e) for e in entries]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(file_digest, entries))


def run_cached(
    entries: list[Entry],
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
    run: Callable[[list[Entry], ScanOptions, Callable[[int, int], None] | None], list[ScanResult]],
) -> list[ScanResult]:
    """Serve ``entries`` from the cache by identity, then by content; ``run`` scans the rest.

    Raises:
        UsageError: if the cache folder is refused (see the module docstring).
    """
    import logging

    from mlchain.cpus import usable_cpus

    assert options.cache_dir is not None
    cache = ResultCache(options.cache_dir, options)
    try:
        keys = [cache.key(e) for e in entries]
        found = [cache.get(k) if k else None for k in keys]
        missing = [
            i
            for i, hit in enumerate(found)
            if hit is None and keys[i] is not None and worth_hashing(entries[i])
        ]
        hashed = _digests([entries[i] for i in missing], options, options.jobs or usable_cpus())
        digests: dict[int, str] = {i: d for i, d in zip(missing, hashed, strict=True) if d}
        reused = sum(1 for hit in found if hit is not None)
        for index, digest in digests.items():
            entry = entries[index]
            if entry.expected_sha256 not in (None, digest):
                continue  # a modified cache blob: scan it, so the mismatch is reported
            hit = cache.get_content(cache.content_key(entry, digest), entry)
            if hit is not None:
                hit = dataclasses.replace(hit, sha256=digest)
                found[index] = hit
                identity = keys[index]
                assert identity is not None  # only files with an identity were hashed
                cache.put(identity, hit)
                reused += 1
        todo = [i for i, hit in enumerate(found) if hit is None]
        fresh = run([entries[i] for i in todo], options, progress)
        for index, result in zip(todo, fresh, strict=True):
            key, content = keys[index], digests.get(index)
            if key is None or cache.key(entries[index]) != key:
                found[index] = result  # changed while it was hashed or scanned: never stored
                continue
            if content is not None and result.sha256 in (None, content):
                result = dataclasses.replace(result, sha256=content)
                if result.format in CONTENT_FORMATS:
                    cache.put(cache.content_key(entries[index], content), result)
            found[index] = result
            cache.put(key, result)
    finally:
        cache.close()
    logging.getLogger(__name__).debug("cache: %d of %d files reused", reused, len(entries))
    return [r for r in found if r is not None]


__all__ = [
    "CACHE_FILE",
    "CONTENT_FORMATS",
    "ResultCache",
    "file_digest",
    "result_from_dict",
    "run_cached",
    "worth_hashing",
]
