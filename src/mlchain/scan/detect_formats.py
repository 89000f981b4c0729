"""Detection of the TensorFlow, Keras HDF5, TFLite and other model formats (issue #14, items 4-9).

Two hooks for :mod:`mlchain.scan.detect`, kept apart so the magic-byte table can absorb them:

* :func:`classify_content` runs before the ONNX heuristic: unambiguous magic numbers and
  structures (HDF5 signature, TFLite flatbuffer identifier, SavedModel framing) plus the few
  file names a loader opens *by name* inside a model folder (``saved_model.pb``,
  ``keras_metadata.pb``, ``fingerprint.pb``), which would otherwise fall through to "ONNX" or
  "unrecognised".
* :func:`classify_fallback` runs when nothing else matched: data files recognised by name and a
  structural check (TensorFlow checkpoint shards), and files whose name claims a model format
  mlchain cannot read (:data:`UNSUPPORTED_MODEL_EXTENSIONS`), which become ``model-unsupported``
  instead of "not scanned".
"""

from __future__ import annotations

import re
from pathlib import Path

from mlchain.models import ArtifactFormat as F
from mlchain.models import Severity

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"
_LEVELDB_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096, 8192, 16384, 32768)
_ONNX_TEST_DATA = re.compile(r"(input|output)_\d+\.pb")
_SHARD = re.compile(r".+\.data-\d{5}-of-\d{5}$")

UNSUPPORTED_MODEL_EXTENSIONS: dict[str, str] = {
    ".h5": "HDF5 (Keras)",
    ".hdf5": "HDF5 (Keras)",
    ".tflite": "TensorFlow Lite",
    ".lite": "TensorFlow Lite",
    ".pb": "TensorFlow protobuf graph",
    ".pbtxt": "TensorFlow text protobuf graph",
    ".mlmodel": "Core ML model",
    ".mlpackage": "Core ML package",
    ".engine": "TensorRT engine",
    ".plan": "TensorRT engine",
    ".trt": "TensorRT engine",
    ".pte": "ExecuTorch program",
    ".mar": "TorchServe model archive",
    ".nemo": "NeMo archive",
    ".skops": "skops archive",
    ".pdmodel": "PaddlePaddle model",
    ".pdparams": "PaddlePaddle parameters",
    ".params": "MXNet parameters",
    ".caffemodel": "Caffe model",
    ".mnn": "MNN model",
    ".ncnn": "ncnn model",
    ".om": "Ascend offline model",
    ".rknn": "RKNN model",
    ".xmodel": "Vitis AI model",
    ".ggml": "GGML model",
    ".llamafile": "llamafile",
    ".pt2": "torch.export archive",
    ".ptl": "PyTorch Mobile archive",
}
"""Extensions that promise a model a loader will read: unreadable content is a finding."""


def classify_content(name: str, head: bytes, size: int) -> F | None:
    """Format from magic bytes or structure, or a name a loader opens as-is; ``None`` if unsure.

    ``name`` is the file name (empty for nested content, where only the content decides).
    """
    name = name.lower()
    if head.startswith(HDF5_SIGNATURE):
        return F.HDF5
    if len(head) >= 8 and head[4:8] == TFLITE_IDENTIFIER and _flatbuffer_root(head, size):
        return F.TFLITE
    if name == "saved_model.pb" or _savedmodel_framing(head):
        return F.SAVEDMODEL
    if name == "saved_model.pbtxt":
        return F.MODEL_UNSUPPORTED  # text-format SavedModel: tf.saved_model.load reads it too
    if name == "keras_metadata.pb":
        return F.KERAS_METADATA
    if name.endswith(".pb") and _graphdef(head):
        return F.TF_GRAPHDEF
    if name == "fingerprint.pb" and size < 4096:
        return F.TF_DATA
    del size
    return None


def _savedmodel_framing(head: bytes) -> bool:
    # The SavedModel reader (and its protobuf walker) is imported only for content that opens
    # like one (schema version 1, then a meta graph): most files never need it.
    if not head.startswith(b"\x08\x01\x12"):
        return False
    from mlchain.scan.savedmodel import looks_like_savedmodel

    return looks_like_savedmodel(head)


def _graphdef(head: bytes) -> bool:
    from mlchain.scan.savedmodel import looks_like_graphdef

    return looks_like_graphdef(head)


def _flatbuffer_root(head: bytes, size: int) -> bool:
    """The root table offset of a flatbuffer is small, aligned and inside the file.

    Text that happens to carry ``TFL3`` at bytes 4-8 (a JSON key) decodes to a huge offset.
    """
    root = int.from_bytes(head[:4], "little")
    return 8 <= root < min(size, 1 << 20) and root % 4 == 0


def classify_fallback(path: Path, head: bytes, size: int) -> F | None:
    """Format for content nothing else recognised: TF data by name, or an unreadable model."""
    name = path.name.lower()
    if any(head[at : at + 8] == HDF5_SIGNATURE for at in _HDF5_OFFSETS[1:]):
        # libhdf5 also looks after a user block of 512, 1024... bytes. Only here, after every
        # other check: the user block may hold a (protocol 0) pickle, which must win.
        return F.HDF5
    if _SHARD.match(name) and _has_checkpoint_index(path, name):
        return F.TF_DATA
    if name.endswith(".index") and _is_table(path, head, size):
        return F.TF_DATA
    from mlchain.scan.mldata import classify as is_model_data

    if is_model_data(path, head, size):
        return F.ML_DATA
    if _ONNX_TEST_DATA.fullmatch(name) and _parses_as_protobuf(head):
        return F.ML_DATA  # ONNX model-zoo test vectors: a TensorProto each, no code path
    if path.suffix.lower() in UNSUPPORTED_MODEL_EXTENSIONS and not _is_plain_text(head):
        return F.MODEL_UNSUPPORTED
    return None


_MAGIC_LOADERS = frozenset({".safetensors", ".gguf", ".keras"})
"""Extensions whose loaders refuse content without the magic detection checks exactly."""


def mismatch_severity(path: Path, head: bytes) -> Severity:
    """Severity of ``format-mismatch`` for a file whose content is unrecognised data.

    High when a loader of the claimed format could still use the bytes (issue #14, item 5):
    pickle-family loaders (``torch.load``, ``pickle.load``, ``numpy.load`` with pickles allowed)
    run anything that starts with a pickle opcode, and an ONNX loader parses any protobuf. Low
    when no loader could: the claimed format needs a magic number that is absent.
    """
    from mlchain.scan.pickle_sniff import OPCODE_BYTES

    suffix = path.suffix.lower()
    if suffix in _MAGIC_LOADERS:
        return Severity.LOW
    if suffix == ".onnx":
        return Severity.HIGH if _parses_as_protobuf(head) else Severity.LOW
    return Severity.HIGH if head and head[0] in OPCODE_BYTES else Severity.LOW


def _parses_as_protobuf(head: bytes) -> bool:
    from mlchain.scan.protowire import WireError, iter_fields

    try:
        for _ in iter_fields(head, 0, len(head)):
            pass
    except WireError as exc:
        return exc.offset >= len(head) - 16  # cut off by the head, not malformed
    return True


def _has_checkpoint_index(path: Path, name: str) -> bool:
    prefix = name.rsplit(".data-", 1)[0]
    index = path.with_name(path.name[: len(prefix)] + ".index")
    return index.is_file()


def _is_table(path: Path, head: bytes, size: int) -> bool:
    """A LevelDB-style table (TensorFlow's tensor bundle index) ends with its magic number."""
    if size < 48:
        return False
    if size <= len(head):
        return head[size - 8 : size] == _LEVELDB_TABLE_MAGIC
    try:
        with path.open("rb") as handle:
            handle.seek(size - 8)
            return handle.read(8) == _LEVELDB_TABLE_MAGIC
    except OSError:
        return False


def _is_plain_text(head: bytes) -> bool:
    from mlchain.scan.text import is_text

    return bool(head) and is_text(head[:4096])


__all__ = [
    "HDF5_SIGNATURE",
    "TFLITE_IDENTIFIER",
    "UNSUPPORTED_MODEL_EXTENSIONS",
    "classify_content",
    "classify_fallback",
    "mismatch_severity",
]
