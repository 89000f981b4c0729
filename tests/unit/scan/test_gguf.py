"""GGUF scanner: bounded header reader, tensor table checks, metadata summary, templates."""

from __future__ import annotations

import io
import struct
import sys
import time
import tracemalloc
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import Limits, ScanContext, ScanOptions
from mlchain.scan.gguf import parse_gguf, read_gguf_metadata

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from chat_templates import BENIGN, MALICIOUS  # noqa: E402
from gen_gguf import ARRAY, BASE_KV, F32, FLOAT32, INT32, STRING, TENSORS, gguf, gstr  # noqa: E402

LOC = Location(PurePosixPath("m.gguf"))
GGUF_BENIGN = FIXTURES / "gguf" / "benign"
GGUF_MALICIOUS = FIXTURES / "gguf" / "malicious"


def _parse(data: bytes, limits: Limits | None = None) -> list[tuple[str, Severity]]:
    info = parse_gguf(
        io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions(limits=limits or Limits()))
    )
    return [(f.rule_id, f.severity) for f in info.findings]


def test_benign_fixtures_are_clean() -> None:
    report = scan_paths([GGUF_BENIGN])
    assert len(report.results) >= 9
    assert {r.format.value for r in report.results} == {"gguf"}
    assert report.findings == ()


@pytest.mark.parametrize(
    ("name", "rule", "severity"),
    [
        ("cve_2024_34359_template", "chat-template-injection", Severity.CRITICAL),
        ("named_variant_injection", "chat-template-injection", Severity.CRITICAL),
        ("huge_tensor_count", "gguf-invalid-header", Severity.HIGH),
        ("huge_kv_count", "gguf-invalid-header", Severity.HIGH),
        ("huge_string_length", "gguf-invalid-header", Severity.HIGH),
        ("huge_array_length", "gguf-invalid-header", Severity.HIGH),
        ("bad_alignment", "gguf-invalid-header", Severity.HIGH),
        ("alignment_wrong_type", "gguf-invalid-header", Severity.HIGH),
        ("offsets_past_eof", "gguf-invalid-header", Severity.HIGH),
        ("unknown_tensor_type", "gguf-invalid-header", Severity.HIGH),
        ("removed_tensor_type_q4_2", "gguf-invalid-header", Severity.HIGH),
        ("unknown_value_type", "gguf-invalid-header", Severity.HIGH),
        ("too_many_dims", "gguf-invalid-header", Severity.HIGH),
        ("dimension_overflow", "gguf-invalid-header", Severity.HIGH),
        ("version_1", "gguf-invalid-header", Severity.HIGH),
        ("unknown_version", "gguf-invalid-header", Severity.HIGH),
        ("nested_arrays", "gguf-invalid-header", Severity.HIGH),
        ("duplicate_keys", "gguf-invalid-header", Severity.HIGH),
        ("appended_pickle", "gguf-trailing-data", Severity.HIGH),
        ("truncated", "gguf-invalid-header", Severity.HIGH),
    ],
)
def test_malicious_fixtures(name: str, rule: str, severity: Severity) -> None:
    report = scan_paths([GGUF_MALICIOUS / f"{name}.gguf"])
    assert (rule, severity) in [(f.rule_id, f.severity) for f in report.findings]


def test_gguf_package_writer_output_is_clean(tmp_path: Path) -> None:
    import gguf as gguf_py

    writer = gguf_py.GGUFWriter(str(tmp_path / "w.gguf"), "qwen2")
    writer.add_name("writer")
    writer.add_file_type(0)
    writer.add_token_list(["a", "b", "c"])
    writer.add_token_scores([0.0, 1.0, 2.0])
    writer.add_token_types([1, 1, 3])
    writer.add_chat_template(
        [
            {"name": "default", "template": BENIGN["chatml"]},
            {"name": "tool_use", "template": BENIGN["qwen3_tools"]},
        ]
    )
    writer.add_tensor("a", np.zeros((4, 8), dtype=np.float32))
    writer.add_tensor("b", np.zeros((3,), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    report = scan_paths([tmp_path])
    assert report.findings == ()
    meta = read_gguf_metadata(tmp_path / "w.gguf")
    assert set(meta["chat_templates"]) >= {
        "tokenizer.chat_template",
        "tokenizer.chat_template.tool_use",
    }


def test_read_gguf_metadata_summary() -> None:
    meta = read_gguf_metadata(GGUF_BENIGN / "chatml.gguf")
    assert meta["version"] == 3
    assert meta["architecture"] == "llama"
    assert meta["license"] == "apache-2.0"
    assert meta["quantization"] == "F16"
    assert meta["parameter_count"] == 16 + 8
    assert meta["tensor_types"] == {"F16": 1, "F32": 1}
    assert meta["chat_templates"] == {"tokenizer.chat_template": BENIGN["chatml"]}
    assert meta["problems"] == []


def test_read_gguf_metadata_on_hostile_file_lists_problems() -> None:
    meta = read_gguf_metadata(GGUF_MALICIOUS / "huge_tensor_count.gguf")
    assert meta["tensor_count"] == 2**62
    assert meta["problems"]
    assert meta["architecture"] is None


def test_named_templates_are_each_analysed(tmp_path: Path) -> None:
    kvs = [
        *BASE_KV,
        ("tokenizer.chat_template", BENIGN["gemma"]),
        ("tokenizer.chat_template.rag", BENIGN["chatml"]),
        ("tokenizer.chat_templates", ["rag", MALICIOUS["joiner_item"]]),
    ]
    (tmp_path / "m.gguf").write_bytes(gguf(kvs, TENSORS))
    findings = scan_paths([tmp_path]).findings
    assert any(
        f.severity is Severity.CRITICAL and "tokenizer.chat_templates[1]" in f.message
        for f in findings
    )


def test_template_value_of_wrong_type_is_reported() -> None:
    data = gguf([*BASE_KV, ("tokenizer.chat_template", (INT32, struct.pack("<i", 1)))])
    info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
    assert info.templates == {}


def test_tokenizer_array_type_confusion() -> None:
    data = gguf([*BASE_KV, ("tokenizer.ggml.scores", ["a", "b"])])
    assert _parse(data) == [("gguf-invalid-header", Severity.HIGH)]
    ok = gguf(
        [*BASE_KV, ("tokenizer.ggml.scores", (ARRAY, struct.pack("<IQff", FLOAT32, 2, 0, 1)))]
    )
    assert _parse(ok) == []


def test_big_endian_is_named() -> None:
    data = b"GGUF" + struct.pack(">IQQ", 3, 0, 0)
    info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
    assert "big-endian" in info.findings[0].message


def test_limits_come_from_context() -> None:
    data = gguf(BASE_KV, TENSORS)
    assert _parse(data, Limits(max_members=2)) == [("scan-limit-exceeded", Severity.HIGH)]
    assert _parse(data, Limits(max_header_bytes=64)) == [("scan-limit-exceeded", Severity.HIGH)]


def test_misaligned_offset_and_gap() -> None:
    tensors = [("a", [8], F32, 32)]
    data = bytearray(gguf(BASE_KV, tensors))
    # Patch the offset of tensor "a" (last 8 bytes of its info) to 8: misaligned and unexpected.
    offset_at = data.index(gstr("a")) + 9 + 4 + 8 + 4
    assert data[offset_at : offset_at + 8] == struct.pack("<Q", 0)
    data[offset_at : offset_at + 8] = struct.pack("<Q", 8)
    rules = _parse(bytes(data))
    assert rules.count(("gguf-invalid-header", Severity.HIGH)) >= 2


def test_name_too_long_and_duplicate_tensor() -> None:
    tensors = [("x" * 64, [8], F32, 32), ("x" * 64, [8], F32, 32)]
    assert _parse(gguf(BASE_KV, tensors)).count(("gguf-invalid-header", Severity.HIGH)) == 3


def test_block_size_mismatch() -> None:
    assert _parse(gguf(BASE_KV, [("q", [20], 8, 34)])) == [("gguf-invalid-header", Severity.HIGH)]


def test_2_to_62_tensors_is_fast_and_flat() -> None:
    data = (GGUF_MALICIOUS / "huge_tensor_count.gguf").read_bytes()
    tracemalloc.start()
    started = time.process_time()
    info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
    elapsed = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "4611686018427387904 tensors" in info.findings[0].message
    assert peak < 256 * 1024
    assert elapsed < 0.5


def test_sparse_1gib_gguf_reads_only_the_header(tmp_path: Path) -> None:
    n = 2**28 - 64
    # The info declares n F32 elements but no data is generated: header plus padding only.
    head = gguf(BASE_KV, [("w", [n], F32, 0)])
    path = tmp_path / "big.gguf"
    total = len(head) + 4 * n
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(total)  # sparse: the tensor bytes are a hole
    assert path.stat().st_size >= 2**30 - 2**10
    with path.open("rb") as handle:
        info = parse_gguf(handle, total, LOC, ScanContext(ScanOptions()))
    assert info.findings == []
    assert info.parameter_count == n
    assert info.bytes_read <= 256 * 1024
    tracemalloc.start()
    report = scan_paths([tmp_path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.findings == ()
    assert peak < 4 * 2**20


# --- property tests ------------------------------------------------------------------------------

VALID = gguf(
    [*BASE_KV, ("tokenizer.chat_template", "{{ x }}"), ("tokenizer.ggml.tokens", ["a", "bc"])],
    TENSORS,
)


def _bounded(data: bytes) -> None:
    tracemalloc.start()
    try:
        info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(
        f.rule_id.startswith(("gguf-", "scan-limit", "chat-template")) for f in info.findings
    )
    assert peak < 2 * 2**20
    assert info.bytes_read <= len(data) + 16  # the header, plus a peek at any trailing data


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_after_magic(data: bytes) -> None:
    _bounded(b"GGUF\x03\x00\x00\x00" + data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(VALID)))
def test_truncated(cut: int) -> None:
    _bounded(VALID[:cut])
    if cut < len(VALID):
        assert _parse(VALID[:cut])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(VALID) * 8 - 1))
def test_bit_flips(bit: int) -> None:
    data = bytearray(VALID)
    data[bit // 8] ^= 1 << (bit % 8)
    _bounded(bytes(data))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=8),
            st.sampled_from([STRING, ARRAY, 4, 99]),
            st.integers(0, 2**64 - 1),
        ),
        max_size=4,
    )
)
def test_hostile_lengths(entries: list[tuple[str, int, int]]) -> None:
    body = b"".join(gstr(key) + struct.pack("<IQ", vtype, length) for key, vtype, length in entries)
    _bounded(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + body)


def test_metadata_only_file_with_appended_pickle() -> None:
    data = gguf(BASE_KV) + b"\x80\x02cos\nsystem\n."
    assert ("gguf-trailing-data", Severity.HIGH) in _parse(data)


def test_non_string_template_and_template_cap() -> None:
    data = gguf([*BASE_KV, ("tokenizer.chat_template", 7)])
    assert _parse(data) == [("chat-template-suspicious", Severity.MEDIUM)]
    many = gguf([*BASE_KV, ("tokenizer.chat_templates", ["{{ x }}"] * 70)])
    info = parse_gguf(io.BytesIO(many), len(many), LOC, ScanContext(ScanOptions()))
    assert len(info.templates) == 64
    assert [(f.rule_id, f.severity) for f in info.findings] == [
        ("chat-template-suspicious", Severity.HIGH)
    ]


def test_long_strings_are_kept_short() -> None:
    data = gguf([*BASE_KV, ("general.description", "d" * 9000), ("x.note", "n" * 9000)])
    info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
    assert info.findings == []
    assert len(info.metadata["general.description"]) == 4096
    assert len(info.metadata["x.note"]) == 256


def test_alignment_type_cannot_be_spoofed_by_another_key() -> None:
    kvs = [
        *BASE_KV,
        ("general.alignment", (INT32, struct.pack("<i", 64))),
        ("general.alignment.type", "uint32"),
    ]
    assert ("gguf-invalid-header", Severity.HIGH) in _parse(gguf(kvs, TENSORS))
    assert _parse(gguf([*BASE_KV, ("general.alignment", "32")], TENSORS)) == [
        ("gguf-invalid-header", Severity.HIGH)
    ]
