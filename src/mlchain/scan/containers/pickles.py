"""The single seam between container readers and the symbolic pickle VM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlchain.models import Location
    from mlchain.scan.base import ScanContext
    from mlchain.scan.containers.dispatch import Buf
    from mlchain.scan.pickle.vm import PickleScan


def scan_pickle_stream(
    data: Buf,
    location: Location,
    ctx: ScanContext,
    *,
    start: int = 0,
    max_pickles: int | None = None,
    depth: int = 0,
) -> PickleScan:
    """Scan the pickle stream in ``data`` from ``start`` with the symbolic VM (never loads it)."""
    from mlchain.scan.pickle.vm import scan_pickle

    return scan_pickle(data, location, ctx, start=start, max_pickles=max_pickles, depth=depth)
