"""Fuzz the sharded-checkpoint index scanner (``SafetensorsIndexScanner``: shard names as paths)."""

from __future__ import annotations

from fuzz.common import artifact, context, main, scratch_file
from mlchain.models import ArtifactFormat
from mlchain.scan.safetensors import SafetensorsIndexScanner

SEEDS = "safetensors_index"
_SCANNER = SafetensorsIndexScanner()


def TestOneInput(data: bytes) -> None:
    path = scratch_file(data, "model.safetensors.index.json")
    scratch_file(b"", "model-00001-of-00002.safetensors")  # one shard that exists
    list(_SCANNER.scan(artifact(path, ArtifactFormat.SAFETENSORS_INDEX), context(data)))


if __name__ == "__main__":
    main(TestOneInput)
