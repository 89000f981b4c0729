"""The model walk (signing/tree.py) and the safe input opener (inputfile.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mlchain.inputfile import NotRegularFileError, read_regular_file, special_file_kind
from mlchain.signing.tree import UnreadableModelError, list_model


def test_list_model_lists_everything_sorted_with_stamps(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.bin").write_bytes(b"x")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    tree = list_model(tmp_path)
    assert [e[0] for e in tree.entries] == [".git", ".git/HEAD", "a.txt", "b", "b/x.bin"]
    assert set(tree.stamps) == {".git/HEAD", "a.txt", "b/x.bin"}
    assert tree.not_covered(["b"], keep=[]) == [".git/HEAD", "b/x.bin"]
    assert tree.changed() == []
    (tmp_path / "a.txt").write_text("changed")
    assert tree.changed() == ["a.txt"]


def test_list_model_of_a_single_file(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"1")
    tree = list_model(path)
    assert tree.is_file and tree.hash_inputs() == [path] and tree.not_covered(["x"]) == []


def test_unreadable_folder_fails_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hidden").mkdir()
    real = os.scandir

    def refuse(path: object) -> object:
        if str(path).endswith("hidden"):
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(UnreadableModelError, match="hidden"):
        list_model(tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory", "device"])
def test_special_inputs_are_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/null")
    if kind == "socket":  # a socket cannot even be opened: an OSError, never a read
        with pytest.raises((OSError, NotRegularFileError)):
            read_regular_file(path, limit=10)
    else:
        with pytest.raises(NotRegularFileError):
            read_regular_file(path, limit=10)
    assert special_file_kind(path) is not None


def test_size_bound(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    assert read_regular_file(path, limit=11) == b"x" * 11
    with pytest.raises(ValueError, match="larger than 10"):
        read_regular_file(path, limit=10)
    assert special_file_kind(path) is None
