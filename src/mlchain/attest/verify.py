"""Verify a signed attestation and bind it to the model on disk.

The signature is checked by :func:`mlchain.signing.verify.verify_statement` (the same trust
options as ``mlchain verify``). Then every subject must match a file on disk by name and sha256,
and every file on disk (minus the verifier's own ``ignore`` list, never the one inside the
statement) must be a subject. A scan attestation must also carry the verdict ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain.intoto import (
    CYCLONEDX_BOM,
    MLCHAIN_SCAN_V1,
    SLSA_PROVENANCE_V1,
    STATEMENT_TYPE,
    compare_subjects,
    digest_model,
)

if TYPE_CHECKING:
    from mlchain.signing.bundle import SignerInfo
    from mlchain.signing.verify import VerificationMethod, VerifiedStatement


@dataclass(frozen=True, slots=True)
class AttestationCheck:
    """The outcome of :func:`verify_attestation`; ``verified`` is False when ``errors`` is set."""

    predicate_type: str | None
    signer: SignerInfo | None
    subjects: int
    errors: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)
    """Predicate facts worth showing: builder id, scan verdict, scanner version."""
    statement: dict[str, Any] = field(default_factory=dict, repr=False)
    """The statement whose signature verified (trust its content only when ``verified``)."""
    bundle: str | None = None
    """The bundle file, when the check came from one."""
    authority: str | None = None
    """The policy authority whose own trust material verified the signer (deploy gate)."""
    chain_fingerprints: tuple[str, ...] = ()
    """SHA-256 of the trusted CA certificates a certificate signer chained to."""
    used_for: str | None = None
    """The policy input this statement became (``provenance``, ``sbom``, ``scan``), if any."""
    note: str | None = None
    """Why a verified statement was not used as a policy input."""

    @classmethod
    def failed(cls, bundle: Path | str | None, reason: str) -> AttestationCheck:
        """A bundle that could not be read or verified by any acceptable signer."""
        return cls(
            predicate_type=None,
            signer=None,
            subjects=0,
            errors=(reason,),
            bundle=None if bundle is None else str(bundle),
        )

    @property
    def verified(self) -> bool:
        """Whether the signature, the signer, the subjects and the predicate all check out."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """Machine-readable shape (``verify-attestation -f json``; gate entries add more)."""
        signer = self.signer
        document: dict[str, Any] = {
            "verified": self.verified,
            "predicate_type": self.predicate_type,
            "method": signer.method if signer else None,
            "identity": (
                {"subject": signer.subject or "", "issuer": signer.issuer or ""}
                if signer is not None and (signer.subject is not None or signer.issuer is not None)
                else None
            ),
            "key_fingerprint": signer.key_fingerprint if signer else None,
            "subjects": self.subjects,
            "details": dict(sorted(self.details.items())),
            "errors": list(self.errors),
        }
        if self.chain_fingerprints:
            document["chain_fingerprints"] = list(self.chain_fingerprints)
        if self.bundle is not None:
            document["bundle"] = self.bundle
        if self.authority is not None:
            document["authority"] = self.authority
            document["used_for"] = self.used_for
            if self.note is not None:
                document["note"] = self.note
        return document


def verify_attestation(
    bundle_json: str,
    method: VerificationMethod,
    model_path: Path,
    *,
    ignore: Sequence[str] = (),
    predicate_type: str | None = None,
    builder_id: str | None = None,
    allow_symlinks: bool = False,
) -> AttestationCheck:
    """Verify ``bundle_json`` and check its statement against the files of ``model_path``.

    ``predicate_type`` and ``builder_id`` (SLSA ``runDetails.builder.id``), when given, must match.

    Raises:
        BundleError: the bundle is malformed (exit 3).
        VerificationError: the signature does not verify or the signer is not the expected one.
        InputError: the model cannot be read.
        SymlinkError: the model holds a symbolic link the symlink rule refuses.
    """
    from mlchain.signing.verify import verify_statement

    verified = verify_statement(bundle_json, method)
    digests = digest_model(model_path, ignore, allow_symlinks=allow_symlinks)
    return check_statement(verified, digests, predicate_type=predicate_type, builder_id=builder_id)


def check_statement(
    verified: VerifiedStatement,
    digests: Mapping[str, str],
    *,
    predicate_type: str | None = None,
    builder_id: str | None = None,
) -> AttestationCheck:
    """Check a statement whose signature verified against the model's file ``digests``.

    The deploy gate hashes the model once and checks every attestation with these digests.
    """
    document = verified.statement
    errors: list[str] = []
    if document.get("_type") != STATEMENT_TYPE:
        errors.append(f"the statement type is {document.get('_type')!r}, not {STATEMENT_TYPE}")
    kind = str(document.get("predicateType", ""))
    if predicate_type is not None and kind != predicate_type:
        errors.append(f"the predicate type is {kind!r}, expected {predicate_type!r}")
    errors += compare_subjects(document, digests)
    predicate = document.get("predicate")
    details: dict[str, str] = {}
    if isinstance(predicate, dict):
        details, more = _predicate_facts(kind, predicate)
        errors += more
    if builder_id is not None and details.get("builder_id") != builder_id:
        errors.append(
            f"the builder is {details.get('builder_id', 'not stated')!r}, expected {builder_id!r}"
        )
    subject_list = document.get("subject")
    return AttestationCheck(
        predicate_type=kind,
        signer=verified.signer,
        subjects=len(subject_list) if isinstance(subject_list, list) else 0,
        errors=tuple(errors),
        details=details,
        statement=document,
        chain_fingerprints=verified.chain_fingerprints,
    )


def _predicate_facts(kind: str, predicate: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    details: dict[str, str] = {}
    errors: list[str] = []
    if kind == SLSA_PROVENANCE_V1:
        builder = predicate.get("runDetails", {}).get("builder", {})
        details["builder_id"] = str(builder.get("id", ""))
        details["build_type"] = str(predicate.get("buildDefinition", {}).get("buildType", ""))
    elif kind == CYCLONEDX_BOM:
        details["serial_number"] = str(predicate.get("serialNumber", ""))
        details["spec_version"] = str(predicate.get("specVersion", ""))
    elif kind == MLCHAIN_SCAN_V1:
        verdict = str(predicate.get("verdict", ""))
        details["verdict"] = verdict
        details["fail_on"] = str(predicate.get("policy", {}).get("failOn", ""))
        details["scanner_version"] = str(predicate.get("scanner", {}).get("version", ""))
        if verdict != "pass":
            errors.append(f"the scan attestation's verdict is {verdict!r}, not 'pass'")
    return details, errors


def check_bundles(
    bundles: Sequence[Path],
    method: VerificationMethod,
    model_path: Path,
    *,
    allow_symlinks: bool = False,
) -> list[AttestationCheck]:
    """Verify attestation bundles for ``mlchain verify --attestation``.

    Returns one check per bundle (``bundle`` set); their :meth:`AttestationCheck.to_json` is the
    shape policies read from a verification result's ``attestations`` list. A signature that
    does not verify is an unverified check, not an exception, so every bundle is reported.

    Raises:
        InputError: a bundle or the model cannot be read.
        BundleError: a bundle is malformed (exit 3).
    """
    from mlchain.errors import InputError, VerificationError
    from mlchain.signing.bundle import read_bundle_text
    from mlchain.signing.verify import verify_statement

    checks: list[AttestationCheck] = []
    digests: dict[str, str] | None = None  # the model is hashed once, for every bundle
    for path in bundles:
        try:
            text = read_bundle_text(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"Cannot read the attestation bundle {path}: {exc}.") from exc
        try:
            verified = verify_statement(text, method)
        except VerificationError as exc:
            check = AttestationCheck.failed(path, exc.message)
        else:
            if digests is None:
                digests = digest_model(model_path, allow_symlinks=allow_symlinks)
            check = check_statement(verified, digests)
        checks.append(replace(check, bundle=str(path)))
    return checks
