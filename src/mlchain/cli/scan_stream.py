"""``mlchain scan -f jsonl``: results written as they are produced, never held as a report.

Local paths are walked and sorted first, then scanned a chunk at a time (see
:mod:`mlchain.scan.stream`); each ``hf://`` reference is scanned after them, in the order given.
Reviewed suppressions and the baseline apply to each result as it passes. Only counters are
kept, so the exit code is decided the same way as for a whole report.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from mlchain.cli import console
from mlchain.cli.review import Review, load_review
from mlchain.errors import OutputError, UsageError
from mlchain.models import ScanReport, ScanResult, Severity
from mlchain.scan.pickle.version import ALLOWLIST_VERSION

if TYPE_CHECKING:
    from mlchain.output.jsonl import JsonlWriter
    from mlchain.scan.base import ScanOptions
    from mlchain.sources.hub import HubRef

MAX_REFS_BYTES = 256 << 20
"""Largest ``--from-file`` listing read (a few million references)."""


def read_from_file(listing: Path) -> list[str]:
    """The references listed in ``listing`` (``-`` reads standard input).

    Raises:
        UsageError: if the listing cannot be read.
    """
    from mlchain.scan.stream import read_refs

    if str(listing) == "-":
        return read_refs(Path.cwd() / "-", sys.stdin.read())
    from mlchain.inputfile import read_regular_file

    try:
        text = read_regular_file(listing, limit=MAX_REFS_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(
            f"Cannot read the list of references {listing}: {reason}.",
            hint="--from-file takes a text file with one path, hf:// or oci:// reference a line.",
        ) from exc
    return read_refs(listing, text)


def refuse_oci(ref: str) -> None:
    """Refuse an ``oci://`` reference among several (streamed scans take paths and ``hf://``).

    Raises:
        UsageError: always.
    """
    raise UsageError(
        f"{ref}: oci:// references are scanned one at a time, not in a list or beside paths.",
        hint="Run `mlchain scan oci://...` for each reference (one report each), or pull the "
        "artifact into a folder first (oras pull) and list that folder.",
    )


@contextlib.contextmanager
def _open_stream(output: Path | None) -> Iterator[IO[str]]:
    """Stdout, a device/pipe written directly, or a temporary file renamed into place at the end.

    A failed or interrupted run leaves no partial file at ``output`` (as for every report).
    """
    if output is None or str(output) == "-":
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader left; say so once, not with a traceback
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise OutputError(
                "standard output was closed before the scan finished.",
                hint="Read the whole stream, or write it to a file with -o FILE.",
            ) from None
        return
    from mlchain.atomic import current_umask

    target = output.expanduser()
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        with target.open("w", encoding="utf-8") as handle:
            yield handle
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(f"Cannot write {output}: it is not a regular file, device or pipe.")
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~current_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), mode)
        Path(tmp).replace(target)
    except OSError as exc:
        raise OutputError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()


def stream_scan(
    refs: list[str],
    options: ScanOptions,
    *,
    output: Path | None,
    config: Path | None,
    baseline: Path | None,
    fail_on: Severity | None,
    strict: bool,
    require_pinned: bool,
) -> bool:
    """Scan ``refs`` writing JSON Lines; return whether the gate fails.

    Raises:
        UsageError: on an ``oci://`` reference or a path that does not exist.
    """
    from mlchain import __version__
    from mlchain.output.jsonl import JsonlWriter
    from mlchain.scan.stream import iter_scan
    from mlchain.sources.hub import parse_hub_uri

    hubs: list[HubRef] = []
    local: list[Path] = []
    for ref in refs:
        if ref.startswith("oci://"):
            refuse_oci(ref)
        hub = parse_hub_uri(ref) if ref.startswith(("hf://", "http://", "https://")) else None
        if hub is not None:
            hubs.append(hub)
        else:
            local.append(Path(ref))
    missing = [str(p) for p in local if not os.path.lexists(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UsageError(
            f"No such file or directory: {shown}.",
            hint="Check the paths (in --from-file, relative paths are relative to the listing's "
            "folder).",
        )
    review, expired = load_review(config, baseline)
    state, results = iter_scan(local, options) if local else (None, iter(()))
    with _open_stream(output) as stream:
        writer = JsonlWriter(stream)
        for result in results:
            _emit(writer, result, review)
        metadata = dict(state.metadata) if state is not None else {}
        roots = list(state.roots) if state is not None else []
        for hub in hubs:
            report = _scan_hub(hub, options, require_pinned)
            roots.extend(report.roots)
            source = report.roots[0] if report.roots else hub.uri
            if len(hubs) == 1 and not local:
                metadata.update(report.metadata)
            else:  # several sources: say whose commit each fact is
                metadata.update({f"{source} {k}": v for k, v in report.metadata.items()})
            for result in report.results:
                _emit(writer, result, review, source=source)
        writer.summary(
            roots=roots,
            tool_version=__version__,
            allowlist_version=ALLOWLIST_VERSION,
            allowlist_additions=sorted(options.allow_globals),
            metadata=metadata,
        )
    console.info(
        f"{writer.files} files, {sum(writer.counts.values())} findings"
        + (f" (max {writer.max_severity.label})" if writer.max_severity is not None else "")
        + (f", {writer.not_scanned} not scanned" if writer.not_scanned else "")
    )
    return writer.exceeds(fail_on, strict=strict) or expired > 0


def _emit(
    writer: JsonlWriter, result: ScanResult, review: Review | None, *, source: str | None = None
) -> None:
    if review is not None:
        reviewed = review.apply(ScanReport(results=(result,), roots=(), tool_version=""))
        writer.result(reviewed.results[0], source=source)
        writer.suppressed(reviewed.suppressed)
    else:
        writer.result(result, source=source)


def _scan_hub(hub: HubRef, options: ScanOptions, require_pinned: bool) -> ScanReport:
    from mlchain.sources.hub import scan_hub

    report, materialized = scan_hub(
        hub, options, endpoint=os.environ.get("HF_ENDPOINT") or None, require_pinned=require_pinned
    )
    console.info(f"resolved {hub.uri} to commit {materialized.commit}")
    return report
