"""Fuzz content detection (``mlchain.scan.detect.detect``) on a file, under several names."""

from __future__ import annotations

from fuzz.common import main, scratch_file
from mlchain.scan.detect import HEAD_BYTES, detect, is_known_inert

SEEDS = "detect"
_NAMES = ("model.bin", "model.safetensors", "config.json", "model.pt", "chat.jinja", "m.npz")


def TestOneInput(data: bytes) -> None:
    name = _NAMES[len(data) % len(_NAMES)]
    path = scratch_file(data, name)
    head = data[:HEAD_BYTES]
    detect(path, head, len(data))
    is_known_inert(head)


if __name__ == "__main__":
    main(TestOneInput)
