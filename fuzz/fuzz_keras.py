"""Fuzz the Keras scanner: ``.keras`` zips through ``KerasScanner``, bare configs through
``walk_config`` (as an unzipped Keras model's config.json is scanned)."""

from __future__ import annotations

from fuzz.common import artifact, context, location, main, scratch_file
from mlchain.models import ArtifactFormat
from mlchain.scan.keras import KerasScanner, walk_config
from mlchain.scan.strict_json import JsonProblem, parse_strict

SEEDS = "keras"
_SCANNER = KerasScanner()


def TestOneInput(data: bytes) -> None:
    if data.startswith(b"PK"):
        art = artifact(scratch_file(data, "model.keras"), ArtifactFormat.KERAS)
        list(_SCANNER.scan(art, context(data)))
        return
    try:
        parsed = parse_strict(data, allow_constants=True)
    except JsonProblem:
        return
    walk_config(parsed.value, location("config.json"))


if __name__ == "__main__":
    main(TestOneInput)
