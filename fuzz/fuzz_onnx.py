"""Fuzz the ONNX protobuf wire walker (``mlchain.scan.onnx.scan_bytes`` over ``protowire``)."""

from __future__ import annotations

from fuzz.common import artifact, context, main, scratch_file
from mlchain.models import ArtifactFormat
from mlchain.scan.onnx import scan_bytes
from mlchain.scan.protowire import WireError, iter_fields

SEEDS = "onnx"


def TestOneInput(data: bytes) -> None:
    try:
        for _ in iter_fields(data, 0, len(data)):
            pass
    except WireError:
        pass
    art = artifact(scratch_file(b"", "model.onnx"), ArtifactFormat.ONNX)
    scan_bytes(data, art, context(data))


if __name__ == "__main__":
    main(TestOneInput)
