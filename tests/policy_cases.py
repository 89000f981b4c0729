"""Malformed policies: (id, text, line of the error, fragments of the message).

Shared by the loader unit tests and the CLI tests. ``None`` text means "not UTF-8" (built by
the test).
"""

from __future__ import annotations

HEAD = """\
apiVersion: mlchain.dev/v1alpha1
kind: ModelPolicy
metadata:
  name: p
spec:
"""
AUTH = """\
  authorities:
    - keyless:
        issuer: https://token.actions.githubusercontent.com
        subject: me
"""
BASE = HEAD + AUTH  # 9 lines

MALFORMED = [
    # (id, text, line, fragments)
    (
        "unknown-field",
        BASE + "  validatons: []\n",
        10,
        ["unknown field 'validatons'", "did you mean 'validations'"],
    ),
    (
        "unknown-nested-field",
        BASE.replace("subject: me", "subject: me\n        audience: x"),
        10,
        ["unknown field 'audience'"],
    ),
    (
        "cel-syntax",
        BASE + "  validations:\n    - expression: 'scan.summary ==='\n      message: m\n",
        11,
        ["CEL expression does not compile"],
    ),
    (
        "cel-unknown-function",
        BASE + "  validations:\n    - expression: 'evil(scan)'\n      message: m\n",
        11,
        ["unknown function 'evil'"],
    ),
    (
        "cel-unknown-variable",
        BASE + "  validations:\n    - expression: 'scna.x == 1'\n      message: m\n",
        11,
        ["unknown variable 'scna'"],
    ),
    (
        "wrong-type",
        HEAD.replace("name: p", "name: [1]") + AUTH,
        4,
        ["metadata.name must be a string, not a list"],
    ),
    (
        "bad-regexp",
        BASE.replace("subject: me", "subjectRegExp: '(unclosed'"),
        9,
        ["not a valid regular expression"],
    ),
    (
        "duplicate-authority-names",
        HEAD
        + "  authorities:\n"
        + "    - name: a\n      keyless: {issuer: 'https://x', subject: s}\n"
        + "    - name: a\n      keyless: {issuer: 'https://x', subject: t}\n",
        9,
        ["duplicate authority name 'a'"],
    ),
    (
        "duplicate-validation-names",
        BASE
        + "  validations:\n"
        + "    - {name: v, expression: 'true', message: m}\n"
        + "    - {name: v, expression: 'true', message: m}\n",
        12,
        ["duplicate validation name 'v'"],
    ),
    (
        "wrong-api-version",
        BASE.replace("v1alpha1", "v1"),
        1,
        ["apiVersion must be 'mlchain.dev/v1alpha1'"],
    ),
    (
        "wrong-kind",
        BASE.replace("kind: ModelPolicy", "kind: ClusterImagePolicy"),
        2,
        ["kind must be 'ModelPolicy'"],
    ),
    ("empty-authorities", HEAD + "  authorities: []\n", 6, ["spec.authorities is empty"]),
    (
        "missing-authorities",
        HEAD + "  scan: {failOn: high}\n",
        5,
        ["missing the required field 'authorities'"],
    ),
    ("yaml-syntax", BASE + "  scan: {failOn: high\n", 11, ["YAML syntax error"]),
    ("yaml-tab-indent", BASE + "\tscan: {}\n", 10, ["YAML syntax error"]),
    (
        "non-mapping",
        "- apiVersion: mlchain.dev/v1alpha1\n",
        1,
        ["must be a YAML mapping", "not a list"],
    ),
    ("multiple-documents", BASE + "---\n" + BASE, 10, ["more than one YAML document"]),
    ("empty-file", "", 1, ["empty"]),
    (
        "duplicate-key",
        BASE + "  authorities: []\n",
        10,
        ["duplicate key 'authorities' (first at line 6)"],
    ),
    (
        "subject-and-regexp",
        BASE.replace("subject: me", "subject: me\n        subjectRegExp: x"),
        7,
        ["exactly one of subject, subjectRegExp"],
    ),
    (
        "authority-without-kind",
        HEAD + "  authorities:\n    - name: x\n",
        7,
        ["needs one of keyless, key, certificateChain"],
    ),
    (
        "two-authority-kinds",
        HEAD
        + "  authorities:\n"
        + "    - keyless: {issuer: 'https://x', subject: s}\n      key: {data: x}\n",
        7,
        ["exactly one of keyless, key, certificateChain"],
    ),
    (
        "bad-fail-on",
        BASE + "  scan: {failOn: severe}\n",
        10,
        ["failOn must be one of critical, high"],
    ),
    ("bad-allow-global", BASE + "  scan:\n    allowGlobals: ['os system']\n", 11, ["module.name"]),
    ("python-tag", BASE + "  scan: !!python/object:os.system {}\n", 10, ["unsupported YAML tag"]),
    (
        "unquoted-date",
        HEAD.replace("name: p", "name: 2024-01-01") + AUTH,
        4,
        ["timestamp", "quote it"],
    ),
    ("merge-key", BASE + "  scan:\n    <<: {failOn: high}\n", 11, ["merge key"]),
    (
        "alias-bomb",
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
        1,
        ["more than 20000 values"],
    ),
    ("too-deep", "[" * 1200 + "]" * 1200, 1, ["nested too deeply"]),
    ("http-issuer", BASE.replace("https://token", "http://token"), 8, ["must be an https:// URL"]),
    (
        "missing-key-file",
        HEAD + "  authorities:\n    - key: {path: missing.pub}\n",
        7,
        ["cannot read", "relative to the policy file"],
    ),
    (
        "not-a-public-key",
        HEAD + "  authorities:\n    - key:\n        data: '-----BEGIN PRIVATE KEY-----'\n",
        7,
        ["not a PEM public key"],
    ),
    (
        "unknown-attestation-authority",
        BASE + "  attestations:\n    - type: sbom\n      authorities: [nobody]\n",
        12,
        ["unknown authority 'nobody'"],
    ),
    (
        "unknown-attestation-type",
        BASE + "  attestations:\n    - type: vex\n",
        11,
        ["must be one of provenance, sbom, scan"],
    ),
    (
        "validation-without-message",
        BASE + "  validations:\n    - expression: 'true'\n",
        11,
        ["missing the required field 'message'"],
    ),
    ("bad-name", HEAD.replace("name: p", "name: Prod_Policy") + AUTH, 4, ["lower-case name"]),
    ("not-utf8", None, 1, ["not UTF-8"]),
    (
        "chain-subject-and-regexp",
        HEAD + "  authorities:\n    - certificateChain:\n        path: c.pem\n"
        "        subject: a\n        subjectRegExp: b\n",
        7,
        ["subject or subjectRegExp, not both"],
    ),
    (
        "chain-not-pem",
        HEAD + "  authorities:\n    - certificateChain: {path: policy.yaml}\n",
        7,
        ["is not a PEM certificate chain"],
    ),
    (
        "empty-expression",
        BASE + "  validations:\n    - {expression: '', message: m}\n",
        11,
        ["expression must not be empty"],
    ),
    ("recursive-alias", "a: &a [*a]\n", 1, ["nested too deeply"]),
]
