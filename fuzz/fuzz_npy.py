"""Fuzz the ``.npy`` header parser (``NpyError`` is its documented refusal) and ``scan_npy``."""

from __future__ import annotations

import contextlib

from fuzz.common import context, location, main
from mlchain.scan.containers.dispatch import new_state
from mlchain.scan.containers.npy import NpyError, parse_header, scan_npy

SEEDS = "npy"


def TestOneInput(data: bytes) -> None:
    with contextlib.suppress(NpyError):
        parse_header(data)
    list(scan_npy(data, location("fuzz.npy"), context(data), new_state(), 0))


if __name__ == "__main__":
    main(TestOneInput)
