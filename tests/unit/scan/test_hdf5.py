"""Keras HDF5 saves read by the pure HDF5 reader (mlchain issue #14, item 6).

Real saves come from ``fixtures/gen_hdf5.py`` (tf_keras 2.21, Keras 3.15, h5py 3.14 in a separate
venv); h5py is not a test dependency and is never imported here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Severity
from mlchain.scan import scan_paths
from mlchain.scan.hdf5 import Unreadable, read_root_attributes

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "hdf5"
LAMBDA = FIXTURES / "malicious" / "tf_keras_lambda.h5"


def found(path: Path) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([path]).findings}


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "benign").iterdir()))
def test_real_keras_saves_pass(name: str) -> None:
    report = scan_paths([FIXTURES / "benign" / name])
    assert report.results[0].format is ArtifactFormat.HDF5
    assert report.findings == ()


def test_full_model_saves_expose_their_config() -> None:
    attrs = {a.name: a.value for a in read_root_attributes(LAMBDA.read_bytes())}
    assert attrs["model_config"] is not None
    assert attrs["model_config"].startswith(b'{"class_name": "Sequential"')
    assert attrs["keras_version"] == b"2.21.0"


def test_weights_only_save_has_no_config() -> None:
    data = (FIXTURES / "benign" / "keras3.weights.h5").read_bytes()
    assert "model_config" not in {a.name for a in read_root_attributes(data)}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tf_keras_lambda.h5", ("keras-lambda", Severity.CRITICAL)),
        ("keras3_lambda.h5", ("keras-lambda", Severity.CRITICAL)),
        ("latest_format_lambda.h5", ("keras-lambda", Severity.CRITICAL)),
        ("fixed_string_lambda.h5", ("keras-lambda", Severity.CRITICAL)),
        ("foreign_function.h5", ("keras-foreign-module", Severity.CRITICAL)),
    ],
)
def test_malicious_keras_saves_are_found(name: str, expected: tuple[str, Severity]) -> None:
    assert expected in found(FIXTURES / "malicious" / name)


def test_registered_custom_object_is_low() -> None:
    found_here = found(FIXTURES / "review" / "keras3_custom_object.h5")
    assert found_here == {("keras-custom-object", Severity.LOW)}


def test_dense_attribute_storage_fails_closed() -> None:
    assert found(FIXTURES / "unsupported" / "dense_attributes.h5") == {
        ("model-unsupported", Severity.MEDIUM)
    }


def test_truncated_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    path.write_bytes(LAMBDA.read_bytes()[:600])
    assert ("model-unsupported", Severity.MEDIUM) in found(path)


def test_user_block_before_the_superblock(tmp_path: Path) -> None:
    data = LAMBDA.read_bytes()
    # A 512-byte user block shifts the superblock; its base address points at the superblock.
    block = bytearray(512) + bytearray(data)
    block[512 + 24 : 512 + 32] = (512).to_bytes(8, "little")
    path = tmp_path / "m.h5"
    path.write_bytes(bytes(block))
    report = scan_paths([path])
    assert report.results[0].format is ArtifactFormat.HDF5
    assert ("keras-lambda", Severity.CRITICAL) in {(f.rule_id, f.severity) for f in report.findings}


def test_h5_without_signature_is_model_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_bytes(bytes(range(256)) * 4)
    assert found(path) == {("model-unsupported", Severity.MEDIUM)}


def test_continuation_loop_is_refused() -> None:
    data = bytearray(LAMBDA.read_bytes())
    reader_error = None
    # Point every v1 continuation message (type 0x10) back at its own object header.
    pos = data.find(b"\x10\x00\x10\x00")
    assert pos > 0
    header_start = pos - 16
    data[pos + 8 : pos + 16] = header_start.to_bytes(8, "little")
    try:
        read_root_attributes(bytes(data))
    except Unreadable as exc:
        reader_error = exc
    assert reader_error is not None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 24))
def test_mutated_saves_never_raise(seed: int, flips: int) -> None:
    data = bytearray(LAMBDA.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(8, 2048)] = rng.randrange(256)
    try:
        read_root_attributes(bytes(data))
    except Unreadable:
        pass


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_after_the_signature_never_raise(tail: bytes) -> None:
    try:
        read_root_attributes(b"\x89HDF\r\n\x1a\n" + tail)
    except Unreadable:
        pass


def test_text_pickle_in_the_user_block_is_still_a_pickle(tmp_path: Path) -> None:
    # A protocol-0 pickle in the first 512 bytes and HDF5 after it: pickle.load runs the former.
    pickle_part = b"cos\nsystem\n(S'true'\ntR."
    data = pickle_part + b" " * (512 - len(pickle_part)) + LAMBDA.read_bytes()
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    report = scan_paths([path])
    assert report.results[0].format is not ArtifactFormat.HDF5
    assert any(f.severity is Severity.CRITICAL for f in report.findings)
