"""mlchain's own versioned JSON report (``schema_version``; schema in ``mlchain/schemas``).

The serialisation itself lives in :mod:`mlchain.report`, the one home of the wire contract.
"""

from __future__ import annotations

from mlchain.jsontext import dumps
from mlchain.models import ScanReport
from mlchain.output.base import Formatter
from mlchain.report import finding_to_dict, location_to_dict, report_to_dict, result_to_dict


class JsonFormatter(Formatter):
    """Renders the report as indented JSON with sorted metadata."""

    def render(self, report: ScanReport) -> str:
        """Return the JSON document followed by a newline."""
        return dumps(report_to_dict(report)) + "\n"


__all__ = [
    "JsonFormatter",
    "finding_to_dict",
    "location_to_dict",
    "report_to_dict",
    "result_to_dict",
]
