"""Scan models on the Hugging Face Hub without cloning them.

A reference (``hf://org/name[@revision][/subpath]`` or ``https://huggingface.co/org/name[/tree/rev
[/subpath]]``) is resolved to a full commit id first, so every later request and every report names
exactly one immutable revision. Files are then *materialised* in a private temporary folder:

- safetensors files: only the header is fetched with HTTP range requests and written into a sparse
  file of the published size (the scanner is header-only, so it sees exactly what it would locally);
- every other file is downloaded in full (pickles must be read whole) and its sha256 is checked
  against the Hub's LFS metadata.

The Hub's published sha256 of each file is carried into every output format. huggingface_hub does
the HTTP (it honours ``HF_TOKEN``, ``HF_HUB_OFFLINE`` and proxies); the endpoint is passed in by the
CLI from ``HF_ENDPOINT`` so the core reads no environment variables.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from mlchain.errors import MlchainError, NetworkError, UsageError
from mlchain.models import ScanReport
from mlchain.scan.base import ScanOptions

HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HubRef:
    """A model repository on the Hub, optionally at a revision and below a subpath."""

    repo_id: str
    revision: str | None = None
    subpath: str = ""

    @property
    def uri(self) -> str:
        """Canonical ``hf://`` form."""
        text = f"hf://{self.repo_id}"
        if self.revision:
            text += f"@{self.revision}"
        if self.subpath:
            text += f"/{self.subpath}"
        return text


@dataclass(slots=True)
class Materialized:
    """A Hub revision laid out locally for scanning."""

    ref: HubRef
    commit: str
    root: Path
    sha256: dict[str, str] = field(default_factory=dict)
    """Logical file name (relative to the scan root) -> sha256 published by the Hub."""
    header_only: list[str] = field(default_factory=list)
    """Files of which only the header was fetched (safetensors)."""


def parse_hub_uri(text: str) -> HubRef | None:
    """Parse a Hub reference, or return ``None`` when ``text`` is not one.

    Raises:
        UsageError: for a reference that names the Hub but is malformed.
    """
    if text.startswith("hf://"):
        rest = text[len("hf://") :]
        repo_part, _, subpath = _split_repo(rest)
        repo, _, rev = repo_part.partition("@")
        return _ref(text, repo, rev or None, subpath)
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.hostname in HUB_HOSTS:
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        if len(segments) < 2:
            raise UsageError(f"{text!r} does not name a model repository (org/name).")
        repo = "/".join(segments[:2])
        revision = None
        subpath = ""
        if len(segments) >= 4 and segments[2] in {"tree", "blob", "resolve"}:
            revision = segments[3]
            subpath = "/".join(segments[4:])
        elif len(segments) > 2:
            raise UsageError(f"{text!r}: expected .../org/name[/tree/REVISION[/PATH]].")
        return _ref(text, repo, revision, subpath)
    return None


def _split_repo(rest: str) -> tuple[str, str, str]:
    pieces = rest.split("/")
    if len(pieces) < 2:
        return rest, "", ""
    return "/".join(pieces[:2]), "/", "/".join(pieces[2:])


def _ref(text: str, repo: str, revision: str | None, subpath: str) -> HubRef:
    org, _, name = repo.partition("/")
    if not (_REPO_PART.match(org) and _REPO_PART.match(name.split("@")[0])):
        raise UsageError(f"{text!r} does not name a Hub model repository as org/name.")
    clean_sub = str(PurePosixPath(subpath)) if subpath else ""
    if clean_sub.startswith("/") or ".." in PurePosixPath(clean_sub).parts:
        raise UsageError(f"{text!r}: the subpath must stay inside the repository.")
    return HubRef(repo, revision, "" if clean_sub == "." else clean_sub)


def materialize(
    ref: HubRef,
    dest: Path,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    require_pinned: bool = False,
) -> Materialized:
    """Resolve ``ref`` to a commit and lay its files out under ``dest`` for scanning.

    Raises:
        UsageError: ``require_pinned`` and the revision is not a full commit id.
        NetworkError: the Hub could not be reached, the repository or revision does not exist,
            offline mode is on, or a download did not match its published digest.
    """
    if require_pinned and not (ref.revision and COMMIT_RE.match(ref.revision)):
        raise UsageError(
            f"{ref.uri} is not pinned to a commit.",
            hint="Pass the full 40-character commit id as hf://org/name@COMMIT, or drop "
            "--require-pinned.",
        )
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    info = _call(
        ref, lambda: api.model_info(ref.repo_id, revision=ref.revision, files_metadata=True)
    )
    commit = str(info.sha or "")
    if not COMMIT_RE.match(commit):
        raise NetworkError(f"The Hub returned no commit id for {ref.uri}.")
    out = Materialized(ref=ref, commit=commit, root=dest)
    prefix = f"{ref.subpath}/" if ref.subpath else ""
    siblings = [s for s in info.siblings or [] if s.rfilename.startswith(prefix) or not prefix]
    if prefix and not siblings:
        single = [s for s in info.siblings or [] if s.rfilename == ref.subpath]
        siblings, prefix = single, ""
    if not siblings:
        raise NetworkError(f"{ref.uri} at {commit} has no files to scan.")
    for sibling in siblings:
        logical = sibling.rfilename[len(prefix) :] if prefix else sibling.rfilename
        target = _safe_target(dest, logical)
        published = sibling.lfs.sha256 if sibling.lfs else None
        size = sibling.lfs.size if sibling.lfs else sibling.size
        if logical.endswith(".safetensors") and size:
            _fetch_safetensors_header(ref, commit, sibling.rfilename, target, size, endpoint, token)
            out.header_only.append(logical)
        else:
            digest = _download(ref, commit, sibling.rfilename, target, endpoint, token)
            if published and digest != published:
                raise NetworkError(
                    f"{sibling.rfilename} from {ref.uri}@{commit} does not match the sha256 the "
                    f"Hub publishes for it ({digest} != {published}).",
                    hint="Retry; if it persists, the download is being tampered with.",
                )
            published = published or digest
        if published:
            out.sha256[logical] = published
    return out


def _safe_target(dest: Path, logical: str) -> Path:
    path = PurePosixPath(logical)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise NetworkError(f"The Hub listed an unsafe file name {logical!r}; refusing it.")
    target = dest.joinpath(*path.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _call(ref: HubRef, func: Any) -> Any:
    from huggingface_hub import errors as hf_errors

    try:
        return func()
    except hf_errors.OfflineModeIsEnabled as exc:
        raise NetworkError(
            f"Cannot resolve {ref.uri}: HF_HUB_OFFLINE is set.",
            hint="Scan the local cache instead (mlchain scan "
            "~/.cache/huggingface/hub/models--ORG--NAME) or unset HF_HUB_OFFLINE.",
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise NetworkError(
            f"{ref.uri}: repository not found or not accessible.",
            hint="Check the name; private or gated models need HF_TOKEN.",
        ) from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise NetworkError(f"{ref.uri}: revision {ref.revision!r} not found.") from exc
    except MlchainError:
        raise
    except Exception as exc:  # httpx and huggingface_hub raise many types for transport errors
        raise NetworkError(
            f"Cannot reach the Hub for {ref.uri}: {exc}.",
            hint="Check network access and HF_ENDPOINT. Offline, set HF_HUB_OFFLINE=1 to scan "
            "the copy in the local Hugging Face cache (HF_HUB_CACHE or HF_HOME locate it).",
        ) from exc


def _request(
    ref: HubRef,
    commit: str,
    filename: str,
    endpoint: str | None,
    token: str | None,
    headers: dict[str, str] | None = None,
) -> Any:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(ref.repo_id, filename, revision=commit, endpoint=endpoint)
    all_headers = {**build_hf_headers(token=token), **(headers or {})}

    def go() -> Any:
        response = get_session().get(url, headers=all_headers, follow_redirects=True, timeout=60)
        hf_raise_for_status(response)
        return response

    return _call(ref, go)


def _fetch_safetensors_header(
    ref: HubRef,
    commit: str,
    filename: str,
    target: Path,
    size: int,
    endpoint: str | None,
    token: str | None,
) -> None:
    first = _request(ref, commit, filename, endpoint, token, {"Range": "bytes=0-7"}).content
    if len(first) != 8:
        raise NetworkError(f"{ref.uri}: the server ignored a range request for {filename}.")
    (header_len,) = struct.unpack("<Q", first)
    body = b""
    if 0 < header_len <= min(MAX_SAFETENSORS_HEADER, size - 8):
        wanted = f"bytes=8-{8 + header_len - 1}"
        body = _request(ref, commit, filename, endpoint, token, {"Range": wanted}).content[
            :header_len
        ]
    # A sparse file of the published size: the header-only scanner sees the real layout and never
    # reads the (absent) tensor bytes. An absurd length is left for the scanner to report.
    with target.open("wb") as handle:
        handle.write(first + body)
        handle.truncate(size)


def _download(
    ref: HubRef,
    commit: str,
    filename: str,
    target: Path,
    endpoint: str | None,
    token: str | None,
) -> str:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(ref.repo_id, filename, revision=commit, endpoint=endpoint)
    digest = hashlib.sha256()

    def go() -> None:
        with get_session().stream(
            "GET", url, headers=build_hf_headers(token=token), follow_redirects=True, timeout=60
        ) as response:
            hf_raise_for_status(response)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes(_CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)

    _call(ref, go)
    return digest.hexdigest()


def scan_hub(
    ref: HubRef,
    options: ScanOptions,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    require_pinned: bool = False,
) -> tuple[ScanReport, Materialized]:
    """Materialise ``ref`` in a private temporary folder, scan it, and label the report.

    The report's root is the Hub URI pinned to the resolved commit; each result carries the sha256
    the Hub publishes for it; the temporary folder is removed before returning.
    """
    import dataclasses
    import tempfile

    from mlchain.scan import scan_paths

    with tempfile.TemporaryDirectory(prefix="mlchain-hub-") as tmp:
        materialized = materialize(
            ref, Path(tmp), endpoint=endpoint, token=token, require_pinned=require_pinned
        )
        report = scan_paths([Path(tmp)], options)
    pinned = HubRef(ref.repo_id, materialized.commit, ref.subpath).uri
    # Files are named by their path in the repository (the temporary folder is no place a user
    # could find them); the report's roots name the pinned hf:// reference.
    results = tuple(
        dataclasses.replace(
            r.under(None), sha256=materialized.sha256.get(str(r.location.path), r.sha256)
        )
        for r in report.results
    )
    metadata = {
        **report.metadata,
        "hf_uri": ref.uri,
        "hf_repo": ref.repo_id,
        "hf_commit": materialized.commit,
    }
    if materialized.header_only:
        metadata["hf_header_only"] = ",".join(sorted(materialized.header_only))
    report = dataclasses.replace(report, results=results, roots=(pinned,), metadata=metadata)
    return report, materialized
