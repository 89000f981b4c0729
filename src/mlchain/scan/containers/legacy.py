"""Legacy PyTorch files (``torch.save(..., _use_new_zipfile_serialization=False)``).

Layout: five consecutive pickles (magic number, protocol version, ``sys_info``, the object with
persistent ids for storages, the list of storage keys), then raw storage bytes. torch unpickles
exactly those five, so this scans five pickles from a memory map and never reads the storages.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.dispatch import Buf

LEGACY_PICKLES = 5


def scan_legacy(buf: Buf, location: Location, ctx: ScanContext, depth: int) -> Iterator[Finding]:
    """Yield findings for a legacy (non-zip) ``torch.save`` file held in ``buf``."""
    from mlchain.scan.containers.pickles import scan_pickle_stream, without_torch_storages

    result = scan_pickle_stream(buf, location, ctx, max_pickles=LEGACY_PICKLES, depth=depth)
    yield from without_torch_storages(result.findings)
    if result.pickles < LEGACY_PICKLES:
        yield finding(
            "parse-error",
            f"legacy PyTorch file holds {result.pickles} of the {LEGACY_PICKLES} pickles torch "
            "reads (truncated or not a torch file)",
            location.at(result.end),
        )
