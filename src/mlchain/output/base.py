"""The formatter seam: pure functions from a report to text."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlchain.models import CLEAN_DISCLAIMER, ScanReport

__all__ = ["CLEAN_DISCLAIMER", "Formatter"]


class Formatter(ABC):
    """Renders a :class:`ScanReport`. Pure: no I/O, no global state."""

    @abstractmethod
    def render(self, report: ScanReport) -> str:
        """Return the whole output document."""
