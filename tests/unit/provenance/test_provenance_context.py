"""Build context from CI environment mappings and the git commit read from disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlchain.provenance.context import (
    LOCAL_BUILDER_ID,
    ci_context,
    git_source,
    local_context,
    normalise_repository_url,
)

SHA = "a" * 40

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/models",
    "GITHUB_REPOSITORY_ID": "123",
    "GITHUB_REPOSITORY_OWNER_ID": "456",
    "GITHUB_REF": "refs/tags/v1.0",
    "GITHUB_SHA": SHA,
    "GITHUB_WORKFLOW_REF": "acme/models/.github/workflows/train@v2.yml@refs/tags/v1.0",
    "GITHUB_RUN_ID": "987",
    "GITHUB_RUN_ATTEMPT": "3",
    "GITHUB_EVENT_NAME": "push",
    "RUNNER_ENVIRONMENT": "github-hosted",
}

GITLAB = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_PROJECT_PATH": "ml/models",
    "CI_PROJECT_URL": "https://gitlab.example.com/ml/models",
    "CI_PROJECT_ID": "77",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_BRANCH": "main",
    "CI_COMMIT_REF_NAME": "main",
    "CI_PIPELINE_ID": "1000",
    "CI_PIPELINE_SOURCE": "push",
    "CI_JOB_ID": "2000",
    "CI_JOB_NAME": "train",
    "CI_JOB_URL": "https://gitlab.example.com/ml/models/-/jobs/2000",
    "CI_RUNNER_ID": "12",
    "CI_RUNNER_DESCRIPTION": "gpu-runner",
}


def test_github_actions_mirrors_githubs_build_provenance_layout() -> None:
    context = ci_context(GITHUB)
    assert context is not None
    assert context.platform == "github-actions"
    assert context.builder_id == (
        "https://github.com/acme/models/.github/workflows/train@v2.yml@refs/tags/v1.0"
    )
    assert context.invocation_id == "https://github.com/acme/models/actions/runs/987/attempts/3"
    assert dict(context.workflow) == {
        "ref": "refs/tags/v1.0",
        "repository": "https://github.com/acme/models",
        "path": ".github/workflows/train@v2.yml",
    }
    assert context.internal == {
        "github": {
            "event_name": "push",
            "repository_id": "123",
            "repository_owner_id": "456",
            "runner_environment": "github-hosted",
        }
    }
    assert context.source is not None
    assert context.source.uri() == "git+https://github.com/acme/models@refs/tags/v1.0"
    assert context.source.commit == SHA


def test_github_enterprise_server_url_is_used() -> None:
    env = {**GITHUB, "GITHUB_SERVER_URL": "https://ghe.example.com/"}
    context = ci_context(env)
    assert context is not None
    assert context.builder_id.startswith("https://ghe.example.com/acme/models/")


def test_gitlab_ci_fields() -> None:
    context = ci_context(GITLAB)
    assert context is not None
    assert context.platform == "gitlab-ci"
    assert context.builder_id == "https://gitlab.example.com/ml/models/-/runners/12"
    assert context.invocation_id == "https://gitlab.example.com/ml/models/-/jobs/2000"
    assert dict(context.workflow) == {
        "ref": "refs/heads/main",
        "repository": "https://gitlab.example.com/ml/models",
        "path": ".gitlab-ci.yml",
    }
    assert context.internal["gitlab"]["pipeline_id"] == "1000"
    assert context.internal["gitlab"]["runner_description"] == "gpu-runner"
    assert context.source is not None and context.source.commit == SHA


def test_gitlab_tag_pipeline_ref() -> None:
    env = {**GITLAB, "CI_COMMIT_TAG": "v2"}
    env.pop("CI_COMMIT_BRANCH")
    context = ci_context(env)
    assert context is not None and context.workflow["ref"] == "refs/tags/v2"


def test_no_ci_means_the_local_builder() -> None:
    assert ci_context({}) is None
    assert ci_context({"GITHUB_ACTIONS": "false"}) is None
    assert local_context().builder_id == LOCAL_BUILDER_ID
    assert local_context("https://ci.example/x").builder_id == "https://ci.example/x"


def test_a_malformed_ci_commit_is_not_recorded() -> None:
    context = ci_context({**GITHUB, "GITHUB_SHA": "not-a-sha"})
    assert context is not None and context.source is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:ghp_secret@github.com/acme/models.git", "https://github.com/acme/models"),
        ("git@github.com:acme/models.git", "ssh://github.com/acme/models"),
        ("ssh://git@host:2222/a/b", "ssh://host:2222/a/b"),
        ("https://gitlab.com/a/b/", "https://gitlab.com/a/b"),
        ("not a url", None),
        ("", None),
    ],
)
def test_remote_urls_lose_credentials(url: str, expected: str | None) -> None:
    assert normalise_repository_url(url) == expected


def _fake_repo(root: Path, *, packed: bool = False) -> None:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    if packed:
        (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA} refs/heads/main\n")
    else:
        (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    (git / "config").write_text(
        '[core]\n\tbare = false\n[remote "origin"]\n'
        "\turl = https://bot:token123@github.com/acme/models.git\n"
    )


def test_git_source_reads_loose_refs_without_running_git(tmp_path: Path) -> None:
    _fake_repo(tmp_path)
    (tmp_path / "sub").mkdir()
    source = git_source(tmp_path / "sub")
    assert source is not None
    assert source.commit == SHA
    assert source.ref == "refs/heads/main"
    assert source.repository == "https://github.com/acme/models"
    assert "token123" not in (source.uri() or "")


def test_git_source_reads_packed_refs(tmp_path: Path) -> None:
    _fake_repo(tmp_path, packed=True)
    source = git_source(tmp_path)
    assert source is not None and source.commit == SHA


def test_detached_head(tmp_path: Path) -> None:
    _fake_repo(tmp_path)
    (tmp_path / ".git" / "HEAD").write_text("b" * 40 + "\n")
    source = git_source(tmp_path)
    assert source is not None and source.commit == "b" * 40 and source.ref is None


def test_hostile_head_ref_is_refused(tmp_path: Path) -> None:
    _fake_repo(tmp_path)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/../../../etc/passwd\n")
    assert git_source(tmp_path) is None


def test_no_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("garbage")
    assert git_source(tmp_path) is None


def test_matches_git_in_a_real_worktree(tmp_path: Path) -> None:
    """A worktree's .git is a 'gitdir:' file; refs live in the common dir."""

    def run(*args: str, cwd: Path) -> str:
        env = {
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_SYSTEM": "/dev/null",
            "HOME": str(tmp_path),
        }
        return subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env, timeout=30
        ).stdout.strip()

    try:
        repo = tmp_path / "repo"
        repo.mkdir()
        run("init", "-q", "-b", "main", cwd=repo)
        (repo / "f").write_text("x")
        run("add", "f", cwd=repo)
        run("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "m", cwd=repo)
        run("worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"), cwd=repo)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git is not usable here")
    head = run("rev-parse", "HEAD", cwd=tmp_path / "wt")
    source = git_source(tmp_path / "wt")
    assert source is not None and source.commit == head and source.ref == "refs/heads/other"
