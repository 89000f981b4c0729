"""The local Hugging Face cache (``~/.cache/huggingface/hub``).

A cached repository is ``models--ORG--NAME/`` with ``blobs/`` (content, named by git blob id or,
for LFS files, by sha256), ``snapshots/<commit>/`` (logical file names as symbolic links into
``../../blobs``) and ``refs/<branch>`` (commit ids). mlchain scans a snapshot under its logical
names, reads the blob behind each link, allows links only within the cached repository, checks every
LFS blob's sha256 against its name, and infers the repo id and commit for reports, SBOM purls and
provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlchain.errors import UsageError

_REPO_DIR = re.compile(r"^models--(?P<org>[^/]+?)--(?P<name>[^/]+)$")
SHA256_NAME = re.compile(r"^[0-9a-f]{64}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class CacheSnapshot:
    """One snapshot of a cached Hub repository."""

    snapshot: Path
    """``snapshots/<commit>``: the scan root, so reports show logical file names."""
    repo_dir: Path
    """``models--ORG--NAME``: links may point anywhere inside it (the blobs), nowhere else."""
    repo_id: str
    commit: str


def locate(path: Path) -> CacheSnapshot | None:
    """Recognise ``path`` as a cached repository or one of its snapshots.

    Raises:
        UsageError: for a cached repository with several snapshots and no ``refs/main``.
    """
    path = path.absolute()
    if path.parent.name == "snapshots" and _REPO_DIR.match(path.parent.parent.name):
        return _snapshot(path.parent.parent, path)
    match = _REPO_DIR.match(path.name)
    if not match or not (path / "snapshots").is_dir():
        return None
    snapshots = sorted(p for p in (path / "snapshots").iterdir() if p.is_dir())
    main = path / "refs" / "main"
    if main.is_file():
        commit = main.read_text(encoding="ascii", errors="replace").strip()
        if (path / "snapshots" / commit).is_dir():
            return _snapshot(path, path / "snapshots" / commit)
    if len(snapshots) == 1:
        return _snapshot(path, snapshots[0])
    names = ", ".join(p.name for p in snapshots) or "none"
    raise UsageError(
        f"{path} holds {len(snapshots)} snapshots ({names}) and no usable refs/main.",
        hint="Pass one snapshot folder: .../snapshots/<commit>.",
    )


def _snapshot(repo_dir: Path, snapshot: Path) -> CacheSnapshot:
    match = _REPO_DIR.match(repo_dir.name)
    assert match is not None
    return CacheSnapshot(
        snapshot=snapshot,
        repo_dir=repo_dir,
        repo_id=f"{match['org']}/{match['name']}",
        commit=snapshot.name if COMMIT.match(snapshot.name) else "",
    )


def expected_blob_sha256(target: Path, snapshot: CacheSnapshot) -> str | None:
    """The sha256 a resolved link target must have: LFS blobs are named by their sha256."""
    blobs = snapshot.repo_dir.resolve() / "blobs"
    if target.parent == blobs and SHA256_NAME.match(target.name):
        return target.name
    return None


def cached_snapshot(cache_root: Path, repo_id: str, revision: str | None) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` in the cache at ``cache_root``.

    ``revision`` is a full commit id, a branch or tag name that ``refs/`` records, or ``None``
    for ``main``. Returns ``None`` when the cache does not hold it (nothing is downloaded).
    """
    org, _, name = repo_id.partition("/")
    if not org or not name or "/" in name:
        return None
    repo_dir = cache_root / f"models--{org}--{name}"
    commit = revision if revision is not None and COMMIT.match(revision) else None
    if commit is None:
        ref = repo_dir / "refs" / (revision or "main")
        try:
            commit = ref.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        if not COMMIT.match(commit):
            return None
    snapshot = repo_dir / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None
