"""One test per TensorFlow SavedModel technique (mlchain issue #14, items 4 and 7).

Each fixture is a real ``tf.saved_model.save`` / tf_keras export made by
``fixtures/gen_savedmodel.py``; nothing is loaded. Public write-ups: TensorFlow's own security
model says a SavedModel is code (https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md),
and the Keras Lambda technique is CVE-2024-3660 (https://nvd.nist.gov/vuln/detail/CVE-2024-3660).
"""

from __future__ import annotations

from pathlib import Path

from mlchain.models import Severity
from mlchain.scan import scan_paths

MALICIOUS = Path(__file__).resolve().parents[2] / "fixtures" / "savedmodel" / "malicious"


def _found(folder: str) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([MALICIOUS / folder]).findings}


def test_savedmodel_read_file_exfiltration() -> None:
    assert ("tf-io-op", Severity.HIGH) in _found("read_file")


def test_savedmodel_write_file_drop() -> None:
    assert ("tf-io-op", Severity.HIGH) in _found("write_file")


def test_savedmodel_matching_files_enumeration() -> None:
    assert ("tf-io-op", Severity.HIGH) in _found("matching_files")


def test_savedmodel_python_callback_numpy_function() -> None:
    assert ("tf-python-op", Severity.CRITICAL) in _found("numpy_function")


def test_savedmodel_checkpoint_save_to_absolute_path() -> None:
    assert ("tf-io-op", Severity.HIGH) in _found("save_outside")


def test_savedmodel_custom_op_library() -> None:
    assert ("tf-custom-op", Severity.HIGH) in _found("custom_op")


def test_savedmodel_keras_metadata_lambda_cve_2024_3660() -> None:
    assert ("keras-lambda", Severity.CRITICAL) in _found("tf_keras_lambda")


def test_frozen_graphdef_read_file() -> None:
    # TF1 frozen graphs (tf.compat.v1 import_graph_def) run their ops the same way.
    assert ("tf-io-op", Severity.HIGH) in _found("frozen_read_file.pb")
