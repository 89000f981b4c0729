"""Output formats: ``--format`` maps onto exactly one :class:`Formatter` per member."""

from __future__ import annotations

import enum
import sys
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10
    from typing_extensions import assert_never

if TYPE_CHECKING:
    from mlchain.output.base import Formatter


@enum.unique
class OutputFormat(str, enum.Enum):
    """Values accepted by ``mlchain scan --format``."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"

    def formatter(self) -> Formatter:
        """Return the formatter for this format (imports only the one needed)."""
        match self:
            case OutputFormat.TABLE:
                from mlchain.output.table import TableFormatter

                return TableFormatter()
            case OutputFormat.JSON:
                from mlchain.output.json import JsonFormatter

                return JsonFormatter()
            case OutputFormat.SARIF:
                from mlchain.output.sarif import SarifFormatter

                return SarifFormatter()
            case _ as unreachable:  # pragma: no cover - mypy proves exhaustiveness
                assert_never(unreachable)
