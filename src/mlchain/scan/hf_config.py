"""Hugging Face ``config.json``: classes mapped to repository code through ``auto_map``.

``transformers`` imports the module named by an ``auto_map`` entry and instantiates the class when
the model is loaded with ``trust_remote_code=True``. A plain ``module.Class`` reference runs
``module.py`` from the model repository; ``org/repo--module.Class`` runs code from *another*
repository, which the reviewer of this one never sees (worse, hence critical).
``custom_pipelines`` entries (``impl``) work the same way. A ``config.json`` without either is
clean. The same ``auto_map`` appears in ``tokenizer_config.json`` (tokenizer classes, often a
``[slow, fast]`` list), ``preprocessor_config.json`` and ``processor_config.json``; every entry
of every list is judged. A ``chat_template`` in ``processor_config.json`` is analysed as a chat
template. A ``config.json`` shaped like a Keras v3 object (an unzipped ``.keras`` folder) also gets
the Keras checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlchain.models import Finding, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.remote_code import (
    CodeReference,
    code_references,
    load_config_references,
    reference_findings,
)
from mlchain.scan.strict_json import MAX_CONFIG_BYTES, JsonProblem, parse_strict, read_bounded


class HfConfigScanner:
    """Scans ``config.json`` for code references; strict JSON, bounded size."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield ``hf-remote-code`` findings and any JSON problem."""
        limit = min(MAX_CONFIG_BYTES, ctx.limits.max_header_bytes)
        data = read_bounded(artifact.path, limit)
        if data is None:
            yield finding(
                "scan-limit-exceeded",
                f"{artifact.path.name} is larger than {limit} bytes; it was not parsed",
                artifact.location,
            )
            return
        try:
            parsed = parse_strict(data, allow_constants=True)
        except JsonProblem as exc:
            yield finding(
                "parse-error", f"{artifact.path.name} is not strict JSON: {exc}", artifact.location
            )
            return
        if parsed.constants:
            yield finding(
                "parse-error",
                f"{artifact.path.name} uses non-standard JSON literals; Python accepts them, "
                "strict parsers do not",
                artifact.location,
                evidence=", ".join(parsed.constants),
                severity=Severity.LOW,
            )
        if parsed.duplicates:
            yield finding(
                "parse-error",
                f"{artifact.path.name} repeats keys; loaders disagree on which value wins",
                artifact.location,
                evidence=", ".join(parsed.duplicates),
                severity=Severity.MEDIUM,
            )
        yield from reference_findings(
            code_references(parsed.value), artifact.path.parent, artifact.location
        )
        if isinstance(parsed.value, dict) and "chat_template" in parsed.value:
            # processor_config.json carries the processor's chat template (multimodal models).
            from mlchain.scan.chat_template import config_templates

            yield from config_templates(parsed.value, parsed.duplicate_values, artifact.location)
        if _looks_like_keras(parsed.value):
            # An unzipped Keras v3 model (save_model(..., zipped=False)) keeps the same config.
            from mlchain.scan.keras import walk_config

            yield from walk_config(parsed.value, artifact.location)


def _looks_like_keras(doc: Any) -> bool:
    return isinstance(doc, dict) and "class_name" in doc and "config" in doc and "module" in doc


__all__ = [
    "CodeReference",
    "HfConfigScanner",
    "code_references",
    "load_config_references",
    "reference_findings",
]
