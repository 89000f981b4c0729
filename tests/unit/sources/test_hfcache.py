"""Scanning the local Hugging Face cache: logical names, blob digests, links leaving the cache."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from helpers import run_cli
from mlchain.errors import UsageError
from mlchain.sources.hfcache import locate

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def _cache(tmp_path: Path, files: dict[str, bytes], *, lfs: set[str]) -> Path:
    repo = tmp_path / "hub" / "models--acme--tiny"
    blobs = repo / "blobs"
    snapshot = repo / "snapshots" / COMMIT
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        blob_name = (
            hashlib.sha256(data).hexdigest() if name in lfs else hashlib.sha1(data).hexdigest()
        )
        (blobs / blob_name).write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blobs / blob_name, link.parent))
    return repo


FILES = {
    "config.json": b'{"model_type": "bert"}',
    "README.md": b"# tiny\n",
    "sub/notes.txt": b"x\n",
}


@pytest.mark.parametrize("which", ["repo", "snapshot"])
def test_scan_shows_logical_names_and_infers_repo_and_commit(tmp_path: Path, which: str) -> None:
    repo = _cache(tmp_path, FILES, lfs={"README.md"})
    target = repo if which == "repo" else repo / "snapshots" / COMMIT
    result = run_cli("scan", "-f", "json", str(target))
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    assert sorted(r["location"]["path"] for r in report["results"]) == sorted(FILES)
    assert report["metadata"]["hf_repo"] == "acme/tiny"
    assert report["metadata"]["hf_commit"] == COMMIT
    by_path = {r["location"]["path"]: r for r in report["results"]}
    assert by_path["README.md"]["sha256"] == hashlib.sha256(FILES["README.md"]).hexdigest()
    assert all(not r["findings"] for r in report["results"])


def test_modified_lfs_blob_is_a_finding(tmp_path: Path) -> None:
    repo = _cache(tmp_path, FILES, lfs={"README.md"})
    blob = repo / "blobs" / hashlib.sha256(FILES["README.md"]).hexdigest()
    blob.write_bytes(b"# tampered\n")
    result = run_cli("scan", "-f", "json", str(repo))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (entry,) = [r for r in report["results"] if r["location"]["path"] == "README.md"]
    assert [f["rule_id"] for f in entry["findings"]] == ["hf-cache-blob-mismatch"]


def test_link_leaving_the_cache_is_refused(tmp_path: Path) -> None:
    repo = _cache(tmp_path, FILES, lfs=set())
    secret = tmp_path / "secret.txt"
    secret.write_text("private\n")
    (repo / "snapshots" / COMMIT / "escape.txt").symlink_to(secret)
    result = run_cli("scan", "-f", "json", str(repo))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (entry,) = [r for r in report["results"] if r["location"]["path"] == "escape.txt"]
    assert [f["rule_id"] for f in entry["findings"]] == ["symlink-outside-root"]


def test_ambiguous_snapshots_need_an_explicit_choice(tmp_path: Path) -> None:
    repo = _cache(tmp_path, FILES, lfs=set())
    (repo / "refs" / "main").unlink()
    (repo / "snapshots" / ("f" * 40)).mkdir()
    with pytest.raises(UsageError, match="2 snapshots"):
        locate(repo)
    result = run_cli("scan", str(repo))
    assert result.exit_code == 2


def test_plain_folder_is_not_a_cache(tmp_path: Path) -> None:
    assert locate(tmp_path) is None


def _keypair(tmp_path: Path) -> tuple[Path, Path]:
    from signing_helpers import write_key

    pair = write_key(tmp_path)
    return pair.private, pair.public


def test_verify_a_cached_snapshot_against_the_model_sig_in_the_repo(tmp_path: Path) -> None:
    """The publisher signs the model folder and commits model.sig; a consumer verifies the cache."""
    private, public = _keypair(tmp_path)
    published = tmp_path / "published"
    published.mkdir()
    for name, data in FILES.items():
        (published / name).parent.mkdir(parents=True, exist_ok=True)
        (published / name).write_bytes(data)
    assert run_cli("sign", str(published), "--key", str(private)).exit_code == 0
    files = {n: (published / n).read_bytes() for n in [*FILES, "model.sig"]}
    repo = _cache(tmp_path, files, lfs={"README.md"})
    snapshot = repo / "snapshots" / COMMIT
    ok = run_cli("verify", str(snapshot), "--key", str(public))
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    blob = repo / "blobs" / hashlib.sha1(FILES["config.json"]).hexdigest()
    blob.write_bytes(b'{"model_type": "tampered"}')
    bad = run_cli("verify", str(snapshot), "--key", str(public))
    assert bad.exit_code == 1
    assert "config.json" in bad.stdout


def test_signing_refuses_a_snapshot_link_that_leaves_the_cache(tmp_path: Path) -> None:
    private, _ = _keypair(tmp_path)
    repo = _cache(tmp_path, FILES, lfs=set())
    (tmp_path / "outside.txt").write_text("x\n")
    (repo / "snapshots" / COMMIT / "escape.txt").symlink_to(tmp_path / "outside.txt")
    result = run_cli(
        "sign", str(repo / "snapshots" / COMMIT), "--key", str(private),
        "--signature", str(tmp_path / "m.sig"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "escape.txt" in result.stderr


@pytest.mark.parametrize(
    ("uri", "env"),
    [
        ("hf://acme/tiny", "HF_HUB_CACHE"),
        (f"hf://acme/tiny@{COMMIT}", "HF_HUB_CACHE"),
        ("hf://acme/tiny@main", "HF_HOME"),
    ],
)
def test_offline_hf_reference_scans_the_local_cache(tmp_path: Path, uri: str, env: str) -> None:
    """Issue #18 item 9: with HF_HUB_OFFLINE, `scan hf://...` reads HF_HUB_CACHE / HF_HOME."""
    repo = _cache(tmp_path, FILES, lfs=set())
    hub = repo.parent
    value = str(hub) if env == "HF_HUB_CACHE" else str(tmp_path)  # HF_HOME/hub is the cache
    result = run_cli(
        "scan",
        "-f",
        "json",
        uri,
        env={"HF_HUB_OFFLINE": "1", env: value, "HF_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 0, result.stderr
    assert "from the cache" in result.stderr
    report = json.loads(result.stdout)
    assert report["metadata"]["hf_commit"] == COMMIT
    assert {r["location"]["path"] for r in report["results"]} >= {"config.json"}


def test_offline_hf_reference_missing_from_the_cache_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli(
        "scan", "hf://acme/absent", env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    )
    assert result.exit_code == 3
    assert str(tmp_path) in result.stderr
    assert "huggingface-cli download" in result.stderr
    assert "--trust-config" not in result.stderr
