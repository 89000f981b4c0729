"""Small helpers shared by tests (not fixtures: plain functions)."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mlchain.cli import app

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SHARED_CANDIDATES = (REPO.parent / "shared", REPO.parent.parent / "shared")
"""CI puts shared/ beside the clone; helper worktrees sit one level deeper."""
SCHEMAS = REPO / "src" / "mlchain" / "schemas"
SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """Invoke the app in-process; returns click's Result (stdout and stderr kept apart)."""
    runner = CliRunner()
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def validate_report(document: dict[str, Any]) -> None:
    """Validate a scan JSON report against the shipped schema."""
    import jsonschema

    schema = json.loads((SCHEMAS / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


def validate_sarif(document: dict[str, Any]) -> None:
    """Validate SARIF output against the official OASIS SARIF 2.1.0 schema."""
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(document)


class Hung(Exception):  # not an OSError: no reader in mlchain may take it for an unreadable file
    """:func:`deadline` expired: something blocked, e.g. opening a FIFO for reading."""


@contextlib.contextmanager
def deadline(seconds: int = 20) -> Iterator[None]:
    """Fail with :class:`Hung` (instead of hanging the suite) if the block outlasts ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise Hung(f"blocked for {seconds} s (a FIFO opened for a blocking read?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
