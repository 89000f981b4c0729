"""Every atheris fuzz target imports without atheris and survives its whole seed corpus.

The targets live in ``fuzz/`` and run for real under ``nox -s fuzz``; this keeps them from rotting
when a parser's entry point changes, and replays the seeds (the committed fixtures) through
exactly the code the fuzzer drives.
"""

from __future__ import annotations

import importlib

import pytest
from fuzz import corpus
from fuzz.corpus import TARGETS


def test_every_target_has_a_module_and_a_corpus() -> None:
    names = {p.stem.removeprefix("fuzz_") for p in corpus.HERE.glob("fuzz_*.py")}
    assert names == set(TARGETS)
    for target in TARGETS:
        module = importlib.import_module(f"fuzz.fuzz_{target}")
        assert module.SEEDS in corpus.CORPORA
        assert corpus.seeds(module.SEEDS), f"{target}: empty seed corpus"


@pytest.mark.parametrize("target", TARGETS)
def test_target_replays_its_seeds(target: str) -> None:
    module = importlib.import_module(f"fuzz.fuzz_{target}")
    for data in corpus.seeds(module.SEEDS):
        module.TestOneInput(data)  # any exception is the crash the fuzzer would report
    for data in (b"", b"\x00", b"\xff" * 64):
        module.TestOneInput(data)


def test_targets_do_not_import_atheris_at_module_level() -> None:
    for path in corpus.HERE.glob("*.py"):
        top_level = [
            line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))
        ]
        assert not [line for line in top_level if "atheris" in line], path.name
