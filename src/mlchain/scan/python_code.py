"""Python source shipped in a model folder.

Every ``.py`` file is reported, because it runs if a loader or a user imports it. The source is
parsed with :func:`ast.parse` (never compiled to bytecode, never executed) to list what it imports
and which dynamic-execution calls it makes, shown as evidence.

Severity:

* **low**: a ``.py`` file nothing in the folder refers to, with no risky construct (it only runs
  if someone imports it by hand);
* **medium**: referenced by ``config.json`` ``auto_map`` (it runs under ``trust_remote_code``), or
  importing process/network/native/deserialization modules or calling ``exec``/``eval``/...;
* **high**: both of the above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlchain.models import Finding, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.remote_code import load_config_references

MAX_SOURCE_BYTES = 10 * 1024 * 1024

RISKY_MODULES = frozenset(
    {
        "os",
        "subprocess",
        "socket",
        "ctypes",
        "cffi",
        "shutil",
        "importlib",
        "pickle",
        "marshal",
        "dill",
        "runpy",
        "pty",
        "urllib",
        "http",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "paramiko",
        "webbrowser",
        "multiprocessing",
        "builtins",
        "code",
        "codeop",
    }
)
"""Top-level modules that reach processes, the network, native code or other deserializers."""

DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__", "execfile", "breakpoint"})


def analyse_source(source: bytes) -> tuple[list[str], list[str], str | None]:
    """Return ``(imports, dynamic_calls, parse_problem)`` for Python ``source``; never executes."""
    text = source.decode("utf-8", errors="replace")
    try:
        tree = ast.parse(text, type_comments=False)
    except (SyntaxError, ValueError) as exc:
        return [], [], f"does not parse as Python ({type(exc).__name__})"
    except (RecursionError, MemoryError):
        return [], [], "is nested too deeply to parse"
    imports: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.add(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in DYNAMIC_CALLS:
                calls.add(func.id)
            elif isinstance(func, ast.Attribute) and func.attr in {"system", "popen", "Popen"}:
                calls.add(func.attr)
    return sorted(imports), sorted(calls), None


class PythonCodeScanner:
    """Reports each Python file with its imports; escalates when ``auto_map`` runs it."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield one ``python-code`` finding (plus a limit finding for huge files)."""
        with artifact.path.open("rb") as handle:
            source = handle.read(MAX_SOURCE_BYTES + 1)
        too_big = len(source) > MAX_SOURCE_BYTES
        if too_big:
            yield finding(
                "scan-limit-exceeded",
                f"Python file larger than {MAX_SOURCE_BYTES} bytes; only the start was examined",
                artifact.location,
            )
            source = source[:MAX_SOURCE_BYTES]
        imports, calls, problem = analyse_source(source)
        referenced = []
        for folder in dict.fromkeys([artifact.path.parent, artifact.root]):
            try:
                rel = artifact.path.relative_to(folder).as_posix()
            except ValueError:
                continue
            referenced += [r for r in load_config_references(folder) if r.module_file == rel]
        risky = sorted({m for m in imports if m.split(".")[0] in RISKY_MODULES})
        severity = Severity.MEDIUM if referenced else Severity.LOW
        if risky or calls or problem:
            severity = Severity(min(severity + 1, Severity.HIGH))
        parts = [f"Python file {artifact.location.path.name}"]
        if referenced:
            keys = ", ".join(sorted({r.key for r in referenced}))
            parts.append(f"is run by auto_map ({keys}) under trust_remote_code")
        else:
            parts.append("is not referenced by any auto_map; it runs only if imported")
        if problem:
            parts.append(f"and {problem}")
        evidence = []
        if risky:
            evidence.append("risky imports: " + ", ".join(risky))
        if calls:
            evidence.append("dynamic calls: " + ", ".join(calls))
        if imports:
            evidence.append("imports: " + ", ".join(imports[:30]))
        yield finding(
            "python-code",
            " ".join(parts),
            artifact.location,
            evidence="; ".join(evidence) or None,
            severity=severity,
        )


__all__ = ["DYNAMIC_CALLS", "RISKY_MODULES", "PythonCodeScanner", "analyse_source"]
