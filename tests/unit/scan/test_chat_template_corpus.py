"""The chat-template allowlist against real templates (no false alarm) and mutated ones (no pass).

The corpus is ``fixtures/chat_templates_real/`` (74 real templates of the big model families,
sources and licence in its SOURCES.md). mlchain issue #13, class 7.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.models import Location, Severity
from mlchain.scan.chat_template import analyse_template

CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "chat_templates_real"
REAL = sorted(CORPUS.rglob("*.jinja"))
LOC = Location(PurePosixPath("tokenizer_config.json"))


def test_corpus_has_at_least_fifty_real_templates_with_sources() -> None:
    assert len(REAL) >= 50
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(f"`{path.name}`" in sources for path in REAL)
    assert (CORPUS / "llama.cpp" / "LICENSE").is_file()


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_template_has_no_finding_at_or_above_medium(path: Path) -> None:
    findings = analyse_template(path.read_text(encoding="utf-8"), LOC)
    assert [f.message for f in findings if f.severity >= Severity.MEDIUM] == []


# --- property: replacing a literal name with a computed one is never a pass ----------------------

_KEY = re.compile(r"""\[(['"])([A-Za-z_][A-Za-z0-9_]{1,30})\1\]""")
_ATTR = re.compile(r"(?<=[A-Za-z0-9_\]\)])\.([A-Za-z_][A-Za-z0-9_]{1,30})\b(?!\s*\()")


def _computed(name: str, how: str) -> str:
    """An expression that evaluates to ``name`` at render time, built the way ``how`` says."""
    a, b = name[: len(name) // 2], name[len(name) // 2 :]
    forms = {
        "tilde": f"('{a}' ~ '{b}')",
        "plus": f"('{a}' + '{b}')",
        "format_method": f"('{{}}{{}}'.format('{a}', '{b}'))",
        "percent": f"('%s%s' % ('{a}', '{b}'))",
        "format_filter": f"('%s%s'|format('{a}', '{b}'))",
        "join_filter": f"(['{a}', '{b}']|join)",
        "join_method": f"(''.join(['{a}', '{b}']))",
        "replace_filter": f"('{a}#{b}'|replace('#', ''))",
        "replace_method": f"('{a}#{b}'.replace('#', ''))",
        "reverse_filter": f"('{name[::-1]}'|reverse)",
        "lower_filter": f"('{name.upper()}'|lower)",
        "slice": f"('x{name}'[1:])",
        "set_variable": "__SET__",
        "namespace": "__NS__",
    }
    return forms[how]


_HOW = [
    "tilde",
    "plus",
    "format_method",
    "percent",
    "format_filter",
    "join_filter",
    "join_method",
    "replace_filter",
    "replace_method",
    "reverse_filter",
    "lower_filter",
    "slice",
    "set_variable",
    "namespace",
]


def _code_positions(source: str) -> set[int]:
    """Offsets inside ``{{ }}``/``{% %}`` that are not inside a string literal."""
    code: set[int] = set()
    for region in re.finditer(r"\{[{%].*?[}%]\}", source, re.S):
        quote = None
        escaped = False
        for offset in range(region.start() + 2, region.end() - 2):
            char = source[offset]
            if quote is not None:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            else:
                code.add(offset)
    return code


def _mutate(source: str, index: int, how: str) -> str | None:
    """Replace the ``index``-th literal key or attribute name of ``source`` with a computed one."""
    code = _code_positions(source)
    sites = [(m.start(), m.end(), m.group(2)) for m in _KEY.finditer(source)]
    sites += [(m.start(), m.end(), m.group(1)) for m in _ATTR.finditer(source)]
    sites = [s for s in sites if s[0] in code and s[1] - 1 in code]
    if not sites:
        return None
    start, end, name = sorted(sites)[index % len(sites)]
    prefix = ""
    if how == "set_variable":
        prefix = f"{{%- set mlchain_k = '{name[:1]}' ~ '{name[1:]}' %}}"
        expr = "mlchain_k"
    elif how == "namespace":
        prefix = (
            "{%- set mlchain_ns = namespace(k='') %}"
            f"{{%- for c in {list(name)!r} %}}{{%- set mlchain_ns.k = mlchain_ns.k ~ c %}}"
            "{%- endfor %}"
        )
        expr = "mlchain_ns.k"
    else:
        expr = _computed(name, how)
    return prefix + source[:start] + f"[{expr}]" + source[end:]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    template=st.sampled_from(REAL),
    index=st.integers(min_value=0, max_value=10_000),
    how=st.sampled_from(_HOW),
)
def test_computed_name_in_a_real_template_is_never_a_pass(
    template: Path, index: int, how: str
) -> None:
    """mlchain issue #13, class 7: a literal name made computed is at least high."""
    mutated = _mutate(template.read_text(encoding="utf-8"), index, how)
    if mutated is None:
        return
    findings = analyse_template(mutated, LOC)
    assert any(f.severity >= Severity.HIGH for f in findings), (template.name, how)


@pytest.mark.parametrize("how", _HOW)
def test_every_computation_form_is_caught_on_chatml(how: str) -> None:
    source = "{% for m in messages %}{{ m['content'] }}{{ m.role }}{% endfor %}"
    for index in range(2):
        mutated = _mutate(source, index, how)
        assert mutated is not None
        findings = analyse_template(mutated, LOC)
        assert any(f.severity >= Severity.HIGH for f in findings), mutated
