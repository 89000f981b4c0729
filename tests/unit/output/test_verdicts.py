"""One vocabulary per verdict: every verdict type rendered as a table and as JSON (issue #16, 5)."""

from __future__ import annotations

import json
import re

import pytest

from mlchain.attest.verify import AttestationCheck
from mlchain.output.verdicts import (
    Verdict,
    decision_summary,
    render_attestations,
    render_decision,
    render_verification,
)
from mlchain.policy import PolicyDecision
from mlchain.policy.evaluate import RuleResult
from mlchain.signing.bundle import SignerInfo
from mlchain.signing.verify import ModelVerification

KEY = SignerInfo(method="key", key_fingerprint="ab" * 32)

# Words other renderers used to print for the same outcomes; none may come back.
RETIRED = re.compile(r"\bALLOW\b|\bDENY\b|\bverified: +(yes|NO)\b|\ballowed\b|\bPASS\b")


def _verification(ok: bool) -> ModelVerification:
    return ModelVerification(
        model="llama",
        method="key",
        signer=KEY,
        hash_algorithm="sha256",
        files={"config.json": "00" * 32},
        errors=() if ok else ("config.json: digest differs",),
    )


def _attestation(ok: bool) -> AttestationCheck:
    return AttestationCheck(
        predicate_type="https://slsa.dev/provenance/v1",
        signer=KEY,
        subjects=1,
        errors=() if ok else ("config.json: digest differs",),
        details={"builder_id": "https://ci.example/builder", "build_type": "x"},
        bundle="llama.mlchain/provenance.json",
    )


def _decision(ok: bool) -> PolicyDecision:
    rules = (
        RuleResult("authorities", True, "signed by authority release."),
        RuleResult("scan", ok, "no finding above low." if ok else "1 critical finding."),
    )
    return PolicyDecision(policy="gate", allowed=ok, results=rules)


CASES = [
    ("signature", lambda ok, js: render_verification(_verification(ok), json_format=js)),
    (
        "signature+attestation",
        lambda ok, js: render_verification(
            _verification(True), json_format=js, attestations=[_attestation(ok)]
        ),
    ),
    ("attestation", lambda ok, js: render_attestations([_attestation(ok)], json_format=js)),
    ("decision", lambda ok, js: render_decision(_decision(ok), json_format=js, subject="llama")),
]
WORDS = {
    "signature": (Verdict.VERIFIED, Verdict.FAILED),
    "signature+attestation": (Verdict.VERIFIED, Verdict.FAILED),
    "attestation": (Verdict.VERIFIED, Verdict.FAILED),
    "decision": (Verdict.ALLOWED, Verdict.DENIED),
}


@pytest.mark.parametrize(("kind", "render"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("ok", [True, False], ids=["good", "bad"])
def test_table_uses_the_shared_vocabulary(kind: str, render, ok: bool) -> None:
    text = render(ok, False)
    good, bad = WORDS[kind]
    word = good if ok else bad
    if kind == "signature+attestation":  # the signature verified; the attestation carries ok
        assert text.startswith(f"{Verdict.VERIFIED.value}: llama")
        assert f"attestation {word.value}: llama.mlchain/provenance.json" in text
    elif kind == "attestation":
        assert text.startswith(f"attestation {word.value}: llama.mlchain/provenance.json")
    else:
        assert text.splitlines()[0].startswith(word.value)
    assert not RETIRED.search(text), text
    if kind == "decision":
        assert re.search(r"^  \[pass\] +authorities  signed by", text, re.M)
        mark = Verdict.PASS if ok else Verdict.FAIL
        assert re.search(rf"^  \[{mark.value}\] +scan +", text, re.M)


@pytest.mark.parametrize(("kind", "render"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("ok", [True, False], ids=["good", "bad"])
def test_json_uses_the_same_words(kind: str, render, ok: bool) -> None:
    document = json.loads(render(ok, True))
    good, bad = WORDS[kind]
    word = (good if ok else bad).json
    if kind == "signature+attestation":
        assert document["verdict"] == "verified"
        assert [a["verdict"] for a in document["attestations"]] == [word]
    else:
        assert document["verdict"] == word
    if kind == "decision":
        assert document["allowed"] is ok
    else:
        assert document["verified"] is (ok or kind == "signature+attestation")


def test_attestation_labels_are_aligned() -> None:
    """`scanner_version:0.1.0` ran into its value (UX audit, 2.4)."""
    check = AttestationCheck(
        predicate_type="https://mlchain.dev/attestations/scan/v1",
        signer=KEY,
        subjects=9,
        details={"verdict": "pass", "scanner_version": "0.1.0", "fail_on": "medium"},
    )
    lines = render_attestations([check]).splitlines()[1:]
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}
    assert "  scanner_version: 0.1.0" in lines
    assert "  verdict:         pass" in lines
    assert len(columns) == 1


def test_hostile_strings_are_cleaned() -> None:
    decision = PolicyDecision(
        policy="p\x1b[31m",
        allowed=False,
        results=(RuleResult("scan", False, "evil\nALLOWED by policy p"),),
    )
    text = render_decision(decision)
    assert "\x1b" not in text
    assert text.count("\n") == 2  # the injected newline stays escaped on its rule's line
    assert decision_summary(decision).startswith("policy p: DENIED (1 rules, 1 failed)")
