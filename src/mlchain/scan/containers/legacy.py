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
from mlchain.scan.containers.dispatch import Buf

LEGACY_PICKLES = 5
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The first pickle of every legacy torch file is this integer."""
_MAGIC_LONG1 = b"\x8a\x0a" + MAGIC_NUMBER.to_bytes(10, "little")
_MAGIC_TEXT = b"L" + str(MAGIC_NUMBER).encode() + b"L\n."


def is_legacy_torch(head: bytes) -> bool:
    """Whether ``head`` starts with the magic-number pickle of any protocol (0-5).

    Protocols 0/1 write a text ``LONG``; 2/3 ``PROTO`` then ``LONG1``; 4/5 a ``FRAME`` first.
    """
    if head.startswith(_MAGIC_TEXT):
        return True
    if len(head) < 2 or head[0] != 0x80:
        return False
    if head[1] in (2, 3):
        return head[2:14] == _MAGIC_LONG1
    return head[1] in (4, 5) and head[2:3] == b"\x95" and head[11:23] == _MAGIC_LONG1


def scan_legacy(buf: Buf, location: Location, ctx: ScanContext, depth: int) -> Iterator[Finding]:
    """Yield findings for a legacy (non-zip) ``torch.save`` file held in ``buf``.

    torch reads the five pickles with five separate unpicklers (``pickle_module.load`` three
    times, then a fresh ``UnpicklerWrapper`` twice), so each is scanned on its own: the memo
    does not carry over from one pickle to the next.
    """
    from mlchain.scan.containers.pickles import scan_pickle_stream, without_torch_storages

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
