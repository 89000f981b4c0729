"""``mlchain verify``: check a model against its OMS signature and the expected signer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    SIGNING_DEFAULT_IGNORES,
    AllowSymlinksOption,
    IdentityOption,
    IdentityRegexpOption,
    IssuerOption,
    PublicKeyOption,
    ResultFormat,
    TrustConfigOption,
    TrustedChainOption,
    TrustStagingOption,
    check_model_path,
    format_option,
    jobs_option,
    output_option,
    verification_method,
)
from mlchain.errors import UsageError

if TYPE_CHECKING:
    from mlchain.signing.verify import ModelVerification

HELP = (
    "Verify a model file or folder against its signature (OpenSSF model signing).\n\n"
    "Keyless bundles: --identity (or --identity-regexp) and --issuer; checked offline against "
    "the Sigstore public-good trust root bundled with sigstore-python, or --trust-config. "
    "Key bundles: --key PUBLIC.pem. Certificate bundles: --certificate-chain CA.pem. Every "
    "signed file must match, none may be missing and no unsigned file may be present. Exit "
    "codes: 0 verified; 1 verification failed; 2 usage error; 3 could not check (unreadable "
    "or malformed bundle, missing trust material)."
)


def verify(
    model_path: Annotated[
        Path, typer.Argument(help="Model file or folder to verify", show_default=False)
    ],
    identity: IdentityOption = None,
    identity_regexp: IdentityRegexpOption = None,
    issuer: IssuerOption = None,
    key: PublicKeyOption = None,
    certificate_chain: TrustedChainOption = None,
    trust_config: TrustConfigOption = None,
    staging: TrustStagingOption = False,
    signature: Annotated[
        Path | None,
        typer.Option("--signature", help="The bundle to check (default: model.sig)"),
    ] = None,
    allow_symlinks: AllowSymlinksOption = False,
    attestation: Annotated[
        list[Path] | None,
        typer.Option(
            "--attestation",
            help="Also verify this attestation bundle (provenance, SBOM, scan) against the model "
            "and the same signer; repeatable",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            envvar="MLCHAIN_POLICY",
            help="Deploy gate: verify with the policy's authorities, check attestations "
            "(<model>.mlchain/*.json and --attestation), re-scan, evaluate the policy",
        ),
    ] = None,
    copy_to: Annotated[
        Path | None,
        typer.Option(
            "--copy-to",
            help="With --policy: copy the model to a private folder, verify the copy, and "
            "publish it at this new path only if the policy allows it (serve this path)",
        ),
    ] = None,
    jobs: Annotated[int, jobs_option("Scan worker processes")] = 0,
    fmt: Annotated[
        ResultFormat, format_option("Output format", envvar="MLCHAIN_VERIFY_FORMAT")
    ] = ResultFormat.TABLE,
    output: Annotated[
        Path | None, output_option("Write the result here", envvar="MLCHAIN_VERIFY_OUTPUT")
    ] = None,
) -> None:
    """Verify a model file or folder against its signature (OpenSSF model signing)."""
    with error_boundary():
        oci = str(model_path).startswith("oci:/")
        if not oci:
            check_model_path(model_path, hint=None)
        if copy_to is not None and policy is None:
            raise UsageError("--copy-to works with --policy (the deploy gate).")
        if policy is not None:
            if identity or identity_regexp or issuer or key or certificate_chain or staging:
                raise UsageError(
                    "With --policy, the policy's authorities say who may sign; drop --identity, "
                    "--issuer, --key, --certificate-chain and --staging."
                )
            gate = _run_gate
            if oci:  # models in registries: docs/oci.md
                from mlchain.cli.oci import oci_gate

                gate = oci_gate(copy_to)
            allowed = gate(
                model_path,
                policy,
                signature=signature,
                attestations=attestation or [],
                trust_config=trust_config,
                allow_symlinks=allow_symlinks,
                jobs=jobs,
                fmt=fmt,
                output=output,
                copy_to=copy_to,
            )
    if policy is not None:
        raise typer.Exit(ExitCode.OK if allowed else ExitCode.FAIL)
    with error_boundary():
        from mlchain.signing.verify import verify_model

        if oci:  # by manifest, without downloading the weights: docs/oci.md
            from mlchain.cli.oci import require_method, verify_reference

            require_method(identity or identity_regexp or issuer or key or certificate_chain)
            method = verification_method(
                Path(),
                signature,
                identity=identity,
                identity_regexp=identity_regexp,
                issuer=issuer,
                key=key,
                certificate_chain=certificate_chain,
                trust_config=trust_config,
                staging=staging,
            )
            verified = verify_reference(
                "oci://" + str(model_path)[len("oci:/") :],
                method,
                signature=signature,
                fmt=fmt,
                output=output,
                render=render_table,
            )
        if oci:
            raise typer.Exit(ExitCode.OK if verified else ExitCode.FAIL)
        method = verification_method(
            model_path,
            signature,
            identity=identity,
            identity_regexp=identity_regexp,
            issuer=issuer,
            key=key,
            certificate_chain=certificate_chain,
            trust_config=trust_config,
            staging=staging,
        )
        result = verify_model(
            model_path, method, signature=signature, allow_symlinks=allow_symlinks
        )
        document = result.to_json()
        text = render_table(result)
        attested = True
        if attestation:  # mlchain attest/provenance/sbom --sign bundles (docs/attest.md)
            from mlchain.attest.verify import check_bundles, render_entries

            document["attestations"] = check_bundles(
                attestation, method, model_path, allow_symlinks=allow_symlinks
            )
            attested = all(entry["verified"] for entry in document["attestations"])
            text += render_entries(document["attestations"])
        if fmt is ResultFormat.JSON:
            text = json.dumps(document, indent=2) + "\n"
        console.write_output(text, output)
        if not result.verified:
            from mlchain.sanitize import clean, clean_path

            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            console.error(
                f"{clean_path(result.model)} failed verification: {clean(result.errors[0], 400)}"
                f"{more} Do not deploy this "
                "model; re-sign it or investigate who changed it."
            )
        if result.verified and not attested:
            console.error(
                "an attestation did not verify against the model and the expected signer; "
                "do not deploy this model."
            )
    raise typer.Exit(ExitCode.OK if result.verified and attested else ExitCode.FAIL)


def _run_gate(
    model_path: Path,
    policy_path: Path,
    *,
    signature: Path | None,
    attestations: list[Path],
    trust_config: Path | None,
    allow_symlinks: bool,
    jobs: int,
    fmt: ResultFormat,
    output: Path | None,
    copy_to: Path | None = None,
) -> bool:
    """Run the deploy gate and render its report; returns whether the model is allowed."""
    from mlchain.gate import run_gate, run_gate_on_copy
    from mlchain.policy import load_policy
    from mlchain.sanitize import clean

    loaded = load_policy(policy_path)  # a bad policy is a usage error (exit 2) before any work
    options: dict[str, Any] = {
        "signature": signature,
        "attestations": attestations,
        "trust_config": trust_config,
        "allow_symlinks": allow_symlinks,
        "jobs": jobs,
    }
    if copy_to is not None:
        result = run_gate_on_copy(model_path, loaded, copy_to, **options)
    else:
        result = run_gate(model_path, loaded, **options)
    decision = result.decision
    if fmt is ResultFormat.JSON:
        document = result.to_json()
        if copy_to is not None:
            document["copied_to"] = str(copy_to) if decision.allowed else None
        text = json.dumps(document, indent=2) + "\n"
    else:
        verdict = "ALLOWED" if decision.allowed else "DENIED"
        lines = [f"{verdict} by policy {clean(decision.policy)}: {clean(str(model_path), 400)}"]
        for rule in decision.results:
            mark = "pass" if rule.passed else "FAIL"
            lines.append(f"  [{mark}] {clean(rule.name)}: {clean(rule.message, 400)}")
        text = "\n".join(lines) + "\n"
    console.write_output(text, output)
    if copy_to is not None and decision.allowed:
        console.info(f"published the verified copy at {clean(str(copy_to), 400)}; serve it.")
    if not decision.allowed:
        first = decision.failures[0] if decision.failures else None
        reason = f" First failure: {clean(first.message, 400)}" if first else ""
        console.error(f"policy {clean(decision.policy)} denies {model_path}.{reason}")
    return decision.allowed


def render_table(result: ModelVerification) -> str:
    """A short human summary of a verification result (hostile strings cleaned)."""
    from mlchain.sanitize import clean, clean_path
    from mlchain.signing.bundle import SignerInfo

    signer = result.signer or SignerInfo(method="key")
    lines = []
    status = "VERIFIED" if result.verified else "FAILED"
    if result.files:
        counts = f"{len(result.files)} signed files, {result.hash_algorithm}"
    else:
        counts = "signature not accepted"
    lines.append(f"{status}: {clean_path(result.model)} ({counts})")
    if signer.method == "sigstore":
        who = f"{clean(signer.subject or '(none)')} (issuer {clean(signer.issuer or '(none)')})"
        if signer.log_entry is not None:
            who += f", logged {signer.signed_at} as Rekor entry {signer.log_entry.log_index}"
    elif signer.method == "certificate":
        who = f"certificate {clean(signer.subject or '')} issued by {clean(signer.issuer or '')}"
    else:
        who = f"key sha256:{signer.key_fingerprint}" if signer.key_fingerprint else "a key"
    lines.append(f"signer: {who}" if result.files else f"claimed signer (unverified): {who}")
    unprotected = [p for p in result.ignored if p not in SIGNING_DEFAULT_IGNORES]
    unprotected = [p for p in unprotected if p != Path(result.signature).name]
    if unprotected:
        lines.append(
            "not covered by the signature (signed ignore list): "
            + ", ".join(clean_path(p) for p in unprotected)
        )
    if result.unsigned:
        shown = ", ".join(clean_path(p) for p in result.unsigned[:20])
        more = f" and {len(result.unsigned) - 20} more" if len(result.unsigned) > 20 else ""
        lines.append(f"unsigned files on disk ({len(result.unsigned)}): {shown}{more}")
    if result.model_name and result.files and result.model_name != result.model:
        lines.append(f"signed as model {clean(result.model_name)!r}")
    lines += [f"  - {clean(e, limit=400)}" for e in result.errors]
    return "\n".join(lines) + "\n"
