"""Option values and checks that the typer-free scan path shares with the typer commands.

Nothing here imports typer: ``mlchain scan`` on its fast path (:mod:`mlchain.cli.fast`) uses them
without it.
"""

from __future__ import annotations

import enum

from mlchain.errors import UsageError
from mlchain.models import Severity


@enum.unique
class SeverityChoice(str, enum.Enum):
    """Values of ``--fail-on``; ``never`` turns the gate off (advisory runs)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NEVER = "never"

    def to_severity(self) -> Severity | None:
        """Map onto the ordered :class:`Severity`; ``None`` for ``never``."""
        return None if self is SeverityChoice.NEVER else Severity.parse(self.value)


def allowed_globals(names: list[str] | None) -> frozenset[str]:
    """The ``--allow-global`` names, checked.

    Raises:
        UsageError: on a name that is not ``module.name``.
    """
    return frozenset(_check_global(name) for name in names or ())


def _check_global(name: str) -> str:
    module, _, qualname = name.strip().rpartition(".")
    if not module or not qualname or any(c.isspace() for c in name.strip()):
        raise UsageError(
            f"--allow-global expects module.name (for example collections.OrderedDict), "
            f"got {name!r}."
        )
    return name.strip()
