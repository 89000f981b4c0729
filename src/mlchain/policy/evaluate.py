"""Pure evaluation of a loaded :class:`ModelPolicy` against saved results.

Nothing here reads files or the network: the caller passes the verification result, scan
report, provenance statement, SBOM and model description as plain JSON-like values. Every rule
fails closed: a missing input, an input of the wrong shape, or a CEL expression that raises or
returns anything but ``true`` DENIES, with a message saying which input or rule was at fault.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlchain.models import Severity
from mlchain.policy.functions import FUNCTIONS
from mlchain.policy.schema import Authority, ModelPolicy, Validation

DECISION_SCHEMA_VERSION = "1.0"
"""Version of the ``policy check -f json`` document; changes only additively within a major."""

INPUT_SOURCES = {
    "scan": "the scan report (`mlchain scan -f json`)",
    "signature": "the verification result",
    "provenance": "the provenance statement",
    "sbom": "the SBOM",
    "model": "the model description",
}


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of one rule of a policy."""

    name: str
    passed: bool
    message: str
    kind: str = "validation"
    """``signature``, ``authority``, ``attestation``, ``scan``, ``validation`` or ``gate``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The verdict: allowed only when there is at least one rule and every rule passed."""

    policy: str
    allowed: bool
    results: tuple[RuleResult, ...]

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        """The rules that did not pass."""
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``policy check -f json`` output)."""
        return {
            "schema_version": DECISION_SCHEMA_VERSION,
            "policy": self.policy,
            "allowed": self.allowed,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    """Everything a policy may look at; ``None`` means "not provided"."""

    verification: Mapping[str, Any] | None = None
    scan: Mapping[str, Any] | None = None
    provenance: Mapping[str, Any] | None = None
    sbom: Mapping[str, Any] | None = None
    model: Mapping[str, Any] | None = None

    def variables(self) -> dict[str, Any]:
        """The CEL variables, named as in docs/policy.md."""
        return {
            "scan": _plain(self.scan),
            "signature": _plain(self.verification),
            "provenance": _plain(self.provenance),
            "sbom": _plain(self.sbom),
            "model": _plain(self.model),
        }


def _plain(value: Mapping[str, Any] | None) -> Any:
    return None if value is None else dict(value)


def evaluate(policy: ModelPolicy, inputs: PolicyInputs) -> PolicyDecision:
    """Evaluate every rule of ``policy`` against ``inputs``; never raises on bad inputs."""
    results: list[RuleResult] = []
    signature = inputs.verification
    results.append(_signature_rule(signature))
    results.append(_authority_rule(policy, signature))
    results.extend(_attestation_rule(policy, req, signature) for req in policy.attestations)
    if policy.scan is not None:
        results.append(_scan_rule(policy, inputs.scan))
    if policy.validations:
        variables = inputs.variables()
        try:
            context = _context(variables)
        # A value CEL cannot take (a set, an arbitrary object) denies, whatever its error type.
        except Exception as exc:
            reason = f"the inputs are not plain JSON values ({str(exc)[:200]})"
            results.extend(
                RuleResult(v.name, False, f"{v.message} [{reason}]") for v in policy.validations
            )
        else:
            results.extend(_validation_rule(v, variables, context) for v in policy.validations)
    allowed = bool(results) and all(r.passed for r in results)
    return PolicyDecision(policy=policy.name, allowed=allowed, results=tuple(results))


# --- signature and authorities --------------------------------------------------------------


def _signature_rule(signature: Any) -> RuleResult:
    def fail(message: str) -> RuleResult:
        return RuleResult("signature", False, message, "signature")

    if signature is None:
        return fail("no verification result was provided; an unverified model is never allowed.")
    if not isinstance(signature, Mapping):
        return fail("the verification result is not a JSON object.")
    errors = signature.get("errors")
    if signature.get("verified") is not True:
        detail = f": {_first(errors)}" if errors else ""
        return fail(f"the model signature was not verified{detail}.")
    if errors:
        return fail(f"the verification result reports errors: {_first(errors)}.")
    if not isinstance(signature.get("files"), Mapping) or not signature["files"]:
        return fail("the verification result lists no signed files.")
    return RuleResult("signature", True, "the model signature verified.", "signature")


def _first(errors: Any) -> str:
    if isinstance(errors, list) and errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{str(errors[0])[:300]}{more}"
    return str(errors)[:300]


def signer_mismatch(authority: Authority, signer: Mapping[str, Any]) -> str | None:
    """Why ``signer`` (a verification result or attestation entry) is not ``authority``.

    Returns ``None`` when it matches. Matching is exact: the method must be the authority's,
    keyless issuers compare as strings, subjects exactly or by a whole-string regular
    expression, keys by SHA-256 fingerprint of the public key.
    """
    method = signer.get("method")
    identity = signer.get("identity")
    if authority.kind == "keyless":
        if method != "sigstore":
            return f"signed with method {method!r}, not keyless (sigstore)"
        if not isinstance(identity, Mapping):
            return "no signer identity in the result"
        if identity.get("issuer") != authority.issuer:
            return f"issuer {identity.get('issuer')!r} is not {authority.issuer!r}"
        return _subject_mismatch(authority, identity.get("subject"))
    if authority.kind == "key":
        if method != "key":
            return f"signed with method {method!r}, not a key"
        got = _normalise_fingerprint(signer.get("key_fingerprint"))
        if got is None or got != authority.key_fingerprint:
            return "signed with a different key"
        return None
    if method != "certificate":
        return f"signed with method {method!r}, not a certificate"
    if not isinstance(identity, Mapping):
        return "no certificate identity in the result"
    anchors = signer.get("chain_fingerprints")
    if isinstance(anchors, list) and anchors:
        if not {_normalise_fingerprint(a) for a in anchors} & set(authority.chain_fingerprints):
            return "verified against a different certificate chain"
    elif _normalise_dn(identity.get("issuer")) not in {
        _normalise_dn(s) for s in authority.chain_subjects
    }:
        return f"certificate issuer {identity.get('issuer')!r} is not in the chain"
    return _subject_mismatch(authority, identity.get("subject"))


def _subject_mismatch(authority: Authority, subject: Any) -> str | None:
    if not isinstance(subject, str):
        return "no subject in the signer identity"
    if authority.subject is not None and subject != authority.subject:
        return f"subject {subject!r} is not {authority.subject!r}"
    if authority.subject_regexp is not None and not re.fullmatch(authority.subject_regexp, subject):
        return f"subject {subject!r} does not match /{authority.subject_regexp}/"
    return None


def _normalise_fingerprint(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower().removeprefix("sha256:").replace(":", "")
    return text or None


def _normalise_dn(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return ",".join(part.strip().lower() for part in value.split(","))


def _candidates(authorities: Any, signer: Mapping[str, Any]) -> list[Authority]:
    """The authorities a signer may match.

    A deploy-gate result records the authority whose own trust material verified the signer
    (``authority``); only that one is considered, so names and DN strings can never credit
    another authority. Hand-written ``policy check`` inputs without it are matched against
    every authority (by key fingerprint, chain fingerprints, or, lacking those, names).
    """
    recorded = signer.get("authority")
    if isinstance(recorded, str):
        return [a for a in authorities if a.name == recorded]
    return list(authorities)


def _authority_rule(policy: ModelPolicy, signature: Mapping[str, Any] | None) -> RuleResult:
    if not isinstance(signature, Mapping) or signature.get("verified") is not True:
        return RuleResult(
            "authorities", False, "no verified signature, so no authority can match.", "authority"
        )
    reasons: list[str] = []
    for authority in _candidates(policy.authorities, signature):
        why = signer_mismatch(authority, signature)
        if why is None:
            return RuleResult(
                "authorities", True, f"signed by authority {authority.describe()}.", "authority"
            )
        reasons.append(f"{authority.name}: {why}")
    return RuleResult(
        "authorities",
        False,
        "the signer matches no authority of the policy (" + "; ".join(reasons) + ").",
        "authority",
    )


def _attestation_rule(
    policy: ModelPolicy, req: Any, signature: Mapping[str, Any] | None
) -> RuleResult:
    name = f"attestation:{req.name}"

    def fail(message: str) -> RuleResult:
        return RuleResult(name, False, message, "attestation")

    entries = signature.get("attestations") if isinstance(signature, Mapping) else None
    if not isinstance(entries, list):
        return fail(
            f"{req.type} attestation ({req.predicate_type}) required, but the verification "
            "result lists no verified attestations."
        )
    allowed = [a for a in policy.authorities if not req.authorities or a.name in req.authorities]
    problems: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("predicate_type") != req.predicate_type:
            continue
        if entry.get("verified") is not True or entry.get("errors"):
            errors = entry.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else None
            problems.append(
                f"present but not verified ({first})" if first else "present but not verified"
            )
            continue
        for authority in _candidates(allowed, entry):
            if signer_mismatch(authority, entry) is None:
                return RuleResult(
                    name,
                    True,
                    f"{req.type} attestation verified, signed by {authority.name}.",
                    "attestation",
                )
        problems.append("signed by none of " + ", ".join(a.name for a in allowed))
    if not problems:
        # A bundle that could not be read or verified has no known predicate type: it may be
        # this attestation, so say it was not checked rather than call the attestation missing.
        unread = [e for e in entries if isinstance(e, Mapping) and e.get("predicate_type") is None]
        if unread:
            errors = unread[0].get("errors")
            why = errors[0] if isinstance(errors, list) and errors else "unreadable"
            return fail(
                f"{req.type} attestation ({req.predicate_type}) not checked: {len(unread)} "
                f"bundle(s) could not be read or verified (first: {unread[0].get('bundle')}: "
                f"{why})."
            )
        return fail(f"{req.type} attestation ({req.predicate_type}) is missing.")
    return fail(f"{req.type} attestation ({req.predicate_type}) " + "; ".join(problems) + ".")


# --- scan -----------------------------------------------------------------------------------


def _scan_rule(policy: ModelPolicy, scan: Mapping[str, Any] | None) -> RuleResult:
    assert policy.scan is not None
    req = policy.scan

    def fail(message: str) -> RuleResult:
        return RuleResult("scan", False, message, "scan")

    if scan is None:
        return fail("no scan report was provided; the policy requires one (spec.scan).")
    results = scan.get("results") if isinstance(scan, Mapping) else None
    version = scan.get("schema_version") if isinstance(scan, Mapping) else None
    if not isinstance(results, list) or not str(version).startswith("1."):
        return fail("the scan input is not an mlchain scan report (schema_version 1.x).")
    additions = scan.get("allowlist_additions") or []
    if not isinstance(additions, list):
        return fail("the scan report's allowlist_additions is not a list.")
    extra = sorted(
        str(g) for g in additions if not isinstance(g, str) or g not in req.allow_globals
    )
    if extra:
        return fail(
            f"the scan allowed globals the policy does not ({', '.join(extra)}); scan again "
            "without --allow-global, or add them to spec.scan.allowGlobals."
        )
    if req.strict:
        skipped = [r for r in results if not isinstance(r, Mapping) or r.get("skipped")]
        if skipped:
            return fail(f"{len(skipped)} file(s) were not scanned and spec.scan.strict is set.")
    blocking: list[tuple[Severity, str]] = []
    for result in results:
        if not isinstance(result, Mapping):
            return fail("the scan report has a malformed result entry.")
        findings = result.get("findings")
        if not isinstance(findings, list):
            return fail("the scan report has a result without a findings list.")
        for item in findings:
            severity = _finding_severity(item)
            if req.fail_on is None or severity < req.fail_on or _excused(item, req.allow_globals):
                continue
            blocking.append((severity, _finding_text(result, item)))
    if blocking:
        blocking.sort(key=lambda b: -int(b[0]))
        threshold = req.fail_on.label if req.fail_on else "never"
        return fail(
            f"{len(blocking)} finding(s) at or above {threshold} (spec.scan.failOn); worst: "
            f"{blocking[0][1]}."
        )
    if req.fail_on is None:
        return RuleResult("scan", True, "findings are not gated (failOn: never).", "scan")
    return RuleResult("scan", True, f"no finding at or above {req.fail_on.label}.", "scan")


def _finding_severity(item: Any) -> Severity:
    try:
        return Severity.parse(item["severity"])
    except (TypeError, KeyError, ValueError, AttributeError):
        return Severity.CRITICAL  # an unreadable severity never lowers the bar


def _excused(item: Any, allowed: frozenset[str]) -> bool:
    """Whether a pickle finding is about a global the policy allows.

    The scan pipeline already drops those when the policy's ``allowGlobals`` are passed to it;
    this covers reports saved from a scan run without them: a ``pickle-*`` finding whose
    evidence is exactly ``module.name`` (or ``module name``) of an allowed global.
    """
    if not allowed or not isinstance(item, Mapping):
        return False
    rule = item.get("rule_id")
    evidence = item.get("evidence")
    if not isinstance(rule, str) or not rule.startswith("pickle-") or not isinstance(evidence, str):
        return False
    return re.sub(r"\s+", ".", evidence.strip()) in allowed


def _finding_text(result: Mapping[str, Any], item: Any) -> str:
    location = result.get("location")
    path = location.get("path") if isinstance(location, Mapping) else None
    if isinstance(item, Mapping):
        return f"{item.get('severity')} {item.get('rule_id')} in {path}: {item.get('message')}"[
            :300
        ]
    return f"a malformed finding in {path}"


# --- CEL validations ------------------------------------------------------------------------


def _context(variables: dict[str, Any]) -> Any:
    from mlchain.policy.celcore import engine

    return engine().Context(variables=variables, functions=dict(FUNCTIONS))


def _validation_rule(v: Validation, variables: dict[str, Any], context: Any) -> RuleResult:
    missing = sorted(name for name in v.inputs if variables.get(name) is None)
    if missing:
        what = ", ".join(f"'{m}' ({INPUT_SOURCES[m]})" for m in missing)
        return RuleResult(v.name, False, f"{v.message} [input {what} was not provided]")
    try:
        # The binding prints failures of Python callbacks to stderr; the failure is reported here.
        with contextlib.redirect_stderr(io.StringIO()):
            result = v.program.execute(context)
    # Any CEL failure (ValueError, TypeError, RuntimeError, KeyError, ...) must deny.
    except Exception as exc:
        detail = str(exc).split(". Check", 1)[0].split("\n", 1)[0][:200]
        return RuleResult(v.name, False, f"{v.message} [expression failed: {detail}]")
    if result is True:
        return RuleResult(v.name, True, "expression holds.")
    if result is False:
        return RuleResult(v.name, False, v.message)
    return RuleResult(
        v.name, False, f"{v.message} [expression returned {type(result).__name__}, not a boolean]"
    )
