"""Content-based detection: the bytes decide, the name only raises a mismatch."""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat as F
from mlchain.scan.detect import detect, name_suffix, read_head
from mlchain.scan.pickle_sniff import sniff_pickle


def _detect(path: Path) -> F:
    return detect(path, read_head(path), path.stat().st_size).format


def _safetensors_bytes() -> bytes:
    header = b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    return struct.pack("<Q", len(header)) + header + b"\0\0\0\0"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.bin", pickle.dumps({"a": 1}, protocol=4), F.PICKLE),
        ("a.bin", pickle.dumps([1, 2], protocol=0), F.PICKLE),
        ("a.bin", b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.", F.PYTORCH_LEGACY),
        ("x", _safetensors_bytes(), F.SAFETENSORS),
        ("x", b"GGUF\x03\x00\x00\x00" + b"\0" * 16, F.GGUF),
        ("x", b"\x93NUMPY\x01\x00", F.NUMPY),
        ("x", b"\x1f\x8b\x08\x00", F.GZIP),
        ("x", b"BZh91AY", F.BZIP2),
        ("x", b"\xfd7zXZ\x00\x00", F.XZ),
        ("x", b"7z\xbc\xaf\x27\x1c\x00", F.SEVEN_ZIP),
        ("x", b"\x08\x07\x12\x04test", F.ONNX),
        ("config.json", b'{"model_type": "llama"}', F.HF_CONFIG),
        ("tokenizer_config.json", b"{}", F.TOKENIZER_CONFIG),
        ("model.safetensors.index.json", b"{}", F.SAFETENSORS_INDEX),
        ("other.json", b'{"a": 1}', F.DATA),
        ("README.md", b"(hello) world\n", F.DATA),
        ("modeling.py", b"import os\n", F.PYTHON),
        (
            "w.bin",
            b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 3\n",
            F.LFS_POINTER,
        ),
        ("empty.pt", b"", F.EMPTY),
    ],
)
def test_detects_by_content(tmp_path: Path, name: str, content: bytes, expected: F) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _detect(path) is expected


def test_zip_classification(tmp_path: Path) -> None:
    cases = {
        "torch.pt": ["archive/data.pkl", "archive/data/0", "archive/version"],
        "script.pt": ["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"],
        "arrays.npz": ["a.npy", "b.npy"],
        "model.keras": ["config.json", "metadata.json", "model.weights.h5"],
        "plain.zip": ["readme.txt"],
    }
    expected = {
        "torch.pt": F.PYTORCH_ZIP,
        "script.pt": F.TORCHSCRIPT,
        "arrays.npz": F.NUMPY_ZIP,
        "model.keras": F.KERAS,
        "plain.zip": F.ZIP,
    }
    for name, members in cases.items():
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for member in members:
                archive.writestr(member, b"x")
        assert _detect(tmp_path / name) is expected[name], name


def test_mismatch_names_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    detection = detect(path, read_head(path), path.stat().st_size)
    assert detection.format is F.PICKLE
    assert detection.mismatch == "named '.safetensors' but the content is pickle"


def test_pickle_in_pt_is_no_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert detect(path, read_head(path), path.stat().st_size).mismatch is None


@pytest.mark.parametrize(
    "text",
    [b"hello world\n", b"(this is prose)\n", b"I like numbers\n", b"]]]", b"N", b"."],
)
def test_sniff_rejects_text(text: bytes) -> None:
    assert not sniff_pickle(text, head_is_whole_file=True)


@pytest.mark.parametrize("protocol", [0, 1])
def test_sniff_accepts_text_protocols(protocol: int) -> None:
    data = pickle.dumps({"k": [1, 2.5, "s", None, True]}, protocol=protocol)
    assert sniff_pickle(data, head_is_whole_file=True)


def test_sniff_accepts_text_global_reduce() -> None:
    assert sniff_pickle(b"cos\nsystem\n(S'true'\ntR.", head_is_whole_file=True)


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(["a", "b", ".", "-", " ", "é", "\x00", "\\", "~"]),
        min_size=1,
        max_size=12,
    )
)
def test_name_suffix_is_pathlibs(name: str) -> None:
    # Differential: the suffix that decides what a name claims is pathlib's, on any one
    # component (dots first, doubled; a name pathlib folds away, like ".", has none). A name
    # ending in a dot is pinned below instead: Python 3.14's pathlib gives it the suffix ".".
    assume(not name.endswith("."))
    assert name_suffix(name) == PurePosixPath(name).suffix


@pytest.mark.parametrize(
    ("name", "suffix"),
    [("model.", ""), ("a.pt.", ""), (".", ""), ("..", ""), (".pt", ""), ("a.PT", ".PT"), ("a", "")],
)
def test_name_suffix_edges(name: str, suffix: str) -> None:
    assert name_suffix(name) == suffix


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.sampled_from([0, 1, 49, 4095, 4096, 65535, 65536, 65537, 200_000]),
    limit=st.sampled_from([1, 100, 65536]),
)
def test_read_head_reads_what_a_buffered_read_does(tmp_path: Path, size: int, limit: int) -> None:
    # The head detection decides on is exactly what path.open("rb").read(limit) returns.
    path = tmp_path / "f"
    path.write_bytes(bytes(i % 251 for i in range(size)))
    with path.open("rb") as handle:
        expected = handle.read(limit)
    assert read_head(path, limit) == expected


def test_read_head_of_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_head(tmp_path / "gone")
