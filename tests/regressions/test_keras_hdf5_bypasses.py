"""One test per Keras HDF5 technique (mlchain issue #14, item 6).

Keras HDF5 saves rebuild the model from the root attribute ``model_config``: a Lambda layer's
marshalled bytecode runs on load (CVE-2024-3660, https://nvd.nist.gov/vuln/detail/CVE-2024-3660)
and configs can name functions from arbitrary modules (CVE-2025-1550,
https://nvd.nist.gov/vuln/detail/CVE-2025-1550). Fixtures: ``fixtures/gen_hdf5.py``; nothing is
loaded.
"""

from __future__ import annotations

from pathlib import Path

from mlchain.models import Severity
from mlchain.scan import scan_paths

MALICIOUS = Path(__file__).resolve().parents[2] / "fixtures" / "hdf5" / "malicious"


def _found(name: str) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([MALICIOUS / name]).findings}


def test_hdf5_lambda_layer_cve_2024_3660() -> None:
    assert ("keras-lambda", Severity.CRITICAL) in _found("tf_keras_lambda.h5")


def test_hdf5_lambda_in_keras3_legacy_save() -> None:
    assert ("keras-lambda", Severity.CRITICAL) in _found("keras3_lambda.h5")


def test_hdf5_lambda_in_latest_file_format() -> None:
    # Superblock v3 and v2 object headers: a different on-disk layout for the same attribute.
    assert ("keras-lambda", Severity.CRITICAL) in _found("latest_format_lambda.h5")


def test_hdf5_lambda_as_fixed_length_string() -> None:
    assert ("keras-lambda", Severity.CRITICAL) in _found("fixed_string_lambda.h5")


def test_hdf5_foreign_module_function_cve_2025_1550() -> None:
    assert ("keras-foreign-module", Severity.CRITICAL) in _found("foreign_function.h5")
