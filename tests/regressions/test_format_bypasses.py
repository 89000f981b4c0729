"""One test per public attack technique on safetensors, GGUF and chat templates.

Each test is named after the technique and links its advisory. Fixtures come from
``fixtures/gen_safetensors.py`` and ``fixtures/gen_gguf.py``; nothing is ever rendered or
loaded, and the canary file must never appear.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

import pytest

from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.chat_template import analyse_template

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from canary import CANARY_PATH  # noqa: E402
from chat_templates import MALICIOUS  # noqa: E402

SAFETENSORS = FIXTURES / "safetensors" / "malicious"
GGUF = FIXTURES / "gguf" / "malicious"
LOC = Location(PurePosixPath("tokenizer_config.json"))


@pytest.fixture(autouse=True)
def _canary_stays_absent() -> object:
    yield
    assert not Path(CANARY_PATH).exists(), "a payload ran"


def _rules(path: Path) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([path]).findings}


def _critical(source: str) -> bool:
    return any(
        f.rule_id == "chat-template-injection" and f.severity is Severity.CRITICAL
        for f in analyse_template(source, LOC)
    )


# --- chat templates ------------------------------------------------------------------------------


def test_cve_2024_34359_llama_cpp_python_chat_template_ssti() -> None:
    """GGUF ``tokenizer.chat_template`` rendered outside the sandbox (llama-cpp-python).

    https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829
    """
    assert ("chat-template-injection", Severity.CRITICAL) in _rules(
        GGUF / "cve_2024_34359_template.gguf"
    )


def test_cve_2026_5760_sglang_template_rce_via_named_variant() -> None:
    """The same SSTI hidden in a named variant (``tokenizer.chat_template.tool_use``).

    SGLang rendered GGUF chat templates unsandboxed (CERT/CC VU#915947):
    https://kb.cert.org/vuls/id/915947 . Scanners that only read the default template miss it.
    """
    rules = _rules(GGUF / "named_variant_injection.gguf")
    assert ("chat-template-injection", Severity.CRITICAL) in rules


def test_jinja_cycler_joiner_lipsum_globals_escape() -> None:
    """Reaching ``os`` through the globals of Jinja's own helpers (classic Jinja SSTI chain).

    https://jinja.palletsprojects.com/en/stable/sandbox/
    """
    for name in ("cycler_globals", "lipsum_globals", "joiner_item", "namespace_escape"):
        assert _critical(MALICIOUS[name]), name


def test_attribute_names_built_from_pieces() -> None:
    """Filter-evasion: ``'__cla' ~ 'ss__'``, ``join``, ``replace``, ``%``, reversed slices.

    CVE-2024-34359 write-ups show keyword filters defeated by building the dunder name at
    render time: https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829
    """
    for name in ("attr_concat", "attr_join", "reversed_slice", "replace_filter", "percent_build"):
        assert _critical(MALICIOUS[name]), name


def test_cve_2024_56326_jinja_str_format_reference_escape() -> None:
    """Sandbox escape through an indirect reference to ``str.format`` (Jinja < 3.1.5).

    https://github.com/pallets/jinja/security/advisories/GHSA-q2x7-8rv6-6q7h
    """
    assert _critical(MALICIOUS["format_field_walk"])
    assert _critical("{% set f = '{0.__class__}'.format %}{{ x|map(f)|list }}")


def test_cve_2025_27516_jinja_attr_filter_format_escape() -> None:
    """``|attr('format')`` fetched ``str.format`` past the sandbox (Jinja < 3.1.6).

    https://github.com/pallets/jinja/security/advisories/GHSA-cpwx-vrp4-4pq7
    """
    assert _critical("{{ '{0.__class__}'|attr('format')(x) }}")


def test_attribute_path_filters_map_selectattr() -> None:
    """``map(attribute='__class__')`` resolves attributes without a Getattr node.

    https://jinja.palletsprojects.com/en/stable/templates/#jinja-filters.map
    """
    assert _critical(MALICIOUS["map_attribute"])


# --- GGUF parsing --------------------------------------------------------------------------------


def test_gguf_tensor_count_overflow() -> None:
    """A tensor count of 2**62 overflowed allocation sizes in llama.cpp's GGUF loader.

    One of the 2024 GGUF loader heap overflows (CVE-2024-21825, -21836, -21802, -23496,
    -23605): https://nvd.nist.gov/vuln/detail/CVE-2024-21836
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "huge_tensor_count.gguf")


def test_gguf_kv_count_overflow() -> None:
    """A metadata count of 2**62 overflowed the key-value allocation (same 2024 CVE family).

    https://nvd.nist.gov/vuln/detail/CVE-2024-21825
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "huge_kv_count.gguf")


def test_gguf_string_length_overflow() -> None:
    """A string length of 2**63 was resized before reading (and again in llama.cpp #19003).

    https://nvd.nist.gov/vuln/detail/CVE-2024-21802 ,
    https://github.com/ggml-org/llama.cpp/issues/19003
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "huge_string_length.gguf")


def test_gguf_array_length_exhaustion() -> None:
    """Array lengths of 2**62 exhausted memory in gguf-py and llama.cpp (array count DoS).

    https://github.com/ggml-org/llama.cpp/pull/27188 , https://nvd.nist.gov/vuln/detail/CVE-2024-23605
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "huge_array_length.gguf")


def test_gguf_nested_array_recursion() -> None:
    """Deeply nested arrays crashed gguf-py's recursive reader (RecursionError).

    https://github.com/ggml-org/llama.cpp/pull/27188
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "nested_arrays.gguf")


def test_gguf_tensor_size_overflow_cve_2026_33298() -> None:
    """Dimensions whose product wraps 64 bits: a small buffer backs a huge logical tensor.

    https://github.com/ggml-org/llama.cpp/security/advisories/GHSA-96jg-mvhq-q7q7 ,
    https://github.com/ggml-org/llama.cpp/pull/18674
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "dimension_overflow.gguf")


def test_gguf_tensor_data_past_eof_bleeding_llama() -> None:
    """Tensors declared past the end of the file: out-of-bounds reads (CVE-2026-7482).

    https://nvd.nist.gov/vuln/detail/CVE-2026-7482
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "offsets_past_eof.gguf")


def test_gguf_alignment_not_power_of_two() -> None:
    """``general.alignment`` of the wrong type or not a power of two broke padding math.

    https://github.com/ggml-org/llama.cpp/pull/26318 , https://github.com/ggml-org/llama.cpp/pull/19856
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "bad_alignment.gguf")
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "alignment_wrong_type.gguf")


def test_gguf_tensor_type_out_of_range() -> None:
    """Unknown or removed ggml type ids indexed type tables out of bounds.

    https://github.com/ggml-org/llama.cpp/pull/19856 ("fix negative tensor type oob")
    """
    assert ("gguf-invalid-header", Severity.HIGH) in _rules(GGUF / "unknown_tensor_type.gguf")


def test_gguf_tokenizer_array_type_confusion() -> None:
    """Tokenizer arrays of a narrower element type were read 4 bytes per element (OOB read).

    https://github.com/ggml-org/llama.cpp/pull/26690
    """
    import io

    from gen_gguf import BASE_KV, gguf

    from mlchain.scan.base import ScanContext, ScanOptions
    from mlchain.scan.gguf import parse_gguf

    data = gguf([*BASE_KV, ("tokenizer.ggml.token_type", ["x"])])
    info = parse_gguf(io.BytesIO(data), len(data), LOC, ScanContext(ScanOptions()))
    assert [f.rule_id for f in info.findings] == ["gguf-invalid-header"]


def test_gguf_appended_pickle_polyglot() -> None:
    """A pickle appended after the last tensor: a second file for tools that sniff content.

    https://github.com/trailofbits/fickling (polyglot research)
    """
    assert ("gguf-trailing-data", Severity.HIGH) in _rules(GGUF / "appended_pickle.gguf")


# --- safetensors ---------------------------------------------------------------------------------


def test_safetensors_appended_pickle_polyglot() -> None:
    """Valid safetensors plus a trailing pickle: both loaders accept the same bytes.

    Polyglot model files: https://github.com/trailofbits/fickling ,
    https://github.com/huggingface/safetensors
    """
    assert ("safetensors-polyglot", Severity.HIGH) in _rules(
        SAFETENSORS / "appended_pickle.safetensors"
    )


def test_safetensors_payload_in_gap_between_tensors() -> None:
    """Bytes hidden between two tensors that no offset covers.

    https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs (InvalidOffset)
    """
    assert ("safetensors-polyglot", Severity.HIGH) in _rules(
        SAFETENSORS / "gap_between_tensors.safetensors"
    )


def test_safetensors_overlapping_tensors() -> None:
    """Two tensors sharing bytes (the reference loader refuses; lenient parsers alias them).

    https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs
    """
    assert ("safetensors-invalid-header", Severity.HIGH) in _rules(
        SAFETENSORS / "overlapping_offsets.safetensors"
    )


def test_safetensors_duplicate_key_parser_differential() -> None:
    """Duplicate JSON keys: parsers keep different copies, so scanners and loaders disagree.

    https://bishopfox.com/blog/json-interoperability-vulnerabilities
    """
    assert ("safetensors-invalid-header", Severity.HIGH) in _rules(
        SAFETENSORS / "duplicate_keys.safetensors"
    )


def test_safetensors_huge_header_length_dos() -> None:
    """A header length of 2**62 (the loader caps headers at 100 MB: HeaderTooLarge).

    https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs
    """
    assert ("safetensors-invalid-header", Severity.HIGH) in _rules(
        SAFETENSORS / "huge_header_length.safetensors"
    )


def test_safetensors_index_path_traversal() -> None:
    """``model.safetensors.index.json`` naming ``../`` or absolute shards reads foreign files.

    https://cwe.mitre.org/data/definitions/22.html (the ONNX external-data CVE-2022-25882 class)
    """
    assert ("safetensors-index-escape", Severity.HIGH) in _rules(SAFETENSORS / "index_escape")
