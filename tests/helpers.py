"""Small helpers shared by tests (not fixtures: plain functions)."""

from __future__ import annotations

import json
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
