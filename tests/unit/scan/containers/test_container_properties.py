"""Property tests: hostile bytes give findings, never exceptions, with bounded memory."""

from __future__ import annotations

import gzip
import tracemalloc

from fixtures.gen_containers import Member, build_tar, build_zip, npy_header, payload, tar_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container_helpers import BENIGN, MALICIOUS, ctx, scan_bytes
from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.npy import NpyError, parse_header
from mlchain.scan.containers.zipreader import read_directory

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS: dict[F, bytes] = {
    F.PYTORCH_ZIP: (BENIGN / "torch_state_dict.pt").read_bytes(),
    F.ZIP: build_zip(
        [Member("a.pkl", payload(2), method=8), Member("b/c.npy", npy_header("|O", (1,)))]
    ),
    F.NUMPY_ZIP: (BENIGN / "numpy_compressed.npz").read_bytes(),
    F.TAR: build_tar([tar_file("a.pkl", payload(2)), tar_file("b.txt", b"hello")]),
    F.PYTORCH_TAR: (MALICIOUS / "torch_tar_payload_in_tensors.tar").read_bytes(),
    F.NUMPY: npy_header("|O", (1,)) + payload(3),
    F.GZIP: gzip.compress(payload(2)),
    F.PYTORCH_LEGACY: (BENIGN / "torch_state_dict_legacy.pt").read_bytes(),
}
FORMATS = st.sampled_from(sorted(SEEDS, key=lambda f: f.value))


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, value in flips:
        out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


@SETTINGS
@given(
    fmt=FORMATS,
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12),
    cut=st.none() | st.integers(0, 4000),
)
def test_bit_flipped_and_truncated_containers_never_raise(
    fmt: F, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = mutate(SEEDS[fmt], flips, cut)
    findings = scan_bytes(data, fmt, context=ctx(max_decompressed_bytes=1 << 22))
    assert all(f.rule_id for f in findings)


@SETTINGS
@given(fmt=FORMATS, data=st.binary(max_size=3000))
def test_random_bytes_never_raise(fmt: F, data: bytes) -> None:
    scan_bytes(data, fmt)
    scan_bytes(data)  # sniffed


@SETTINGS
@given(data=st.binary(max_size=2000), prefix=st.sampled_from([b"PK\x03\x04", b"PK\x05\x06", b""]))
def test_zip_reader_never_raises(data: bytes, prefix: bytes) -> None:
    directory = read_directory(prefix + data + b"PK\x05\x06" + data[:18])
    assert directory.ok or directory.problems


@SETTINGS
@given(body=st.binary(max_size=300), version=st.sampled_from([1, 2, 3, 4]))
def test_npy_parser_only_raises_npy_error(body: bytes, version: int) -> None:
    data = b"\x93NUMPY" + bytes([version, 0]) + len(body).to_bytes(4, "little") + body
    try:
        parse_header(data)
    except NpyError:
        pass


def test_memory_stays_bounded_for_a_bomb() -> None:
    bomb = build_zip([Member("model.pkl", bytes(64 << 20), method=12, usize=10)])
    evil_gzip = gzip.compress(bytes(64 << 20), compresslevel=9)
    tracemalloc.start()
    try:
        scan_bytes(bomb, F.ZIP)
        scan_bytes(evil_gzip, F.GZIP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20


@settings(max_examples=60, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.integers(1, 3000),
)
def test_detection_of_damaged_zip_files_never_raises(
    tmp_path_factory: object, flips: list[tuple[int, int]], cut: int | None
) -> None:
    from mlchain.scan.detect import detect

    data = mutate(SEEDS[F.PYTORCH_ZIP], flips, cut)
    path = tmp_path_factory.mktemp("z") / "m.pt"  # type: ignore[attr-defined]
    path.write_bytes(data)
    assert detect(path, data[:65536], len(data)).format is not None
