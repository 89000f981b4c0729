"""Fuzz the strict JSON parser: ``JsonProblem`` is the only allowed refusal."""

from __future__ import annotations

import contextlib

from fuzz.common import main
from mlchain.scan.strict_json import JsonProblem, parse_strict

SEEDS = "json"


def TestOneInput(data: bytes) -> None:
    for allow in (False, True):
        with contextlib.suppress(JsonProblem):
            parse_strict(data, allow_constants=allow)


if __name__ == "__main__":
    main(TestOneInput)
