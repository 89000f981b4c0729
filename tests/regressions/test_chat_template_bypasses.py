"""Chat-template tricks that a blocklist missed; the allowlist reports each at high or above.

mlchain issue #13, class 7 (no public advisory: found by an attacker reading our blocklist).
Each payload would, if a server rendered it outside the sandbox, build a dunder name at render
time and walk to ``os``. The analysis never renders them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from mlchain.models import Location, Severity
from mlchain.scan.chat_template import analyse_template

LOC = Location(PurePosixPath("tokenizer_config.json"))


def _worst(source: str) -> Severity | None:
    return max((f.severity for f in analyse_template(source, LOC)), default=None)


def _at_least_high(source: str) -> None:
    findings = analyse_template(source, LOC)
    worst = max((f.severity for f in findings), default=None)
    assert worst is not None
    assert worst >= Severity.HIGH, [f.message for f in findings]


@pytest.mark.parametrize(
    "source",
    [
        "{{ x[('%c%c' % (95, 95)) ~ 'class' ~ ('%c%c' % (95, 95))] }}",
        "{{ x['%c%cclass%c%c'|format(95, 95, 95, 95)] }}",
        "{% set u = '%c' % 95 %}{{ x[u ~ u ~ 'class' ~ u ~ u] }}",
    ],
)
def test_percent_c_formatting_builds_a_name(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ x['%sclass%s' % ('__', '__')] }}",
        "{{ x['%sclass%s'|format('__', '__')] }}",
    ],
)
def test_percent_s_formatting_folds_to_critical(source: str) -> None:
    assert _worst(source) is Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "{{ x['class'.center(9, '_')] }}",
        "{{ x[('class'|center(9))|replace(' ', '_')] }}",
        "{{ x['class'.ljust(7, '_').rjust(9, '_')] }}",
        "{{ x['class'|indent(2)|replace(' ', '_')] }}",
    ],
)
def test_center_and_padding_build_a_name(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ messages|map(attribute='__class__')|list }}",
        "{{ messages|map(attribute='content.__class__')|list }}",
        "{{ messages|sort(attribute='__class__') }}",
        "{{ messages|selectattr('__class__')|list }}",
        "{{ messages|groupby('__class__') }}",
        "{{ messages|sum(attribute='__len__') }}",
    ],
)
def test_map_attribute_dunder_is_critical(source: str) -> None:
    assert _worst(source) is Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "{{ messages|map(attribute='__cla' ~ 'ss__')|list }}",
        "{{ messages|map(attribute=messages[0].content)|list }}",
        "{{ messages|selectattr(messages[0].role)|list }}",
        "{{ messages|map(messages[0].role)|list }}",
        "{{ messages|select(messages[0].role)|list }}",
        "{{ messages|map('pprint')|list }}",
    ],
)
def test_map_attribute_or_filter_name_not_literal(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% macro m() %}{{ x[caller()] }}{% endmacro %}{% call m() %}__class__{% endcall %}",
        "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{{ x }}{% endcall %}",
        "{% macro k() %}__cla{{ 'ss__' }}{% endmacro %}{{ x[k()] }}",
        "{% macro k(a) %}{{ x[a] }}{% endmacro %}{{ k('__cla' ~ 'ss__') }}",
        "{% macro k(a='__cla' ~ 'ss__') %}{{ x[a] }}{% endmacro %}{{ k() }}",
        "{% macro k() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ k(1, a=2) }}",
    ],
)
def test_macro_with_caller_builds_a_name(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ dict(__class__=1)|first }}",
        "{% set ns = namespace(__init__=1) %}{{ ns }}",
        "{{ messages|map(**{'attribute': '__class__'})|list }}",
        "{{ raise_exception(**{'__class__': 1}) }}",
    ],
)
def test_keyword_argument_smuggling_is_critical(source: str) -> None:
    assert _worst(source) is Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "{{ x[dict(cls=1)|list|first] }}",
        "{{ messages|map(*['attribute'])|list }}",
        "{% set kw = {'attribute': 'role'} %}{{ messages|map(**kw)|list }}",
    ],
)
def test_keyword_argument_smuggling_without_dunder(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% set u = '_' %}{% set u = u ~ u %}{{ x[u ~ 'class' ~ u] }}",
        "{% set a = '_' %}{% set b = a %}{% set c = b ~ a %}{{ x[c ~ 'class' ~ c] }}",
        (
            "{% set ns = namespace(k='') %}{% for c in ['_', '_', 'c', 'l', 'a', 's', 's', '_', "
            "'_'] %}{% set ns.k = ns.k ~ c %}{% endfor %}{{ x[ns.k] }}"
        ),
        "{% set l = [] %}{% for c in '__class__' %}{% set _ = l.append(c) %}{% endfor %}"
        "{{ x[l|join] }}",
        "{% set a = '_' * 2 %}{% set k = a ~ 'class' ~ a %}{{ x[k] }}",
    ],
)
def test_repeated_variables_build_a_dunder(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.__class__ }}",
        "{{ x['__class__'] }}",
        "{% set k = '__class__' %}{{ x[k] }}",
        "{% for k in ['__class__'] %}{{ x[k] }}{% endfor %}",
        "{{ '{0.__class__}'.format(x) }}",
        "{{ '{0[__class__]}'.format(x) }}",
        "{{ cycler.next }}",
        "{{ x|attr(y) }}",
    ],
)
def test_literal_underscore_names_are_critical(source: str) -> None:
    assert _worst(source) is Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "{{ x|attr('role') }}",
        "{{ x|xmlattr }}",
        "{{ x is callable }}",
        "{{ x.format_map(y) }}",
        "{{ ''.join(x) }}",
        "{% extends 'base.jinja' %}",
        "{% import 'macros.jinja' as m %}",
        "{% block b %}{% endblock %}",
        "{{ 2 ** 1000000 }}",
        "{{ lipsum() }}",
        "{{ x()() }}",
        "{{ '{0.role}'.format(x) }}",
        "{{ y.format(x) }}",
    ],
)
def test_constructs_outside_the_allowlist_are_high(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ x[eos_token] }}",
        "{{ x[bos_token ~ ''] }}",
        "{% if y %}{% set eos_token = 'a' %}{% endif %}{{ x[eos_token] }}",
        "{% set k %}{{ additional_special_tokens[0] }}{% endset %}{{ x[k] }}",
        "{{ x|map(attribute=pad_token)|list }}",
    ],
)
def test_special_tokens_are_author_controlled_text(source: str) -> None:
    """``eos_token`` & co. come from the same tokenizer_config.json/GGUF as the template."""
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        # "<function generate_lorem_ipsum at 0x...>": underscores without writing one
        "{% set u = (lipsum|string)[17:18] %}{% set c = (cycler|string)[1:6] %}"
        "{{ x[u * 2 ~ c ~ u * 2] }}",
        "{% macro m() %}{% endmacro %}{{ x[(m|string)[1:2]] }}",
        "{{ x[(range|string)[1:6]] }}",
        "{{ x[(raise_exception|string)[10:20]] }}",
        "{{ x[strftime_now('__class__')] }}",
    ],
)
def test_engine_text_sliced_into_a_name(source: str) -> None:
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        # '_' from the key "tool_calls", letters from "assistant"/"tool_calls": no literal at all
        "{% set m = messages[1] %}{% set u = (m|list)[2][4:5] %}{% set c = (m|list)[2][5:7] %}"
        "{{ x[u ~ u ~ c ~ (m.role)[0:1] ~ (m.role)[1:3] ~ u ~ u] }}",
        "{% set u = (messages[1]|list)[2][4:5] %}{{ x[u * 2 ~ messages[0].role ~ u * 2] }}",
        "{% set p = [messages[0].role, messages[1].role] %}{{ x[p|join] }}",
        "{{ x[messages[0].role|replace(messages[0].role, messages[1].role)] }}",
        "{{ x[messages[0].role + messages[1].role] }}",
    ],
)
def test_predictable_data_assembled_into_a_name(source: str) -> None:
    """Message keys and roles are known to the author; assembling pieces of them is building."""
    _at_least_high(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ x|sort(false, false, 'a' ~ 'b') }}",
        "{{ x|unique(false, 'a' ~ 'b') }}",
        "{{ x|min(false, 'a' ~ 'b') }}",
        "{{ x|max(false, 'a' ~ 'b') }}",
        "{{ x|join(',', 'a' ~ 'b') }}",
        "{{ x|sum('a' ~ 'b') }}",
        "{{ x|sort(false, false, y.name) }}",
    ],
)
def test_attribute_path_given_positionally(source: str) -> None:
    _at_least_high(source)


def test_huge_filter_argument_is_high() -> None:
    _at_least_high("{{ x|indent(1000000000) }}")


def test_template_that_does_not_parse_fails_closed() -> None:
    findings = analyse_template("{% for m in messages %}{{ m", LOC)
    assert [f.severity for f in findings] == [Severity.HIGH]
    assert "not analysed" in findings[0].message
