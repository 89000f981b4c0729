"""The CEL engine is loaded without the ``cel`` package's CLI (issue #19, item 7).

``cel/__init__`` imports an interactive front end (prompt_toolkit, rich): a quarter of a second
of the deploy gate. :mod:`mlchain.policy.celcore` loads only the Rust extension. These run in a
fresh interpreter, because what is imported is the point.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_policy_check_imports_no_cel_front_end() -> None:
    out = _python(
        """
        import sys
        from mlchain.policy.celcore import engine
        cel = engine()
        program = cel.compile("size(files) == 2 && files[0] == 'a'")
        print(program.execute(cel.Context(variables={"files": ["a", "b"]})))
        print(sorted(m for m in ("prompt_toolkit", "rich", "cel.cli") if m in sys.modules))
        """
    )
    assert out.splitlines() == ["True", "[]"]


def test_a_later_import_cel_reuses_the_loaded_engine() -> None:
    """PyO3 extensions initialise once per process: the package must find ours, not fail."""
    out = _python(
        """
        from mlchain.policy.celcore import engine
        first = engine()
        import cel
        print(cel.Context is first.Context, cel.evaluate("1 + 2"), engine() is first)
        """
    )
    assert out == "True 3 True"


def test_engine_after_the_package_was_imported_is_the_package() -> None:
    out = _python(
        """
        import cel
        from mlchain.policy.celcore import engine
        print(engine().Context is cel.Context)
        """
    )
    assert out == "True"
