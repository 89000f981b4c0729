"""The scan pipeline: walk -> detect -> dispatch -> collect.

``scan_paths`` is the single entry point used by the CLI, the policy gate and the benchmarks. Files
are scanned in worker processes when there are enough of them to pay for the pool (both cores of a
CI machine are used). Workers forked after the walk (:mod:`mlchain.scan.forkpool`) inherit the
entries, take ranges of them, and answer in JSON (a result without findings as four values).
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain import __version__
from mlchain.models import ArtifactFormat, Finding, Location, ScanReport, ScanResult
from mlchain.pinned import PinnedPath
from mlchain.scan import detect as detection  # as a module: tests replace its read_head
from mlchain.scan.base import Artifact, Outcome, ScanContext, ScanOptions, Skip, finding
from mlchain.scan.inert import named_file_pickle
from mlchain.scan.magic import NAMED_FORMATS
from mlchain.scan.pickle.version import ALLOWLIST_VERSION
from mlchain.scan.registry import UNSCANNED, scanner_for
from mlchain.scan.walk import Entry, walk
from mlchain.sources.hfcache import locate

if TYPE_CHECKING:
    from mlchain.pinned import PinnedFiles

__all__ = ["ScanOptions", "scan_file", "scan_paths"]


def _debug(message: str, *args: object) -> None:
    """Log a scanner failure with its traceback (``-v``); logging is imported only then."""
    import logging

    logging.getLogger(__name__).debug(message, *args, exc_info=True)


POOL_THRESHOLD = 24
"""Below this many files, a process pool costs more than it saves."""
POOL_MIN_BYTES = 32 * 1024 * 1024
POOL_MIN_FILES = 400
"""A pool is used for at least this much content in total, or at least this many files: below
both, forking and collecting cost more than the scan (on 2 cores, 200 small pickles take 25 ms
serial and 29 ms in a pool; 5,000 take 350 ms serial and 270 ms in a pool)."""


def scan_paths(
    paths: Sequence[Path],
    options: ScanOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Scan files and directories and return a deterministic report.

    Raises:
        InputError: if a given path does not exist or cannot be listed.
    """
    options = options or ScanOptions()
    excluded: list[str] = []
    metadata: dict[str, str] = {}
    source = _Limited(_entries(paths, options, excluded, metadata), options.limits.max_files)
    # The walk ends before the scan starts, so forked workers inherit the entries for free.
    # Overlapping the two (entries sent to the workers as the walk finds them) was tried and
    # measured slower on 2 cores: sending the entries, and the executor's threads taking turns
    # with the walk for the GIL, cost more than the walk the overlap hid (benchmarks/RESULTS.md,
    # issue #19, stop 23).
    entries = list(source)
    results = _run_cached(entries, options, progress)
    roots = {root: display_root(root) for root in {e.root for e in entries}}
    results = [r.under(roots[e.root]) for r, e in zip(results, entries, strict=True)]
    over = source.result()
    if over is not None:
        results.append(over)
    results.sort(key=lambda r: (r.location.file(), r.location.member or ""))
    if excluded:
        metadata["excluded"] = ",".join(sorted(excluded))
    return ScanReport(
        results=tuple(results),
        roots=tuple(str(p) for p in paths),
        tool_version=__version__,
        allowlist_additions=tuple(sorted(options.allow_globals)),
        metadata=metadata,
        allowlist_version=ALLOWLIST_VERSION,
    )


def _entries(
    paths: Sequence[Path], options: ScanOptions, excluded: list[str], metadata: dict[str, str]
) -> Iterator[Entry]:
    """Every entry to scan, in walk order: pinned inside a gate run, exclusions left out.

    ``scan_paths`` and the streamed scan (:mod:`mlchain.scan.stream`) both list files with it.
    """
    pins = _active_pins()
    exclude = _Exclusion(options.exclude) if options.exclude else None
    for path in paths:
        cache = locate(path) if path.is_dir() else None
        if cache is not None:
            metadata.update({"hf_repo": cache.repo_id, "hf_commit": cache.commit})
            metadata["hf_cache_snapshot"] = str(cache.snapshot)
            path = cache.snapshot
        for entry in walk(_openable(path), excluded, cache=cache):
            if pins is not None:
                entry = _pin(pins, entry)
            if exclude is not None and exclude.drops(entry, excluded):
                continue
            yield entry


class _Limited:
    """The first ``limit`` entries of ``source``; the rest are counted, not yielded."""

    def __init__(self, source: Iterator[Entry], limit: int) -> None:
        self.source = source
        self.limit = limit
        self.over = 0
        self.first_over: Entry | None = None

    def __iter__(self) -> Iterator[Entry]:
        kept = 0
        for entry in self.source:
            if kept < self.limit:
                kept += 1
                yield entry
                continue
            if self.first_over is None:
                self.first_over = entry
            self.over += 1

    def result(self) -> ScanResult | None:
        """The report's line for the files beyond the limit, once the source is spent."""
        if self.first_over is None:
            return None
        loc = Location(self.first_over.rel)
        message = f"{self.over} files beyond the limit of {self.limit} files were not scanned"
        return ScanResult(
            loc,
            ArtifactFormat.DATA,
            (finding("scan-limit-exceeded", message, loc),),
            skipped="file limit reached",
        )


def _active_pins() -> PinnedFiles | None:
    """The gate's pinned files, when this scan runs inside a gate run."""
    import sys

    module = sys.modules.get("mlchain.pinned")  # not imported: no gate run pinned anything
    return module.active() if module is not None else None


def _pin(pins: PinnedFiles, entry: Entry) -> Entry:
    """Inside a gate run, read the file through the descriptor the gate hashed it from."""
    path = pins.path(entry.path) if entry.skipped is None and entry.escape is None else None
    if path is None:
        return entry
    return dataclasses.replace(entry, path=path, size=path.stat().st_size)  # the pinned size


class _Exclusion:
    """``--exclude`` patterns (gitignore syntax) against the names the report would show."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        from pathspec import GitIgnoreSpec

        self.spec = GitIgnoreSpec.from_lines(patterns)
        self.shown_roots: dict[Path, str] = {}

    def drops(self, entry: Entry, excluded: list[str]) -> bool:
        """Whether ``entry`` is excluded; an excluded entry is recorded in ``excluded``."""
        import posixpath

        if entry.root not in self.shown_roots:
            self.shown_roots[entry.root] = display_root(entry.root)
        shown = posixpath.normpath(posixpath.join(self.shown_roots[entry.root], str(entry.rel)))
        if self.spec.match_file(shown):
            excluded.append(shown)
            return True
        return False


def display_root(root: Path) -> str:
    """Name a scan root as the user would find it.

    Relative to the current folder when inside it, else absolute: ``scan a b`` then reports
    ``a/model.pkl`` and ``b/model.pkl``, never the same name twice.
    """
    from mlchain.sanitize import clean_path

    absolute = Path(os.path.abspath(root))  # noqa: PTH100 (folds .. without following links)
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return clean_path(absolute.as_posix())
    return clean_path(relative.as_posix())


def _pays(total: int, content: int) -> bool:
    """Whether a pool costs less than it saves on this many files holding this many bytes."""
    return total >= POOL_THRESHOLD and (total >= POOL_MIN_FILES or content >= POOL_MIN_BYTES)


def _run_cached(
    entries: list[Entry],
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
) -> list[ScanResult]:
    """Serve unchanged files from the opt-in cache; scan the rest."""
    if options.cache_dir is None:
        return _run(entries, options, progress)
    from mlchain.scan.cache import run_cached  # opt-in: sqlite3 only when --cache is used

    return run_cached(entries, options, progress, _run)


def _run(
    entries: list[Entry],
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
) -> list[ScanResult]:
    if options.executor == "ray":
        from mlchain.scan.executors import run_ray

        return run_ray(entries, options, progress, scan=scan_entry)
    total = len(entries)
    jobs = options.jobs or usable_cores()
    results: list[ScanResult] = []
    if jobs <= 1 or not _pays(total, sum(e.size for e in entries)):
        for done, entry in enumerate(entries, 1):
            results.append(scan_entry(entry, options))
            if progress:
                progress(done, total)
        return results
    from mlchain.scan import forkpool

    if not forkpool.available():
        return _run_spawned(entries, options, progress, jobs)
    global _FORKED
    # Forked workers inherit the walked entries and the options: a task is a range of indexes
    # and its results come back as JSON (a clean one as four values), so the parent neither
    # sends paths out nor rebuilds them from what comes back (pickling them both ways cost as
    # much as the scan itself on many small files).
    step = max(1, min(64, total // (jobs * 8)))
    starts = range(0, total, step)
    _FORKED = (entries, options, step)
    try:
        for start, answer in zip(starts, forkpool.run(len(starts), jobs, _scan_task), strict=True):
            for index, item in enumerate(_decode_answer(answer), start):
                results.append(_unpack(entries[index], item))
            if progress:
                progress(len(results), total)
    finally:
        _FORKED = None
    return results


_FORKED: tuple[list[Entry], ScanOptions, int] | None = None
"""The entries, options and task size of the pool being forked; workers read their copy."""

_Packed = list[Any]
"""A result without findings as a worker sends it: format, skipped, size, sha256."""


def _scan_task(task: int) -> bytes:
    """In a forked worker: scan the task's range of entries; the answer is JSON."""
    import json

    from mlchain.report import result_to_dict

    assert _FORKED is not None, "a forked worker inherits the entries"
    entries, options, step = _FORKED
    out: list[_Packed | dict[str, Any]] = []
    for index in range(task * step, min(task * step + step, len(entries))):
        result = scan_entry(entries[index], options)
        loc = result.location  # packed only when _unpack rebuilds an equal Location
        whole = result.findings or loc.member is not None or loc.offset is not None
        if whole or loc.path != entries[index].rel:
            out.append(result_to_dict(result))
        else:
            out.append([result.format.value, result.skipped, result.size, result.sha256])
    return json.dumps(out).encode()


def _decode_answer(answer: bytes) -> list[_Packed | dict[str, Any]]:
    import json

    items: list[_Packed | dict[str, Any]] = json.loads(answer)
    return items


def _unpack(entry: Entry, item: _Packed | dict[str, Any]) -> ScanResult:
    if isinstance(item, dict):
        from mlchain.report import result_from_dict

        return result_from_dict(item)
    fmt, skipped, size, sha256 = item
    return ScanResult(Location(entry.rel), ArtifactFormat(fmt), (), skipped, size, sha256)


def _run_spawned(
    entries: list[Entry],
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
    jobs: int,
) -> list[ScanResult]:
    """Where processes cannot fork, each task carries its entry and returns its result."""
    from concurrent.futures import ProcessPoolExecutor

    total = len(entries)
    results: list[ScanResult] = []
    with ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint) as pool:
        chunk = max(1, min(64, total // (jobs * 8)))
        for done, result in enumerate(
            pool.map(scan_entry, entries, [options] * total, chunksize=chunk), 1
        ):
            results.append(result)
            if progress:
                progress(done, total)
    return results


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def usable_cores() -> int:
    """CPUs this process may use: affinity and the cgroup CPU quota (a 1-CPU pod gets 1)."""
    from mlchain.cpus import usable_cpus

    return usable_cpus()


def scan_file(path: Path, options: ScanOptions | None = None) -> ScanResult:
    """Scan one regular file as if it were the only thing under its folder."""
    report = scan_paths([path], options)
    return report.results[0]


def scan_entry(entry: Entry, options: ScanOptions) -> ScanResult:
    """Scan one walked entry. Never raises for content problems: they become findings."""
    loc = Location(entry.rel)
    if entry.escape is not None:
        return ScanResult(
            loc,
            ArtifactFormat.DATA,
            (
                finding(
                    "symlink-outside-root",
                    "symbolic link resolves outside the scan root; it was not followed",
                    loc,
                    evidence=entry.escape,
                ),
            ),
            skipped="symlink leaves the scan root",
        )
    if entry.unreadable is not None:  # fail closed: what it holds was not scanned
        found = finding("file-unreadable", f"{entry.unreadable}: {entry.rel}", loc)
        return ScanResult(loc, ArtifactFormat.DATA, (found,), skipped=entry.unreadable)
    if entry.skipped is not None:
        return ScanResult(loc, ArtifactFormat.DATA, skipped=entry.skipped)
    path = entry.path
    if _OPEN_ONCE and getattr(path, "_pinned_fd", None) is None:
        return _scan_opened_once(entry, loc, options)
    return _scan_walked(entry, loc, options)


_OPEN_ONCE = os.name == "posix"
"""Each file is opened once and read through that descriptor only (POSIX: ``pread``, ``mmap``)."""
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # the walk resolved links: a link here was put there since
)


def _openable(path: Path) -> Path:
    """``path`` as the class the walk should build its paths of (see :func:`_scan_opened_once`)."""
    return PinnedPath(path) if _OPEN_ONCE else path


def _scan_opened_once(entry: Entry, loc: Location, options: ScanOptions) -> ScanResult:
    """Open a listed file once, never blocking, and scan it through that descriptor alone.

    The walk saw a regular file, but the name may lead elsewhere by the time it is opened: a
    FIFO put in its place would make a plain ``open`` wait for a writer for ever, a symbolic link
    would lead out of the scan root, and a file renamed over it between two scanners' opens would
    give them different bytes. So the name is opened once, without blocking or following a link
    (the walk already resolved the links it allows), and must be a regular file; every scanner
    then reads that descriptor through a :class:`mlchain.pinned.PinnedPath`, whatever happens to
    the name.

    The walk builds its paths as ``PinnedPath`` (:func:`_openable`): the descriptor is set on the
    entry's own path for the length of the scan, which costs nothing per file. A path of another
    class (an entry built by hand) is copied into one.
    """
    try:
        fd = os.open(entry.path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _changed(entry, loc, "symbolic link", "it was not followed")
        return _unreadable(loc, exc)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "special file")
            return _changed(entry, loc, kind, "it was not read")
        path = entry.path
        if type(path) is not PinnedPath:
            path = PinnedPath(path)
            entry = dataclasses.replace(entry, path=path)
        path._pinned_fd = fd
        try:
            return _scan_walked(entry, loc, options)
        finally:
            path._pinned_fd = None
    finally:
        os.close(fd)


def _changed(entry: Entry, loc: Location, kind: str, outcome: str) -> ScanResult:
    """A listed regular file that is a ``kind`` when it is opened: fail closed."""
    message = f"became a {kind} after it was listed; {outcome}: {entry.rel}"
    return ScanResult(
        loc,
        ArtifactFormat.DATA,
        (finding("file-unreadable", message, loc),),
        skipped=f"not a regular file when opened ({kind})",
    )


_KINDS = {
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFDIR: "folder",
}


def _scan_walked(entry: Entry, loc: Location, options: ScanOptions) -> ScanResult:
    try:
        head = detection.read_head(entry.path)
    except OSError as exc:
        return _unreadable(loc, exc)
    if len(head) < detection.HEAD_BYTES and len(head) != entry.size:
        # The file changed since the walk (it is all in the head now): trust what was read.
        entry = dataclasses.replace(entry, size=len(head))
    try:
        result = _scan_content(entry, loc, head, options)
    except Exception as exc:  # detection itself failed: report, never crash the run
        _debug("detection failed on %s", entry.path)
        return ScanResult(
            loc,
            ArtifactFormat.DATA,
            (
                finding(
                    "scanner-error",
                    f"format detection failed ({type(exc).__name__}); the file was not scanned",
                    loc,
                    evidence=str(exc),
                ),
            ),
            skipped="detection failed",
        )
    if entry.expected_sha256 is not None:
        result = _check_blob_digest(entry, result)
    return result


def _check_blob_digest(entry: Entry, result: ScanResult) -> ScanResult:
    """Hash a Hugging Face cache blob and compare with the sha256 its name promises."""
    import hashlib

    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    try:
        with entry.path.open("rb", buffering=0) as handle:
            while n := handle.readinto(buffer):
                digest.update(view[:n])
    except OSError as exc:
        return _unreadable(result.location, exc, result.format)
    actual = digest.hexdigest()
    findings = result.findings
    if actual != entry.expected_sha256:
        mismatch = finding(
            "hf-cache-blob-mismatch",
            "cached blob does not hash to the sha256 in its name: the cache was modified",
            result.location,
            evidence=f"expected {entry.expected_sha256}, got {actual}",
        )
        findings = tuple(sorted((*findings, mismatch), key=Finding.sort_key))
    return dataclasses.replace(result, findings=findings, sha256=actual)


def _scan_content(entry: Entry, loc: Location, head: bytes, options: ScanOptions) -> ScanResult:
    found = detection.detect(entry.path, head, entry.size)
    fmt = found.format
    findings: list[Finding] = []
    if found.mismatch:
        from mlchain.scan.detect_formats import mismatch_severity

        grade = mismatch_severity(entry.path, head) if fmt is ArtifactFormat.DATA else None
        message = f"file is {found.mismatch}"
        findings.append(finding("format-mismatch", message, loc, severity=grade))
    if fmt is ArtifactFormat.LFS_POINTER:
        findings.append(
            finding("lfs-pointer", "Git LFS pointer file: the model bytes were not fetched", loc)
        )
    skipped = UNSCANNED.get(fmt)
    scanner = scanner_for(fmt) if skipped is None else None
    if skipped is None and scanner is None:
        skipped = f"no scanner for {fmt.value} files yet"
    if scanner is not None:
        artifact = Artifact(entry.path, loc, entry.root, entry.size, fmt, head)
        try:
            # Appended one by one: findings yielded before an error are kept, so a file that
            # makes a scanner fail half-way cannot trade a critical finding for a milder one.
            ctx = ScanContext(options)
            outcomes: Iterable[Outcome] = scanner.scan(artifact, ctx)
            if fmt in NAMED_FORMATS:  # a name decided the format: the pickle check still runs
                outcomes = itertools.chain(outcomes, named_file_pickle(artifact, ctx))
            for item in outcomes:
                if isinstance(item, Skip):
                    skipped = item.reason
                else:
                    findings.append(item)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            findings.append(finding("file-unreadable", f"file could not be read: {reason}", loc))
            skipped = f"unreadable: {reason}"
        except Exception as exc:  # a scanner bug must never pass a file or crash the run
            _debug("scanner for %s failed on %s", fmt.value, entry.path)
            findings.append(
                finding(
                    "scanner-error",
                    f"the {fmt.value} scanner failed ({type(exc).__name__}); "
                    "the file was not fully scanned",
                    loc,
                    evidence=str(exc),
                )
            )
    findings.sort(key=Finding.sort_key)
    return ScanResult(loc, fmt, tuple(findings), skipped=skipped, size=entry.size)


def _unreadable(
    loc: Location, exc: OSError, fmt: ArtifactFormat = ArtifactFormat.DATA
) -> ScanResult:
    reason = exc.strerror or type(exc).__name__
    return ScanResult(
        loc,
        fmt,
        (finding("file-unreadable", f"file could not be read: {reason}", loc),),
        skipped=f"unreadable: {reason}",
    )
