"""Explicit mapping from detected format to scanner.

No import-time self-registration: adding a format is one scanner module plus one line here, and
``tests/unit/scan/test_registry.py`` checks that every :class:`ArtifactFormat` is either mapped
or listed in :data:`UNSCANNED` with the reason users will see.
"""

from __future__ import annotations

import functools

from mlchain.models import ArtifactFormat as F
from mlchain.scan.base import Scanner

UNSCANNED: dict[F, str] = {
    F.EMPTY: "empty file (0 bytes)",
    F.LFS_POINTER: "Git LFS pointer: the content was never fetched",
}
"""Formats that are reported as not scanned, with the reason shown to the user."""


def scanner_for(fmt: F) -> Scanner | None:
    """Return the scanner for ``fmt``, or ``None`` when mlchain has none (reported, not hidden)."""
    return _registry().get(fmt)


@functools.cache
def _registry() -> dict[F, Scanner]:
    # Scanner modules import their heavy dependencies lazily; importing them here, on the first
    # scan, keeps `mlchain --help` and `--version` fast.
    from mlchain.scan.chat_template import TokenizerConfigScanner
    from mlchain.scan.gguf import GgufScanner
    from mlchain.scan.hf_config import HfConfigScanner
    from mlchain.scan.inert import InertScanner
    from mlchain.scan.keras import KerasScanner
    from mlchain.scan.onnx import OnnxScanner
    from mlchain.scan.python_code import PythonCodeScanner
    from mlchain.scan.safetensors import SafetensorsIndexScanner, SafetensorsScanner

    registry: dict[F, Scanner] = {
        F.DATA: InertScanner(),
        F.SAFETENSORS: SafetensorsScanner(),
        F.SAFETENSORS_INDEX: SafetensorsIndexScanner(),
        F.GGUF: GgufScanner(),
        F.TOKENIZER_CONFIG: TokenizerConfigScanner(),
        F.ONNX: OnnxScanner(),
        F.HF_CONFIG: HfConfigScanner(),
        F.PYTHON: PythonCodeScanner(),
        F.KERAS: KerasScanner(),
    }
    return registry
