"""Every example policy in docs/policies: loads, allows the good case, denies the bad ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlchain.policy import PolicyDecision, gate, load_policy
from policy_inputs import (
    PKI_ISSUER,
    PKI_SUBJECT,
    POLICIES,
    attestation,
    base_model_dep,
    finding,
    provenance,
    sbom,
    scan_report,
    signer,
    verification,
)

SLSA = "https://slsa.dev/provenance/v1"
CDX = "https://cyclonedx.org/bom"


def run(name: str, **inputs: Any) -> PolicyDecision:
    args: dict[str, Any] = dict.fromkeys(("verification", "scan", "provenance", "sbom", "model"))
    args["scan"] = scan_report()  # every example re-scans (spec.scan); a clean report by default
    args.update(inputs)
    return gate(load_policy(POLICIES / name), **args)


def failed(decision: PolicyDecision) -> set[str]:
    return {r.name for r in decision.failures}


def test_every_example_is_listed_here() -> None:
    examples = {p.name for p in POLICIES.glob("*.yaml")}
    assert examples == {
        "github-keyless.yaml",
        "internal-pki.yaml",
        "key-signed.yaml",
        "no-finding-above-low.yaml",
        "licence-allowlist.yaml",
        "provenance-builder.yaml",
        "signed-base-model.yaml",
    }


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_denies_with_no_inputs(path: Path) -> None:
    decision = gate(
        load_policy(path), verification=None, scan=None, provenance=None, sbom=None, model=None
    )
    assert not decision.allowed
    assert {"signature", "authorities"} <= failed(decision)


# --- github-keyless --------------------------------------------------------------------------


def test_github_keyless_allows_release_tag() -> None:
    assert run("github-keyless.yaml", verification=verification()).allowed


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (
            {
                "identity": {
                    "subject": "https://github.com/example-org/models/.github/workflows/"
                    "release.yml@refs/heads/main",
                    "issuer": signer()["identity"]["issuer"],
                }
            },
            "authorities",
        ),
        (
            {
                "identity": {
                    "subject": signer()["identity"]["subject"],
                    "issuer": "https://accounts.google.com",
                }
            },
            "authorities",
        ),
        (
            {
                "identity": {
                    "subject": "https://github.com/evil-org/models/.github/workflows/"
                    "release.yml@refs/tags/v1.2.3",
                    "issuer": signer()["identity"]["issuer"],
                }
            },
            "authorities",
        ),
        ({"method": "key"}, "authorities"),
        ({"unsigned": ["docs/evil.pkl"]}, "no-unsigned-files"),
        ({"unsigned": [".git/hooks/x"]}, "no-unsigned-files"),
        ({"hash_algorithm": "blake2"}, "sha256-manifest"),
        ({"verified": False, "errors": ["digest mismatch for model.safetensors"]}, "signature"),
        ({"errors": ["extra file found: evil.pkl"]}, "signature"),
    ],
)
def test_github_keyless_denies(change: dict[str, Any], rule: str) -> None:
    decision = run("github-keyless.yaml", verification=verification(**change))
    assert not decision.allowed
    assert rule in failed(decision)


def test_github_keyless_regexp_must_match_whole_subject() -> None:
    sneaky = signer()["identity"]["subject"] + "-evil"
    v = verification(identity={"subject": sneaky, "issuer": signer()["identity"]["issuer"]})
    assert "authorities" in failed(run("github-keyless.yaml", verification=v))


# --- internal-pki ----------------------------------------------------------------------------


def pki_verification(**identity: str) -> dict[str, Any]:
    ident = {"subject": PKI_SUBJECT, "issuer": PKI_ISSUER, **identity}
    return verification(method="certificate", identity=ident, log_entry=None)


def test_internal_pki_allows_certificate_from_chain() -> None:
    assert run("internal-pki.yaml", verification=pki_verification(), scan=scan_report()).allowed


def test_internal_pki_issuer_name_compare_ignores_spacing_and_case() -> None:
    v = pki_verification(issuer="cn=Example Model Signing CA 1, o=Example Corp")
    assert run("internal-pki.yaml", verification=v, scan=scan_report()).allowed


@pytest.mark.parametrize(
    "identity",
    [
        {"issuer": "CN=Other CA,O=Example Corp"},
        {"subject": "CN=laptop.example.com,O=Example Corp"},
    ],
)
def test_internal_pki_denies_other_issuer_or_subject(identity: dict[str, str]) -> None:
    decision = run(
        "internal-pki.yaml", verification=pki_verification(**identity), scan=scan_report()
    )
    assert failed(decision) == {"authorities"}


def test_internal_pki_uses_chain_fingerprints_when_the_result_has_them() -> None:
    v = pki_verification()
    v["chain_fingerprints"] = ["sha256:" + "0" * 64]
    assert "authorities" in failed(run("internal-pki.yaml", verification=v, scan=scan_report()))


def test_internal_pki_denies_high_finding() -> None:
    decision = run(
        "internal-pki.yaml", verification=pki_verification(), scan=scan_report(finding("high"))
    )
    assert failed(decision) == {"scan"}


def test_internal_pki_keyless_signature_is_not_a_certificate() -> None:
    assert "authorities" in failed(
        run("internal-pki.yaml", verification=verification(), scan=scan_report())
    )


# --- key-signed ------------------------------------------------------------------------------


def test_key_signed_allows_matching_key() -> None:
    v = verification(**signer("key"))
    assert run("key-signed.yaml", verification=v, scan=scan_report(finding("low"))).allowed


def test_key_signed_accepts_colon_and_prefix_fingerprint_forms() -> None:
    fp = signer("key")["key_fingerprint"]
    pretty = "SHA256:" + ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()
    v = verification(**signer("key", fingerprint=pretty))
    assert run("key-signed.yaml", verification=v, scan=scan_report()).allowed


def test_key_signed_denies_other_key() -> None:
    v = verification(**signer("key", fingerprint="f" * 64))
    assert failed(run("key-signed.yaml", verification=v, scan=scan_report())) == {"authorities"}


# --- no-finding-above-low --------------------------------------------------------------------


def test_no_finding_above_low_allows_low_findings() -> None:
    decision = run(
        "no-finding-above-low.yaml",
        verification=verification(),
        scan=scan_report(finding("low"), finding("info")),
    )
    assert decision.allowed, decision


@pytest.mark.parametrize("severity", ["medium", "high", "critical"])
def test_no_finding_above_low_denies(severity: str) -> None:
    decision = run(
        "no-finding-above-low.yaml",
        verification=verification(),
        scan=scan_report(finding("low"), finding(severity)),
    )
    assert failed(decision) == {"scan", "max-severity-low"}


def test_no_finding_above_low_denies_unscanned_files_strict() -> None:
    decision = run(
        "no-finding-above-low.yaml",
        verification=verification(),
        scan=scan_report(skipped="unsupported format"),
    )
    assert failed(decision) == {"scan"}


def test_no_finding_above_low_policy_allow_global_excuses_saved_finding() -> None:
    # A report saved from a scan without the policy's allowGlobals still has the finding; the
    # scan rule excuses it, but the CEL rule (which recomputes from all findings) does not.
    report = scan_report(finding("medium", evidence="collections.OrderedDict"))
    decision = run("no-finding-above-low.yaml", verification=verification(), scan=report)
    assert failed(decision) == {"max-severity-low"}


def test_no_finding_above_low_denies_scan_run_with_foreign_allow_global() -> None:
    report = scan_report(allowlist_additions=["os.system"])
    decision = run("no-finding-above-low.yaml", verification=verification(), scan=report)
    assert failed(decision) == {"scan"}
    assert "os.system" in decision.failures[0].message


def test_no_finding_above_low_summary_cannot_be_forged() -> None:
    report = scan_report(finding("critical"))
    report["summary"]["max_severity"] = None
    decision = run("no-finding-above-low.yaml", verification=verification(), scan=report)
    assert failed(decision) == {"scan", "max-severity-low"}


# --- licence-allowlist -----------------------------------------------------------------------


def signed_sbom_verification() -> dict[str, Any]:
    return verification(attestations=[attestation(CDX)])


def test_licence_allowlist_allows() -> None:
    decision = run(
        "licence-allowlist.yaml",
        verification=signed_sbom_verification(),
        sbom=sbom("Apache-2.0", "MIT"),
    )
    assert decision.allowed, decision


@pytest.mark.parametrize(
    ("licences", "rule"),
    [
        (("Apache-2.0", "GPL-3.0-only"), "dependency-licences-allowed"),
        (("proprietary",), "licence-allowed"),
        ((None,), "licence-allowed"),  # the model itself must declare one
    ],
)
def test_licence_allowlist_denies(licences: tuple[str | None, ...], rule: str) -> None:
    decision = run(
        "licence-allowlist.yaml", verification=signed_sbom_verification(), sbom=sbom(*licences)
    )
    assert failed(decision) == {rule}


def test_licence_allowlist_allows_a_dependency_that_declares_no_licence() -> None:
    """A base model or dataset without a declared licence is NOASSERTION, not a deny (the
    policy's comment says how to require one)."""
    decision = run(
        "licence-allowlist.yaml",
        verification=signed_sbom_verification(),
        sbom=sbom("Apache-2.0", None),
    )
    assert decision.allowed, decision


def test_licence_allowlist_denies_unsigned_sbom() -> None:
    decision = run("licence-allowlist.yaml", verification=verification(), sbom=sbom("MIT"))
    assert failed(decision) == {"attestation:sbom"}


def test_licence_allowlist_denies_sbom_signed_by_stranger() -> None:
    stranger = attestation(
        CDX, subject="https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main"
    )
    decision = run(
        "licence-allowlist.yaml",
        verification=verification(attestations=[stranger]),
        sbom=sbom("MIT"),
    )
    assert failed(decision) == {"attestation:sbom"}


def test_licence_allowlist_denies_without_sbom_input() -> None:
    decision = run("licence-allowlist.yaml", verification=signed_sbom_verification())
    assert failed(decision) == {"cyclonedx", "licence-allowed", "dependency-licences-allowed"}
    assert all("'sbom'" in r.message for r in decision.failures)


# --- provenance-builder ----------------------------------------------------------------------


RELEASE_BUILDER = (
    "https://github.com/example-org/models/.github/workflows/release.yml@refs/tags/v1.0.0"
)


@pytest.mark.parametrize(
    "builder", [RELEASE_BUILDER, "https://ci.example.com/builders/gpu-training@v2"]
)
def test_provenance_builder_allows(builder: str) -> None:
    decision = run(
        "provenance-builder.yaml",
        verification=verification(attestations=[attestation(SLSA)]),
        provenance=provenance(builder=builder),
    )
    assert decision.allowed, decision


def test_provenance_builder_denies_unknown_builder() -> None:
    decision = run(
        "provenance-builder.yaml",
        verification=verification(attestations=[attestation(SLSA)]),
        provenance=provenance(builder="https://evil.example/builder"),
    )
    assert failed(decision) == {"builder-allowed"}


def test_provenance_builder_denies_unverified_attestation() -> None:
    bad = attestation(SLSA)
    bad["verified"] = False
    decision = run(
        "provenance-builder.yaml",
        verification=verification(attestations=[bad]),
        provenance=provenance(builder=RELEASE_BUILDER),
    )
    assert failed(decision) == {"attestation:slsa"}


def test_provenance_builder_denies_malformed_provenance() -> None:
    decision = run(
        "provenance-builder.yaml",
        verification=verification(attestations=[attestation(SLSA)]),
        provenance={"predicateType": SLSA, "predicate": {}},
    )
    assert failed(decision) == {"builder-allowed"}
    assert "expression failed" in decision.failures[0].message


# --- signed-base-model -----------------------------------------------------------------------


def base_verification() -> dict[str, Any]:
    subject = (
        "https://github.com/example-org/training/.github/workflows/finetune.yml@refs/heads/main"
    )
    v = verification(attestations=[attestation(SLSA, subject=subject)])
    v["identity"] = {"subject": subject, "issuer": v["identity"]["issuer"]}
    return v


def test_signed_base_model_allows_pinned_base() -> None:
    decision = run(
        "signed-base-model.yaml",
        verification=base_verification(),
        provenance=provenance(dependencies=[base_model_dep(), {"uri": "git+https://x"}]),
    )
    assert decision.allowed, decision


def test_signed_base_model_denies_unpinned_base() -> None:
    decision = run(
        "signed-base-model.yaml",
        verification=base_verification(),
        provenance=provenance(dependencies=[base_model_dep("0" * 64)]),
    )
    assert failed(decision) == {"base-model-verified"}


def test_signed_base_model_denies_undeclared_base() -> None:
    decision = run(
        "signed-base-model.yaml",
        verification=base_verification(),
        provenance=provenance(dependencies=[]),
    )
    assert failed(decision) == {"declares-base-model"}


def test_signed_base_model_denies_without_provenance_attestation() -> None:
    v = base_verification()
    v["attestations"] = []
    decision = run(
        "signed-base-model.yaml",
        verification=v,
        provenance=provenance(dependencies=[base_model_dep()]),
    )
    assert failed(decision) == {"attestation:provenance"}


# --- what mlchain itself produces (UX audit 2.2: three examples could never allow it) --------


def _mlchain(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    import json

    from typer.testing import CliRunner

    from mlchain.cli import app

    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


TINY_LLAMA = str(POLICIES.parents[1] / "fixtures" / "hfmodel" / "benign" / "tiny-llama")


def test_licence_allowlist_allows_an_sbom_mlchain_wrote() -> None:
    bom = _mlchain("sbom", TINY_LLAMA)
    decision = run("licence-allowlist.yaml", verification=signed_sbom_verification(), sbom=bom)
    assert decision.allowed, decision


def test_provenance_builder_allows_provenance_mlchain_wrote_in_github_actions() -> None:
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "example-org/models",
        "GITHUB_WORKFLOW_REF": "example-org/models/.github/workflows/release.yml@refs/tags/v1.0.0",
        "GITHUB_RUN_ID": "1",
        "GITHUB_SHA": "0" * 40,
    }
    statement = _mlchain("provenance", TINY_LLAMA, "--no-git", env=github)
    assert statement["predicate"]["runDetails"]["builder"]["id"] == RELEASE_BUILDER
    decision = run(
        "provenance-builder.yaml",
        verification=verification(attestations=[attestation(SLSA)]),
        provenance=statement,
    )
    assert decision.allowed, decision


def test_signed_base_model_allows_a_pinned_hub_base_model_mlchain_recorded() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    statement = _mlchain(
        "provenance", TINY_LLAMA, "--no-git", "--base-model", f"hf://example-org/base-7b@{commit}"
    )
    decision = run("signed-base-model.yaml", verification=base_verification(), provenance=statement)
    assert decision.allowed, decision
    other = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    for dep in other:
        if dep.get("digest", {}).get("gitCommit"):
            dep["digest"]["gitCommit"] = "f" * 40
    decision = run("signed-base-model.yaml", verification=base_verification(), provenance=statement)
    assert failed(decision) == {"base-model-verified"}
