"""The one-shot deploy gate behind ``mlchain verify MODEL --policy POLICY``.

Steps, each feeding the policy's inputs (``mlchain.policy.gate``):

1. **Signature.** The model's OMS bundle is verified with each policy authority whose kind fits
   the bundle (keyless identity, public key, certificate chain); the first that verifies wins.
2. **Attestations.** Bundles given with ``--attestation`` and every ``*.json`` in the documented
   folder beside the model (``<model>.mlchain/``) are verified against the model's files, trying
   each authority; verified provenance and SBOM statements become the ``provenance`` and ``sbom``
   inputs.
3. **Scan.** The model is scanned again here, with the policy's own allowlist additions, unless
   the policy sets ``spec.scan.acceptAttestation`` and a scan attestation verified (same files,
   verdict ``pass``): then its report is the ``scan`` input.
4. **Decision.** The policy is evaluated; anything missing, unreadable or unverifiable denies.

Nothing here raises for a model that merely fails: that is a deny with reasons. Errors are for
mlchain's own failures (unreadable policy, unreadable model).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain.errors import MlchainError

if TYPE_CHECKING:
    from mlchain.policy import ModelPolicy, PolicyDecision
    from mlchain.policy.schema import Authority
    from mlchain.signing.verify import VerificationMethod

ATTESTATION_DIR_SUFFIX = ".mlchain"
"""Attestation bundles for ``models/llama`` live in ``models/llama.mlchain/``."""

_KIND_TO_METHOD = {"keyless": "sigstore", "key": "key", "certificateChain": "certificate"}
SBOM_PREDICATE = "https://cyclonedx.org/bom"
PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1"
SCAN_PREDICATE = "https://mlchain.dev/attestations/scan/v1"


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the gate looked at, and its decision."""

    decision: PolicyDecision
    verification: dict[str, Any] | None
    scan: dict[str, Any] | None
    provenance: dict[str, Any] | None
    sbom: dict[str, Any] | None
    model: dict[str, Any] | None
    scan_source: str = "rescan"
    """``rescan`` (scanned here) or ``attestation`` (``spec.scan.acceptAttestation``)."""

    def to_json(self) -> dict[str, Any]:
        """Machine-readable gate report (``verify --policy -f json``)."""
        return {
            **self.decision.to_dict(),
            "verification": self.verification,
            "scan_summary": None if self.scan is None else self.scan.get("summary"),
            "scan_source": self.scan_source,
        }


def attestation_dir(model_path: Path) -> Path:
    """Where attestation bundles for ``model_path`` are looked for."""
    resolved = model_path.absolute()
    return resolved.parent / f"{resolved.name}{ATTESTATION_DIR_SUFFIX}"


def discover_attestations(model_path: Path, explicit: Sequence[Path]) -> list[Path]:
    """Explicit bundles first, then every ``*.json`` in :func:`attestation_dir`, sorted."""
    found = list(explicit)
    folder = attestation_dir(model_path)
    if folder.is_dir():
        found += sorted(p for p in folder.glob("*.json") if p.is_file() and p not in found)
    return found


def run_gate(
    model_path: Path,
    policy: ModelPolicy,
    *,
    signature: Path | None = None,
    attestations: Sequence[Path] = (),
    trust_config: Path | None = None,
    allow_symlinks: bool = False,
    jobs: int = 0,
) -> GateResult:
    """Verify, re-scan and decide. See the module docstring for the steps."""
    from mlchain.output.json import report_to_dict
    from mlchain.policy import gate
    from mlchain.scan import ScanOptions, scan_paths

    with _methods(policy, trust_config) as methods:
        verification = _verify_signature(model_path, signature, methods, allow_symlinks)
        entries, statements = _verify_attestations(
            model_path, discover_attestations(model_path, attestations), methods, allow_symlinks
        )
    verification["attestations"] = entries
    attested = statements.get(SCAN_PREDICATE)
    accept = policy.scan is not None and policy.scan.accept_attestation
    if accept and attested is not None and isinstance(attested.get("predicate"), dict):
        # The attestation verified against these exact files and carries the verdict "pass";
        # the policy's own failOn/allowGlobals are still applied to its report below.
        scan = dict(attested["predicate"].get("report") or {})
        scan_source = "attestation"
    else:
        options = ScanOptions(allow_globals=policy.allow_globals, jobs=jobs)
        scan = report_to_dict(scan_paths([model_path], options))
        scan_source = "rescan"
    raw_results = scan.get("results")
    results: list[dict[str, Any]] = (
        [r for r in raw_results if isinstance(r, dict)] if isinstance(raw_results, list) else []
    )
    model = {
        "files": [
            {
                "path": (r.get("location") or {}).get("path"),
                "size": r.get("size"),
                "format": r.get("format"),
            }
            for r in results
        ],
        "total_size": sum(int(r.get("size") or 0) for r in results),
    }
    provenance = statements.get(PROVENANCE_PREDICATE)
    sbom_statement = statements.get(SBOM_PREDICATE)
    sbom = sbom_statement.get("predicate") if sbom_statement else None
    decision = gate(
        policy,
        verification=verification,
        scan=scan,
        provenance=provenance,
        sbom=sbom if isinstance(sbom, dict) else None,
        model=model,
    )
    return GateResult(decision, verification, scan, provenance, sbom, model, scan_source)


@contextmanager
def _methods(
    policy: ModelPolicy, trust_config: Path | None
) -> Iterator[list[tuple[Authority, VerificationMethod]]]:
    """One verification method per authority (key PEM data goes to a private temp file)."""
    from mlchain.signing.verify import VerificationMethod

    with tempfile.TemporaryDirectory(prefix="mlchain-gate-") as tmp:
        methods: list[tuple[Authority, VerificationMethod]] = []
        for index, authority in enumerate(policy.authorities):
            if authority.kind == "keyless":
                assert authority.issuer is not None
                method = VerificationMethod.keyless(
                    issuer=authority.issuer,
                    identity=authority.subject,
                    identity_regexp=None if authority.subject else authority.subject_regexp,
                    trust_config=trust_config,
                )
            elif authority.kind == "key":
                assert authority.key_pem is not None
                key_file = Path(tmp) / f"authority-{index}.pem"
                key_file.write_bytes(authority.key_pem)
                method = VerificationMethod.key(key_file)
            else:
                assert authority.chain_path is not None
                method = VerificationMethod.with_certificate_chain((authority.chain_path,))
            methods.append((authority, method))
        yield methods


def _bundle_kind(path: Path) -> str | None:
    from mlchain.signing.verify import read_bundle

    try:
        return str(read_bundle(path).signer.method)
    except MlchainError:
        return None


def _verify_signature(
    model_path: Path,
    signature: Path | None,
    methods: list[tuple[Authority, VerificationMethod]],
    allow_symlinks: bool,
) -> dict[str, Any]:
    from mlchain.signing.manifest import default_signature_path
    from mlchain.signing.verify import verify_model

    bundle = signature if signature is not None else default_signature_path(model_path)
    if not bundle.is_file():
        return _unverified(f"no signature found at {bundle}")
    kind = _bundle_kind(bundle)
    if kind is None:
        return _unverified(f"{bundle} is not a readable Sigstore bundle")
    errors: list[str] = []
    last: dict[str, Any] | None = None
    for authority, method in methods:
        if _KIND_TO_METHOD[authority.kind] != kind:
            continue
        try:
            result = verify_model(
                model_path, method, signature=bundle, allow_symlinks=allow_symlinks
            )
        except MlchainError as exc:
            errors.append(f"{authority.name}: {exc.message}")
            continue
        document = result.to_json()
        document["authority"] = authority.name
        if result.verified:
            return document
        last = document
        errors += [f"{authority.name}: {e}" for e in result.errors]
    if last is None:
        errors.insert(0, f"the bundle is signed with {kind}, and no policy authority of that kind")
    return {**(last or _unverified("")), "verified": False, "errors": errors}


def _unverified(reason: str) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "verified": False,
        "model": None,
        "method": None,
        "identity": None,
        "key_fingerprint": None,
        "signed_at": None,
        "log_entry": None,
        "hash_algorithm": None,
        "files": {},
        "ignored": [],
        "errors": [reason] if reason else [],
    }


def _verify_attestations(
    model_path: Path,
    bundles: Sequence[Path],
    methods: list[tuple[Authority, VerificationMethod]],
    allow_symlinks: bool,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Verify each bundle with the authorities in turn; keep verified statements by type."""
    from mlchain.attest.verify import verify_attestation
    from mlchain.signing.bundle import read_bundle_text

    entries: list[dict[str, Any]] = []
    statements: dict[str, dict[str, Any]] = {}
    for path in bundles:
        try:
            text = read_bundle_text(path)
        except (OSError, ValueError) as exc:
            entries.append(_failed_entry(path, f"cannot read the bundle: {exc}"))
            continue
        kind = _bundle_kind(path)
        entry: dict[str, Any] | None = None
        errors: list[str] = []
        for authority, method in methods:
            if _KIND_TO_METHOD[authority.kind] != kind:
                continue
            try:
                check = verify_attestation(text, method, model_path, allow_symlinks=allow_symlinks)
            except MlchainError as exc:
                errors.append(f"{authority.name}: {exc.message}")
                continue
            entry = {**check.to_json(), "bundle": str(path), "authority": authority.name}
            if check.verified:
                statements.setdefault(check.predicate_type, check.statement)
                break
            errors += [f"{authority.name}: {e}" for e in check.errors]
        if entry is None or not entry["verified"]:
            entry = _failed_entry(path, "; ".join(errors) or "signed by no policy authority")
        entries.append(entry)
    return entries, statements


def _failed_entry(path: Path, reason: str) -> dict[str, Any]:
    return {
        "verified": False,
        "predicate_type": None,
        "method": None,
        "identity": None,
        "key_fingerprint": None,
        "subjects": 0,
        "details": {},
        "errors": [reason],
        "bundle": str(path),
    }
