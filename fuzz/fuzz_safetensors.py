"""Fuzz the safetensors header scanner (``check_safetensors`` on an in-memory file)."""

from __future__ import annotations

import io

from fuzz.common import context, location, main
from mlchain.scan.safetensors import check_safetensors

SEEDS = "safetensors"


def TestOneInput(data: bytes) -> None:
    list(
        check_safetensors(io.BytesIO(data), len(data), location("fuzz.safetensors"), context(data))
    )


if __name__ == "__main__":
    main(TestOneInput)
