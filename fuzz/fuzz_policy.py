"""Fuzz the policy loader on YAML text: ``PolicyError`` is the only allowed refusal."""

from __future__ import annotations

import contextlib

from fuzz.common import main
from mlchain.errors import PolicyError
from mlchain.policy import parse_policy

SEEDS = "policy"


def TestOneInput(data: bytes) -> None:
    with contextlib.suppress(PolicyError):
        parse_policy(data.decode("utf-8", "replace"), source="fuzz.yaml")


if __name__ == "__main__":
    main(TestOneInput)
