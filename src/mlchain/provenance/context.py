"""Build-environment facts for provenance: which CI ran the build, and from which commit.

The core never reads environment variables: the CLI passes ``os.environ`` (or any mapping, in
tests) to :func:`ci_context`. The git commit of the training code is read from the ``.git``
folder directly rather than by running ``git``: a repository's own config can make git run
programs (``core.fsmonitor``, hooks), and a provenance generator must not execute anything the
repository controls.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOCAL_BUILDER_ID = "https://mlchain.dev/builders/local/v1"
"""Builder id used outside CI without ``--builder-id``: a claim by whoever ran mlchain, no more."""

_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_MAX_GIT_FILE = 1 << 20
_MAX_PACKED_REFS = 64 << 20


@dataclass(frozen=True, slots=True)
class GitSource:
    """The commit of the training code, and where it came from when known."""

    commit: str
    """Full hex object id (sha1 or sha256 repositories)."""
    repository: str | None = None
    """Remote URL without credentials (``https://host/org/repo``), when one is configured."""
    ref: str | None = None
    """``refs/heads/...`` or ``refs/tags/...``; ``None`` on a detached HEAD."""

    def uri(self) -> str | None:
        """SPDX download location ``git+<repository>@<ref>``, or ``None`` without a remote."""
        if self.repository is None:
            return None
        base = self.repository if "://" in self.repository else f"ssh://{self.repository}"
        return f"git+{base}@{self.ref}" if self.ref else f"git+{base}"


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Who built the model: builder id, invocation and the CI's own parameters."""

    builder_id: str
    platform: str
    """``github-actions``, ``gitlab-ci`` or ``local``."""
    invocation_id: str | None = None
    workflow: Mapping[str, str] = field(default_factory=dict)
    """External parameter ``workflow`` ({ref, repository, path}), as GitHub's build type has it."""
    internal: Mapping[str, Any] = field(default_factory=dict)
    """Internal parameters keyed by platform (``{"github": {...}}``)."""
    source: GitSource | None = None
    """The commit the CI checked out, when the CI says so."""


def ci_context(env: Mapping[str, str]) -> BuildContext | None:
    """Describe the CI run from its environment variables, or ``None`` outside a known CI.

    GitHub Actions mirrors the layout of GitHub's own build provenance
    (``https://actions.github.io/buildtypes/workflow/v1``); GitLab CI uses the same layout with
    GitLab's variables.
    """
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    return None


def _github(env: Mapping[str, str]) -> BuildContext:
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "")
    ref = env.get("GITHUB_REF", "")
    workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
    path = workflow_ref
    if path.startswith(repo + "/"):
        path = path[len(repo) + 1 :]
    if ref and path.endswith("@" + ref):
        path = path[: -(len(ref) + 1)]
    repository = f"{server}/{repo}" if repo else ""
    run_id, attempt = env.get("GITHUB_RUN_ID"), env.get("GITHUB_RUN_ATTEMPT", "1")
    invocation = f"{repository}/actions/runs/{run_id}/attempts/{attempt}" if run_id else None
    internal = _present(
        {
            "event_name": env.get("GITHUB_EVENT_NAME"),
            "repository_id": env.get("GITHUB_REPOSITORY_ID"),
            "repository_owner_id": env.get("GITHUB_REPOSITORY_OWNER_ID"),
            "runner_environment": env.get("RUNNER_ENVIRONMENT"),
        }
    )
    sha = env.get("GITHUB_SHA", "").lower()
    source = GitSource(sha, repository or None, ref or None) if _COMMIT.fullmatch(sha) else None
    return BuildContext(
        builder_id=f"{server}/{workflow_ref}" if workflow_ref else f"{repository or server}",
        platform="github-actions",
        invocation_id=invocation,
        workflow=_present({"ref": ref, "repository": repository, "path": path}),
        internal={"github": internal},
        source=source,
    )


def _gitlab(env: Mapping[str, str]) -> BuildContext:
    server = env.get("CI_SERVER_URL", "https://gitlab.com").rstrip("/")
    project = env.get("CI_PROJECT_PATH", "")
    repository = env.get("CI_PROJECT_URL") or (f"{server}/{project}" if project else "")
    if env.get("CI_COMMIT_TAG"):
        ref = f"refs/tags/{env['CI_COMMIT_TAG']}"
    elif env.get("CI_COMMIT_BRANCH"):
        ref = f"refs/heads/{env['CI_COMMIT_BRANCH']}"
    else:
        ref = env.get("CI_COMMIT_REF_NAME", "")
    runner = env.get("CI_RUNNER_ID")
    builder = f"{server}/{project}/-/runners/{runner}" if project and runner else server
    internal = _present(
        {
            "pipeline_id": env.get("CI_PIPELINE_ID"),
            "pipeline_source": env.get("CI_PIPELINE_SOURCE"),
            "job_id": env.get("CI_JOB_ID"),
            "job_name": env.get("CI_JOB_NAME"),
            "project_id": env.get("CI_PROJECT_ID"),
            "runner_id": runner,
            "runner_description": env.get("CI_RUNNER_DESCRIPTION"),
        }
    )
    sha = env.get("CI_COMMIT_SHA", "").lower()
    source = GitSource(sha, repository or None, ref or None) if _COMMIT.fullmatch(sha) else None
    return BuildContext(
        builder_id=builder,
        platform="gitlab-ci",
        invocation_id=env.get("CI_JOB_URL") or None,
        workflow=_present(
            {
                "ref": ref,
                "repository": repository,
                "path": env.get("CI_CONFIG_PATH") or ".gitlab-ci.yml",
            }
        ),
        internal={"gitlab": internal},
        source=source,
    )


def local_context(builder_id: str | None = None) -> BuildContext:
    """The context outside CI: ``--builder-id`` or :data:`LOCAL_BUILDER_ID`."""
    return BuildContext(builder_id=builder_id or LOCAL_BUILDER_ID, platform="local")


def _present(values: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}


# --- git, read from disk ------------------------------------------------------------------------


def git_source(start: Path) -> GitSource | None:
    """Return the HEAD commit of the git repository containing ``start``, or ``None``.

    Reads ``.git`` (a folder, or a ``gitdir:`` file for worktrees and submodules), ``HEAD``,
    loose refs and ``packed-refs``; never runs git. Credentials embedded in the remote URL are
    dropped.
    """
    try:
        git_dir = _find_git_dir(start.resolve())
        if git_dir is None:
            return None
        common = _common_dir(git_dir)
        head = _read_small(git_dir / "HEAD").strip()
        ref: str | None = None
        if head.startswith("ref:"):
            ref = head[4:].strip()
            commit = _resolve_ref(git_dir, common, ref)
        else:
            commit = head.lower()
        if commit is None or not _COMMIT.fullmatch(commit):
            return None
        return GitSource(commit, _origin_url(common), ref)
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _find_git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            text = _read_small(candidate).strip()
            if text.startswith("gitdir:"):
                target = Path(text[7:].strip())
                return target if target.is_absolute() else (directory / target).resolve()
            return None
    return None


def _common_dir(git_dir: Path) -> Path:
    marker = git_dir / "commondir"
    if marker.is_file():
        target = Path(_read_small(marker).strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def _resolve_ref(git_dir: Path, common: Path, ref: str) -> str | None:
    if ".." in ref.split("/") or not ref.startswith("refs/"):
        return None
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            return _read_small(loose).strip().lower()
    packed = common / "packed-refs"
    if packed.is_file() and packed.stat().st_size <= _MAX_PACKED_REFS:
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref:
                return parts[0].lower()
    return None


def _origin_url(common: Path) -> str | None:
    config_file = common / "config"
    if not config_file.is_file():
        return None
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(_read_small(config_file))
    except configparser.Error:
        return None
    section = 'remote "origin"'
    if not parser.has_option(section, "url"):
        return None
    return normalise_repository_url(parser.get(section, "url"))


def normalise_repository_url(url: str) -> str | None:
    """Return ``url`` without credentials or ``.git`` suffix; scp-style becomes ``host/path``.

    ``git@github.com:org/repo.git`` -> ``ssh://github.com/org/repo`` and
    ``https://user:token@host/org/repo.git`` -> ``https://host/org/repo``.
    """
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None
    scp = re.fullmatch(r"(?:[^@/]+@)?([^:/]+):(?!//)(.+)", url)
    if scp and "://" not in url:
        url = f"ssh://{scp.group(1)}/{scp.group(2)}"
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path.removesuffix("/").removesuffix(".git")
    return urlunsplit((parts.scheme, host, path, "", ""))


def _read_small(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(_MAX_GIT_FILE + 1)
    if len(data) > _MAX_GIT_FILE:
        raise ValueError(f"{path} is unexpectedly large")
    return data.decode("utf-8")
