"""One renderer per verdict, in one vocabulary.

Four commands print verdicts: ``verify`` (a signature), ``verify --attestation`` and
``verify-attestation`` (attestations), ``policy check`` and ``verify --policy`` (a policy
decision). Each calls exactly one function here, so the same outcome reads the same everywhere:

==============  ===========================  ==========================
result          table word                   JSON ``verdict``
==============  ===========================  ==========================
signature       ``VERIFIED`` / ``FAILED``    ``verified`` / ``failed``
attestation     ``VERIFIED`` / ``FAILED``    ``verified`` / ``failed``
                (``NOT CHECKED``)            (``not checked``)
decision        ``ALLOWED`` / ``DENIED``     ``allowed`` / ``denied``
one rule        ``[pass]`` / ``[FAIL]``      ``passed: true/false``
==============  ===========================  ==========================

The functions are pure (text in, text out, no I/O) and every string that came from a bundle, a
statement, a policy or a file name is cleaned (:mod:`mlchain.sanitize`) before it is shown.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain.sanitize import clean, clean_path

if TYPE_CHECKING:
    from mlchain.attest.verify import AttestationCheck
    from mlchain.policy import PolicyDecision
    from mlchain.signing.bundle import SignerInfo
    from mlchain.signing.verify import ModelVerification


@enum.unique
class Verdict(str, enum.Enum):
    """The shared vocabulary. Upper case in tables; ``value.lower()`` in JSON."""

    VERIFIED = "VERIFIED"
    FAILED = "FAILED"
    NOT_CHECKED = "NOT CHECKED"
    ALLOWED = "ALLOWED"
    DENIED = "DENIED"
    PASS = "pass"  # noqa: S105 (a verdict word, not a password)
    FAIL = "FAIL"

    @property
    def json(self) -> str:
        """The word in JSON documents (``verdict`` keys)."""
        return self.value.lower()


def verification_verdict(verified: bool) -> Verdict:
    """``VERIFIED`` or ``FAILED`` (a signature or an attestation)."""
    return Verdict.VERIFIED if verified else Verdict.FAILED


def decision_verdict(allowed: bool) -> Verdict:
    """``ALLOWED`` or ``DENIED`` (a policy decision)."""
    return Verdict.ALLOWED if allowed else Verdict.DENIED


def rule_verdict(passed: bool) -> Verdict:
    """``pass`` or ``FAIL`` (one rule of a decision)."""
    return Verdict.PASS if passed else Verdict.FAIL


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- signature ---------------------------------------------------------------------------------


def render_verification(
    result: ModelVerification,
    *,
    json_format: bool = False,
    attestations: Sequence[AttestationCheck] | None = None,
) -> str:
    """``mlchain verify``: the signature, then the attestations given with ``--attestation``.

    JSON is :meth:`ModelVerification.to_json` plus ``verdict`` and, when attestations were
    checked, ``attestations`` (one :meth:`AttestationCheck.to_json` entry each).
    """
    if json_format:
        document = {"verdict": verification_verdict(result.verified).json, **result.to_json()}
        if attestations is not None:
            document["attestations"] = [_attestation_json(c) for c in attestations]
        return _dump(document)
    text = _verification_lines(result)
    if attestations:
        text += render_attestations(attestations)
    return text


def _verification_lines(result: ModelVerification) -> str:
    from mlchain.signing.bundle import SignerInfo
    from mlchain.signing.tree import GIT_IGNORES

    signer = result.signer or SignerInfo(method="key")
    if result.files:
        files = len(result.signed_files())
        plural = "" if files == 1 else "s"
        counts = f"{files} signed file{plural}, {result.hash_algorithm}"
        if result.shard_size is not None:
            counts += f" in {len(result.files)} shards of {result.shard_size} bytes"
    else:
        counts = "signature not accepted"
    verdict = verification_verdict(result.verified).value
    lines = [f"{verdict}: {clean_path(result.model)} ({counts})"]
    who = _signer_text(signer, with_log=True)
    lines.append(f"signer: {who}" if result.files else f"claimed signer (unverified): {who}")
    unprotected = [
        p for p in result.ignored if p not in GIT_IGNORES and p != Path(result.signature).name
    ]
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


def _signer_text(signer: SignerInfo, *, with_log: bool = False) -> str:
    if signer.method == "sigstore":
        who = f"{clean(signer.subject or '(none)')} (issuer {clean(signer.issuer or '(none)')})"
        if with_log and signer.log_entry is not None:
            who += f", logged {signer.signed_at} as Rekor entry {signer.log_entry.log_index}"
        return who
    if signer.method == "certificate":
        return f"certificate {clean(signer.subject or '')} issued by {clean(signer.issuer or '')}"
    return f"key sha256:{signer.key_fingerprint}" if signer.key_fingerprint else "a key"


# --- attestations ------------------------------------------------------------------------------


def attestation_verdict(check: AttestationCheck) -> Verdict:
    """``VERIFIED``, ``FAILED``, or ``NOT CHECKED`` (never tried: see ``AttestationCheck``)."""
    if getattr(check, "not_checked", False):
        return Verdict.NOT_CHECKED
    return verification_verdict(check.verified)


def _attestation_json(check: AttestationCheck) -> dict[str, Any]:
    return {"verdict": attestation_verdict(check).json, **check.to_json()}


def render_attestations(checks: Sequence[AttestationCheck], *, json_format: bool = False) -> str:
    """``verify-attestation`` (one check) and ``verify --attestation`` (several).

    JSON: one check renders as its object, several as a list; each carries ``verdict``.
    """
    if json_format:
        documents = [_attestation_json(c) for c in checks]
        return _dump(documents[0] if len(documents) == 1 else documents)
    lines: list[str] = []
    for check in checks:
        kind = clean(check.predicate_type or "unknown predicate", 200)
        where = clean_path(check.bundle) if check.bundle else "attestation"
        lines.append(f"attestation {attestation_verdict(check).value}: {where} ({kind})")
        facts: list[tuple[str, str]] = []
        if check.signer is not None:
            facts.append(("signer", f"{_signer_text(check.signer)} ({check.signer.method})"))
        if check.predicate_type:
            facts.append(("subjects", str(check.subjects)))
        facts += [(k, clean(v, 200)) for k, v in sorted(check.details.items())]
        if check.authority is not None:
            facts.append(("authority", clean(check.authority)))
        if check.note is not None:
            facts.append(("note", clean(check.note, 400)))
        width = max((len(label) for label, _ in facts), default=0) + 1
        lines += [f"  {(label + ':').ljust(width)} {value}" for label, value in facts]
        lines += [f"  - {clean(e, limit=400)}" for e in check.errors]
    return "\n".join(lines) + "\n" if lines else ""


# --- policy decisions --------------------------------------------------------------------------


def render_decision(
    decision: PolicyDecision,
    *,
    json_format: bool = False,
    subject: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """``policy check`` and ``verify --policy``: the verdict, then one line per rule.

    ``subject`` names what was judged (the model path of the deploy gate); ``extra`` adds keys
    to the JSON document (the gate's verification, scan summary, ``copied_to``).
    """
    verdict = decision_verdict(decision.allowed)
    if json_format:
        return _dump({"verdict": verdict.json, **decision.to_dict(), **(extra or {})})
    head = f"{verdict.value} by policy {clean(decision.policy)}"
    if subject is not None:
        head += f": {clean(subject, 400)}"
    width = max((len(clean(r.name)) for r in decision.results), default=0)
    lines = [head]
    for rule in decision.results:
        mark = f"[{rule_verdict(rule.passed).value}]"
        lines.append(f"  {mark:<6} {clean(rule.name).ljust(width)}  {clean(rule.message, 600)}")
    return "\n".join(lines) + "\n"


def decision_summary(decision: PolicyDecision, subject: str | None = None) -> str:
    """The one-line stderr summary of a decision, in the same words as the table."""
    verdict = decision_verdict(decision.allowed).value
    what = f" {clean(subject, 400)}" if subject else ""
    failed = len(decision.failures)
    line = f"policy {clean(decision.policy)}: {verdict}{what} ({len(decision.results)} rules, "
    line += f"{failed} failed)"
    if decision.failures:
        line += f". First failure: {clean(decision.failures[0].name)}: "
        line += clean(decision.failures[0].message, 400)
    return line
