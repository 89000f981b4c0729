"""Files whose name promises a model format mlchain cannot read (mlchain issue #14, item 9).

A ``.tflite`` that is not a flatbuffer, an ``.h5`` without the HDF5 signature, a Core ML or
TensorRT model: a loader will still try to read them, and mlchain cannot say what they hold.
Failing closed means reporting ``model-unsupported`` at the default gate (medium) instead of a
silent "not scanned". Plain text and unrecognised files with no model claim stay "not scanned".
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding
from mlchain.scan.base import Artifact, ScanContext, finding


class UnsupportedModelScanner:
    """Reports a file that claims a model format mlchain cannot parse."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield one ``model-unsupported`` finding naming the claimed format."""
        from mlchain.scan.detect_formats import UNSUPPORTED_MODEL_EXTENSIONS

        del ctx
        suffix = artifact.path.suffix.lower()
        claim = UNSUPPORTED_MODEL_EXTENSIONS.get(suffix, "a model format")
        if artifact.path.name.lower() == "saved_model.pbtxt":
            claim = "text-format TensorFlow SavedModel, which mlchain does not parse"
        yield finding(
            "model-unsupported",
            f"file is named {suffix!r} ({claim}) but mlchain cannot read its content; a loader "
            "will still try to, so its safety is unknown",
            artifact.location,
            evidence=artifact.head[:16].hex() if artifact.head else None,
        )
