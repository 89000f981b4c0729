"""Sign and verify models in OCI registries by manifest, without downloading the weights.

The signed statement is model-signing's own (OMS v1.0, in-toto Statement, ``files`` method,
sha256): one resource per model file named by its logical path, with the *layer digest* as its
digest. The registry's content addressing binds each digest to the bytes, so checking the
signature against the manifest proves the weights without reading them. For raw ModelPack layers
the layer digest is exactly the file's sha256, so the same bundle also verifies the pulled
folder with ``mlchain verify DIR --signature BUNDLE``. Tar layers appear once, under their
``org.cncf.model.filepath`` / ``org.opencontainers.image.title`` name or ``layer-N.tar``.

By default the model name in the statement is ``REPO@sha256:<manifest digest>``, which binds
the signature to the exact image manifest (config and annotations included); verification
refuses a signature bound to another manifest.

The bundle is pushed as an OCI 1.1 referrer of the model manifest (``subject``), with artifact
type ``application/vnd.dev.sigstore.bundle.v0.3+json`` (as cosign stores Sigstore bundles), and
added to the ``sha256-<digest>`` referrers tag index on registries without the referrers API.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlchain.errors import UsageError
from mlchain.intoto import OMS_SIGNATURE_V1
from mlchain.sources.oci import (
    OCI_EMPTY,
    OCI_MANIFEST,
    Manifest,
    OciRef,
    descriptor_digest,
    descriptor_size,
)
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_model import MODELPACK_FILEPATH, TITLE, describe_layout

BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
OMS_PREDICATE = OMS_SIGNATURE_V1
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
MAX_CANDIDATES = 32
"""Most signature referrers tried before giving up (a registry could list thousands)."""


@dataclass(frozen=True, slots=True)
class OciSignResult:
    """What :func:`sign_oci` signed and where the bundle went."""

    manifest_digest: str
    files: dict[str, str]
    bundle: str
    signature_digest: str
    found_by: str
    """``referrers-api`` or ``tag-schema``: how verifiers will find it."""


def model_files(manifest: Manifest, uri: str) -> dict[str, str]:
    """``{logical name: hex sha256}`` of the model's layers, as signed and verified.

    Raises:
        UsageError: two layers share a name, or a layer digest is not sha256.
    """
    layout = describe_layout(manifest, uri)
    files: dict[str, str] = {}
    tar_layers = [d for d in manifest.layers if descriptor_digest(d) in _tar_digests(layout)]
    names_by_digest = {descriptor_digest(d): _layer_name(d) for d in tar_layers}
    for index, layer in enumerate(layout.layers):
        name = layer.path if layer.packing == "raw" else names_by_digest.get(layer.digest)
        name = name or f"layer-{index}.tar"
        algorithm, _, value = layer.digest.partition(":")
        if algorithm != "sha256":
            raise UsageError(
                f"{uri}: layer {layer.digest} is not sha256; cannot sign it by digest."
            )
        if name in files:
            raise UsageError(
                f"{uri}: two layers are both named {name!r}; a signature by name would be "
                "ambiguous.",
                hint="Give every layer a distinct org.cncf.model.filepath annotation.",
            )
        files[name] = value
    if not files:
        raise UsageError(f"{uri} has no model layers to sign.")
    return files


def _tar_digests(layout: Any) -> set[str]:
    return {layer.digest for layer in layout.layers if layer.packing != "raw"}


def _layer_name(descriptor: dict[str, Any]) -> str | None:
    annotations = descriptor.get("annotations")
    if not isinstance(annotations, dict):
        return None
    name = annotations.get(MODELPACK_FILEPATH) or annotations.get(TITLE)
    return name if isinstance(name, str) and name else None


def _oms_manifest(files: dict[str, str], model_name: str) -> Any:
    from mlchain.signing import _oms

    return _oms.manifest_from_digests(files, model_name)


def bound_name(ref: OciRef, manifest_digest: str) -> str:
    """The model name that binds a signature to one image manifest."""
    return f"{ref.repository}@{manifest_digest}"


def sign_oci(
    client: RegistryClient,
    ref: OciRef,
    method: Any,
    *,
    bind_manifest: bool = True,
    push: bool = True,
) -> OciSignResult:
    """Sign the model ``ref`` names by its manifest and push the bundle as a referrer.

    Raises:
        UsageError: the manifest is not a model or its layers cannot be named uniquely.
        SigningError: the key, certificate or identity token is unusable.
        RegistryError: the registry failed (reading, or storing the bundle).
    """
    from mlchain.signing import _oms

    ms_signing = _oms.signing()
    # NOTE(oci): mlchain.signing.sign builds model-signing's signer from a SigningMethod (key,
    # certificate, keyless) and maps its errors; reused here so all three methods work alike.
    from mlchain.signing.sign import _model_signer, _run_signer

    signer = _model_signer(method)  # a bad key or token fails before any network traffic
    manifest = client.resolve(ref)
    files = model_files(manifest, ref.uri)
    name = bound_name(ref, manifest.digest) if bind_manifest else ref.repository
    payload = ms_signing.Payload(_oms_manifest(files, name))
    bundle = str(_run_signer(lambda: signer.sign(payload).bundle.to_json(), method))
    if not push:
        return OciSignResult(manifest.digest, files, bundle, "", "not pushed")
    digest, found_by = push_referrer(client, ref, manifest, bundle.encode())
    return OciSignResult(manifest.digest, files, bundle, digest, found_by)


def push_referrer(
    client: RegistryClient,
    ref: OciRef,
    subject: Manifest,
    bundle: bytes,
    *,
    artifact_type: str = BUNDLE_ARTIFACT_TYPE,
    predicate_type: str = OMS_PREDICATE,
) -> tuple[str, str]:
    """Push a Sigstore bundle as a referrer of ``subject``; return (its digest, how found)."""
    empty = b"{}"
    config = {"mediaType": OCI_EMPTY, "digest": client.push_blob(ref.repository, empty), "size": 2}
    layer = {
        "mediaType": artifact_type,
        "digest": client.push_blob(ref.repository, bundle),
        "size": len(bundle),
    }
    annotations = {
        "dev.sigstore.bundle.content": "dsse-envelope",
        PREDICATE_ANNOTATION: predicate_type,
    }
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.raw),
        },
        "annotations": annotations,
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    client.put_manifest(ref.repository, digest, raw, OCI_MANIFEST)
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(raw),
        "artifactType": artifact_type,
        "annotations": annotations,
    }
    found_by = client.add_referrer(ref.repository, subject.digest, descriptor)
    return digest, found_by


def find_bundles(
    client: RegistryClient, ref: OciRef, subject: str, *, attestations: bool = False
) -> tuple[list[str], str]:
    """Sigstore bundles stored as referrers of ``subject``, and how they were found.

    Model signatures by default (predicate annotation absent or the OMS one); with
    ``attestations``, the other in-toto bundles (provenance, SBOM, scan). Nothing here is
    trusted yet: callers verify each bundle.
    """
    entries, found_by = client.referrers(ref.repository, subject)
    bundles = []
    candidates = [e for e in entries if e.get("artifactType") == BUNDLE_ARTIFACT_TYPE]
    for entry in candidates[-MAX_CANDIDATES:]:
        manifest = client.get_manifest(ref.repository, descriptor_digest(entry))
        referred = manifest.data.get("subject")
        if not isinstance(referred, dict) or referred.get("digest") != subject:
            continue  # a tag index can be edited by anyone who may push: trust only `subject`
        annotations = manifest.data.get("annotations")
        predicate = annotations.get(PREDICATE_ANNOTATION) if isinstance(annotations, dict) else None
        is_signature = predicate in (None, OMS_PREDICATE)
        if is_signature == attestations:
            continue
        for layer in manifest.layers:
            if layer.get("mediaType") == BUNDLE_ARTIFACT_TYPE:
                if descriptor_size(layer) > MAX_BUNDLE_BYTES:
                    continue
                data = client.read_blob(ref.repository, layer, MAX_BUNDLE_BYTES)
                bundles.append(data.decode("utf-8", errors="replace"))
    return bundles, found_by


def push_attestation(client: RegistryClient, ref: OciRef, bundle: str) -> tuple[str, str, str]:
    """Store a signed attestation bundle as a referrer; return (predicate type, digest, how).

    The predicate type is read from the (unverified) DSSE payload only to label the referrer;
    verifiers check the bundle itself.

    Raises:
        UsageError: the file is not a Sigstore bundle with an in-toto DSSE payload, or it is a
            model signature (use ``mlchain sign``).
    """
    predicate = _predicate_type(bundle)
    if predicate == OMS_PREDICATE:
        raise UsageError("That bundle is a model signature; `mlchain sign oci://...` pushes those.")
    manifest = client.resolve(ref)
    digest, found_by = push_referrer(
        client, ref, manifest, bundle.encode("utf-8"), predicate_type=predicate
    )
    return predicate, digest, found_by


def _predicate_type(bundle: str) -> str:
    import base64

    try:
        envelope = json.loads(bundle)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        predicate = statement["predicateType"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            "The attestation is not a Sigstore bundle holding an in-toto statement.",
            hint="Make it with `mlchain attest|provenance|sbom MODEL --sign`.",
        ) from exc
    if not isinstance(predicate, str) or not predicate:
        raise UsageError("The attestation's statement has no predicateType.")
    return predicate


def verify_oci(
    client: RegistryClient,
    ref: OciRef,
    method: Any,
    *,
    signature: Path | None = None,
) -> Any:
    """Verify the model ``ref`` names against a signature, reading only manifests and bundles.

    The bundle comes from ``signature`` when given, else from the manifest's referrers (each
    candidate is tried; the first that verifies with ``method`` wins). Returns a
    :class:`mlchain.signing.verify.ModelVerification` whose ``errors`` say why it failed.

    Raises:
        UsageError: the manifest is not a model.
        RegistryError: the registry failed or served altered bytes.
        BundleError: ``signature`` is unreadable or malformed.
    """
    from mlchain.signing.bundle import SignerInfo, parse_bundle, read_bundle_text
    from mlchain.signing.verify import ModelVerification

    manifest = client.resolve(ref)
    pinned = ref.pinned(manifest.digest)
    actual = model_files(manifest, ref.uri)
    base = ModelVerification(
        model=pinned.uri, method=method.kind, signer=SignerInfo(method.kind), signature=""
    )
    if signature is not None:
        texts, source = [read_bundle_text(signature)], str(signature)
    else:
        texts, found_by = find_bundles(client, ref, manifest.digest)
        source = f"referrers of {manifest.digest} ({found_by})"
    if not texts:
        return replace(
            base,
            signature=source,
            errors=(
                f"No signature found among the {source}; sign it with `mlchain sign "
                f"{pinned.uri}` or pass --signature FILE.",
            ),
        )
    failures: list[ModelVerification] = []
    for text in texts:
        parsed = parse_bundle(text, source=source)
        result = _check_one(text, parsed, method, base, actual, ref, manifest.digest)
        result = replace(result, signature=source)
        if result.verified:
            return result
        failures.append(result)
    return failures[0]


def _check_one(
    text: str,
    parsed: Any,
    method: Any,
    base: Any,
    actual: dict[str, str],
    ref: OciRef,
    manifest_digest: str,
) -> Any:
    from mlchain.errors import VerificationError
    from mlchain.signing import _oms
    from mlchain.signing.verify import verify_statement

    base = replace(base, signer=parsed.signer)
    try:
        verified = verify_statement(text, method)
    except VerificationError as exc:
        return replace(base, errors=(exc.message,))
    statement = verified.statement
    if statement.get("predicateType") != OMS_PREDICATE:
        return replace(
            base,
            signer=verified.signer,
            errors=(f"The bundle is not a model signature ({statement.get('predicateType')!r}).",),
        )
    try:
        signed = _oms.signing().dsse_payload_to_manifest(statement)
    except (ValueError, KeyError, TypeError) as exc:
        return replace(base, errors=(f"The signed model manifest is inconsistent: {exc}",))
    serialization = dict(signed.serialization_type)
    algorithm = str(serialization.get("hash_type", ""))
    expected = {d.identifier: d.digest.digest_hex for d in signed.resource_descriptors()}
    subject = (statement.get("subject") or [{}])[0]
    subject = subject if isinstance(subject, dict) else {}
    digests = subject.get("digest") if isinstance(subject.get("digest"), dict) else {}
    base = replace(
        base,
        signer=verified.signer,
        hash_algorithm=algorithm,
        files=expected,
        ignored=tuple(sorted(str(p) for p in serialization.get("ignore_paths", ()))),
        model_name=str(subject.get("name") or signed.model_name),
        model_digest=digests.get("sha256") if isinstance(digests, dict) else None,
    )
    errors: list[str] = []
    if algorithm != "sha256" or serialization.get("method") != "files":
        errors.append(
            f"The signature uses {serialization.get('method')}/{algorithm} digests; a registry "
            "manifest can only be checked against per-file sha256 (sign with `mlchain sign "
            "oci://...` or a per-file sha256 folder signature of raw layers)."
        )
    name = signed.model_name
    if "@sha256:" in name and name.rpartition("@")[2] != manifest_digest:
        errors.append(
            f"The signature is bound to the manifest {name.rpartition('@')[2]}, not to "
            f"{manifest_digest}: the image manifest changed after signing."
        )
    errors += [
        f"{n}: changed (signed digest sha256:{expected[n]}, layer now sha256:{actual[n]})"
        for n in sorted(expected.keys() & actual.keys())
        if expected[n] != actual[n]
    ]
    errors += [
        f"{n}: missing (signed but not in the manifest)"
        for n in sorted(expected.keys() - actual.keys())
    ]
    errors += [
        f"{n}: extra layer (in the manifest but not signed)"
        for n in sorted(actual.keys() - expected.keys())
    ]
    if not expected:
        errors.insert(0, "The signature covers no files.")
    return replace(base, errors=tuple(errors))


__all__ = [
    "BUNDLE_ARTIFACT_TYPE",
    "OciSignResult",
    "find_bundles",
    "model_files",
    "push_attestation",
    "push_referrer",
    "sign_oci",
    "verify_oci",
]
