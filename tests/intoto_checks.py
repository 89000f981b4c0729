"""Field rules of in-toto Statement v1 and SLSA Provenance v1, written out as checks for tests.

Sources: in-toto attestation spec v1 (statement.md, resource_descriptor.md, digest_set.md) and
SLSA provenance v1 (slsa.dev/spec/v1.0/provenance). Each check raises AssertionError naming the
rule that failed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
HEX = re.compile(r"^[0-9a-f]+$")
HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128, "sha1": 40, "gitCommit": (40, 64)}


def check_digest_set(digest: Any, where: str) -> None:
    """DigestSet: non-empty map of algorithm -> lower-case hex string of the right length."""
    assert isinstance(digest, dict) and digest, f"{where}: digest must be a non-empty map"
    for algorithm, value in digest.items():
        assert isinstance(algorithm, str) and algorithm, f"{where}: bad algorithm key"
        assert isinstance(value, str) and HEX.fullmatch(value), f"{where}: {algorithm} not hex"
        expected = HEX_LENGTHS.get(algorithm)
        if isinstance(expected, int):
            assert len(value) == expected, f"{where}: {algorithm} has {len(value)} hex digits"
        elif isinstance(expected, tuple):
            assert len(value) in expected, f"{where}: {algorithm} has {len(value)} hex digits"


def check_resource_descriptor(rd: Any, where: str) -> None:
    """ResourceDescriptor: at least one of uri, digest, content; uri is a URI; known fields only."""
    assert isinstance(rd, dict), f"{where}: must be an object"
    allowed = {"uri", "digest", "name", "downloadLocation", "mediaType", "content", "annotations"}
    assert set(rd) <= allowed, f"{where}: unknown fields {set(rd) - allowed}"
    assert {"uri", "digest", "content"} & set(rd), f"{where}: needs uri, digest or content"
    if "uri" in rd:
        assert isinstance(rd["uri"], str) and URI.fullmatch(rd["uri"]), f"{where}: uri not a URI"
    if "digest" in rd:
        check_digest_set(rd["digest"], where)
    if "name" in rd:
        assert isinstance(rd["name"], str) and rd["name"], f"{where}: name must be a string"
    if "annotations" in rd:
        assert isinstance(rd["annotations"], dict), f"{where}: annotations must be a map"


def check_statement(doc: Any) -> None:
    """in-toto Statement v1: _type, non-empty subjects with names and digests, predicateType."""
    assert isinstance(doc, dict), "statement must be a JSON object"
    assert set(doc) == {"_type", "subject", "predicateType", "predicate"}, set(doc)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    subjects = doc["subject"]
    assert isinstance(subjects, list) and subjects, "subject must be a non-empty list"
    names = []
    for i, subject in enumerate(subjects):
        assert isinstance(subject, dict), f"subject[{i}] must be an object"
        assert isinstance(subject.get("name"), str) and subject["name"], f"subject[{i}] name"
        check_digest_set(subject.get("digest"), f"subject[{i}]")
        names.append(subject["name"])
    assert len(set(names)) == len(names), "subject names must be unique"
    assert isinstance(doc["predicateType"], str) and URI.fullmatch(doc["predicateType"])
    assert isinstance(doc["predicate"], dict), "predicate must be an object"


def _timestamp(value: Any, where: str) -> None:
    assert isinstance(value, str) and value.endswith("Z"), f"{where}: RFC 3339 UTC expected"
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_slsa_provenance(doc: Any) -> None:
    """SLSA Provenance v1: buildDefinition (buildType URI, externalParameters object, ...) and
    runDetails (builder.id URI, metadata timestamps, byproducts descriptors)."""
    check_statement(doc)
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    predicate = doc["predicate"]
    assert set(predicate) == {"buildDefinition", "runDetails"}, set(predicate)
    build = predicate["buildDefinition"]
    allowed = {"buildType", "externalParameters", "internalParameters", "resolvedDependencies"}
    assert set(build) <= allowed, set(build) - allowed
    assert isinstance(build["buildType"], str) and URI.fullmatch(build["buildType"])
    assert isinstance(build["externalParameters"], dict), "externalParameters is required"
    if "internalParameters" in build:
        assert isinstance(build["internalParameters"], dict)
    for i, rd in enumerate(build.get("resolvedDependencies", [])):
        check_resource_descriptor(rd, f"resolvedDependencies[{i}]")
    run = predicate["runDetails"]
    assert set(run) <= {"builder", "metadata", "byproducts"}, set(run)
    builder = run["builder"]
    assert set(builder) <= {"id", "version", "builderDependencies"}
    assert isinstance(builder["id"], str) and URI.fullmatch(builder["id"]), "builder.id URI"
    if "version" in builder:
        assert all(isinstance(v, str) for v in builder["version"].values())
    metadata = run.get("metadata", {})
    assert set(metadata) <= {"invocationId", "startedOn", "finishedOn"}, set(metadata)
    for key in ("startedOn", "finishedOn"):
        if key in metadata:
            _timestamp(metadata[key], key)
    for i, rd in enumerate(run.get("byproducts", [])):
        check_resource_descriptor(rd, f"byproducts[{i}]")


def floats_in(value: Any, path: str = "$") -> list[str]:
    """Paths of every float in a JSON value (ints must never turn into floats)."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []
