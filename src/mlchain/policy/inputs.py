"""Reading the saved results a policy is checked against (the I/O half of ``policy check``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlchain.errors import InputError

MAX_INPUT_BYTES = 256 << 20


def read_json_input(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``.

    Raises:
        InputError: if the file cannot be read, is not JSON, or is not an object (exit 3).
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(f"The {what} {path} is larger than 256 MiB.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            f"The {what} {path} is not valid JSON ({exc}).",
            hint="Pass the file mlchain wrote (for a scan: `mlchain scan -f json -o FILE`).",
        ) from None
    if not isinstance(value, dict):
        raise InputError(f"The {what} {path} is not a JSON object.")
    return value


def describe_model(report: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's ``model`` input from a scan report (JSON form): files, sizes, formats.

    The deploy gate builds it from the scan it just ran (or the accepted scan attestation's
    report), so the model is walked once; ``policy check --model`` scans the path first.
    """
    raw = report.get("results")
    results = [r for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else []
    files: list[dict[str, Any]] = []
    total = 0
    for result in results:
        location = result.get("location")
        size = result.get("size")
        size = size if isinstance(size, int) and not isinstance(size, bool) else 0
        files.append(
            {
                "path": location.get("path") if isinstance(location, Mapping) else None,
                "size": size,
                "format": result.get("format"),
            }
        )
        total += size
    return {"files": files, "total_size": total}
