"""Explicit mapping from detected format to scanner.

No import-time self-registration: adding a format is one scanner module plus one line here, and
``tests/unit/scan/test_registry.py`` checks that every :class:`ArtifactFormat` is either mapped
or listed in :data:`UNSCANNED` with the reason users will see.

Scanner modules are imported on first use of *their* format only: scanning one safetensors file
does not import the ONNX walker, Jinja or the pickle VM, which keeps whole-process time low.
"""

from __future__ import annotations

import functools
import importlib

from mlchain.models import ArtifactFormat as F
from mlchain.scan.base import Scanner

UNSCANNED: dict[F, str] = {
    F.EMPTY: "empty file (0 bytes)",
    F.LFS_POINTER: "Git LFS pointer: the content was never fetched",
}
"""Formats that are reported as not scanned, with the reason shown to the user."""

_CONTAINERS = ("mlchain.scan.containers.dispatch", "ContainerScanner")
_PICKLE = ("mlchain.scan.pickle.scanner", "PickleScanner")

SCANNERS: dict[F, tuple[str, str]] = {
    F.DATA: ("mlchain.scan.inert", "InertScanner"),
    F.PICKLE: _PICKLE,
    F.JOBLIB: _PICKLE,
    F.PYTORCH_ZIP: _CONTAINERS,
    F.TORCHSCRIPT: _CONTAINERS,
    F.PYTORCH_LEGACY: _CONTAINERS,
    F.PYTORCH_TAR: _CONTAINERS,
    F.NUMPY: _CONTAINERS,
    F.NUMPY_ZIP: _CONTAINERS,
    F.GZIP: _CONTAINERS,
    F.BZIP2: _CONTAINERS,
    F.XZ: _CONTAINERS,
    F.ZLIB: _CONTAINERS,
    F.SEVEN_ZIP: _CONTAINERS,
    F.ZIP: _CONTAINERS,
    F.TAR: _CONTAINERS,
    F.SAFETENSORS: ("mlchain.scan.safetensors", "SafetensorsScanner"),
    F.SAFETENSORS_INDEX: ("mlchain.scan.safetensors", "SafetensorsIndexScanner"),
    F.GGUF: ("mlchain.scan.gguf", "GgufScanner"),
    F.TOKENIZER_CONFIG: ("mlchain.scan.chat_template", "TokenizerConfigScanner"),
    F.ONNX: ("mlchain.scan.onnx", "OnnxScanner"),
    F.HF_CONFIG: ("mlchain.scan.hf_config", "HfConfigScanner"),
    F.PYTHON: ("mlchain.scan.python_code", "PythonCodeScanner"),
    F.KERAS: ("mlchain.scan.keras", "KerasScanner"),
    F.SAVEDMODEL: ("mlchain.scan.savedmodel", "SavedModelScanner"),
    F.TF_GRAPHDEF: ("mlchain.scan.savedmodel", "GraphDefScanner"),
    F.KERAS_METADATA: ("mlchain.scan.savedmodel", "KerasMetadataScanner"),
    F.TF_DATA: ("mlchain.scan.savedmodel", "TfDataScanner"),
    F.HDF5: ("mlchain.scan.hdf5", "Hdf5Scanner"),
    F.TFLITE: ("mlchain.scan.tflite", "TfliteScanner"),
    F.SKOPS: ("mlchain.scan.skops", "SkopsScanner"),
    F.ML_DATA: ("mlchain.scan.mldata", "MlDataScanner"),
    F.MODEL_UNSUPPORTED: ("mlchain.scan.unsupported", "UnsupportedModelScanner"),
}
"""Format -> (module, class). Each class is instantiated once per process."""


def scanner_for(fmt: F) -> Scanner | None:
    """Return the scanner for ``fmt``, or ``None`` when mlchain has none (reported, not hidden)."""
    spec = SCANNERS.get(fmt)
    return None if spec is None else _instance(*spec)


@functools.cache
def _instance(module: str, name: str) -> Scanner:
    scanner: Scanner = getattr(importlib.import_module(module), name)()
    return scanner
