"""Detection refinements for containers (zip directory found by our reader, polyglots)."""

from __future__ import annotations

import pickle
from pathlib import Path

from fixtures.gen_containers import Member, build_zip, payload

from mlchain.models import ArtifactFormat as F
from mlchain.scan.detect import detect


def detect_bytes(tmp_path: Path, data: bytes, name: str = "m.bin") -> F:
    path = tmp_path / name
    path.write_bytes(data)
    return detect(path, data[:65536], len(data)).format


def test_pickle_with_an_appended_zip_is_a_zip(tmp_path: Path) -> None:
    data = pickle.dumps([1, 2], protocol=2) + build_zip([Member("archive/data.pkl", b"N.")])
    assert detect_bytes(tmp_path, data) is F.PYTORCH_ZIP
    text = payload(0) + build_zip([Member("a.txt", b"x")])
    assert detect_bytes(tmp_path, text) is F.ZIP


def test_pickle_carrying_zip_bytes_near_its_end_is_scanned_as_both(tmp_path: Path) -> None:
    """mlchain issue #13, class 6: zip readers find an end record even with bytes after it.

    zipfile opens a pickle that carries a zip as a constant near its end, so the file is scanned
    as a zip too (the zip scanner also scans the pickle in front); a pickle name is no mismatch.
    """
    import zipfile

    blob = build_zip([Member("a.txt", b"x")])
    data = pickle.dumps({"zip": blob}, protocol=4)
    assert detect_bytes(tmp_path, data, "m.pkl") is F.ZIP
    assert zipfile.ZipFile(tmp_path / "m.pkl").read("a.txt") == b"x"
    assert detect(tmp_path / "m.pkl", data, len(data)).mismatch is None


def test_junk_before_a_zip_is_a_zip(tmp_path: Path) -> None:
    data = b"\x00JUNK" * 10 + build_zip([Member("archive/data.pkl", b"N.")])
    assert detect_bytes(tmp_path, data) is F.PYTORCH_ZIP


def test_zip_classification_uses_the_central_directory(tmp_path: Path) -> None:
    # zipfile would refuse this member (name mismatch); classification still sees torch names.
    data = build_zip([Member("archive/data.pkl", b"N.", local_name="x")])
    assert detect_bytes(tmp_path, data, "m.pt") is F.PYTORCH_ZIP
    npz = build_zip([Member("a.npy", b"\x93NUMPY"), Member("b.npy", b"\x93NUMPY")])
    assert detect_bytes(tmp_path, npz, "m.npz") is F.NUMPY_ZIP


def test_broken_zip_is_still_a_zip(tmp_path: Path) -> None:
    assert detect_bytes(tmp_path, b"PK\x03\x04" + bytes(40)) is F.ZIP
