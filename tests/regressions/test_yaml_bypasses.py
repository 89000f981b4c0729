"""YAML python tags in text files that ship with a model (configs, model cards)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions

PAYLOAD = b'!!python/object/apply:os.system ["touch /tmp/mlchain-canary-executed"]'


def _rules(root: Path) -> list[str]:
    return [f.rule_id for f in scan_paths([root], ScanOptions(jobs=1)).findings]


def test_cve_2020_14343_python_tag_in_training_config(tmp_path: Path) -> None:
    """PyYAML full_load constructs python/object/apply tags.

    https://nvd.nist.gov/vuln/detail/CVE-2020-14343
    """
    (tmp_path / "train.yaml").write_bytes(b"lr: 0.1\nhook: " + PAYLOAD + b"\n")
    assert _rules(tmp_path) == ["yaml-python-tag"]


def test_python_tag_in_model_card_front_matter(tmp_path: Path) -> None:
    """Model cards are YAML front matter + Markdown; tools parse the front matter.

    https://nvd.nist.gov/vuln/detail/CVE-2017-18342
    """
    (tmp_path / "README.md").write_bytes(b"---\nlicense: mit\nx: " + PAYLOAD + b"\n---\n# m\n")
    assert _rules(tmp_path) == ["yaml-python-tag"]


@pytest.mark.parametrize("pad", [(1 << 20) - 5, (1 << 20) + 100, 3 << 20])
def test_tag_found_across_read_chunks(tmp_path: Path, pad: int) -> None:
    (tmp_path / "big.yaml").write_bytes(b"#" * pad + b"\nx: " + PAYLOAD + b"\n")
    report = scan_paths([tmp_path], ScanOptions(jobs=1))
    (found,) = report.findings
    assert found.rule_id == "yaml-python-tag"
    assert found.location.offset == pad + 4


def test_plain_yaml_and_text_without_extension_are_clean(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text("model: llama\nlayers: 32\ntag: '!python is a word'\n")
    (tmp_path / "signme-1").write_text("hello!\n")
    report = scan_paths([tmp_path], ScanOptions(jobs=1))
    assert report.findings == ()
    assert report.not_scanned == ()


# --- every spelling of a python tag (mlchain issue #13, class 9) -------------------------------
# CVE-2017-18342: yaml.load constructs python/object/apply. CVE-2020-1747: FullLoader still
# reached python/object/new. CVE-2020-14343: the same through python/object/apply in 5.3.1.

SPELLINGS = {
    "secondary_handle": "x: !!python/object/apply:os.system [id]\n",
    "tag_directive_named_handle": (
        "%TAG !e! tag:yaml.org,2002:python/\n---\nx: !e!object/apply:os.system [id]\n"
    ),
    "tag_directive_redefines_primary_handle": (
        "%TAG ! tag:yaml.org,2002:\n---\nx: !python/object/apply:os.system [id]\n"
    ),
    "tag_directive_redefines_secondary_handle": (
        "%TAG !! tag:yaml.org,2002:python/object/\n---\nx: !!apply:os.system [id]\n"
    ),
    "tag_directive_percent_escaped_prefix": (
        "%TAG !e! tag:yaml.org,2002:pyth%6Fn/\n---\nx: !e!object/apply:os.system [id]\n"
    ),
    "verbatim_tag": "x: !<tag:yaml.org,2002:python/object/apply:os.system> [id]\n",
    "verbatim_tag_percent_escaped": (
        "x: !<tag:yaml.org%2C2002:python%2Fobject/apply:os.system> [id]\n"
    ),
    "percent_escaped_suffix": "x: !!python%2Fobject/apply:os.system [id]\n",
    "percent_escaped_letters": "x: !!%70ython/object/apply:os.system [id]\n",
    "python_name": "x: !!python/name:os.system\n",
    "python_module": "x: !!python/module:os\n",
    "python_object_new": "x: !!python/object/new:os.system [id]\n",
    "python_object": "x: !!python/object:os.Popen {}\n",
    "flow_mapping_value": "{a: 1, b: !!python/object/apply:os.system [id]}\n",
    "second_document": "a: 1\n---\nb: !!python/object/apply:os.system [id]\n",
    "block_sequence_item": "- 1\n- !!python/object/apply:os.system [id]\n",
    "key_tag": "? !!python/name:os.system\n: 1\n",
}


def _composed_tags(text: str) -> set[str]:
    """The tags PyYAML's parser resolves (compose builds nodes, never Python objects)."""
    import yaml

    tags: set[str] = set()
    for doc in yaml.compose_all(text, Loader=yaml.SafeLoader):
        stack = [doc]
        while stack:
            node = stack.pop()
            tags.add(node.tag)
            if isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    stack.extend((key, value))
    return tags


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_python_tag_spelling_is_critical(tmp_path: Path, name: str) -> None:
    """Each spelling resolves to a python tag in PyYAML's own parser, and mlchain says so.

    https://nvd.nist.gov/vuln/detail/CVE-2017-18342 (yaml.load constructs python/object/apply),
    https://nvd.nist.gov/vuln/detail/CVE-2020-1747 (FullLoader reached python/object/new),
    https://nvd.nist.gov/vuln/detail/CVE-2020-14343 (the same in PyYAML 5.3.1); the spellings
    themselves: mlchain issue #13, class 9.
    """
    text = SPELLINGS[name]
    assert any(t.startswith("tag:yaml.org,2002:python/") for t in _composed_tags(text))
    (tmp_path / "config.yaml").write_text(text)
    findings = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert [(f.rule_id, f.severity.name) for f in findings] == [("yaml-python-tag", "CRITICAL")]


def test_untokenizable_yaml_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("a: [1, !!python/object/apply:os.system [id]\n b: '\n")
    rules = sorted(f.rule_id for f in scan_paths([tmp_path], ScanOptions(jobs=1)).findings)
    assert rules == ["parse-error", "yaml-python-tag"]


def test_untokenizable_yaml_without_tag_is_reported(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("a: !x [1\nb: '\n")
    findings = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert [(f.rule_id, f.severity.name) for f in findings] == [("parse-error", "MEDIUM")]


def test_builtin_python_tag_is_low(tmp_path: Path) -> None:
    """``yaml.dump`` writes ``!!python/tuple`` (Lightning hparams.yaml): builds only a tuple."""
    (tmp_path / "hparams.yaml").write_text("betas: !!python/tuple\n- 0.9\n- 0.999\n")
    findings = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert [(f.rule_id, f.severity.name) for f in findings] == [("yaml-python-tag", "LOW")]


def test_builtin_python_tag_does_not_hide_a_dangerous_one(tmp_path: Path) -> None:
    text = "a: !!python/tuple [1]\nb: !!python/object/apply:os.system [id]\n"
    (tmp_path / "hparams.yaml").write_text(text)
    findings = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert [f.severity.name for f in findings] == ["CRITICAL"]


def test_other_tags_and_quoted_mentions_are_clean(tmp_path: Path) -> None:
    text = (
        "%TAG !e! tag:example.com,2000:app/\n---\n"
        "a: !e!thing 1\nb: !!str '!!python/object/apply:os.system'\nc: \"!python/x\"\n"
        "d: |\n  !!python/object/apply:os.system [id]\n"
    )
    assert not any(t.startswith("tag:yaml.org,2002:python/") for t in _composed_tags(text))
    (tmp_path / "config.yml").write_text(text)
    assert scan_paths([tmp_path], ScanOptions(jobs=1)).findings == ()


def test_large_yaml_gets_the_lexical_over_approximation(tmp_path: Path) -> None:
    from mlchain.scan.yaml_tags import MAX_TOKENIZED_BYTES

    body = "# pad\n" * (MAX_TOKENIZED_BYTES // 6 + 10)
    text = "%TAG !e! tag:yaml.org,2002:python/\n---\n" + body + "x: !e!name:os.system\n"
    (tmp_path / "big.yaml").write_text(text)
    (found,) = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert found.rule_id == "yaml-python-tag"
    assert found.location.offset == text.index("!e!name")


# --- only YAML a loader would read is judged (mlchain issue #14, item 5) -----------------------


def test_markdown_body_mentioning_python_tags_is_clean(tmp_path: Path) -> None:
    (tmp_path / "SECURITY.md").write_text(
        "# Notes\n\nNever load `!!python/object/apply:os.system` with yaml.load.\n\n"
        "```yaml\nx: !!python/object/apply:os.system [id]\n```\n"
    )
    assert scan_paths([tmp_path], ScanOptions(jobs=1)).findings == ()


def test_markdown_front_matter_with_python_tag_is_critical(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\nx: !<tag:yaml.org,2002:python/name:os.system>\n---\n# Model\n"
    )
    (found,) = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert found.rule_id == "yaml-python-tag"
    assert found.location.offset == len("---\nlicense: mit\nx: ")


@pytest.mark.parametrize("lead", ["\n", "\n\n  \n", "\ufeff", "   "])
def test_markdown_front_matter_after_blank_lines(tmp_path: Path, lead: str) -> None:
    """huggingface_hub finds front matter after leading whitespace (``^\\s*---``)."""
    (tmp_path / "README.md").write_text(lead + "---\nx: !!python/name:os.system\n---\n# m\n")
    (found,) = scan_paths([tmp_path], ScanOptions(jobs=1)).findings
    assert found.rule_id == "yaml-python-tag"


def test_markdown_front_matter_without_tags_and_body_mentions_is_clean(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\ntags: [a, b]\n---\n# Model\n\nSee `!!python/name:os.system`.\n"
    )
    assert scan_paths([tmp_path], ScanOptions(jobs=1)).findings == ()


def test_own_json_and_sarif_reports_mentioning_python_tags_are_clean(tmp_path: Path) -> None:
    """mlchain's reports quote the evidence; scanning a folder holding them must stay quiet."""
    from mlchain.output import OutputFormat

    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "train.yaml").write_bytes(b"hook: " + PAYLOAD + b"\n")
    report = scan_paths([bad], ScanOptions(jobs=1))
    assert [f.rule_id for f in report.findings] == ["yaml-python-tag"]
    reports = tmp_path / "reports"
    reports.mkdir()
    for fmt, name in ((OutputFormat.JSON, "scan.json"), (OutputFormat.SARIF, "scan.sarif")):
        text = fmt.formatter().render(report)
        assert "python/object/apply" in text
        (reports / name).write_text(text)
    (reports / "scan.txt").write_text("yaml-python-tag: !!python/object/apply:os.system\n")
    assert scan_paths([reports], ScanOptions(jobs=1)).findings == ()
