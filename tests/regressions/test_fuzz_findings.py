"""Crashes found during the fuzzing campaign (fuzz/README.md): each input now yields findings.

One test per finding, named after what broke; each fails without its fix. The inputs are the
minimised crashers committed in ``fixtures/fuzz/<target>/`` (regenerate with
``python fixtures/generate.py fuzz``). Scanner inputs go through the parser's own entry point and
through the whole scan pipeline, which must not report a ``scanner-error`` (its catch-all for an
escaping exception); policy inputs must raise ``PolicyError`` and nothing else.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from helpers import FIXTURES
from mlchain.errors import PolicyError
from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.policy import parse_policy
from mlchain.scan import scan_paths
from mlchain.scan.base import Artifact, ScanContext, ScanOptions
from mlchain.scan.chat_template import analyse_template
from mlchain.scan.hf_config import HfConfigScanner
from mlchain.scan.keras import KerasScanner
from mlchain.scan.safetensors import check_safetensors

CRASHERS = FIXTURES / "fuzz"


def _context() -> ScanContext:
    return ScanContext(ScanOptions(jobs=1))


def _pipeline(path: Path, tmp_path: Path) -> list[Finding]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / path.name
    target.write_bytes(path.read_bytes())
    report = scan_paths([target], ScanOptions(jobs=1))
    assert [f for f in report.findings if f.rule_id == "scanner-error"] == []
    return list(report.findings)


def _template(name: str, tmp_path: Path) -> list[Finding]:
    path = CRASHERS / "chat_template" / name
    findings = analyse_template(path.read_text("utf-8"), Location(Path(name)))
    assert _pipeline(path, tmp_path)
    return findings


def _attr_built_at_render_time(findings: list[Finding]) -> bool:
    return any(
        f.rule_id == "chat-template-injection" and f.severity is Severity.CRITICAL for f in findings
    )


def test_chat_template_replace_count_with_unicode_digit(tmp_path: Path) -> None:
    """``"abc"|replace("a", "b", "²")`` folded ``int("²")`` because ``"²".isdigit()`` is true."""
    findings = _template("replace_count_unicode_digit.jinja", tmp_path)
    assert _attr_built_at_render_time(findings)


def test_chat_template_format_field_with_unicode_digit(tmp_path: Path) -> None:
    """``"{²}".format("a")`` folded the field ``²`` as a positional index via ``int("²")``."""
    findings = _template("format_field_unicode_digit.jinja", tmp_path)
    assert _attr_built_at_render_time(findings)


def test_chat_template_repeat_count_overflow(tmp_path: Path) -> None:
    """``"" * 99999999999999999999999`` folded to an OverflowError (no index-sized integer)."""
    findings = _template("repeat_count_overflow.jinja", tmp_path)
    assert _attr_built_at_render_time(findings)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ x|attr("__claXX__"|replace("XX", "ss", "1")) }}', "'__class__'"),
        ('{{ x|attr("{0}".format("__class__")) }}', "'__class__'"),
        ('{{ x|attr("_" * 2 + "class" + "_" * 2) }}', "'__class__'"),
    ],
)
def test_chat_template_fixes_keep_folding_ascii_forms(source: str, expected: str) -> None:
    """The fixes only refuse to fold what Python itself would reject; ASCII forms still fold."""
    findings = analyse_template(source, Location(Path("t.jinja")))
    assert any(expected in f.message for f in findings), [f.message for f in findings]


def test_safetensors_gap_past_seekable_offset(tmp_path: Path) -> None:
    """A gap between tensors that starts beyond 2**63 bytes: the peek at the hidden bytes seeked
    there and raised OverflowError (``ValueError`` on a real file) instead of reporting."""
    path = CRASHERS / "safetensors" / "gap_past_seekable_offset.safetensors"
    data = path.read_bytes()
    findings = list(
        check_safetensors(io.BytesIO(data), len(data), Location(Path(path.name)), _context())
    )
    assert any(
        f.rule_id == "safetensors-invalid-header" and "data bytes" in f.message for f in findings
    )
    assert any(f.rule_id == "safetensors-polyglot" for f in findings)
    assert any(f.rule_id == "safetensors-invalid-header" for f in _pipeline(path, tmp_path))


def test_keras_lzma_member_corrupt(tmp_path: Path) -> None:
    """A ``.keras`` zip whose config.json is a corrupt LZMA member: Python's zipfile raises
    ``lzma.LZMAError``, which escaped ``KerasScanner`` instead of becoming a parse error."""
    path = CRASHERS / "keras" / "lzma_member_corrupt.keras"
    target = tmp_path / path.name
    target.write_bytes(path.read_bytes())
    artifact = Artifact(
        target, Location(Path(path.name)), tmp_path, target.stat().st_size, ArtifactFormat.KERAS
    )
    findings = list(KerasScanner().scan(artifact, _context()))
    assert [f.rule_id for f in findings] == ["parse-error"]
    assert "damaged" in findings[0].message
    # The pipeline sees a plain zip (no Keras metadata) and reports the unsupported method.
    assert _pipeline(path, tmp_path / "p")


def test_hf_config_module_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    """An ``auto_map`` module with a 300-character component: ``is_file()`` raised ENAMETOOLONG and
    the pipeline replaced every finding of the config (CRITICAL remote code included) by one
    HIGH ``file-unreadable``: a severity downgrade any hostile config could trigger."""
    path = CRASHERS / "hf_config" / "long_module_name" / "config.json"
    target = tmp_path / "config.json"
    target.write_bytes(path.read_bytes())
    artifact = Artifact(
        target,
        Location(Path("config.json")),
        tmp_path,
        target.stat().st_size,
        ArtifactFormat.HF_CONFIG,
    )
    findings = list(HfConfigScanner().scan(artifact, _context()))
    assert [f.rule_id for f in findings] == ["hf-remote-code", "hf-remote-code"]
    assert findings[0].severity is Severity.CRITICAL
    assert findings[1].severity is Severity.HIGH  # local code reference, judged as absent
    piped = _pipeline(path, tmp_path / "p")
    assert "file-unreadable" not in {f.rule_id for f in piped}
    assert max(f.severity for f in piped) is Severity.CRITICAL


def test_safetensors_index_shard_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    """A shard name with a 300-character component: ``is_file()`` raised ENAMETOOLONG and the
    index's escape finding was replaced by ``file-unreadable``."""
    path = CRASHERS / "safetensors_index" / "long_shard_name" / "model.safetensors.index.json"
    piped = _pipeline(path, tmp_path)
    escapes = sorted(f.message for f in piped if f.rule_id == "safetensors-index-escape")
    assert escapes == ["shard cannot be resolved", "shard climbs out of the folder with '..'"]
    assert "file-unreadable" not in {f.rule_id for f in piped}


def test_policy_key_path_with_nul_byte() -> None:
    """A key ``path`` with a NUL byte: ``open()`` raised ``ValueError``, which escaped the loader
    (its contract: only ``PolicyError``)."""
    text = (CRASHERS / "policy" / "key_path_nul.yaml").read_text("utf-8")
    with pytest.raises(PolicyError, match="embedded null byte"):
        parse_policy(text, base_dir=FIXTURES)


def test_policy_key_path_to_endless_file() -> None:
    """A key ``path`` naming ``/dev/zero``: the loader read the whole file before keeping 1 MiB,
    i.e. until memory ran out. It now reads at most 1 MiB and reports that it is no key."""
    text = (CRASHERS / "policy" / "key_path_dev_zero.yaml").read_text("utf-8")
    with pytest.raises(PolicyError):
        parse_policy(text, base_dir=FIXTURES)
