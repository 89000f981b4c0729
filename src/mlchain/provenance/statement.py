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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlchain import __version__
from mlchain.errors import InputError, UsageError
from mlchain.intoto import (
    SLSA_PROVENANCE_V1,
    STATEMENT_TYPE,
    compare_subjects,
    digest_model,
    dumps,
    model_digest,
    model_root,
    parse_timestamp,
    rfc3339,
    statement,
    subjects,
)
from mlchain.provenance.context import BuildContext, GitSource

__all__ = [  # the generic statement helpers live in mlchain.intoto; re-exported for callers
    "SLSA_PROVENANCE_V1",
    "STATEMENT_TYPE",
    "compare_subjects",
    "digest_model",
    "dumps",
    "model_digest",
    "model_root",
    "parse_timestamp",
    "rfc3339",
    "statement",
    "subjects",
]

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
