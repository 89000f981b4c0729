"""One test per public attack technique on ONNX models and model repositories.

Each test is named after the technique and links its advisory. Files come from the committed
fixtures (``fixtures/gen_onnx.py``, ``fixtures/gen_repo.py``) or, for links, from ``tmp_path``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fixtures.canary import CANARY_PATH
from onnx import TensorProto, helper

from mlchain.models import Severity
from mlchain.scan import scan_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ONNX_BAD = FIXTURES / "onnx" / "malicious"
REPO_BAD = FIXTURES / "repo" / "malicious"


def _hits(path: Path) -> set[tuple[str, Severity]]:
    report = scan_paths([path])
    assert not Path(CANARY_PATH).exists()
    return {(f.rule_id, f.severity) for f in report.findings}


def _external_model(folder: Path, location: str) -> Path:
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    io = helper.make_tensor_value_info("X", TensorProto.FLOAT, [4])
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])], "g", [io], [out], [tensor]
    )
    path = folder / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


ESCAPE = ("onnx-external-data-escape", Severity.CRITICAL)


# --- ONNX external data ------------------------------------------------------------------------
def test_cve_2022_25882_external_data_dotdot_prefix() -> None:
    """External data location ``../../etc/passwd`` reads files outside the model folder.

    https://nvd.nist.gov/vuln/detail/CVE-2022-25882
    """
    assert ESCAPE in _hits(ONNX_BAD / "traversal.onnx")


def test_cve_2022_25882_external_data_absolute_path() -> None:
    """An absolute location (``/etc/passwd``) ignores the model folder entirely.

    https://nvd.nist.gov/vuln/detail/CVE-2022-25882
    """
    assert ESCAPE in _hits(ONNX_BAD / "absolute.onnx")


def test_cve_2024_27318_external_data_inner_dotdot() -> None:
    """``junk/../../etc/passwd`` bypassed the first fix, which only checked the prefix.

    https://nvd.nist.gov/vuln/detail/CVE-2024-27318
    """
    assert ESCAPE in _hits(ONNX_BAD / "traversal_inner.onnx")


def test_cve_2026_27489_symlink_in_parent_directory(tmp_path: Path) -> None:
    """``sub/real_file`` where ``sub`` is a symlink to another directory: only the final
    component was checked for being a link.

    https://nvd.nist.gov/vuln/detail/CVE-2026-27489
    """
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    (model / "sub").symlink_to(tmp_path / "secrets", target_is_directory=True)
    assert ESCAPE in _hits(_external_model(model, "sub/token"))


def test_cve_2026_34447_final_component_symlink(tmp_path: Path) -> None:
    """The data file itself is a symlink to a file outside the model folder.

    https://nvd.nist.gov/vuln/detail/CVE-2026-34447
    """
    (tmp_path / "secret").write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").symlink_to(tmp_path / "secret")
    assert ESCAPE in _hits(_external_model(model, "weights.bin"))


def test_cve_2026_34446_hard_link(tmp_path: Path) -> None:
    """A hard link looks like a regular file but shares another file's inode.

    https://nvd.nist.gov/vuln/detail/CVE-2026-34446
    """
    (tmp_path / "secret").write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    os.link(tmp_path / "secret", model / "weights.bin")
    assert ("onnx-external-data-invalid", Severity.MEDIUM) in _hits(
        _external_model(model, "weights.bin")
    )


def test_external_data_device_file() -> None:
    """``/dev/zero`` as external data hangs or exhausts memory of the loading process.

    https://nvd.nist.gov/vuln/detail/CVE-2022-25882
    """
    assert ESCAPE in _hits(ONNX_BAD / "dev_zero.onnx")


# --- ONNX operators ----------------------------------------------------------------------------
def test_onnxruntime_python_operator_pyop() -> None:
    """A ``PyOp`` node names a Python module/class that ONNX Runtime imports and runs.

    https://github.com/microsoft/onnxruntime/blob/main/docs/PyOp.md
    """
    assert ("onnx-custom-op", Severity.CRITICAL) in _hits(ONNX_BAD / "pyop_code.onnx")


def test_custom_op_hidden_in_if_subgraph() -> None:
    """A custom-domain operator inside an ``If`` branch is loaded like a top-level one.

    https://onnxruntime.ai/docs/reference/operators/add-custom-op.html
    """
    assert ("onnx-custom-op", Severity.HIGH) in _hits(ONNX_BAD / "hidden_in_subgraph.onnx")


def test_custom_op_hidden_in_model_local_function() -> None:
    """A model-local function's body calls a custom-domain operator.

    https://onnx.ai/onnx/intro/concepts.html#functions
    """
    assert ("onnx-custom-op", Severity.HIGH) in _hits(ONNX_BAD / "hidden_in_function.onnx")


# --- Hugging Face remote code ------------------------------------------------------------------
def test_trust_remote_code_auto_map() -> None:
    """``auto_map`` makes transformers import repository code under trust_remote_code=True.

    https://huggingface.co/docs/transformers/custom_models
    """
    hits = _hits(REPO_BAD / "auto_map_local")
    assert ("hf-remote-code", Severity.HIGH) in hits
    assert ("python-code", Severity.HIGH) in hits


def test_auto_map_code_from_another_repository() -> None:
    """``org/repo--module.Class`` pulls code from a repository the reviewer never saw.

    https://huggingface.co/docs/transformers/custom_models
    """
    assert ("hf-remote-code", Severity.CRITICAL) in _hits(REPO_BAD / "auto_map_remote")


# --- Keras -------------------------------------------------------------------------------------
def test_cve_2024_3660_keras_lambda_bytecode() -> None:
    """A Lambda layer carries marshalled Python bytecode that runs on load.

    https://nvd.nist.gov/vuln/detail/CVE-2024-3660
    """
    assert ("keras-lambda", Severity.CRITICAL) in _hits(REPO_BAD / "keras" / "lambda.keras")


def test_cve_2025_1550_keras_config_module_function() -> None:
    """config.json names an arbitrary module and function that load_model calls, safe_mode
    or not.

    https://nvd.nist.gov/vuln/detail/CVE-2025-1550
    """
    hits = _hits(REPO_BAD / "keras" / "foreign_function.keras")
    assert ("keras-foreign-module", Severity.CRITICAL) in hits


def test_keras_enable_unsafe_deserialization_bypass() -> None:
    """The config first calls ``keras.config.enable_unsafe_deserialization``, then a Lambda.

    https://jfrog.com/blog/keras-safe_mode-bypass-vulnerability
    """
    hits = _hits(REPO_BAD / "keras" / "enable_unsafe.keras")
    assert ("keras-unsafe-reference", Severity.CRITICAL) in hits
    assert ("keras-lambda", Severity.CRITICAL) in hits


def test_cve_2025_8747_keras_get_file() -> None:
    """``keras.utils.get_file`` referenced from the config downloads/overwrites files on load.

    https://nvd.nist.gov/vuln/detail/CVE-2025-8747
    """
    hits = _hits(REPO_BAD / "keras" / "get_file.keras")
    assert ("keras-unsafe-reference", Severity.CRITICAL) in hits


def test_cve_2025_12058_keras_lookup_vocabulary_path() -> None:
    """A StringLookup vocabulary given as a path or URL is read on load (file read, SSRF).

    https://nvd.nist.gov/vuln/detail/CVE-2025-12058
    """
    hits = _hits(REPO_BAD / "keras" / "lookup_vocabulary.keras")
    assert ("keras-unsafe-reference", Severity.HIGH) in hits


def test_cve_2026_1462_keras_tfsmlayer() -> None:
    """TFSMLayer loads an attacker-chosen TensorFlow SavedModel during deserialization.

    https://nvd.nist.gov/vuln/detail/CVE-2026-1462
    """
    hits = _hits(REPO_BAD / "keras" / "tfsm_layer.keras")
    assert ("keras-unsafe-reference", Severity.CRITICAL) in hits


def test_keras_archive_zip_slip_member() -> None:
    """A member named ``../../outside.py`` is written outside the target folder on extraction.

    https://security.snyk.io/research/zip-slip-vulnerability
    """
    hits = _hits(REPO_BAD / "keras" / "zip_slip.keras")
    assert ("archive-suspicious-member", Severity.HIGH) in hits
