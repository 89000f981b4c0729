"""In-toto statements, the wire contract every mlchain attestation shares (issue #16, item 3).

One home for the statement type, the DSSE payload type and **every predicate type URI** mlchain
writes or reads, and for the generic statement helpers: subjects from the OMS file digests,
statement assembly, deterministic JSON, timestamps, and the comparison of a statement's subjects
with the files on disk. SLSA-specific code stays in :mod:`mlchain.provenance.statement`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlchain.errors import InputError, UsageError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The DSSE payload type of an in-toto statement."""

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"
MLCHAIN_SCAN_V1 = "https://mlchain.dev/attestations/scan/v1"
OMS_SIGNATURE_V1 = "https://model_signing/signature/v1.0"
"""The predicate type of an OpenSSF model signature (model-signing 1.x)."""
OMS_DIGESTS_V01 = "https://model_signing/Digests/v0.1"
"""The predicate type of model-signing's pre-1.0 signatures (still verified)."""
OMS_PREDICATE_TYPES = (OMS_SIGNATURE_V1, OMS_DIGESTS_V01)

PREDICATE_TYPES = {
    "provenance": SLSA_PROVENANCE_V1,
    "sbom": CYCLONEDX_BOM,
    "scan": MLCHAIN_SCAN_V1,
}
"""The attestation kinds a policy names (``attestations[].type``) and their predicate types."""


def subjects(digests: Mapping[str, str], algorithm: str = "sha256") -> list[dict[str, Any]]:
    """Return in-toto subjects, one per file, sorted by name (the OMS manifest's names)."""
    return [
        {"name": name, "digest": {algorithm: digests[name].lower()}} for name in sorted(digests)
    ]


def statement(
    subject_list: Sequence[Mapping[str, Any]], predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """Assemble an in-toto Statement v1."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [dict(s) for s in subject_list],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, two-space indent, UTF-8, no NaN, trailing newline."""
    return (
        json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def model_digest(digests: Mapping[str, str]) -> str:
    """The OMS model digest: sha256 over the raw per-file sha256 digests in sorted name order.

    This is the digest model-signing puts in its single subject, so a local base model is
    referenced by the same value its own OMS signature carries.
    """
    hasher = hashlib.sha256()
    for name in sorted(digests):
        hasher.update(bytes.fromhex(digests[name]))
    return hasher.hexdigest()


def rfc3339(moment: dt.datetime) -> str:
    """Render a UTC timestamp as RFC 3339 with a ``Z`` suffix and whole seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str, option: str) -> dt.datetime:
    """Parse an ISO 8601 time (``2026-01-31T12:00:00Z``) or a Unix epoch in seconds.

    Raises:
        UsageError: if it is neither.
    """
    text = text.strip()
    try:
        if re.fullmatch(r"\d{1,12}", text):
            return dt.datetime.fromtimestamp(int(text), tz=dt.timezone.utc)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"{option} expects an ISO 8601 time like 2026-01-31T12:00:00Z or Unix seconds, "
            f"got {text!r}."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def compare_subjects(document: Mapping[str, Any], digests: Mapping[str, str]) -> list[str]:
    """List every difference between a statement's subjects and the files on disk.

    Each subject must name a file on disk with the same sha256; each file on disk must be a
    subject (an extra file is as suspicious as a changed one). An empty list means they match.
    """
    problems: list[str] = []
    claimed: dict[str, str] = {}
    subject_list = document.get("subject")
    if not isinstance(subject_list, list) or not subject_list:
        return ["the statement has no subjects"]
    for subject in subject_list:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest") if isinstance(subject, dict) else None
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(name, str) or not isinstance(sha, str):
            problems.append("a subject has no name or no sha256 digest")
            continue
        if name in claimed:
            problems.append(f"{name}: listed twice among the subjects")
        claimed[name] = sha.lower()
    for name in sorted(claimed.keys() | digests.keys()):
        if name not in digests:
            problems.append(f"{name}: in the attestation but missing on disk")
        elif name not in claimed:
            problems.append(f"{name}: on disk but not covered by the attestation")
        elif claimed[name] != digests[name].lower():
            problems.append(
                f"{name}: digest differs (attested sha256:{claimed[name][:16]}..., "
                f"on disk sha256:{digests[name][:16]}...)"
            )
    return problems


def model_root(model_path: Path) -> Path:
    """The folder whose files are the model: a Hugging Face cache repository becomes its snapshot.

    ``models--org--name`` resolves to the snapshot ``refs/main`` names (or the only one), so
    subjects carry the logical file names, as ``mlchain scan`` reports them.

    Raises:
        UsageError: for a cached repository with several snapshots and no ``refs/main``.
    """
    from mlchain.sources.hfcache import locate

    if not model_path.is_dir():
        return model_path
    snapshot = locate(model_path)
    return snapshot.snapshot if snapshot is not None else model_path


def digest_model(
    model_path: Path, ignore: Sequence[str] = (), *, allow_symlinks: bool = False
) -> dict[str, str]:
    """Per-file sha256 digests exactly as the OMS signature covers them.

    The OMS signature file (``model.sig``) is always ignored, as ``mlchain sign`` ignores it, and
    ``mlchain sign``'s symlink rule applies: links are refused, or with ``allow_symlinks`` accepted
    only when they point to a regular file inside the model folder. A Hugging Face cache snapshot
    is the exception: its links may point into its cached repository's ``blobs/`` (that is how
    the cache stores files), and a blob named by a sha256 must have that sha256.

    Raises:
        InputError: if the model cannot be read (an unlistable folder included: the walk is
            :func:`mlchain.signing.tree.list_model`), is empty, or a cache blob does not match
            its name.
        SymlinkError: on a symbolic link the rule refuses (a usage error).
    """
    from mlchain.signing import _oms, manifest
    from mlchain.sources.hfcache import locate

    if not os.path.lexists(model_path):
        raise InputError(f"No such file or directory: {model_path}.")
    skip: list[Path] = []
    if model_path.is_dir():
        skip = [Path(p) for p in sorted({manifest.DEFAULT_SIGNATURE_NAME, *ignore})]
    cache = locate(model_path) if model_path.is_dir() else None
    if cache is not None:
        model_path = cache.snapshot
    allow_symlinks = manifest.check_symlinks(model_path, allow=allow_symlinks, ignore=skip)
    try:
        config = manifest.hashing_config(
            algorithm="sha256", ignore=skip, allow_symlinks=allow_symlinks
        )
        digests = _oms.manifest_digests(manifest.hash_model(config, model_path), model_path)
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot hash the files of {model_path}: {exc}.") from exc
    if cache is not None:
        _check_cache_blobs(cache, digests)
    if not digests:
        raise InputError(
            f"{model_path} has no files to describe (it is empty, or every file is ignored).",
            hint="Point at the model folder or file; check --ignore.",
        )
    for name in digests:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            from mlchain.sanitize import clean_path

            raise InputError(
                f"The file name '{clean_path(name)}' is not valid UTF-8: in-toto statements and "
                "CycloneDX BOMs can only name files in UTF-8.",
                hint="Rename the file (or leave it out with --ignore) and run again.",
            ) from None
    return digests


def _check_cache_blobs(cache: Any, digests: Mapping[str, str]) -> None:
    from mlchain.sources.hfcache import expected_blob_sha256

    for name, digest in digests.items():
        path = cache.snapshot / name
        expected = expected_blob_sha256(path.resolve(), cache) if path.is_symlink() else None
        if expected is not None and expected != digest:
            raise InputError(
                f"{name}: the cached blob does not have the sha256 its name promises "
                f"({expected[:16]}..., content {digest[:16]}...).",
                hint="The Hugging Face cache is corrupted or was tampered with; download again.",
            )
