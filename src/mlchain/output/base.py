"""The formatter seam: pure functions from a report to text."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlchain.models import ScanReport

CLEAN_DISCLAIMER = "no known-unsafe constructs found; this is not proof of safety"


class Formatter(ABC):
    """Renders a :class:`ScanReport`. Pure: no I/O, no global state."""

    @abstractmethod
    def render(self, report: ScanReport) -> str:
        """Return the whole output document."""
