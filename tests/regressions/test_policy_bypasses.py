"""Public attack techniques against policy files, their loaders and CI integrations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlchain.errors import PolicyError
from mlchain.policy import gate, parse_policy
from policy_cases import BASE, HEAD
from policy_inputs import RELEASE_SUBJECT, signer, verification

REPO = Path(__file__).resolve().parents[2]


def _gate(policy_text: str, v: dict[str, object]) -> bool:
    policy = parse_policy(policy_text, source="p.yaml")
    return gate(policy, verification=v, scan=None, provenance=None, sbom=None, model=None).allowed


def test_pyyaml_python_object_tag_code_execution() -> None:
    """PyYAML's full loader builds arbitrary Python objects from tags (code execution).

    https://nvd.nist.gov/vuln/detail/CVE-2017-18342
    """
    canary = "!!python/object/apply:os.system ['touch /tmp/mlchain-canary']"
    with pytest.raises(PolicyError, match="unsupported YAML"):
        parse_policy(BASE + f"  scan: {canary}\n", source="p.yaml")


def test_yaml_billion_laughs_alias_expansion() -> None:
    """Nested aliases expand exponentially ("billion laughs") and exhaust memory or CPU.

    https://en.wikipedia.org/wiki/Billion_laughs_attack
    """
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(
            f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ", ".join([f"*{prev}"] * 10) + "]"
        )
    with pytest.raises(PolicyError, match="expands to more than"):
        parse_policy("\n".join(levels) + "\n", source="p.yaml")


def test_permissive_unanchored_identity_regex() -> None:
    """A subject pattern that is only searched, not fully matched, accepts attacker identities.

    https://cwe.mitre.org/data/definitions/625.html
    """
    policy = HEAD + (
        "  authorities:\n    - keyless:\n"
        "        issuer: https://token.actions.githubusercontent.com\n"
        "        subjectRegExp: 'https://github\\.com/example-org/models/.+@refs/tags/v1\\.2\\.3'\n"
    )
    assert _gate(policy, verification())
    evil = "https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main#https://github.com/example-org/models/x@refs/tags/v1.2.3"
    assert not _gate(policy, verification(identity={**signer()["identity"], "subject": evil}))
    suffixed = RELEASE_SUBJECT + "-evil"
    assert not _gate(policy, verification(identity={**signer()["identity"], "subject": suffixed}))


def test_yaml_duplicate_key_override() -> None:
    """Duplicate mapping keys: most loaders keep the last value, so a reviewer sees one rule and
    the tool enforces another.

    https://yaml.org/spec/1.2.2/#mapping
    """
    text = BASE + "  scan: {failOn: critical}\n  scan: {failOn: never}\n"
    with pytest.raises(PolicyError, match="duplicate key 'scan'"):
        parse_policy(text, source="p.yaml")


def test_github_actions_script_injection_via_inputs() -> None:
    """`${{ inputs.* }}` pasted into a `run:` script lets crafted input run shell commands.

    https://securitylab.github.com/resources/github-actions-untrusted-input/
    """
    action = yaml.safe_load((REPO / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        assert not re.search(r"\$\{\{", step.get("run", ""))
