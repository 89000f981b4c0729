"""Pickled torch tensors: the nested bytes are a legacy torch file (mlchain issue #14, item 2).

``pickle.dumps`` of tensors reduces each storage through ``torch.storage._load_from_bytes`` with
a whole legacy ``torch.save`` file: magic-number, protocol and sys-info pickles, the main pickle,
the storage-keys pickle, then raw storage bytes. The raw pickle scanner hands the legacy
container reader in, so that file is read as torch reads it (five pickles, then data), not as
one pickle stream with "trailing data". Fixtures: ``fixtures/gen_nested.py``, written with
real torch (version in ``fixtures/nested/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.gen_nested import with_payload_in_nested_pickle
from fixtures.gen_pickle import MALICIOUS

from mlchain.models import Severity
from mlchain.scan import scan_file
from pickle_vm_helpers import run

NESTED = Path(__file__).resolve().parents[4] / "fixtures" / "nested"
BENIGN = sorted((NESTED / "benign").glob("torch_pickled_tensors_*.pkl"))
PARTS = ("magic_number", "protocol_version", "sys_info", "main", "storage_keys")


def test_the_torch_fixtures_exist() -> None:
    assert [p.name for p in BENIGN] == [
        "torch_pickled_tensors_p2.pkl",
        "torch_pickled_tensors_p4.pkl",
    ]


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.name)
def test_pickled_tensors_pass_the_default_gate(path: Path) -> None:
    findings = scan_file(path).findings
    assert not [f for f in findings if f.severity >= Severity.MEDIUM], findings
    nested = [f for f in findings if f.rule_id == "pickle-nested"]
    assert len(nested) == 2  # one per tensor storage
    assert all("legacy torch serialization" in f.message for f in nested)
    assert all(f.severity == Severity.LOW for f in nested)


@pytest.mark.parametrize("part", PARTS)
def test_payload_in_each_nested_legacy_pickle_is_found(part: str) -> None:
    findings = scan_file(
        NESTED / "malicious" / f"torch_pickled_tensors_payload_in_{part}.pkl"
    ).findings
    assert any(
        f.rule_id == "pickle-dangerous-call"
        and f.severity >= Severity.CRITICAL
        and "os.system('touch" in (f.evidence or "")
        and (f.location.member or "").startswith("nested-pickle@")
        for f in findings
    ), findings
    outer = [f for f in findings if f.rule_id == "pickle-nested" and f.severity >= Severity.HIGH]
    assert outer


@pytest.mark.parametrize("part", range(5))
def test_every_malicious_payload_in_every_nested_pickle_fails(part: int, tmp_path: Path) -> None:
    """Property: any malicious fixture placed as any of the five nested pickles is >= high."""
    outer = (NESTED / "benign" / "torch_pickled_tensors_p2.pkl").read_bytes()
    for name, payload in MALICIOUS.items():
        if part == 4 and name == "second_pickle_after_stop.pkl":
            # Its payload is a *second* pickle: after the fifth nested pickle torch reads raw
            # storage bytes, never a sixth pickle, so nothing there runs (the reader agrees).
            continue
        target = tmp_path / f"{part}_{name}"
        target.write_bytes(with_payload_in_nested_pickle(outer, part, payload))
        findings = scan_file(target).findings
        assert any(f.severity >= Severity.HIGH for f in findings), (part, name)


def test_without_the_container_reader_the_stream_is_still_scanned() -> None:
    """scan_pickle without a torch_file reader (archive members) reads the bytes as pickles."""
    data = (NESTED / "malicious" / "torch_pickled_tensors_payload_in_main.pkl").read_bytes()
    assert any(f.severity >= Severity.CRITICAL for f in run(data).findings)
