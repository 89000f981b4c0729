"""Fuzz the pickle VM (``mlchain.scan.pickle.vm.scan_pickle``) on raw bytes."""

from __future__ import annotations

from fuzz.common import context, location, main
from mlchain.scan.pickle.vm import scan_pickle

SEEDS = "pickle"


def TestOneInput(data: bytes) -> None:
    scan_pickle(data, location("fuzz.pkl"), context(data))


if __name__ == "__main__":
    main(TestOneInput)
