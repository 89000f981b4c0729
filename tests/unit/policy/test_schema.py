"""Loading policies: valid ones load; each kind of malformed one is a PolicyError with file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlchain.errors import PolicyError
from mlchain.policy import load_policy, parse_policy
from mlchain.policy.schema import policy_schema
from mlchain.policy.starter import STARTER_POLICY
from policy_cases import BASE, HEAD, MALFORMED
from policy_inputs import POLICIES, key_fingerprint


def expect_error(tmp_path: Path, text: str, line: int, *fragments: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = info.value.diagnostics()
    assert f"{path}:{line}:" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.exit_code == 2
    return message


@pytest.mark.parametrize(
    ("text", "line", "fragments"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_policy_is_rejected_with_file_and_line(
    tmp_path: Path, text: str | None, line: int, fragments: list[str]
) -> None:
    if text is None:
        path = tmp_path / "policy.yaml"
        path.write_bytes(BASE.encode() + b"# \xff\xfe\n")
        with pytest.raises(PolicyError, match=re.escape(f"{path}:{10}:")):
            load_policy(path)
        return
    expect_error(tmp_path, text, line, *fragments)


def test_several_problems_are_reported_together_sorted_by_line(tmp_path: Path) -> None:
    text = BASE.replace("kind: ModelPolicy", "kind: Nope") + "  scan: {failOn: severe}\n"
    message = expect_error(tmp_path, text, 2, "kind must be")
    assert f"{tmp_path / 'policy.yaml'}:10:" in message
    assert message.index(":2:") < message.index(":10:")


def test_missing_policy_file_is_a_policy_error_exit_2(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="Cannot read policy file") as info:
        load_policy(tmp_path / "absent.yaml")
    assert info.value.exit_code == 2


def test_oversized_policy_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "#" * (1 << 20))
    with pytest.raises(PolicyError, match="larger than 1 MiB"):
        load_policy(path)


def test_valid_policy_builds_the_model() -> None:
    policy = parse_policy(
        BASE
        + "  scan:\n    failOn: never\n    allowGlobals: [collections.OrderedDict]\n"
        + "  attestations:\n    - type: provenance\n"
        + "  validations:\n    - expression: 'size(model.files) > 0'\n      message: m\n",
        source="x.yaml",
    )
    assert policy.name == "p"
    assert policy.scan is not None
    assert policy.scan.fail_on is None
    assert policy.allow_globals == {"collections.OrderedDict"}
    assert policy.attestations[0].predicate_type == "https://slsa.dev/provenance/v1"
    assert policy.validations[0].inputs == {"model"}
    assert policy.validations[0].name == "validation-0"


def test_macro_bound_variables_are_not_unknown() -> None:
    policy = parse_policy(
        BASE + "  validations:\n    - expression: 'findings(scan).all(f, [1].exists(x, x == 1))'\n"
        "      message: m\n",
        source="x.yaml",
    )
    assert policy.validations[0].inputs == {"scan"}


def test_key_authority_fingerprint_from_path_relative_to_policy() -> None:
    policy = load_policy(POLICIES / "key-signed.yaml")
    assert policy.authorities[0].key_fingerprint == key_fingerprint()


def test_key_authority_inline_data() -> None:
    pem = (POLICIES / "keys" / "release.pub").read_text()
    indented = "".join("          " + line + "\n" for line in pem.splitlines())
    policy = parse_policy(
        HEAD + "  authorities:\n    - key:\n        data: |\n" + indented, source="x.yaml"
    )
    assert policy.authorities[0].key_fingerprint == key_fingerprint()


def test_certificate_chain_subjects_are_loaded() -> None:
    policy = load_policy(POLICIES / "internal-pki.yaml")
    assert policy.authorities[0].chain_subjects == (
        "CN=Example Model Signing CA 1,O=Example Corp",
        "CN=Example Model Signing Root CA,O=Example Corp",
    )


def test_shipped_json_schema_is_a_valid_schema_and_accepts_examples() -> None:
    import yaml
    from jsonschema import Draft202012Validator

    schema = policy_schema()
    Draft202012Validator.check_schema(schema)
    for path in POLICIES.glob("*.yaml"):
        Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))
    shipped = Path(__file__).resolve().parents[3] / "src/mlchain/schemas/policy.schema.json"
    assert json.loads(shipped.read_text()) == schema


def test_starter_policy_is_valid() -> None:
    policy = parse_policy(STARTER_POLICY, source="starter")
    assert policy.authorities[0].kind == "keyless"


def test_loading_does_not_import_cel_before_needed() -> None:
    import subprocess
    import sys

    code = "import sys, mlchain.cli, mlchain.policy; print('cel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_schema_field_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "policy.md").read_text()

    def fields(node: object) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            found |= set(node.get("properties", {}))
            for value in node.values():
                found |= fields(value)
        elif isinstance(node, list):
            for value in node:
                found |= fields(value)
        return found

    missing = [
        f for f in sorted(fields(policy_schema())) if f"{f}:" not in doc and f"`{f}`" not in doc
    ]
    assert missing == []
