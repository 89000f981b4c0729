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
