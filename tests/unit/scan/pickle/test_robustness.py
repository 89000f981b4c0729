"""Fail-closed behaviour: hostile bytes give findings, never exceptions; benign files stay quiet."""

from __future__ import annotations

import os
import pickle
import resource
from pathlib import Path

import pytest
from fixtures.canary import CANARY_PATH
from fixtures.gen_pickle import MALICIOUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Severity
from mlchain.scan import scan_file
from mlchain.scan.base import Limits
from pickle_vm_helpers import run, run_with, serious

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "pickle"
SMALL = Limits(max_opcodes=20_000, max_memo=1_000, max_stack=1_000, max_pickle_bytes=1 << 20)


def test_canary_never_appears_while_scanning_malicious_fixtures() -> None:
    assert not os.path.exists(CANARY_PATH), "canary existed before the test; remove it and rerun"
    paths = sorted((FIXTURES / "malicious").iterdir())
    assert len(paths) == len(MALICIOUS)
    for path in paths:
        result = scan_file(path)
        assert result.format is ArtifactFormat.PICKLE, path.name  # detected by content
        pickle_findings = [f for f in result.findings if f.rule_id != "format-mismatch"]
        assert max(f.severity for f in pickle_findings) >= Severity.HIGH, path.name
    assert not os.path.exists(CANARY_PATH)


@pytest.mark.parametrize("path", sorted((FIXTURES / "benign").iterdir()), ids=lambda p: p.name)
def test_benign_fixtures_have_nothing_at_or_above_medium(path: Path) -> None:
    assert serious(run(path.read_bytes())) == []


def test_benign_fixtures_through_the_pipeline() -> None:
    path = FIXTURES / "benign" / "values_p4.pkl"
    result = scan_file(path)
    assert result.format.value == "pickle"
    assert result.findings == ()


SEEDS = [pickle.dumps({"a": [1, 2.0, "x", b"y"]}, protocol=p) for p in range(6)] + list(
    MALICIOUS.values()
)[:10]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = run_with(data, SMALL)
    if data:
        assert result.findings or result.pickles >= 1
    assert 0 <= result.end <= len(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(0, 10_000), st.integers(0, 7), st.booleans())
def test_truncated_and_bit_flipped_pickles_never_raise(
    seed: bytes, where: int, bit: int, truncate: bool
) -> None:
    data = bytearray(seed)
    index = where % len(data)
    if truncate:
        del data[index:]
    else:
        data[index] ^= 1 << bit
    result = run_with(bytes(data), SMALL)
    if truncate and data:
        assert result.findings  # a cut pickle is always reported


def test_memory_does_not_follow_claimed_lengths() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for op in (b"\x8e", b"\x8d", b"\x96"):
        run(b"\x80\x04" + op + (2**62).to_bytes(8, "little") + b"\x00" * 64)
    run(b"\x80\x04\x95" + (2**62).to_bytes(8, "little") + b"N.")
    run(b"(" * 200_000 + b".")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 200_000  # KiB on Linux: well under 200 MB growth


def test_five_thousand_small_pickles_are_cheap() -> None:
    import time

    data = pickle.dumps({"w": [1, 2, 3], "name": "layer"}, protocol=4)
    start = time.perf_counter()
    for _ in range(5000):
        run(data)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x01(cos\nsystem\nS'id'\no.",  # PROTO 1
        b"(S'id'\nipty\nspawn\n.",  # INST first line pair
        b"\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.",  # protocol 4 opcodes, no PROTO
    ],
)
def test_detection_accepts_every_first_opcode_the_loader_accepts(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert scan_file(path).format is ArtifactFormat.PICKLE


@pytest.mark.parametrize(
    "text",
    [
        b"(c) 2024 The Authors\nLicensed under ...\n",
        b"# Model card\n\nHello\n",
        b"\x80\x00\x00\x01",
    ],
)
def test_detection_does_not_call_text_a_pickle(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "NOTES"
    path.write_bytes(text)
    assert scan_file(path).format is not ArtifactFormat.PICKLE
