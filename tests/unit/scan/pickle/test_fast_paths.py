"""The machine's inline fast paths match the opcode handlers they shortcut.

``Machine._one_pickle`` runs the commonest opcodes (BINPUT, BINGET, SHORT_BINUNICODE, ...)
inline; each is documented as matching its handler in :mod:`mlchain.scan.pickle.opcodes`
exactly. Every pickle-family fixture (raw pickles and the containers that hold them) must give
the same findings with the fast paths on and forced off through ``Machine.fast_paths``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from mlchain.models import Finding
from mlchain.scan import scan_file
from mlchain.scan.pickle.machine import Machine
from mlchain.scan.pickle.opcodes import OPS
from pickle_vm_helpers import run

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures"
FILES = sorted(
    p
    for family in ("pickle", "containers", "nested")
    for p in (FIXTURES / family).rglob("*")
    if p.is_file() and p.name != "README.md"
)


def _key(findings: list[Finding]) -> list[tuple[object, ...]]:
    return [
        (f.rule_id, f.severity, f.location.member, f.location.offset, f.message, f.evidence)
        for f in findings
    ]


def test_the_fixture_families_are_found() -> None:
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fast_paths_do_not_change_findings(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _key(list(scan_file(path).findings))
    monkeypatch.setattr(Machine, "fast_paths", False)
    slow = _key(list(scan_file(path).findings))
    assert fast == slow


def test_flag_really_turns_the_fast_paths_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the flag off, BINPUT goes through its handler; with it on, it never does."""
    calls: list[int] = []
    handler = OPS[0x71]

    def counting(m: Machine) -> None:
        calls.append(m.op_at)
        handler(m)

    monkeypatch.setitem(OPS, 0x71, counting)
    data = pickle.dumps(["a", "b", ["c"]], protocol=2)
    run(data)
    assert calls == []
    monkeypatch.setattr(Machine, "fast_paths", False)
    run(data)
    assert calls


def test_invalid_utf8_is_reported_alike_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SHORT_BINUNICODE and BINUNICODE fast paths once dropped the decoder's reason."""
    for data in (b"\x80\x04\x8c\x01\xff.", b"\x80\x04X\x01\x00\x00\x00\xff."):
        fast = [f.message for f in run(data).findings]
        with monkeypatch.context() as patch:
            patch.setattr(Machine, "fast_paths", False)
            slow = [f.message for f in run(data).findings]
        assert fast == slow == ["invalid UTF-8 string: invalid start byte"]
