"""Scanning hf:// references against a loopback Hub: pinning, range requests, digests, errors."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys

import pytest

from helpers import REPO, run_cli, validate_report, validate_sarif
from hfhub.server import FakeHub, FakeRepo
from mlchain.errors import UsageError
from mlchain.sources.hub import HubRef, parse_hub_uri

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _safetensors(payload_size: int = 1 << 20) -> bytes:
    header = json.dumps(
        {"w": {"dtype": "U8", "shape": [payload_size], "data_offsets": [0, payload_size]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\x01" * payload_size


def _repo(**kwargs: object) -> FakeRepo:
    files = {
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": _safetensors(),
        "weights/extra.bin": b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n",
        "README.md": b"# tiny\n",
    }
    return FakeRepo("acme/tiny", files, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf://acme/tiny", HubRef("acme/tiny")),
        ("hf://acme/tiny@v1.0", HubRef("acme/tiny", "v1.0")),
        ("hf://acme/tiny@main/sub/dir", HubRef("acme/tiny", "main", "sub/dir")),
        ("https://huggingface.co/acme/tiny", HubRef("acme/tiny")),
        ("https://huggingface.co/acme/tiny/tree/abc/x", HubRef("acme/tiny", "abc", "x")),
        ("models/local", None),
        ("https://example.org/acme/tiny", None),
    ],
)
def test_parse_hub_uri(text: str, expected: HubRef | None) -> None:
    assert parse_hub_uri(text) == expected


@pytest.mark.parametrize(
    "text",
    ["hf://justone", "hf://acme/tiny/../../etc", "https://huggingface.co/acme", "hf://a b/c"],
)
def test_malformed_hub_uris_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_hub_uri(text)


def test_scan_resolves_commit_and_fetches_only_the_safetensors_header() -> None:
    repo = _repo()
    with FakeHub([repo]) as hub:
        result = run_cli(
            "scan",
            "-f",
            "json",
            "--fail-on",
            "never",
            "hf://acme/tiny",
            env={"HF_ENDPOINT": hub.url},
        )
    assert result.exit_code == 0, result.stderr
    assert f"resolved hf://acme/tiny to commit {COMMIT}" in result.stderr
    report = json.loads(result.stdout)
    validate_report(report)
    assert report["roots"] == [f"hf://acme/tiny@{COMMIT}"]
    assert report["metadata"]["hf_commit"] == COMMIT
    assert report["metadata"]["hf_header_only"] == "model.safetensors"
    by_path = {r["location"]["path"]: r for r in report["results"]}
    assert set(by_path) == {"README.md", "config.json", "model.safetensors", "weights/extra.bin"}
    data = repo.files["model.safetensors"]
    assert by_path["model.safetensors"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert by_path["model.safetensors"]["size"] == len(data)
    st_requests = [r for r in hub.requests if r.path.endswith("model.safetensors")]
    assert st_requests and all(r.range for r in st_requests), "safetensors must use range requests"
    assert {r.path for r in hub.requests if "/resolve/" in r.path} == {
        f"/acme/tiny/resolve/{COMMIT}/{name}" for name in repo.files
    }, "every file is fetched at the resolved commit, never at a branch name"
    lfs = by_path["weights/extra.bin"]
    assert [f["rule_id"] for f in lfs["findings"]] == ["lfs-pointer"]


def test_sarif_keeps_relative_paths_and_names_the_source() -> None:
    with FakeHub([_repo()]) as hub:
        result = run_cli(
            "scan",
            "-f",
            "sarif",
            "--fail-on",
            "never",
            "hf://acme/tiny@main",
            env={"HF_ENDPOINT": hub.url},
        )
    document = json.loads(result.stdout)
    validate_sarif(document)
    props = document["runs"][0]["properties"]
    assert props["roots"] == [f"hf://acme/tiny@{COMMIT}"]
    assert props["mlchain.hf_uri"] == "hf://acme/tiny@main"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in document["runs"][0]["results"]
    }
    assert uris == {"weights/extra.bin"}


def test_require_pinned_refuses_branch_and_accepts_commit() -> None:
    with FakeHub([_repo()]) as hub:
        env = {"HF_ENDPOINT": hub.url}
        refused = run_cli("scan", "--require-pinned", "hf://acme/tiny@main", env=env)
        assert refused.exit_code == 2
        assert "not pinned" in refused.stderr
        assert hub.requests == []
        pinned = run_cli(
            "scan", "--require-pinned", "--fail-on", "never", f"hf://acme/tiny@{COMMIT}", env=env
        )
        assert pinned.exit_code == 0, pinned.stderr


def test_missing_repo_and_revision_exit_3_with_a_clear_message() -> None:
    with FakeHub([_repo()]) as hub:
        env = {"HF_ENDPOINT": hub.url}
        missing = run_cli("scan", "hf://acme/nothing", env=env)
        bad_rev = run_cli("scan", "hf://acme/tiny@nope", env=env)
    assert missing.exit_code == 3
    assert "not found or not accessible" in missing.stderr
    assert bad_rev.exit_code == 3
    assert "revision 'nope' not found" in bad_rev.stderr
    assert "Traceback" not in missing.stderr + bad_rev.stderr


def test_tampered_download_is_refused() -> None:
    repo = _repo()
    repo.files["model.bin"] = b"\x80\x04N."
    with FakeHub([repo]) as hub:
        original = hub._file

        def tamper(handler, repo_id, rev, name, *, head):  # type: ignore[no-untyped-def]
            if name == "model.bin":
                repo.files[name] = b"\x80\x04K\x01."  # served bytes differ from published digest
            try:
                original(handler, repo_id, rev, name, head=head)
            finally:
                repo.files[name] = b"\x80\x04N."

        hub._file = tamper  # type: ignore[method-assign]
        result = run_cli("scan", "hf://acme/tiny", env={"HF_ENDPOINT": hub.url})
    assert result.exit_code == 3
    assert "does not match the sha256" in result.stderr


def _subprocess_scan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchain", "scan", "--fail-on", "never", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_hf_token_is_sent_for_private_repos() -> None:
    repo = _repo(private_token="hf_secret")
    with FakeHub([repo]) as hub:
        denied = _subprocess_scan({"HF_ENDPOINT": hub.url, "HF_TOKEN": ""}, "hf://acme/tiny")
        allowed = _subprocess_scan(
            {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_secret"}, "hf://acme/tiny"
        )
    assert denied.returncode == 3
    assert "HF_TOKEN" in denied.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert "hf_secret" not in allowed.stderr + allowed.stdout


def test_offline_mode_is_honoured() -> None:
    with FakeHub([_repo()]) as hub:
        result = _subprocess_scan({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "1"}, "hf://acme/tiny")
        assert hub.requests == []
    assert result.returncode == 3
    assert "HF_HUB_OFFLINE" in result.stderr


def test_hub_reference_cannot_be_mixed_with_paths(tmp_path: object) -> None:
    result = run_cli("scan", "hf://acme/tiny", str(tmp_path))
    assert result.exit_code == 2
