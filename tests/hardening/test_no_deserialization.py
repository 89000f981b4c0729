"""mlchain never deserializes or executes model content: checked on the source itself.

ruff's banned-api rule (pyproject.toml) covers imports; this test walks the AST of every module
in src/ for deserializer and exec calls, which an alias could slip past a linter.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

SRC = REPO / "src" / "mlchain"

BANNED_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("_pickle", "load"),
    ("_pickle", "loads"),
    ("_pickle", "Unpickler"),
    ("cPickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("joblib", "load"),
    ("torch", "load"),
    ("numpy", "load"),
    ("np", "load"),
    ("marshal", "loads"),
    ("marshal", "load"),
    ("shelve", "open"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
}
BANNED_NAMES = {"eval", "exec", "__import__", "compile"}
BANNED_MODULES = {"torch", "joblib", "dill", "cPickle"}


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_sources_exist() -> None:
    assert len(_sources()) > 10


def test_no_deserializer_or_exec_calls_in_src() -> None:
    offences: list[str] = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    if (func.value.id, func.attr) in BANNED_CALLS:
                        offences.append(f"{where} {func.value.id}.{func.attr}()")
                elif isinstance(func, ast.Name) and func.id in BANNED_NAMES:
                    offences.append(f"{where} {func.id}()")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in BANNED_MODULES:
                        offences.append(f"{where} import {alias.name}")
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if module.split(".")[0] in BANNED_MODULES:
                    offences.append(f"{where} from {module} import ...")
                if module in {"pickle", "_pickle", "marshal"}:
                    names = {a.name for a in node.names}
                    if names & {"load", "loads", "Unpickler"}:
                        offences.append(f"{where} from {module} import {sorted(names)}")
    assert offences == []


def test_ruff_bans_the_deserializers() -> None:
    text = (REPO / "pyproject.toml").read_text()
    for api in ["pickle.load", "pickle.loads", "numpy.load", "torch", "joblib", "builtins.eval"]:
        assert f'"{api}".msg' in text, api
