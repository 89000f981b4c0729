"""Hand-made inputs for policy tests: verification results, scan reports, provenance, BOMs."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "docs" / "policies"

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
RELEASE_SUBJECT = (
    "https://github.com/example-org/models/.github/workflows/release.yml@refs/tags/v1.2.3"
)
PKI_ISSUER = "CN=Example Model Signing CA 1,O=Example Corp"
PKI_SUBJECT = "CN=trainer-1.ml-platform.example.com,O=Example Corp"


def key_fingerprint(path: Path = POLICIES / "keys" / "release.pub") -> str:
    key = serialization.load_pem_public_key(path.read_bytes())
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def signer(
    method: str = "sigstore",
    subject: str = RELEASE_SUBJECT,
    issuer: str = GITHUB_ISSUER,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    if method == "key":
        return {
            "method": "key",
            "identity": None,
            "key_fingerprint": fingerprint or key_fingerprint(),
        }
    return {
        "method": method,
        "identity": {"subject": subject, "issuer": issuer},
        "key_fingerprint": fingerprint,
    }


def verification(
    *, attestations: list[dict[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "verified": True,
        **signer(),
        "signed_at": "2026-11-01T12:00:00Z",
        "log_entry": {"log_index": 123, "integrated_time": 1793534400},
        "hash_algorithm": "sha256",
        "files": {"config.json": "sha256:" + "a" * 64, "model.safetensors": "sha256:" + "b" * 64},
        "ignored": [".git", "model.sig"],
        "unsigned": [],
        "model_name": "model",
        "errors": [],
    }
    if attestations is not None:
        result["attestations"] = attestations
    result.update(overrides)
    return result


def attestation(predicate_type: str, **signed_by: Any) -> dict[str, Any]:
    return {"predicate_type": predicate_type, "verified": True, "errors": [], **signer(**signed_by)}


def finding(
    severity: str,
    rule_id: str = "pickle-unsafe-import",
    evidence: str | None = "os.system",
    message: str = "unsafe import",
) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "severity": severity,
        "confidence": "high",
        "message": message,
        "location": {"path": "model.pt", "member": "archive/data.pkl", "offset": 12},
        "evidence": evidence,
    }


def scan_report(
    *findings: dict[str, Any],
    skipped: str | None = None,
    allowlist_additions: list[str] | None = None,
) -> dict[str, Any]:
    order = ["info", "low", "medium", "high", "critical"]
    worst = max((f["severity"] for f in findings), key=order.index, default=None)
    results = [
        {
            "location": {"path": "model.pt", "member": None, "offset": None},
            "format": "pytorch-zip",
            "size": 1024,
            "sha256": None,
            "skipped": None,
            "max_severity": worst,
            "findings": list(findings),
        },
        {
            "location": {"path": "notes.bin", "member": None, "offset": None},
            "format": "data",
            "size": 10,
            "sha256": None,
            "skipped": skipped,
            "max_severity": None,
            "findings": [],
        },
    ]
    return {
        "schema_version": "1.0",
        "tool": {"name": "mlchain", "version": "0.1.0"},
        "roots": ["model"],
        "allowlist_additions": allowlist_additions or [],
        "metadata": {},
        "summary": {
            "files": 2,
            "not_scanned": int(skipped is not None),
            "findings": {s: sum(f["severity"] == s for f in findings) for s in reversed(order)},
            "max_severity": worst,
            "verdict": "findings" if findings else "clean",
        },
        "results": results,
    }


def provenance(
    builder: str = "https://github.com/actions/runner/github-hosted",
    dependencies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": "c" * 64}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://mlchain.dev/build/train/v1",
                "externalParameters": {"epochs": 3},
                "resolvedDependencies": dependencies if dependencies is not None else [],
            },
            "runDetails": {"builder": {"id": builder}, "metadata": {"invocationId": "run-1"}},
        },
    }


BASE_MODEL_DIGEST = "8f1e6a8c2d0b4e7f9a3c5d1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a"


def base_model_dep(digest: str = BASE_MODEL_DIGEST) -> dict[str, Any]:
    return {
        "uri": "hf://example-org/base-7b",
        "digest": {"sha256": digest},
        "annotations": {"role": "base-model"},
    }


def sbom(*licences: str | None) -> dict[str, Any]:
    def component(name: str, licence: str | None) -> dict[str, Any]:
        c: dict[str, Any] = {"type": "machine-learning-model", "name": name, "bom-ref": name}
        if licence is not None:
            c["licenses"] = [{"license": {"id": licence}}]
        return c

    first, *rest = licences or ("Apache-2.0",)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {"component": component("model", first)},
        "components": [component(f"dep-{i}", lic) for i, lic in enumerate(rest)],
    }


def with_(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out.update(changes)
    return out
