"""Jinja chat-template analysis: real templates pass, sandbox escapes are critical."""

from __future__ import annotations

import json
import sys
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.chat_template import analyse_template

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "fixtures"))
from canary import CANARY_PATH
from chat_templates import BENIGN, MALICIOUS

LOC = Location(PurePosixPath("model.gguf"))


def _max(source: str, name: str | None = None) -> Severity | None:
    return max((f.severity for f in analyse_template(source, LOC, name)), default=None)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_real_templates_pass(name: str) -> None:
    findings = analyse_template(BENIGN[name], LOC)
    assert [f for f in findings if f.severity >= Severity.MEDIUM] == []


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_injection_payloads_are_critical(name: str) -> None:
    findings = analyse_template(MALICIOUS[name], LOC)
    assert any(
        f.rule_id == "chat-template-injection" and f.severity is Severity.CRITICAL for f in findings
    ), [f.message for f in findings]


@pytest.mark.parametrize(
    "source",
    [
        "{{ messages|attr('role') }}",
        "{% set x = [] %}{{ x.extend([1]) }}",
        "{% include 'other.jinja' %}",
        "{% for i in range(1000000000) %}{% endfor %}",
        "{{ messages[0]['ro' ~ 'le'] }}",
        "{{ config.items() }}",
        "{{ (x ~ '{}').format(y) }}",
        "{% set k = messages[0].content ~ 'class__' %}{{ messages[k] }}",
    ],
)
def test_unlisted_constructs_are_high_not_critical(source: str) -> None:
    findings = analyse_template(source, LOC)
    assert {f.rule_id for f in findings} == {"chat-template-unlisted"}
    assert max(f.severity for f in findings) is Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "{% set k = '__glo' %}{% set k2 = k ~ 'bals__' %}{{ lipsum|attr(k2) }}",
        "{% for a in ['__class__'] %}{{ messages|attr(a) }}{% endfor %}",
        "{{ messages|attr(name) }}",
        "{{ messages|attr('format') }}",
        "{{ messages[('_' * 2) ~ 'class' ~ ('_' * 2)] }}",
        "{{ ('__CLASS__'|lower) }}",
        "{{ x['\\x5f\\x5fclass\\x5f\\x5f'] }}",
        "{{ x.mro() }}",
        "{{ x.gi_frame.f_globals }}",
        "{{ __builtins__ }}",
        "{{ messages|selectattr('__class__') }}",
        "{{ messages|map('attr', '__class__') }}",
        "{% set s = '{0.__init__}' %}{{ s.format(x) }}",
    ],
)
def test_obfuscated_escapes_are_critical(source: str) -> None:
    assert _max(source) is Severity.CRITICAL


def test_unparsable_template_is_high_and_still_searched() -> None:
    findings = analyse_template("{% for %}", LOC)
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("chat-template-suspicious", Severity.HIGH)
    ]
    hidden = analyse_template("{% if %}{{ x.__globals__ }}", LOC)
    assert {f.rule_id for f in hidden} == {"chat-template-suspicious", "chat-template-injection"}


def test_hugging_face_extensions_parse() -> None:
    source = (
        "{% for m in messages %}{% if loop.index > 3 %}{% break %}{% endif %}"
        "{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
    )
    assert analyse_template(source, LOC) == []


def test_named_template_is_labelled() -> None:
    (found, *_) = analyse_template(MALICIOUS["cycler_globals"], LOC, "tool_use")
    assert "'tool_use'" in found.message


def test_findings_are_capped() -> None:
    source = "".join(f"{{{{ x.__a{i}__ }}}}" for i in range(100))
    findings = analyse_template(source, LOC)
    assert len(findings) == 21
    assert "further problems" in findings[-1].message


def test_analysis_never_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a template was rendered")

    monkeypatch.setattr(jinja2.Template, "render", refuse)
    monkeypatch.setattr(jinja2.Environment, "from_string", refuse)
    for source in MALICIOUS.values():
        analyse_template(source, LOC)
    assert not Path(CANARY_PATH).exists()


TOKENS = [*"{}%#-~+|()[]._'\"ax_ 0129", "{{", "}}", "{%", "%}", "set ", "for ", "in ", "endfor"]
TOKENS += ["if ", "endif", "attr", "__class__", "join", "format", "replace", "[::-1]", "*"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_random_templates_never_raise(source: str) -> None:
    for found in analyse_template(source, LOC):
        assert found.rule_id.startswith("chat-template-")


# --- tokenizer_config.json / chat_template.jinja ------------------------------------------------


def _scan(tmp_path: Path, name: str, content: str) -> list[tuple[str, Severity]]:
    (tmp_path / name).write_text(content)
    report = scan_paths([tmp_path])
    return [(f.rule_id, f.severity) for f in report.findings]


def test_tokenizer_config_string_template(tmp_path: Path) -> None:
    doc = {"bos_token": "<s>", "chat_template": BENIGN["llama3_1_tools"]}
    assert _scan(tmp_path, "tokenizer_config.json", json.dumps(doc)) == []


def test_tokenizer_config_named_list_checks_every_template(tmp_path: Path) -> None:
    doc = {
        "chat_template": [
            {"name": "default", "template": BENIGN["chatml"]},
            {"name": "tool_use", "template": MALICIOUS["lipsum_globals"]},
        ]
    }
    found = _scan(tmp_path, "tokenizer_config.json", json.dumps(doc))
    assert ("chat-template-injection", Severity.CRITICAL) in found


def test_tokenizer_config_duplicate_template_key(tmp_path: Path) -> None:
    text = (
        '{"chat_template": '
        + json.dumps(MALICIOUS["cve_2024_34359"])
        + ', "chat_template": '
        + json.dumps(BENIGN["chatml"])
        + "}"
    )
    found = _scan(tmp_path, "tokenizer_config.json", text)
    assert ("chat-template-suspicious", Severity.HIGH) in found
    assert ("chat-template-injection", Severity.CRITICAL) in found


def test_tokenizer_config_not_json_is_parse_error(tmp_path: Path) -> None:
    assert _scan(tmp_path, "tokenizer_config.json", "{'chat_template': 1") == [
        ("parse-error", Severity.HIGH)
    ]


def test_malformed_template_list(tmp_path: Path) -> None:
    found = _scan(tmp_path, "tokenizer_config.json", '{"chat_template": [{"name": 1}]}')
    assert found == [("chat-template-suspicious", Severity.MEDIUM)]


def test_standalone_jinja_file(tmp_path: Path) -> None:
    found = _scan(tmp_path, "chat_template.jinja", MALICIOUS["namespace_escape"])
    assert ("chat-template-injection", Severity.CRITICAL) in found
    (tmp_path / "chat_template.jinja").unlink()
    assert _scan(tmp_path, "chat_template.jinja", BENIGN["gemma"]) == []


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.integers() | st.sampled_from(["{{ x }}", "{{ x.__class__ }}", "{%"]),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["chat_template", "name", "template"]), inner)
            ),
            max_leaves=10,
        ).map(lambda doc: json.dumps(doc).encode()),
    )
)
def test_random_tokenizer_configs(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tokenizer_config.json").write_bytes(data)
        report = scan_paths([Path(tmp)])
    rules = {f.rule_id for f in report.findings}
    assert "scanner-error" not in rules  # hostile bytes are findings, never a scanner crash
    if "format-mismatch" in rules:
        return  # the bytes are another format (e.g. b"GGUF"): its own scanner reports them
    # A tokenizer config is judged as a config, as an LFS pointer when it is one, and (being
    # named, not sniffed) also as a possible pickle: nothing else may come out of it.
    expected = {"parse-error", "lfs-pointer", "scan-limit-exceeded", "hf-remote-code"}
    assert all(r in expected or r.startswith(("chat-template-", "pickle-")) for r in rules), rules


@pytest.mark.parametrize(
    "source",
    [
        "{% set sys = messages[0] %}{{ sys.content }}",
        "{% macro render(config) %}{{ config.name }}{% endmacro %}{{ render(x) }}",
        "{{ strftime_now('%d %b %Y') }}{{ messages[0]['content'].split('</think>')[-1] }}",
        "{% set ns = namespace(first=true) %}{% set ns.first = false %}{{ x|tojson(indent=2) }}",
        "{{ (messages|selectattr('role', 'equalto', 'user')|list)[-1].content|trim }}",
        "{% set role = message['role']|lower %}{{ names[role] }}{{ names[role|trim] }}",
    ],
)
def test_ordinary_constructs_pass(source: str) -> None:
    assert analyse_template(source, LOC) == []
