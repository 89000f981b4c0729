"""Output formats: ``--format`` maps onto exactly one :class:`Formatter` per member."""

from __future__ import annotations

import enum
import sys
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10
    from typing_extensions import assert_never

from mlchain.models import Severity

if TYPE_CHECKING:
    from mlchain.output.base import Formatter


@enum.unique
class OutputFormat(str, enum.Enum):
    """Values accepted by ``mlchain scan --format``."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    GITHUB = "github"
    JSONL = "jsonl"

    def formatter(
        self,
        *,
        color: bool = False,
        fail_on: Severity | None = Severity.MEDIUM,
        strict: bool = False,
        width: int = 120,
        min_severity: Severity | None = None,
        repository: tuple[PurePosixPath, PurePosixPath] | None = None,
    ) -> Formatter:
        """Return the formatter for this format (imports only the one needed).

        ``color``, ``width`` and ``min_severity`` (a display filter) apply to the table; the gate
        (``fail_on``, ``strict``) to JUnit, where findings at or above it are failures, and to
        SARIF's ``invocations[].exitCode``; ``repository`` (repository root, current folder;
        both absolute) makes SARIF URIs relative to the repository root.
        """
        match self:
            case OutputFormat.TABLE:
                from mlchain.output.table import TableFormatter

                return TableFormatter(color=color, width=width, min_severity=min_severity)
            case OutputFormat.JSON:
                from mlchain.output.json import JsonFormatter

                return JsonFormatter()
            case OutputFormat.SARIF:
                from mlchain.output.sarif import SarifFormatter

                base, cwd = repository if repository is not None else (None, None)
                return SarifFormatter(fail_on=fail_on, strict=strict, base=base, cwd=cwd)
            case OutputFormat.JUNIT:
                from mlchain.output.junit import JunitFormatter

                return JunitFormatter(fail_on=fail_on)
            case OutputFormat.GITHUB:
                from mlchain.output.github import GithubFormatter

                return GithubFormatter()
            case OutputFormat.JSONL:
                from mlchain.output.jsonl import JsonlFormatter

                return JsonlFormatter()
            case _ as unreachable:  # pragma: no cover - mypy proves exhaustiveness
                assert_never(unreachable)
