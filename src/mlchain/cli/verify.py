"""``mlchain verify``: check a model against its OMS signature and the expected signer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    AllowSymlinksOption,
    ResultFormat,
    check_model_path,
    format_option,
    jobs_option,
    output_option,
    trust_config_param,
    verifier_given,
    verifier_method,
    with_verifier_options,
)
from mlchain.errors import UsageError
from mlchain.output.verdicts import decision_summary, render_decision, render_verification

HELP = (
    "Verify a model file or folder against its signature (OpenSSF model signing).\n\n"
    "Keyless bundles: --identity (or --identity-regexp) and --issuer; checked offline against "
    "the Sigstore public-good trust root bundled with sigstore-python, or --trust-config. "
    "Key bundles: --key PUBLIC.pem. Certificate bundles: --certificate-chain CA.pem. Every "
    "signed file must match, none may be missing and no unsigned file may be present. Exit "
    "codes: 0 verified; 1 verification failed; 2 usage error; 3 could not check (unreadable "
    "or malformed bundle, missing trust material)."
)


@with_verifier_options
def verify(
    ctx: typer.Context,
    model_path: Annotated[
        Path, typer.Argument(help="Model file or folder to verify", show_default=False)
    ],
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
        oci = str(model_path).startswith("oci:/")  # typer's Path folds oci:// to oci:/
        if not oci:
            check_model_path(model_path, hint=None)
        if copy_to is not None and policy is None:
            raise UsageError("--copy-to works with --policy (the deploy gate).")
        if policy is not None:
            if verifier_given(ctx):
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
                trust_config=trust_config_param(ctx),
                allow_symlinks=allow_symlinks,
                jobs=jobs,
                fmt=fmt,
                output=output,
                copy_to=copy_to,
            )
    if policy is not None:
        raise typer.Exit(ExitCode.OK if allowed else ExitCode.FAIL)
    if oci:  # by manifest, without downloading the weights: docs/oci.md
        with error_boundary():
            from mlchain.cli.oci import require_method, verify_reference

            require_method(verifier_given(ctx))
            verified = verify_reference(
                "oci://" + str(model_path)[len("oci:/") :],
                verifier_method(ctx, Path(), signature),
                signature=signature,
                fmt=fmt,
                output=output,
                render=lambda result: render_verification(result, json_format=False),
            )
        raise typer.Exit(ExitCode.OK if verified else ExitCode.FAIL)
    with error_boundary():
        from mlchain.signing.verify import verify_model

        method = verifier_method(ctx, model_path, signature)
        result = verify_model(
            model_path, method, signature=signature, allow_symlinks=allow_symlinks
        )
        checks = None
        if attestation:  # mlchain attest/provenance/sbom --sign bundles (docs/attest.md)
            from mlchain.attest.verify import check_bundles

            checks = check_bundles(attestation, method, model_path, allow_symlinks=allow_symlinks)
        attested = all(check.verified for check in checks or ())
        text = render_verification(
            result, json_format=fmt is ResultFormat.JSON, attestations=checks
        )
        console.write_output(text, output)
        if not result.verified:
            from mlchain.sanitize import clean, clean_path

            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            first = clean(result.errors[0], 400).rstrip(".")
            console.error(
                f"{clean_path(result.model)} failed verification: {first}{more}. Do not deploy "
                "this model; re-sign it or investigate who changed it."
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
    extra = result.to_json()
    if copy_to is not None:
        extra["copied_to"] = str(copy_to) if decision.allowed else None
    text = render_decision(
        decision, json_format=fmt is ResultFormat.JSON, subject=str(model_path), extra=extra
    )
    console.write_output(text, output)
    if copy_to is not None and decision.allowed:
        console.info(f"published the verified copy at {clean(str(copy_to), 400)}; serve it.")
    if not decision.allowed:
        console.error(decision_summary(decision, str(model_path)))
    return decision.allowed
