"""Keras v3 ``.keras`` archives: Lambda bytecode, foreign modules and safe_mode bypasses.

A ``.keras`` file is a zip with ``config.json`` (the object graph Keras rebuilds on load),
``metadata.json`` and ``model.weights.h5``. Keras is never imported: the config is read as
bounded, strict JSON and every serialized object (``{"module", "class_name", "config",
"registered_name"}``) is checked:

* ``Lambda`` layers and ``__lambda__`` functions carry marshalled Python bytecode
  (CVE-2024-3660): ``keras-lambda``;
* references to modules outside the Keras namespaces, e.g. ``builtins``/``os``/``subprocess``
  functions (CVE-2025-1550): ``keras-foreign-module``;
* Keras' own callables and layers that bypass ``safe_mode`` (``enable_unsafe_deserialization``,
  ``keras.utils.get_file`` (CVE-2025-8747), ``TFSMLayer`` (CVE-2026-1462), lookup-layer vocabulary
  files (CVE-2025-12058)): ``keras-unsafe-reference``.

Member names are checked too (``archive-suspicious-member``).
"""

from __future__ import annotations

import base64
import binascii
import lzma
import re
import stat
import zipfile
import zlib
from collections.abc import Generator, Iterator
from typing import Any, BinaryIO

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.strict_json import MAX_CONFIG_BYTES, JsonProblem, parse_strict

KERAS_NAMESPACES = ("keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras", "tensorflow.keras")
"""Module prefixes whose objects Keras itself defines."""

DANGEROUS_MODULES = frozenset(
    {
        "builtins",
        "__builtin__",
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "shutil",
        "socket",
        "importlib",
        "runpy",
        "pickle",
        "marshal",
        "ctypes",
        "pty",
        "code",
        "codeop",
        "webbrowser",
        "urllib",
        "requests",
        "http",
        "numpy",
        "tensorflow",
        "functools",
        "operator",
    }
)
"""Roots whose functions can run commands, read/write files or load more code."""

UNSAFE_KERAS_FUNCTIONS = {
    "enable_unsafe_deserialization": "turns safe_mode off for the rest of the load",
    "get_file": "downloads or overwrites files during load (CVE-2025-8747)",
    "func_load": "unmarshals Python bytecode",
    "load_model": "loads a further model, possibly with safe_mode off",
    "set_value": "writes state during load",
}
UNSAFE_KERAS_LAYERS = {
    "TorchModuleWrapper": "restores a PyTorch module from the config with torch.load (pickle)",
    "TFSMLayer": "loads an external TensorFlow SavedModel, with its code, from a path "
    "(CVE-2026-1462)",
}
LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup"})
MAX_OBJECTS = 1_000_000
MAX_DEPTH = 200
_PRINTABLE = re.compile(rb"[\x20-\x7e]{3,}")


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name:
        return "has a NUL byte in its name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "climbs out with '..'"
    if "\\" in name:
        return "uses backslashes (a directory separator on Windows)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and (stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
        return "is a symbolic link or device"
    return None


def _is_keras_module(module: str) -> bool:
    return any(module == ns or module.startswith(ns + ".") for ns in KERAS_NAMESPACES)


def _lambda_evidence(fn: Any) -> str:
    if isinstance(fn, dict):
        inner = fn.get("config")
        code = inner.get("code") if isinstance(inner, dict) else None
        if isinstance(code, str):
            try:
                raw = base64.b64decode(code[: 1 << 20], validate=False)
            except (binascii.Error, ValueError):
                return f"undecodable bytecode ({len(code)} base64 chars)"
            names = [s.decode() for s in _PRINTABLE.findall(raw)[:12]]
            return f"{len(raw)} bytes of marshalled bytecode; names: {', '.join(names)}"
        return str(fn)
    return str(fn)


class _ConfigWalk:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.findings: list[Finding] = []
        self.seen = 0
        self.reported_functions: set[int] = set()

    def add(self, rule: str, message: str, evidence: str, severity: Severity | None = None) -> None:
        if len(self.findings) < 100:
            self.findings.append(
                finding(rule, message, self.location, evidence=evidence, severity=severity)
            )

    def run(self, doc: Any) -> None:
        stack: list[tuple[Any, int, str]] = [(doc, 0, "$")]
        while stack:
            value, depth, path = stack.pop()
            self.seen += 1
            if self.seen > MAX_OBJECTS or depth > MAX_DEPTH:
                self.add(
                    "scan-limit-exceeded",
                    "config.json is too large or too deeply nested; the rest was not examined",
                    path,
                )
                return
            if isinstance(value, dict):
                self.check_object(value, path)
                for key, item in value.items():
                    if isinstance(item, (dict, list)):
                        stack.append((item, depth + 1, f"{path}.{key}"))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, (dict, list)):
                        stack.append((item, depth + 1, f"{path}[{index}]"))

    def check_object(self, obj: dict[str, Any], path: str) -> None:
        raw_class = obj.get("class_name")
        class_name = raw_class if isinstance(raw_class, str) else None
        module = obj.get("module")
        config = obj.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        label = f"{class_name} {name!r}" if name else str(class_name)
        if class_name == "Lambda":
            fn = config.get("function") if isinstance(config, dict) else None
            self.reported_functions.add(id(fn))
            self.add(
                "keras-lambda",
                f"Lambda layer {name!r} at {path} deserializes and runs Python code on load",
                _lambda_evidence(fn),
            )
        elif class_name == "__lambda__" and id(obj) not in self.reported_functions:
            self.add(
                "keras-lambda",
                f"serialized Python function (__lambda__) at {path}",
                _lambda_evidence(obj),
            )
        serialized = "class_name" in obj  # a serialized object, not a plain config dict
        if serialized and isinstance(module, str) and module and not _is_keras_module(module):
            root = module.split(".")[0]
            dangerous = root in DANGEROUS_MODULES or class_name == "function"
            self.add(
                "keras-foreign-module",
                f"{label} at {path} is imported from module {module!r}, outside Keras"
                + ("; it is a function called during load" if class_name == "function" else ""),
                f"module={module} class_name={class_name} config={config!s:.80}",
                severity=Severity.CRITICAL if dangerous else None,
            )
        if (
            isinstance(config, str)
            and config in UNSAFE_KERAS_FUNCTIONS
            and class_name == "function"
        ):
            self.add(
                "keras-unsafe-reference",
                f"function {module}.{config} at {path} {UNSAFE_KERAS_FUNCTIONS[config]}",
                f"module={module} config={config}",
            )
        if isinstance(class_name, str) and class_name in UNSAFE_KERAS_LAYERS:
            where = config.get("filepath") if isinstance(config, dict) else None
            self.add(
                "keras-unsafe-reference",
                f"{label} at {path} {UNSAFE_KERAS_LAYERS[class_name]}",
                f"filepath={where}",
            )
        if class_name in LOOKUP_LAYERS and isinstance(config, dict):
            vocab = config.get("vocabulary")
            if isinstance(vocab, str):
                self.add(
                    "keras-unsafe-reference",
                    f"{label} at {path} reads its vocabulary from a path or URL on load; "
                    "local file read or SSRF (CVE-2025-12058)",
                    f"vocabulary={vocab}",
                    severity=Severity.HIGH,
                )


def walk_config(doc: Any, location: Location) -> list[Finding]:
    """Check a parsed Keras config (from a ``.keras`` zip or an unzipped model folder)."""
    walk = _ConfigWalk(location)
    walk.run(doc)
    return walk.findings


class KerasScanner:
    """Scans ``.keras`` zips without importing Keras."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield findings for member names and the serialized config."""
        loc = artifact.location
        with artifact.path.open("rb") as raw:  # an unreadable file is not a parse error
            data = yield from self._read_config(raw, loc, ctx)
        if data is None:
            return
        member = loc.with_member("config.json")
        try:
            parsed = parse_strict(data, allow_constants=True)
        except JsonProblem as exc:
            yield finding("parse-error", f"config.json is not strict JSON: {exc}", member)
            return
        if parsed.constants:
            yield finding(
                "parse-error",
                "config.json uses non-standard JSON literals; Python accepts them, strict "
                "parsers do not",
                member,
                evidence=", ".join(parsed.constants),
                severity=Severity.LOW,
            )
        if parsed.duplicates:
            yield finding(
                "parse-error",
                "config.json repeats keys; loaders disagree on which value wins",
                member,
                evidence=", ".join(parsed.duplicates),
                severity=Severity.MEDIUM,
            )
        yield from walk_config(parsed.value, member)

    def _read_config(
        self, raw: BinaryIO, loc: Location, ctx: ScanContext
    ) -> Generator[Finding, None, bytes | None]:
        """Check member names and return the config.json bytes (``None`` when unusable)."""
        try:
            with zipfile.ZipFile(raw) as archive:
                infos = archive.infolist()
                if len(infos) > ctx.limits.max_members:
                    yield finding(
                        "scan-limit-exceeded",
                        f"archive has {len(infos)} members (limit {ctx.limits.max_members})",
                        loc,
                    )
                    return None
                names: set[str] = set()
                for info in infos:
                    problem = _member_problem(info)
                    if info.filename in names:
                        problem = "appears twice; extractors and loaders may pick different copies"
                    names.add(info.filename)
                    if problem:
                        yield finding(
                            "archive-suspicious-member",
                            f"member {info.filename!r} {problem}",
                            loc.with_member(info.filename),
                            evidence=info.filename,
                        )
                config_info = next((i for i in infos if i.filename == "config.json"), None)
                if config_info is None:
                    yield finding("parse-error", "Keras archive has no config.json", loc)
                    return None
                member = loc.with_member("config.json")
                limit = min(MAX_CONFIG_BYTES, ctx.limits.max_header_bytes)
                if config_info.file_size > limit:
                    yield finding(
                        "scan-limit-exceeded",
                        f"config.json declares {config_info.file_size} bytes (limit {limit})",
                        member,
                    )
                    return None
                with archive.open(config_info) as handle:
                    data = handle.read(limit + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
                EOFError, zlib.error, lzma.LZMAError, ValueError, OSError) as exc:  # fmt: skip
            yield finding("parse-error", f"Keras archive is damaged: {exc}", loc)
            return None
        if len(data) > limit:
            yield finding("archive-bomb", "config.json inflates past its declared size", member)
            return None
        return data


__all__ = ["DANGEROUS_MODULES", "KERAS_NAMESPACES", "KerasScanner", "walk_config"]
