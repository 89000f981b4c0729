"""Fuzz the tar header reader and the tar scanner behind it."""

from __future__ import annotations

from fuzz.common import context, location, main
from mlchain.scan.containers.dispatch import State, scan_buffer
from mlchain.scan.containers.tarreader import read_members
from mlchain.scan.containers.tarscan import classify_tar_buffer

SEEDS = "tar"


def TestOneInput(data: bytes) -> None:
    ctx = context(data)
    read_members(data, max_members=ctx.limits.max_members)
    fmt = classify_tar_buffer(data)
    list(scan_buffer(data, fmt, location("fuzz.tar"), ctx, State(), 0))


if __name__ == "__main__":
    main(TestOneInput)
