"""Explicit mapping from detected format to scanner.

No import-time self-registration: adding a format is one scanner module, one small factory
function below and one line in :data:`SCANNERS`; ``tests/unit/scan/test_registry.py`` checks that
every :class:`ArtifactFormat` is either mapped or listed in :data:`UNSCANNED` with the reason
users will see.

Each factory imports its scanner module on first use of *its* format only: scanning one
safetensors file does not import the ONNX walker, Jinja or the pickle VM, which keeps
whole-process time low. Factories are cached, so one instance serves every file of its formats,
and they are typed, so mypy sees the class (no dotted strings).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from mlchain.models import ArtifactFormat as F
from mlchain.scan.base import Scanner

UNSCANNED: dict[F, str] = {
    F.EMPTY: "empty file (0 bytes)",
    F.LFS_POINTER: "Git LFS pointer: the content was never fetched",
}
"""Formats that are reported as not scanned, with the reason shown to the user."""


# -- one factory per scanner (the import inside is the lazy part) ----------------------------


@cache
def _inert() -> Scanner:
    from mlchain.scan.inert import InertScanner

    return InertScanner()


@cache
def _pickle() -> Scanner:
    from mlchain.scan.pickle.scanner import PickleScanner

    return PickleScanner()


@cache
def _containers() -> Scanner:
    from mlchain.scan.containers.dispatch import ContainerScanner

    return ContainerScanner()


@cache
def _safetensors() -> Scanner:
    from mlchain.scan.safetensors import SafetensorsScanner

    return SafetensorsScanner()


@cache
def _safetensors_index() -> Scanner:
    from mlchain.scan.safetensors import SafetensorsIndexScanner

    return SafetensorsIndexScanner()


@cache
def _gguf() -> Scanner:
    from mlchain.scan.gguf import GgufScanner

    return GgufScanner()


@cache
def _tokenizer_config() -> Scanner:
    from mlchain.scan.chat_template import TokenizerConfigScanner

    return TokenizerConfigScanner()


@cache
def _onnx() -> Scanner:
    from mlchain.scan.onnx import OnnxScanner

    return OnnxScanner()


@cache
def _hf_config() -> Scanner:
    from mlchain.scan.hf_config import HfConfigScanner

    return HfConfigScanner()


@cache
def _python() -> Scanner:
    from mlchain.scan.python_code import PythonCodeScanner

    return PythonCodeScanner()


@cache
def _keras() -> Scanner:
    from mlchain.scan.keras import KerasScanner

    return KerasScanner()


@cache
def _savedmodel() -> Scanner:
    from mlchain.scan.savedmodel import SavedModelScanner

    return SavedModelScanner()


@cache
def _tf_graphdef() -> Scanner:
    from mlchain.scan.savedmodel import GraphDefScanner

    return GraphDefScanner()


@cache
def _keras_metadata() -> Scanner:
    from mlchain.scan.savedmodel import KerasMetadataScanner

    return KerasMetadataScanner()


@cache
def _tf_data() -> Scanner:
    from mlchain.scan.savedmodel import TfDataScanner

    return TfDataScanner()


@cache
def _hdf5() -> Scanner:
    from mlchain.scan.hdf5 import Hdf5Scanner

    return Hdf5Scanner()


@cache
def _tflite() -> Scanner:
    from mlchain.scan.tflite import TfliteScanner

    return TfliteScanner()


@cache
def _skops() -> Scanner:
    from mlchain.scan.skops import SkopsScanner

    return SkopsScanner()


@cache
def _ml_data() -> Scanner:
    from mlchain.scan.mldata import MlDataScanner

    return MlDataScanner()


@cache
def _model_unsupported() -> Scanner:
    from mlchain.scan.unsupported import UnsupportedModelScanner

    return UnsupportedModelScanner()


SCANNERS: dict[F, Callable[[], Scanner]] = {
    F.DATA: _inert,
    F.PICKLE: _pickle,
    F.JOBLIB: _pickle,
    F.PYTORCH_ZIP: _containers,
    F.TORCHSCRIPT: _containers,
    F.PYTORCH_LEGACY: _containers,
    F.PYTORCH_TAR: _containers,
    F.NUMPY: _containers,
    F.NUMPY_ZIP: _containers,
    F.GZIP: _containers,
    F.BZIP2: _containers,
    F.XZ: _containers,
    F.ZLIB: _containers,
    F.SEVEN_ZIP: _containers,
    F.ZIP: _containers,
    F.TAR: _containers,
    F.SAFETENSORS: _safetensors,
    F.SAFETENSORS_INDEX: _safetensors_index,
    F.GGUF: _gguf,
    F.TOKENIZER_CONFIG: _tokenizer_config,
    F.ONNX: _onnx,
    F.HF_CONFIG: _hf_config,
    F.PYTHON: _python,
    F.KERAS: _keras,
    F.SAVEDMODEL: _savedmodel,
    F.TF_GRAPHDEF: _tf_graphdef,
    F.KERAS_METADATA: _keras_metadata,
    F.TF_DATA: _tf_data,
    F.HDF5: _hdf5,
    F.TFLITE: _tflite,
    F.SKOPS: _skops,
    F.ML_DATA: _ml_data,
    F.MODEL_UNSUPPORTED: _model_unsupported,
}
"""Format -> factory of its (shared) scanner."""


def scanner_for(fmt: F) -> Scanner | None:
    """Return the scanner for ``fmt``, or ``None`` when mlchain has none (reported, not hidden)."""
    factory = SCANNERS.get(fmt)
    return None if factory is None else factory()
