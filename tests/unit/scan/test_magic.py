"""One table of magic bytes: top-level and nested detection agree (mlchain issue #16, item 2).

In a scanner, two classifiers that disagree are a bypass: content that top-level detection
routes to the pickle VM must not be waved through when the same bytes sit inside an archive or a
compressed stream, and the other way round.
"""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import struct
import zipfile
from contextlib import nullcontext
from pathlib import Path

import pytest

from container_helpers import LOC
from mlchain.models import ArtifactFormat as F
from mlchain.scan import magic
from mlchain.scan.containers.common import nested_format, unscanned_note
from mlchain.scan.detect import detect, read_head

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
ALL_FIXTURES = sorted(p for p in FIXTURES.rglob("*") if p.is_file())

NAME_DECIDED = {
    F.PYTHON: "a .py file is Python by its name; the bytes of source code carry no magic",
    F.HF_CONFIG: "config.json and kin are configs by their name; JSON bytes carry no magic",
    F.TOKENIZER_CONFIG: "tokenizer_config.json / .jinja templates are decided by name",
    F.SAFETENSORS_INDEX: "*.safetensors.index.json is an index by its name",
}
"""Top-level formats that come from the file name, which nested content does not have."""

FILE_DECIDED = {
    F.TF_DATA: "checkpoint shards and .index tables: by name and the sibling index",
    F.ML_DATA: "msgpack, SentencePiece, CatBoost, UBJSON: inert data recognised with the file",
    F.MODEL_UNSUPPORTED: "a name claiming a model format mlchain cannot read",
    F.SAVEDMODEL: "saved_model.pb by name (its protobuf framing is also content-checked)",
    F.KERAS_METADATA: "keras_metadata.pb by name",
    F.TF_GRAPHDEF: "a frozen *.pb GraphDef: the .pb name plus the graph's structure",
}
"""Top-level formats decided with the file's name or folder (issue #14). Nested, the same bytes
are no format: TensorFlow and these libraries load from a folder on disk, never from inside an
archive, so the archive is unpacked first and its files are then scanned at the top level."""

NAMED_SAFETENSORS = {
    "safetensors/malicious/header_past_eof.safetensors",
    "safetensors/malicious/huge_header_length.safetensors",
}
"""A ``.safetensors`` file whose header length runs past its end is still reported as a broken
safetensors file at the top level (the name says what it claims to be); nested, the same bytes
are no format at all. Neither is ever scanned nested, so the difference cannot hide a pickle."""


def _top(path: Path) -> F:
    return detect(path, read_head(path), path.stat().st_size).format


@pytest.mark.parametrize(
    "path", ALL_FIXTURES, ids=[str(p.relative_to(FIXTURES)) for p in ALL_FIXTURES]
)
def test_top_level_and_nested_detection_agree_on_every_fixture(path: Path) -> None:
    data = path.read_bytes()
    top = _top(path)
    nested = magic.sniff(magic.Probe.of_buffer(data))
    rel = str(path.relative_to(FIXTURES))
    if top in FILE_DECIDED:
        assert nested in (None, top), f"{rel}: the bytes alone decide {nested}"
        assert top not in magic.NESTED_SCANNABLE
        return
    if top in NAME_DECIDED or rel in NAMED_SAFETENSORS:
        assert nested is None, f"{rel}: the bytes alone decide {nested}"
        named = magic.Probe(
            data[: magic.SNIFF_BYTES], len(data), lambda: nullcontext(data), path.name
        )
        assert magic.sniff(named) is top, "the only difference must be the name"
    else:
        assert (nested or F.DATA) is top
    # What the container scanners act on: the same answer, filtered to what they scan nested.
    assert nested_format(data) is (top if top in magic.NESTED_SCANNABLE else None)


def test_every_fixture_directory_is_covered() -> None:
    kinds = {p.relative_to(FIXTURES).parts[0] for p in ALL_FIXTURES}
    assert {"pickle", "containers", "safetensors", "gguf", "onnx", "hfmodel"} <= kinds
    assert len(ALL_FIXTURES) > 200


# -- the rules that used to differ between the two classifiers --------------------------------


def _both(data: bytes, tmp_path: Path) -> tuple[F, F | None]:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return _top(path), magic.sniff(magic.Probe.of_buffer(data))


def test_bzip2_needs_its_block_size_digit_in_both(tmp_path: Path) -> None:
    assert _both(bz2.compress(b"x"), tmp_path) == (F.BZIP2, F.BZIP2)
    top, nested = _both(b"BZh" + b"\xff" * 40, tmp_path)
    assert top is F.DATA
    assert nested is None


def test_zip_spanning_marker_is_a_zip_in_both(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    data = b"PK\x07\x08" + buffer.getvalue()
    assert _both(data, tmp_path) == (F.ZIP, F.ZIP)


def test_a_93_byte_safetensors_header_is_not_raw_lzma(tmp_path: Path) -> None:
    header = b'{"__metadata__":{"a":"' + b"b" * 68 + b'"}}'
    header += b" " * (93 - len(header))
    data = struct.pack("<Q", 93) + header
    assert data.startswith(magic.LZMA_ALONE_MAGIC)
    assert _both(data, tmp_path) == (F.SAFETENSORS, F.SAFETENSORS)


def test_data_in_front_of_a_zip_is_a_zip_nested_too(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    data = b"\x00" * 100 + buffer.getvalue()
    assert _both(data, tmp_path) == (F.PYTORCH_ZIP, F.PYTORCH_ZIP)


def test_pickle_zip_polyglot_is_a_zip_in_both(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    data = pickle.dumps([1, 2, 3], protocol=2) + buffer.getvalue()
    assert _both(data, tmp_path) == (F.PYTORCH_ZIP, F.PYTORCH_ZIP)


@pytest.mark.parametrize("protocol", [0, 1, 2, 4])
def test_pickles_of_every_protocol_agree(tmp_path: Path, protocol: int) -> None:
    assert _both(pickle.dumps({"k": [1, 2]}, protocol=protocol), tmp_path) == (
        F.PICKLE,
        F.PICKLE,
    )


def test_one_image_table(tmp_path: Path) -> None:
    for signature in magic.IMAGE_MAGIC:
        assert magic.is_known_inert(signature + b"\x00\xff" * 10)
        assert unscanned_note(signature + b"\x00\xff" * 10, LOC) is None
    assert not magic.is_known_inert(b"\x00\xff\xfe" * 10)


def test_unscanned_note_names_formats_from_the_same_table() -> None:
    gguf = b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 40
    note = unscanned_note(gguf, LOC)
    assert note is not None and "GGUF" in note.message
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    safetensors = struct.pack("<Q", len(header)) + header + b"\x00" * 4
    note = unscanned_note(safetensors, LOC)
    assert note is not None and "safetensors" in note.message


def test_gzip_is_sniffed_the_same(tmp_path: Path) -> None:
    assert _both(gzip.compress(b"hello"), tmp_path) == (F.GZIP, F.GZIP)


def test_zip_tail_check_uses_the_readers_end_record_signature() -> None:
    # has_zip_tail looks for the end record before importing the zip reader; both must name
    # the same four bytes, or appended zips would go unseen.
    from mlchain.scan import magic
    from mlchain.scan.containers.zipreader import EOCD_SIG

    assert magic.ZIP_MAGIC[1] == EOCD_SIG
