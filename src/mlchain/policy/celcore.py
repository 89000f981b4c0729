"""The CEL engine, without the ``cel`` package's command-line front end.

``cel`` (common-expression-language) is a Rust extension, ``cel/cel*.so``, inside a package whose
``__init__`` also imports its interactive CLI: prompt_toolkit and rich, about 0.25 s of CPU on
every policy check (``../shared/NOTES.md``; issue #19, item 7: the gate's cost beyond hashing).
mlchain needs only the extension's ``compile``, ``Program`` and ``Context``, so :func:`engine`
loads that extension by itself and registers it as ``cel.cel``. A later ``import cel`` (a user's
code in the same process) finds it there and reuses it; PyO3 modules cannot be initialised twice.
Whenever the layout is not the expected one, it imports the package the ordinary way.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_EXTENSION = "cel.cel"


def engine() -> ModuleType:
    """The module holding ``compile``, ``Program`` and ``Context`` (imported once)."""
    for name in (_EXTENSION, "cel"):
        loaded = sys.modules.get(name)
        if loaded is not None and hasattr(loaded, "Context"):
            return loaded
    module = _load_extension()
    if module is not None:
        return module
    import cel

    return cel


def _load_extension() -> ModuleType | None:
    spec = importlib.util.find_spec("cel")  # a top-level name: finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"cel{suffix}"
            if not path.is_file():
                continue
            ext = importlib.util.spec_from_file_location(_EXTENSION, path)
            if ext is None or ext.loader is None:
                return None
            module = importlib.util.module_from_spec(ext)
            sys.modules[_EXTENSION] = module
            try:
                ext.loader.exec_module(module)
            except Exception:
                del sys.modules[_EXTENSION]
                return None
            return module if hasattr(module, "Context") else None
    return None
