"""The committed fixtures through the whole pipeline (detection included).

Benign files are real torch 2.13 / numpy / joblib outputs: nothing at or above medium (a whole
``torch.nn`` model rebuilds only reviewed classes). Every malicious file yields a
high or critical finding, and no payload ever runs (the canary file never appears).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures.canary import CANARY_PATH

from container_helpers import BENIGN, MALICIOUS, REVIEW
from mlchain.models import ArtifactFormat as F
from mlchain.models import Severity
from mlchain.scan import scan_file
from mlchain.scan.registry import scanner_for

BENIGN_FILES = sorted(p.name for p in BENIGN.iterdir())
MALICIOUS_FILES = sorted(p.name for p in MALICIOUS.iterdir())

EXPECTED_FORMATS = {
    "torch_state_dict.pt": F.PYTORCH_ZIP,
    "torch_model_state_dict.bin": F.PYTORCH_ZIP,
    "torch_state_dict_legacy.pt": F.PYTORCH_LEGACY,
    "torch_state_dict_legacy_p0.pt": F.PYTORCH_LEGACY,
    "torch_state_dict_legacy_p4.pt": F.PYTORCH_LEGACY,
    "numpy_arrays.npz": F.NUMPY_ZIP,
    "numpy_v3.npy": F.NUMPY,
    "joblib_array_zlib.joblib": F.ZLIB,
    "joblib_array_gzip.joblib": F.GZIP,
    "joblib_array_bz2.joblib": F.BZIP2,
    "joblib_array_xz.joblib": F.XZ,
    "joblib_array_lzma.joblib": F.XZ,
    "bundle.tar.gz": F.GZIP,
    "bundle.zip": F.ZIP,
}


def test_fixture_sets_are_small_and_complete() -> None:
    total = sum(p.stat().st_size for p in [*BENIGN.iterdir(), *MALICIOUS.iterdir()])
    assert total < 512 * 1024
    assert len(BENIGN_FILES) >= 25
    assert len(MALICIOUS_FILES) >= 35


@pytest.mark.parametrize(("name", "fmt"), sorted(EXPECTED_FORMATS.items()))
def test_benign_detection(name: str, fmt: F) -> None:
    assert scan_file(BENIGN / name).format is fmt


@pytest.mark.parametrize("name", BENIGN_FILES)
def test_benign_fixture_has_nothing_at_or_above_medium(name: str) -> None:
    result = scan_file(BENIGN / name)
    if scanner_for(result.format) is None:
        pytest.skip(f"no {result.format.value} scanner on this branch")
    assert result.skipped is None
    serious = [f for f in result.findings if f.severity >= Severity.MEDIUM]
    assert serious == []


def test_torchscript_module_is_info_for_its_checked_code_only() -> None:
    result = scan_file(REVIEW / "torchscript_module.pt")
    assert result.format is F.TORCHSCRIPT
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("torchscript-code", Severity.INFO)
    ]


def test_whole_model_is_at_most_low() -> None:
    # Its torch.nn classes (Sequential, Linear, ReLU) are on the reviewed allowlist.
    result = scan_file(BENIGN / "torch_whole_model.pt")
    assert all(f.severity <= Severity.LOW for f in result.findings)


@pytest.fixture
def no_canary() -> object:
    if os.path.exists(CANARY_PATH):
        os.unlink(CANARY_PATH)
    yield
    assert not Path(CANARY_PATH).exists(), "a payload ran while scanning"


@pytest.mark.parametrize("name", MALICIOUS_FILES)
def test_malicious_fixture_is_high_or_critical(name: str, no_canary: object) -> None:
    result = scan_file(MALICIOUS / name)
    if scanner_for(result.format) is None:
        pytest.skip(f"no {result.format.value} scanner on this branch (detected {name})")
    assert result.max_severity is not None
    assert result.max_severity >= Severity.HIGH, result.findings


def test_canary_never_created_by_scanning_every_malicious_fixture(no_canary: object) -> None:
    from mlchain.scan import scan_paths

    report = scan_paths([MALICIOUS])
    assert len(report.results) == len(MALICIOUS_FILES)
