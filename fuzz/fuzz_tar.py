"""Fuzz the tar header reader and the tar scanner behind it."""

from __future__ import annotations

from fuzz.common import context, location, main
from mlchain.scan.containers.dispatch import new_state, scan_buffer
from mlchain.scan.containers.tarreader import classify_tar_buffer, read_members

SEEDS = "tar"


def TestOneInput(data: bytes) -> None:
    ctx = context(data)
    read_members(data, max_members=ctx.limits.max_members)
    fmt = classify_tar_buffer(data)
    list(scan_buffer(data, fmt, location("fuzz.tar"), ctx, new_state(), 0))


if __name__ == "__main__":
    main(TestOneInput)
