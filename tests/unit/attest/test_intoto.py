"""The in-toto wire contract has one home: ``mlchain.intoto`` (mlchain issue #16, item 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlchain import intoto

SRC = Path(__file__).resolve().parents[3] / "src" / "mlchain"
URIS = [
    intoto.STATEMENT_TYPE,
    intoto.PAYLOAD_TYPE,
    intoto.SLSA_PROVENANCE_V1,
    intoto.CYCLONEDX_BOM,
    intoto.MLCHAIN_SCAN_V1,
    intoto.OMS_SIGNATURE_V1,
    intoto.OMS_DIGESTS_V01,
]


@pytest.mark.parametrize("uri", URIS)
def test_each_type_uri_is_a_string_literal_once_in_src(uri: str) -> None:
    literal = re.compile(r"""(["'])""" + re.escape(uri) + r"\1")
    hits = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert hits == [f"intoto.py:{_line_of(uri)}"], hits


def _line_of(uri: str) -> int:
    lines = (SRC / "intoto.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if f'"{uri}"' in line)


def test_policy_default_predicate_types_are_the_intoto_ones() -> None:
    from mlchain.policy.schema import DEFAULT_PREDICATE_TYPES

    assert DEFAULT_PREDICATE_TYPES == intoto.PREDICATE_TYPES


def test_model_signing_private_imports_live_in_one_adapter() -> None:
    """One module to re-read on every model-signing upgrade (issue #16, item 7)."""
    users = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "model_signing._signing" in path.read_text(encoding="utf-8")
        or "from model_signing._" in path.read_text(encoding="utf-8")
    )
    assert users == ["signing/_oms.py"]
