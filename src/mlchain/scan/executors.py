"""Where the per-file work of a scan runs: this process (and its pool), or a Ray cluster.

``--executor ray`` ships :func:`mlchain.scan.scan_entry` to a Ray cluster in batches sized by
bytes (a task per tiny file would cost more in scheduling than the scan), and collects the results
in the order of the entries, so the report is identical to the local executor's.

- **Which cluster.** ``RAY_ADDRESS`` picks it, as it does for Ray's own tools. Without it Ray starts
  a private local instance with one CPU per usable core (no dashboard, quiet logging). A process
  that already called ``ray.init`` keeps its connection.
- **Fail closed.** A batch whose worker dies (a crash, the OOM killer, a lost node) is retried one
  file per task; a file whose own task fails too becomes a ``scanner-error`` finding, never a pass.
- **Interrupts.** Ctrl-C cancels the outstanding tasks and re-raises, so the CLI exits 130.
- Ray is imported only here, and only when this executor is chosen.

Workers need mlchain importable (installed in the cluster's image, or a ``runtime_env``); they read
the files by the same paths as the driver, so every node must see the scanned folders at the same
mount point (a shared file system).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mlchain.errors import MlchainError, UsageError
from mlchain.models import ArtifactFormat, Location, ScanResult
from mlchain.scan.base import ScanOptions, finding
from mlchain.scan.walk import Entry

if TYPE_CHECKING:
    ScanEntry = Callable[[Entry, ScanOptions], ScanResult]

__all__ = ["EXECUTORS", "RayUnavailableError", "batches", "ray_digests", "run_ray"]

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
"""Values of ``ScanOptions.executor`` (``--executor``)."""

BATCH_BYTES = 64 * 1024 * 1024
"""Content per Ray task: large enough that scheduling is noise, small enough to balance."""
BATCH_FILES = 256
"""Files per Ray task at most (many tiny files)."""
IN_FLIGHT_PER_CPU = 4
"""Tasks submitted ahead per cluster CPU; bounds the driver's memory on huge scans."""


class RayUnavailableError(MlchainError):
    """Ray is not installed, or the cluster cannot be reached."""


def batches(
    entries: Sequence[Entry], *, max_bytes: int = BATCH_BYTES, max_files: int = BATCH_FILES
) -> Iterator[range]:
    """Split ``entries`` into consecutive index ranges of at most ``max_bytes``/``max_files``.

    A file larger than ``max_bytes`` gets a batch of its own. Order is kept.
    """
    start, size = 0, 0
    for index, entry in enumerate(entries):
        count = index - start
        if count and (size + entry.size > max_bytes or count >= max_files):
            yield range(start, index)
            start, size = index, 0
        size += entry.size
    if start < len(entries):
        yield range(start, len(entries))


def _scan_batch(entries: list[Entry], options: ScanOptions, scan: ScanEntry) -> list[ScanResult]:
    """Run on a Ray worker: scan ``entries`` one after the other."""
    return [scan(entry, options) for entry in entries]


def _worker_failed(entry: Entry, exc: BaseException) -> ScanResult:
    loc = Location(entry.rel)
    return ScanResult(
        loc,
        ArtifactFormat.DATA,
        (
            finding(
                "scanner-error",
                f"the Ray worker scanning this file failed ({type(exc).__name__}); "
                "the file was not scanned",
                loc,
                evidence=str(exc).splitlines()[0] if str(exc) else None,
            ),
        ),
        skipped="Ray worker failed",
        size=entry.size,
    )


def _connect(options: ScanOptions) -> Any:
    """Import Ray and join (or start) a cluster; return the ``ray`` module."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "--executor ray needs Ray, which is not installed.",
            hint="pip install 'mlchain[ray]', or use --executor local.",
        ) from exc
    if ray.is_initialized():
        return ray
    from mlchain.cpus import usable_cpus

    settings: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        "log_to_driver": False,
    }
    # RAY_ADDRESS is Ray's own convention: ray.init reads it. Only a private local instance may
    # be sized; a cluster brings its own resources.
    address = os.environ.get("RAY_ADDRESS")
    if address:
        probe(address)
    else:
        settings["num_cpus"] = options.jobs or usable_cpus()
        settings["_node_ip_address"] = "127.0.0.1"  # a private instance listens on loopback only
    try:
        ray.init(**settings)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        raise RayUnavailableError(
            f"Cannot start or reach the Ray cluster: {exc}.",
            hint="Check RAY_ADDRESS (ray://host:10001 or host:6379), or unset it to run locally.",
        ) from exc
    return ray


def probe(address: str, timeout: float = 5.0) -> None:
    """Check that something listens at a ``RAY_ADDRESS`` before Ray retries it for minutes.

    Raises:
        RayUnavailableError: if ``host:port`` (or ``ray://host:port``) refuses or times out.
    """
    import socket

    target = address.removeprefix("ray://").split("/", 1)[0]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" or a form Ray knows better: let ray.init judge it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailableError(
            f"Cannot reach the Ray cluster at RAY_ADDRESS={address}: "
            f"{exc.strerror or type(exc).__name__}.",
            hint="Check RAY_ADDRESS (ray://host:10001 or host:6379), or unset it to run locally.",
        ) from exc


def run_ray(
    entries: list[Entry],
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
    *,
    scan: ScanEntry,
    max_bytes: int | None = None,
    max_files: int | None = None,
) -> list[ScanResult]:
    """Scan ``entries`` on Ray; results in the order of ``entries``.

    ``scan`` is what each worker runs per file: :func:`mlchain.scan.scan_entry`, handed in by the
    pipeline (the executor never imports the pipeline above it; tests inject failures).

    Raises:
        UsageError: if Ray is not installed.
        RayUnavailableError: if the cluster cannot be started or reached.
    """
    if not entries:
        return []
    ray = _connect(options)
    from ray.exceptions import RayError

    batch_task = ray.remote(max_retries=0)(_scan_batch)
    options_ref = ray.put(options)
    todo = list(
        batches(entries, max_bytes=max_bytes or BATCH_BYTES, max_files=max_files or BATCH_FILES)
    )
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    window = cpus * IN_FLIGHT_PER_CPU
    results: list[ScanResult | None] = [None] * len(entries)
    pending: dict[Any, range] = {}
    done, total = 0, len(entries)
    queue = iter(todo)

    def submit() -> None:
        for span in queue:
            ref = batch_task.remote([entries[i] for i in span], options_ref, scan)
            pending[ref] = span
            if len(pending) >= window:
                return

    try:
        submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            span = pending.pop(ready[0])
            try:
                batch: list[ScanResult] = ray.get(ready[0])
            except RayError as exc:
                log.debug(
                    "Ray batch of %d files failed; retrying file by file", len(span), exc_info=True
                )
                batch = _one_by_one(ray, [entries[i] for i in span], options_ref, scan, exc)
            for index, result in zip(span, batch, strict=True):
                results[index] = result
            done += len(span)
            if progress:
                progress(done, total)
            submit()
    except BaseException:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # best effort while unwinding
                log.debug("could not cancel a Ray task", exc_info=True)
        raise
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _one_by_one(
    ray: Any, entries: list[Entry], options_ref: Any, scan: ScanEntry, first: Exception
) -> list[ScanResult]:
    """Rescan a failed batch one file per task; a file that fails alone is a finding."""
    if len(entries) == 1:
        return [_worker_failed(entries[0], first)]
    from ray.exceptions import RayError

    single = ray.remote(max_retries=0)(_scan_batch)
    refs = [single.remote([entry], options_ref, scan) for entry in entries]
    out: list[ScanResult] = []
    for entry, ref in zip(entries, refs, strict=True):
        try:
            out.extend(ray.get(ref))
        except RayError as exc:
            out.append(_worker_failed(entry, exc))
    return out


def _digest_batch(entries: list[Entry]) -> list[str | None]:
    """Run on a Ray worker: the sha256 of each file (``None`` when unreadable)."""
    from mlchain.scan.digest import file_digest

    return [file_digest(entry) for entry in entries]


def ray_digests(entries: list[Entry], options: ScanOptions) -> list[str | None]:
    """Hash ``entries`` on the Ray cluster, in order (for the content cache's look-ups).

    A batch whose worker fails gives ``None`` for its files: they are then simply scanned.
    """
    if not entries:
        return []
    ray = _connect(options)
    from ray.exceptions import RayError

    task = ray.remote(max_retries=1)(_digest_batch)
    spans = list(batches(entries, max_bytes=BATCH_BYTES * 4, max_files=BATCH_FILES * 4))
    refs = [task.remote([entries[i] for i in span]) for span in spans]
    out: list[str | None] = []
    for span, ref in zip(spans, refs, strict=True):
        try:
            out.extend(ray.get(ref))
        except RayError:
            log.debug("hashing a batch of %d files on Ray failed", len(span), exc_info=True)
            out.extend([None] * len(span))
    return out
