"""In-toto Statement v1 with a SLSA Provenance v1 predicate, bound to the OMS file digests.

Subjects are the model's files with exactly the names and digests that the OpenSSF model-signing
manifest covers (:func:`mlchain.signing.manifest.file_digests`), so a deploy gate can check the
signature, the provenance and the scan attestation against the same bytes.

The build type ``https://mlchain.dev/buildtypes/model-training/v1`` is documented in
``docs/provenance.md``. Statements are built as plain JSON (dicts of str/int/float/bool/list):
``in_toto_attestation``'s protobuf ``Struct`` would turn ``epochs: 3`` into ``3.0``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlchain import __version__
from mlchain.errors import InputError, UsageError
from mlchain.provenance.context import BuildContext, GitSource

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://mlchain.dev/buildtypes/model-training/v1"

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_PARAM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$")
_GIT_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128, "sha1": 40, "blake2b": 128}
_DIGEST_SUFFIX = re.compile(r"@(sha256|sha384|sha512|sha1|blake2b|gitCommit):([0-9A-Fa-f]+)$")
_HF = re.compile(
    r"^hf://(?P<kind>datasets/|spaces/)?(?P<repo>[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+)"
    r"(?:@(?P<rev>[A-Za-z0-9_.\-/]+))?$"
)

JSON = Any
"""A JSON value: dict, list, str, int, float, bool or None."""


# --- statements ---------------------------------------------------------------------------------


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


# --- user inputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvenanceInputs:
    """What the user tells ``mlchain provenance`` about the training run."""

    config: dict[str, Any] | None = None
    """``{"path": ..., "digest": {"sha256": ...}}`` of ``--config``."""
    parameters: Mapping[str, JSON] = field(default_factory=dict)
    base_model: str | None = None
    """``--base-model`` exactly as given."""
    base_model_ref: dict[str, Any] | None = None
    """Its resolved ResourceDescriptor."""
    datasets: tuple[str, ...] = ()
    dataset_refs: tuple[dict[str, Any], ...] = ()
    started_on: dt.datetime | None = None
    finished_on: dt.datetime | None = None


def parse_parameters(items: Sequence[str]) -> dict[str, JSON]:
    """Parse ``--param k=v`` items; ``v`` is typed JSON when it parses (``3`` is an int).

    Raises:
        UsageError: on a missing ``=``, a bad key or a repeated key.
    """
    out: dict[str, JSON] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _PARAM_KEY.fullmatch(key):
            raise UsageError(
                f"--param expects key=value with a key of letters, digits, '_', '.', '-' or '/', "
                f"got {item!r}."
            )
        if key in out:
            raise UsageError(f"--param {key} is given twice.")
        out[key] = _typed(raw)
    return out


def _typed(raw: str) -> JSON:
    def no_constants(name: str) -> JSON:
        raise ValueError(name)

    try:
        return json.loads(raw, parse_constant=no_constants)
    except ValueError:  # includes JSONDecodeError and NaN/Infinity
        return raw


def file_resource(path: Path, display: str) -> dict[str, Any]:
    """Describe a local file or folder by digest (a folder by its OMS model digest).

    Raises:
        InputError: if the path cannot be read.
    """
    from mlchain.signing.manifest import file_digests

    if not path.exists():
        raise InputError(f"No such file or directory: {display}.")
    try:
        digest = model_digest(file_digests(path)) if path.is_dir() else _sha256_file(path)
    except OSError as exc:
        raise InputError(f"Cannot read {display}: {exc.strerror or exc}.") from exc
    return {"name": path.name, "digest": {"sha256": digest}}


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with path.open("rb") as handle:
        while n := handle.readinto(buffer):
            hasher.update(view[:n])
    return hasher.hexdigest()


def config_parameter(path: Path, display: str) -> dict[str, Any]:
    """The ``config`` external parameter: the path as given and the file's sha256."""
    if not path.is_file():
        raise InputError(f"--config {display} is not a readable file.")
    resource = file_resource(path, display)
    return {"path": display, "digest": resource["digest"]}


def model_reference(text: str, *, role: str) -> dict[str, Any]:
    """Resolve ``--base-model`` / ``--dataset`` into a SLSA ResourceDescriptor.

    Accepted: ``hf://org/name[@rev]`` (models), ``hf://datasets/org/name[@rev]``, any
    ``scheme:...`` URI with an optional ``@sha256:<hex>`` (or ``@gitCommit:<hex>``) suffix, or a
    local path, which is hashed. A 40-hex Hugging Face revision becomes a ``gitCommit`` digest.

    Raises:
        UsageError: on a reference that is neither a URI nor an existing path.
        InputError: if a local path cannot be read.
    """
    text = text.strip()
    annotations = {"role": role}
    digest: dict[str, str] = {}
    hf = _HF.fullmatch(text)
    if hf:
        kind, repo, rev = hf.group("kind") or "", hf.group("repo"), hf.group("rev")
        if rev and _GIT_COMMIT.fullmatch(rev.lower()):
            digest = {"gitCommit": rev.lower()}
        if kind == "":
            uri = f"pkg:huggingface/{repo}" + (f"@{quote(rev, safe='')}" if rev else "")
        else:
            uri = f"https://huggingface.co/{kind}{repo}" + (
                f"/tree/{rev}" if rev and not digest else ""
            )
        return _descriptor(uri=uri, name=repo, digest=digest, annotations=annotations)
    if _URI.fullmatch(text) and not Path(text).exists():
        suffix = _DIGEST_SUFFIX.search(text)
        if suffix:
            algorithm, hex_value = suffix.group(1), suffix.group(2).lower()
            expected = _HEX_LENGTHS.get(algorithm)
            if algorithm == "gitCommit":
                ok = bool(_GIT_COMMIT.fullmatch(hex_value))
            else:
                ok = expected is not None and len(hex_value) == expected
            if not ok:
                raise UsageError(f"The digest in {text!r} has the wrong length for {algorithm}.")
            digest = {algorithm: hex_value}
            text = text[: suffix.start()]
        return _descriptor(uri=text, name=None, digest=digest, annotations=annotations)
    path = Path(text)
    if not path.exists():
        raise UsageError(
            f"{text!r} is neither a URI (hf://org/name@rev, s3://..., https://...) nor an "
            "existing local path."
        )
    resource = file_resource(path, text)
    return _descriptor(
        uri=None,
        name=resource["name"],
        digest=resource["digest"],
        annotations={**annotations, "path": text},
    )


def _descriptor(
    *, uri: str | None, name: str | None, digest: Mapping[str, str], annotations: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if uri:
        out["uri"] = uri
    if name:
        out["name"] = name
    if digest:
        out["digest"] = dict(digest)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def source_descriptor(source: GitSource) -> dict[str, Any]:
    """The training code as a ResourceDescriptor (``git+repo@ref`` and ``gitCommit``)."""
    uri = source.uri()
    return _descriptor(
        uri=uri,
        name=None if uri else "training-code",
        digest={"gitCommit": source.commit},
        annotations={"role": "training-code"},
    )


# --- the provenance predicate -------------------------------------------------------------------


def build_provenance(
    digests: Mapping[str, str],
    inputs: ProvenanceInputs,
    context: BuildContext,
    *,
    source: GitSource | None = None,
    ignore: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the in-toto Statement v1 with a SLSA Provenance v1 predicate.

    ``source`` is the training code's commit found on disk; the CI's own commit (``context.source``)
    takes precedence when both exist, since it is what the CI checked out.
    """
    if not digests:
        raise InputError("The model has no files to describe (every file is ignored or empty).")
    external: dict[str, Any] = {"parameters": dict(sorted(inputs.parameters.items()))}
    if inputs.config is not None:
        external["config"] = inputs.config
    if inputs.base_model is not None:
        external["baseModel"] = inputs.base_model
    if inputs.datasets:
        external["datasets"] = list(inputs.datasets)
    if context.workflow:
        external["workflow"] = dict(context.workflow)

    internal: dict[str, Any] = {key: dict(value) for key, value in context.internal.items()}
    internal["mlchain"] = {
        "subjectHashing": {"algorithm": "sha256", "ignore": sorted(ignore)},
        "version": __version__,
    }

    dependencies: list[dict[str, Any]] = []
    code = context.source or source
    if code is not None:
        dependencies.append(source_descriptor(code))
    if inputs.base_model_ref is not None:
        dependencies.append(inputs.base_model_ref)
    dependencies.extend(inputs.dataset_refs)

    build_definition: dict[str, Any] = {
        "buildType": BUILD_TYPE,
        "externalParameters": external,
        "internalParameters": internal,
    }
    if dependencies:
        build_definition["resolvedDependencies"] = dependencies

    metadata: dict[str, str] = {}
    if context.invocation_id:
        metadata["invocationId"] = context.invocation_id
    if inputs.started_on is not None:
        metadata["startedOn"] = rfc3339(inputs.started_on)
    if inputs.finished_on is not None:
        metadata["finishedOn"] = rfc3339(inputs.finished_on)
    run_details: dict[str, Any] = {
        "builder": {"id": context.builder_id, "version": {"mlchain": __version__}}
    }
    if metadata:
        run_details["metadata"] = metadata

    predicate = {"buildDefinition": build_definition, "runDetails": run_details}
    return statement(subjects(digests), SLSA_PROVENANCE_V1, predicate)


def check_builder_id(builder_id: str) -> str:
    """Validate ``--builder-id`` (a URI, as SLSA requires).

    Raises:
        UsageError: if it is not a URI.
    """
    if not _URI.fullmatch(builder_id):
        raise UsageError(
            f"--builder-id must be a URI such as https://ci.example.com/pipelines/train, "
            f"got {builder_id!r}."
        )
    return builder_id


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
        InputError: if the model cannot be read, is empty, or a cache blob does not match its name.
        SymlinkError: on a symbolic link the rule refuses (a usage error).
    """
    from mlchain.signing import manifest
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
        if allow_symlinks:
            config = manifest.hashing_config(algorithm="sha256", ignore=skip, allow_symlinks=True)
            hashed = config.hash(model_path)
            digests = {
                str(d.identifier): str(d.digest.digest_hex) for d in hashed.resource_descriptors()
            }
            if model_path.is_file():  # model-signing names a single file "."
                digests = {model_path.name: digest for digest in digests.values()}  # noqa: B035
        else:
            digests = manifest.file_digests(model_path, ignore=skip)
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
