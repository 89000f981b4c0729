"""Fuzz the Hugging Face ``config.json`` scanner (``auto_map`` code references, Keras configs)."""

from __future__ import annotations

from fuzz.common import artifact, context, main, scratch_file
from mlchain.models import ArtifactFormat
from mlchain.scan.hf_config import HfConfigScanner

SEEDS = "hf_config"
_SCANNER = HfConfigScanner()


def TestOneInput(data: bytes) -> None:
    art = artifact(scratch_file(data, "config.json"), ArtifactFormat.HF_CONFIG)
    list(_SCANNER.scan(art, context(data)))


if __name__ == "__main__":
    main(TestOneInput)
