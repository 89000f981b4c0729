"""safetensors scanner: reference-loader rules, polyglots, index escapes, header-only reads."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import tracemalloc
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import Limits, ScanContext, ScanOptions
from mlchain.scan.safetensors import check_safetensors, shard_problem

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from gen_safetensors import build, canary_pickle, header_bytes  # noqa: E402

LOC = Location(PurePosixPath("m.safetensors"))
BENIGN = FIXTURES / "safetensors" / "benign"
MALICIOUS = FIXTURES / "safetensors" / "malicious"


def _check(data: bytes, limits: Limits | None = None) -> list[tuple[str, Severity]]:
    ctx = ScanContext(ScanOptions(limits=limits or Limits()))
    found = check_safetensors(io.BytesIO(data), len(data), LOC, ctx)
    return [(f.rule_id, f.severity) for f in found]


def _file(header: dict[str, object] | str, data: bytes = b"", pad: bool = True) -> bytes:
    head = header_bytes(header, pad)
    return struct.pack("<Q", len(head)) + head + data


class Counting(io.RawIOBase):
    """A file wrapper that counts the bytes handed out by read()."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self.handle = handle
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.count += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)


def test_benign_fixtures_are_clean() -> None:
    report = scan_paths([BENIGN])
    assert len(report.results) >= 12
    assert {r.format.value for r in report.results} <= {"safetensors", "safetensors-index"}
    assert report.findings == ()


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("appended_pickle.safetensors", "safetensors-polyglot"),
        ("gap_between_tensors.safetensors", "safetensors-polyglot"),
        ("overlapping_offsets.safetensors", "safetensors-invalid-header"),
        ("dtype_shape_mismatch.safetensors", "safetensors-invalid-header"),
        ("duplicate_keys.safetensors", "safetensors-invalid-header"),
        ("huge_header_length.safetensors", "safetensors-invalid-header"),
        ("header_past_eof.safetensors", "safetensors-invalid-header"),
        ("unknown_dtype.safetensors", "safetensors-invalid-header"),
        ("nonstring_metadata.safetensors", "safetensors-invalid-header"),
        ("float_shape.safetensors", "safetensors-invalid-header"),
        ("misaligned_subbyte.safetensors", "safetensors-invalid-header"),
        ("offsets_past_eof.safetensors", "safetensors-invalid-header"),
    ],
)
def test_malicious_fixtures(name: str, rule: str) -> None:
    data = (MALICIOUS / name).read_bytes()
    found = _check(data)
    assert (rule, Severity.HIGH) in found


def test_reference_writer_output_is_clean(tmp_path: Path) -> None:
    tensors = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.ones(5, dtype=np.float16),
        "i64": np.arange(3, dtype=np.int64),
        "b": np.array([True, False]),
        "u8": np.zeros((0, 4), dtype=np.uint8),
    }
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "np"})
    report = scan_paths([tmp_path])
    assert [r.format.value for r in report.results] == ["safetensors"]
    assert report.findings == ()


def test_appended_pickle_is_named() -> None:
    header, data = build({"w": ("F32", [2])})
    found = list(
        check_safetensors(
            io.BytesIO(raw := _file(header, data + canary_pickle())),
            len(raw),
            LOC,
            ScanContext(ScanOptions()),
        )
    )
    assert [f.rule_id for f in found] == ["safetensors-polyglot"]
    assert "appended pickle" in found[0].message
    assert found[0].evidence is not None
    assert found[0].evidence.startswith("80 02")


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":NaN}', bytes(4)),
        ("[1, 2]", b""),
        ('{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', bytes(4)),
        ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}', bytes(4)),
        ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', bytes(4)),
        ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', bytes(4)),
        ('{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', bytes(4)),
        ('{"w":{"dtype":"F32","shape":[1]}}', bytes(4)),
        ('{"w":[1,2]}', b""),
        ('{"__metadata__":["x"]}', b""),
        ("\x0c{}", b""),
        ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x0c', bytes(4)),
    ],
)
def test_header_rules(header: str, data: bytes) -> None:
    found = _check(_file(header, data))
    assert ("safetensors-invalid-header", Severity.HIGH) in found


def test_bad_utf8_header() -> None:
    raw = b'{"\xff":1}'
    found = _check(struct.pack("<Q", len(raw)) + raw)
    assert found == [
        ("safetensors-invalid-header", Severity.LOW),
        ("safetensors-invalid-header", Severity.HIGH),
    ]


def test_unpadded_header_is_low() -> None:
    assert _check(_file("{}", pad=False)) == [("safetensors-invalid-header", Severity.LOW)]


def test_tiny_and_truncated_files() -> None:
    assert _check(b"") == [("safetensors-invalid-header", Severity.HIGH)]
    assert _check(b"\x10\0\0\0") == [("safetensors-invalid-header", Severity.HIGH)]


def test_header_limit_comes_from_context() -> None:
    header, data = build({"w": ("F32", [2])})
    found = _check(_file(header, data), Limits(max_header_bytes=16))
    assert found == [("scan-limit-exceeded", Severity.HIGH)]


def test_member_limit_comes_from_context() -> None:
    header, data = build({f"t{i}": ("U8", [1]) for i in range(20)})
    found = _check(_file(header, data), Limits(max_members=10))
    assert found == [("scan-limit-exceeded", Severity.HIGH)]


def test_many_problems_are_capped(tmp_path: Path) -> None:
    header = {
        f"t{i}": {"dtype": "NOPE", "shape": [1], "data_offsets": [i, i + 1]} for i in range(80)
    }
    (tmp_path / "m.safetensors").write_bytes(_file(header, bytes(80)))
    findings = scan_paths([tmp_path]).findings
    assert len(findings) == 51
    assert sum("30 further problems" in f.message for f in findings) == 1


def test_sparse_2gib_file_reads_only_the_header(tmp_path: Path) -> None:
    header_len = 256
    data_len = 2**31 - 8 - header_len
    header = {"w": {"dtype": "F32", "shape": [data_len // 4], "data_offsets": [0, data_len]}}
    raw = json.dumps(header).encode()
    raw += b" " * (header_len - len(raw))
    path = tmp_path / "big.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", header_len) + raw)
        handle.truncate(2**31)
    assert path.stat().st_size == 2**31

    with path.open("rb") as handle:
        counting = Counting(handle)
        found = list(check_safetensors(counting, 2**31, LOC, ScanContext(ScanOptions())))  # type: ignore[arg-type]
    assert found == []
    assert counting.count == 8 + header_len

    rchar = _rchar()
    tracemalloc.start()
    report = scan_paths([tmp_path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.findings == ()
    assert peak < 4 * 2**20
    if rchar is not None:
        assert _rchar() - rchar < 2**20  # detection's 64 KiB head plus the header


def _rchar() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(next(line for line in text.splitlines() if line.startswith("rchar:")).split()[1])


# --- sharded index -------------------------------------------------------------------------------


def test_index_fixture_escapes() -> None:
    report = scan_paths([MALICIOUS / "index_escape"])
    evidence = sorted(f.evidence or "" for f in report.findings)
    assert evidence == ["../../../../etc/passwd", "/etc/shadow", "missing-shard.safetensors"]
    assert {f.rule_id for f in report.findings} == {"safetensors-index-escape"}


@pytest.mark.parametrize(
    "name",
    ["C:\\Windows\\x.safetensors", "\\\\server\\share\\x", "a/../../x", "", "a\x00b", "sub/..\\x"],
)
def test_shard_names_refused(tmp_path: Path, name: str) -> None:
    assert shard_problem(name, tmp_path, tmp_path) is not None


def test_shard_symlink_out_of_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"x")
    root = tmp_path / "model"
    root.mkdir()
    os.symlink(outside, root / "shard.safetensors")
    assert shard_problem("shard.safetensors", root, root) == "resolves outside the model folder"
    (root / "real.safetensors").write_bytes(b"x")
    assert shard_problem("real.safetensors", root, root) is None
    (root / "sub").mkdir()
    (root / "sub" / "s.safetensors").write_bytes(b"x")
    assert shard_problem("s.safetensors", root / "sub", root) is None


def test_index_without_weight_map(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text('{"metadata": {}}')
    assert [f.rule_id for f in scan_paths([tmp_path]).findings] == ["safetensors-invalid-header"]


# --- property tests ------------------------------------------------------------------------------

VALID = _file(*build({"a": ("F32", [2, 2]), "b": ("BF16", [3]), "c": ("BOOL", [1])}))


def _bounded(data: bytes) -> None:
    tracemalloc.start()
    try:
        found = _check(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(rule.startswith(("safetensors-", "scan-limit")) for rule, _ in found)
    assert peak < 2 * 2**20


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _bounded(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(VALID)))
def test_truncated(cut: int) -> None:
    _bounded(VALID[:cut])
    if cut < len(VALID):
        assert _check(VALID[:cut])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(VALID) * 8 - 1))
def test_bit_flips(bit: int) -> None:
    data = bytearray(VALID)
    data[bit // 8] ^= 1 << (bit % 8)
    _bounded(bytes(data))


def test_null_metadata_is_accepted() -> None:
    header, data = build({"w": ("F32", [1])})
    assert _check(_file({"__metadata__": None, **header}, data)) == []


def test_dimension_beyond_64_bits_with_a_zero_dimension() -> None:
    header = {"w": {"dtype": "F32", "shape": [2**64, 0], "data_offsets": [0, 0]}}
    assert ("safetensors-invalid-header", Severity.HIGH) in _check(_file(header))


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.sampled_from(["weight_map", "metadata", "a", "../x"]), inner)
            ),
            max_leaves=12,
        ).map(lambda doc: json.dumps(doc).encode()),
    )
)
def test_random_index_files(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.safetensors.index.json").write_bytes(data)
        report = scan_paths([Path(tmp)])
    rules = {f.rule_id for f in report.findings}
    if "format-mismatch" in rules:
        return  # the bytes are another format (e.g. b"GGUF"): its own scanner reports them
    assert rules <= {"safetensors-invalid-header", "safetensors-index-escape"}
