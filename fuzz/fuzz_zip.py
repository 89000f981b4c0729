"""Fuzz the lenient zip reader and the zip-family scanner behind it.

``read_directory`` and ``member_chunks`` are what detection and every zip scan use; the bytes are
then scanned as the container scanner would scan a file of the format detection assigns them.
"""

from __future__ import annotations

from fuzz.common import context, location, main
from mlchain.scan.containers.dispatch import new_state, scan_buffer
from mlchain.scan.containers.zipreader import classify_zip_buffer, member_chunks, read_directory

SEEDS = "zip"


def TestOneInput(data: bytes) -> None:
    ctx = context(data)
    directory = read_directory(data, max_members=ctx.limits.max_members)
    for entry in directory.entries[:64]:
        for _ in member_chunks(data, entry):
            pass
    read_directory(data, names_only=True)
    fmt = classify_zip_buffer(data)
    list(scan_buffer(data, fmt, location("fuzz.zip"), ctx, new_state(), 0))


if __name__ == "__main__":
    main(TestOneInput)
