"""Reading the saved results a policy is checked against (the I/O half of ``policy check``)."""

from __future__ import annotations

import json
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


def describe_model(path: Path) -> dict[str, Any]:
    """Describe the model at ``path`` for policies: ``{"files": [{path, size, format}], ...}``.

    Formats come from content detection (headers only); nothing is loaded.

    Raises:
        InputError: if ``path`` does not exist or cannot be listed.
    """
    from mlchain.scan.detect import detect, read_head
    from mlchain.scan.walk import walk

    files: list[dict[str, Any]] = []
    total = 0
    for entry in walk(path, []):
        fmt: str | None = None
        if entry.skipped is None and entry.escape is None:
            try:
                fmt = detect(entry.path, read_head(entry.path), entry.size).format.value
            except OSError:
                fmt = None
        elif entry.escape is not None:
            fmt = "symlink-escape"
        files.append({"path": str(entry.rel), "size": entry.size, "format": fmt})
        total += entry.size
    return {"files": files, "total_size": total}
