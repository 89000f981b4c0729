"""Property tests: the policy loader returns a policy or raises PolicyError, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.errors import PolicyError
from mlchain.policy import PolicyInputs, evaluate, parse_policy
from mlchain.policy.schema import ModelPolicy

REPO = Path(__file__).resolve().parents[3]

VALID = {
    "apiVersion": "mlchain.dev/v1alpha1",
    "kind": "ModelPolicy",
    "metadata": {"name": "p"},
    "spec": {
        "authorities": [
            {"keyless": {"issuer": "https://token.actions.githubusercontent.com", "subject": "s"}}
        ],
        "scan": {"failOn": "high", "allowGlobals": ["collections.OrderedDict"]},
        "validations": [{"expression": "size(model.files) > 0", "message": "m"}],
    },
}

KEYS = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "name",
        "authorities",
        "keyless",
        "key",
        "data",
        "path",
        "issuer",
        "subject",
        "subjectRegExp",
        "certificateChain",
        "attestations",
        "type",
        "predicateType",
        "scan",
        "failOn",
        "allowGlobals",
        "strict",
        "validations",
        "expression",
        "message",
        "labels",
        "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "mlchain.dev/v1alpha1",
            "ModelPolicy",
            "high",
            "never",
            "https://x",
            "provenance",
            "(",
            "scan.x ==",
            "true",
            "size(scan) > 0",
            "a.b",
            "p",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def _mutate(doc: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return out
        node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    return out


def _check(text: str) -> None:
    try:
        policy = parse_policy(text, source="h.yaml")
    except PolicyError as exc:
        error = exc
    else:
        # A loaded policy evaluates without raising, and never allows without inputs.
        assert isinstance(policy, ModelPolicy)
        assert not evaluate(policy, PolicyInputs()).allowed
        return
    assert error.message.startswith("h.yaml:"), error.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_random_documents(value: Any) -> None:
    _check(yaml.safe_dump(value, allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(KEYS, min_size=1, max_size=4),
    VALUES,
)
def test_mutated_valid_policy(path: list[str], value: Any) -> None:
    doc = _mutate(VALID, path, value)
    _check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:-&*!|>'\"#%@`,?\n\t abc01.")), max_size=80))
def test_random_yaml_ish_text(text: str) -> None:
    _check(text)


def test_valid_base_document_loads() -> None:
    assert parse_policy(yaml.safe_dump(VALID), source="h.yaml").name == "p"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "verified",
        "method",
        "identity",
        "files",
        "errors",
        "ignored",
        "attestations",
        "results",
        "schema_version",
        "allowlist_additions",
        "predicate",
        "components",
        "metadata",
    ]
)
INPUT = st.none() | st.dictionaries(FIELDS, JSON, max_size=6)
EVERYTHING = parse_policy(
    """\
apiVersion: mlchain.dev/v1alpha1
kind: ModelPolicy
metadata: {name: all}
spec:
  authorities:
    - keyless: {issuer: 'https://x', subjectRegExp: '.*'}
    - key: {data: "KEY"}
    - certificateChain: {path: docs/policies/pki/chain.pem}
  attestations: [{type: provenance}, {type: sbom}]
  scan: {failOn: low, strict: true, allowGlobals: [a.b]}
  validations:
    - {expression: 'max_severity(scan) == null', message: m1}
    - {expression: 'licenses(sbom).size() >= 0', message: m2}
    - {expression: 'signature.ignored.all(p, !matches_glob(p, "*.py"))', message: m3}
    - {expression: 'provenance.predicate.x == 1 || findings(scan).size() > 0', message: m4}
    - {expression: 'model.files.exists(f, f.size > 3.0)', message: m5}
""".replace("KEY", (REPO / "docs/policies/keys/release.pub").read_text().replace("\n", "\\n")),
    source="all.yaml",
    base_dir=REPO,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INPUT, INPUT, INPUT, INPUT, INPUT)
def test_evaluate_never_raises_and_never_allows_unverified(
    verification: Any, scan: Any, provenance: Any, sbom: Any, model: Any
) -> None:
    inputs = PolicyInputs(
        verification=verification, scan=scan, provenance=provenance, sbom=sbom, model=model
    )
    decision = evaluate(EVERYTHING, inputs)
    assert len(decision.results) == 2 + 2 + 1 + 5
    if decision.allowed:
        assert verification is not None
        assert verification["verified"] is True
