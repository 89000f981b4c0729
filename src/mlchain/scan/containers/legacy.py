"""Legacy PyTorch files (``torch.save(..., _use_new_zipfile_serialization=False)``).

Layout: five consecutive pickles (magic number, protocol version, ``sys_info``, the object with
persistent ids for storages, the list of storage keys), then raw storage bytes. torch unpickles
exactly those five, so this scans five pickles from a memory map and never reads the storages.
Files written with any pickle protocol (0-5) are recognised by their magic-number pickle.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import Buf
from mlchain.scan.containers.pickles import scan_pickle_stream, without_torch_storages
from mlchain.scan.magic import LEGACY_TORCH_MAGIC_NUMBER as MAGIC_NUMBER
from mlchain.scan.magic import is_legacy_torch

LEGACY_PICKLES = 5


def scan_legacy(buf: Buf, location: Location, ctx: ScanContext, depth: int) -> Iterator[Finding]:
    """Yield findings for a legacy (non-zip) ``torch.save`` file held in ``buf``.

    torch reads the five pickles with five separate unpicklers (``pickle_module.load`` three
    times, then a fresh ``UnpicklerWrapper`` twice), so each is scanned on its own: the memo
    does not carry over from one pickle to the next.
    """
    pos = 0
    done = 0
    for _ in range(LEGACY_PICKLES):
        result = scan_pickle_stream(buf, location, ctx, start=pos, max_pickles=1, depth=depth)
        yield from without_torch_storages(result.findings)
        if result.pickles < 1 or result.end <= pos:
            break
        done += 1
        pos = result.end
    if done < LEGACY_PICKLES:
        yield finding(
            "parse-error",
            f"legacy PyTorch file holds {done} of the {LEGACY_PICKLES} pickles torch reads "
            "(truncated or not a torch file)",
            location.at(pos),
        )


__all__ = ["LEGACY_PICKLES", "MAGIC_NUMBER", "is_legacy_torch", "scan_legacy"]
