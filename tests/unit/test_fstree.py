"""The one folder walk: each node's path is the entry's own path, whatever its name."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.fstree import walk_tree

_NAME = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in {".", ".."})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(st.tuples(_NAME, _NAME), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_node_paths_are_the_entries_paths(tmp_path: Path, names: list[tuple[str, str]]) -> None:
    # walk_tree joins each name to its folder's Path instead of parsing DirEntry.path whole;
    # both must name the same file, for every name a folder can hold.
    top = tmp_path / os.urandom(4).hex()
    top.mkdir()
    for folder, name in names:
        try:
            (top / folder).mkdir(exist_ok=True)
            (top / folder / name).write_bytes(b"x")
        except OSError:  # a name this file system refuses (too long in bytes, say)
            continue
    odd = os.fsdecode(b"bad-\xff-utf8")  # a name that is not UTF-8 at all
    (top / odd).write_bytes(b"y")
    seen = 0
    for node in walk_tree(top):
        assert node.error is None
        assert node.path == Path(os.path.join(top, node.rel))
        assert str(node.path) == os.path.join(str(top), node.rel)
        assert node.st is not None and os.lstat(node.path).st_ino == node.st.st_ino
        seen += 1
    assert seen >= 2
