"""``auto_map`` and ``custom_pipelines`` references: classes transformers imports from code.

Shared by the ``config.json`` scanner (:mod:`mlchain.scan.hf_config`) and the tokenizer and
processor configurations (:mod:`mlchain.scan.chat_template`), which carry the same ``auto_map``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import finding
from mlchain.scan.strict_json import MAX_CONFIG_BYTES, JsonProblem, parse_strict, read_bounded

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?")
MAX_REFERENCES = 200


@dataclass(frozen=True, slots=True)
class CodeReference:
    """One ``auto_map`` (or ``custom_pipelines``) entry resolved to a module and class."""

    key: str
    """``AutoModel``, ``AutoConfig``, ``custom_pipelines.<task>``, ..."""
    raw: str
    repo: str | None
    """Other repository the code comes from (``org/repo--module.Class``), else ``None``."""
    module: str
    cls: str
    valid: bool
    """Whether ``module`` is a dotted Python module name."""

    @property
    def module_file(self) -> str:
        """Relative path of the module's source file in a repository."""
        return self.module.replace(".", "/") + ".py"


def code_references(config: Any) -> list[CodeReference]:
    """Every class reference in ``auto_map`` and ``custom_pipelines`` of a parsed config."""
    refs: list[CodeReference] = []
    if not isinstance(config, dict):
        return refs
    auto_map = config.get("auto_map")
    if isinstance(auto_map, dict):
        for key, value in auto_map.items():
            if len(refs) >= MAX_REFERENCES:
                break
            values = value if isinstance(value, list) else [value]
            for item in values[:8]:
                if isinstance(item, str):
                    refs.append(_parse_reference(str(key), item))
    pipelines = config.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in pipelines.items():
            if isinstance(spec, dict) and isinstance(spec.get("impl"), str):
                refs.append(_parse_reference(f"custom_pipelines.{task}", spec["impl"]))
    return refs[:MAX_REFERENCES]


def _parse_reference(key: str, raw: str) -> CodeReference:
    repo: str | None = None
    target = raw
    if "--" in raw:
        repo, _, target = raw.partition("--")
    module, _, cls = target.rpartition(".")
    valid = bool(_MODULE.fullmatch(module)) and bool(cls.isidentifier())
    if repo is not None and not _REPO.fullmatch(repo):
        valid = False
    return CodeReference(key, raw, repo, module, cls, valid)


CODE_CONFIG_FILES = (
    "config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
)
"""Files in a model folder whose ``auto_map`` transformers follows."""


def load_config_references(folder: Path) -> list[CodeReference]:
    """References from the configs in ``folder``; absent or unreadable configs yield none."""
    refs: list[CodeReference] = []
    for name in CODE_CONFIG_FILES:
        try:
            data = read_bounded(folder / name, MAX_CONFIG_BYTES)
            if data is not None:
                refs.extend(code_references(parse_strict(data, allow_constants=True).value))
        except (OSError, JsonProblem):
            continue
    return refs


def reference_findings(
    refs: list[CodeReference], folder: Path, location: Location
) -> Iterator[Finding]:
    """One ``hf-remote-code`` finding per reference, judged against the files in ``folder``."""
    for ref in refs:
        if not ref.valid:
            yield finding(
                "hf-remote-code",
                f"{ref.key} maps to {ref.raw!r}, which is not a module.Class reference; "
                "transformers turns it into a file path to import",
                location,
                evidence=ref.raw,
                severity=Severity.CRITICAL,
            )
        elif ref.repo is not None:
            yield finding(
                "hf-remote-code",
                f"{ref.key} runs {ref.module}.{ref.cls} from another repository ({ref.repo}) "
                "under trust_remote_code=True: code that is not part of this model folder",
                location,
                evidence=ref.raw,
                severity=Severity.CRITICAL,
            )
        else:
            try:
                present = (folder / ref.module_file).is_file()
            except OSError:  # e.g. a name longer than the file system allows: not in the folder
                present = False
            where = (
                f"{ref.module_file} is in the model folder"
                if present
                else f"{ref.module_file} is NOT in the folder; it is fetched at load time"
            )
            yield finding(
                "hf-remote-code",
                f"{ref.key} runs {ref.module}.{ref.cls} under trust_remote_code=True; {where}",
                location,
                evidence=ref.raw,
            )
