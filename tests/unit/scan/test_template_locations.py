"""Every place a model folder keeps a chat template or an ``auto_map`` is scanned.

mlchain issue #13, class 8: templates also live in ``chat_template.json``, ``chat_template.jinja``,
``processor_config.json`` and ``tokenizer_config.json``'s list form; ``auto_map`` appears in
``tokenizer_config.json`` and ``processor_config.json`` too. Each test builds one folder and runs
the whole pipeline (detection, routing, scanner), so a file that is never routed fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlchain.models import Finding, Severity
from mlchain.scan import scan_paths

ESCAPE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
BENIGN = "{% for m in messages %}{{ m.role }}: {{ m['content'] }}\n{% endfor %}"


def _findings(folder: Path) -> list[Finding]:
    report = scan_paths([folder])
    return [f for result in report.results for f in result.findings]


def _write(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _injection(findings: list[Finding]) -> bool:
    return any(
        f.rule_id == "chat-template-injection" and f.severity is Severity.CRITICAL for f in findings
    )


def _clean(findings: list[Finding]) -> bool:
    return all(f.severity < Severity.MEDIUM for f in findings)


def test_chat_template_json(tmp_path: Path) -> None:
    _write(tmp_path / "bad", "chat_template.json", {"chat_template": ESCAPE})
    _write(tmp_path / "good", "chat_template.json", {"chat_template": BENIGN})
    assert _injection(_findings(tmp_path / "bad"))
    assert _clean(_findings(tmp_path / "good"))


def test_chat_template_jinja(tmp_path: Path) -> None:
    _write(tmp_path / "bad", "chat_template.jinja", ESCAPE)
    _write(tmp_path / "good", "chat_template.jinja", BENIGN)
    assert _injection(_findings(tmp_path / "bad"))
    assert _clean(_findings(tmp_path / "good"))


def test_additional_chat_templates_folder(tmp_path: Path) -> None:
    _write(tmp_path, "additional_chat_templates/tool_use.jinja", ESCAPE)
    findings = _findings(tmp_path)
    assert _injection(findings)
    assert any("'tool_use'" in f.message for f in findings)


def test_processor_config_json_chat_template(tmp_path: Path) -> None:
    _write(tmp_path / "bad", "processor_config.json", {"chat_template": ESCAPE})
    _write(tmp_path / "good", "processor_config.json", {"chat_template": BENIGN})
    assert _injection(_findings(tmp_path / "bad"))
    assert _clean(_findings(tmp_path / "good"))


def test_processor_config_json_named_templates(tmp_path: Path) -> None:
    doc = {
        "chat_template": [
            {"name": "default", "template": BENIGN},
            {"name": "x", "template": ESCAPE},
        ]
    }
    _write(tmp_path, "processor_config.json", doc)
    findings = _findings(tmp_path)
    assert _injection(findings)
    assert any("'x'" in f.message for f in findings)


def test_tokenizer_config_json_list_form(tmp_path: Path) -> None:
    doc = {
        "chat_template": [
            {"name": "default", "template": BENIGN},
            {"name": "rag", "template": BENIGN},
            {"name": "tool_use", "template": ESCAPE},
        ]
    }
    _write(tmp_path, "tokenizer_config.json", doc)
    findings = _findings(tmp_path)
    assert _injection(findings)
    assert all("'tool_use'" in f.message for f in findings if f.rule_id.startswith("chat-"))


def test_tokenizer_config_json_list_form_benign(tmp_path: Path) -> None:
    doc = {"chat_template": [{"name": "default", "template": BENIGN}]}
    _write(tmp_path, "tokenizer_config.json", doc)
    assert _clean(_findings(tmp_path))


def test_tokenizer_config_json_duplicate_chat_template_key(tmp_path: Path) -> None:
    text = (
        '{"chat_template": "'
        + BENIGN.replace("\n", "\\n")
        + '", "chat_template": "{{ x.__class__ }}"}'
    )
    _write(tmp_path, "tokenizer_config.json", text)
    findings = _findings(tmp_path)
    assert _injection(findings)
    assert any("defined 2 times" in f.message for f in findings)


def _remote_code(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule_id == "hf-remote-code"]


def test_tokenizer_config_json_auto_map_local_module_slow_fast_list(tmp_path: Path) -> None:
    doc = {
        "auto_map": {
            "AutoTokenizer": ["tokenization_x.XTokenizer", "tokenization_x.XTokenizerFast"]
        }
    }
    _write(tmp_path, "tokenizer_config.json", doc)
    _write(tmp_path, "tokenization_x.py", "class XTokenizer: pass\n")
    found = _remote_code(_findings(tmp_path))
    assert {f.evidence for f in found} == {
        "tokenization_x.XTokenizer",
        "tokenization_x.XTokenizerFast",
    }
    assert all(f.severity >= Severity.MEDIUM for f in found)


def test_tokenizer_config_json_auto_map_with_null_slow_entry(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoTokenizer": [None, "tokenization_x.XTokenizerFast"]}}
    _write(tmp_path, "tokenizer_config.json", doc)
    found = _remote_code(_findings(tmp_path))
    assert [f.evidence for f in found] == ["tokenization_x.XTokenizerFast"]
    assert "NOT in the folder" in found[0].message


def test_tokenizer_config_json_auto_map_other_repository(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoTokenizer": ["evil/repo--tokenization_x.XTokenizer", None]}}
    _write(tmp_path, "tokenizer_config.json", doc)
    found = _remote_code(_findings(tmp_path))
    assert [f.severity for f in found] == [Severity.CRITICAL]
    assert "evil/repo" in found[0].message


def test_processor_config_json_auto_map_local_module(tmp_path: Path) -> None:
    doc = {
        "auto_map": {"AutoProcessor": "processing_x.XProcessor"},
        "processor_class": "XProcessor",
    }
    _write(tmp_path, "processor_config.json", doc)
    found = _remote_code(_findings(tmp_path))
    assert [f.evidence for f in found] == ["processing_x.XProcessor"]
    assert found[0].severity >= Severity.MEDIUM


def test_processor_config_json_auto_map_other_repository(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoProcessor": "evil/repo--processing_x.XProcessor"}}
    _write(tmp_path, "processor_config.json", doc)
    found = _remote_code(_findings(tmp_path))
    assert [f.severity for f in found] == [Severity.CRITICAL]


def test_preprocessor_config_json_auto_map(tmp_path: Path) -> None:
    doc = {"auto_map": {"AutoImageProcessor": "image_processing_x.XImageProcessor"}}
    _write(tmp_path, "preprocessor_config.json", doc)
    assert [f.evidence for f in _remote_code(_findings(tmp_path))] == [
        "image_processing_x.XImageProcessor"
    ]


def test_plain_tokenizer_config_json_is_clean(tmp_path: Path) -> None:
    doc = {"model_max_length": 2048, "tokenizer_class": "LlamaTokenizer", "chat_template": BENIGN}
    _write(tmp_path, "tokenizer_config.json", doc)
    assert _findings(tmp_path) == []
