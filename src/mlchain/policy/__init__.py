"""Model policies: who may sign a model, what it must carry, and CEL validations over results.

Public API (imports nothing heavy; ``cel`` is imported only when a policy is loaded or run):

- :func:`load_policy` / :func:`parse_policy` -> :class:`ModelPolicy` (or :class:`PolicyError`)
- :func:`evaluate` (pure) -> :class:`PolicyDecision`
- :func:`gate`: :func:`evaluate` with keyword inputs, for integrations. The deploy gate itself
  (``mlchain verify --policy``) is :func:`mlchain.gate.run_gate`, which calls :func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlchain.policy.evaluate import PolicyDecision, PolicyInputs, RuleResult, evaluate
from mlchain.policy.schema import ModelPolicy, load_policy, parse_policy


def gate(
    policy: ModelPolicy | Path,
    *,
    verification: Mapping[str, Any] | None,
    scan: Mapping[str, Any] | None,
    provenance: Mapping[str, Any] | None,
    sbom: Mapping[str, Any] | None,
    model: Mapping[str, Any] | None,
) -> PolicyDecision:
    """Decide whether a model may be deployed.

    Every input is the JSON-like result of an earlier step (``None`` when that step did not run
    or failed). The gate never allows without a verified signature from a policy authority, and
    any rule that needs a missing input denies.

    Raises:
        PolicyError: if ``policy`` is a path to an invalid policy.
    """
    loaded = load_policy(policy) if isinstance(policy, Path) else policy
    return evaluate(
        loaded,
        PolicyInputs(
            verification=verification, scan=scan, provenance=provenance, sbom=sbom, model=model
        ),
    )


__all__ = [
    "ModelPolicy",
    "PolicyDecision",
    "PolicyInputs",
    "RuleResult",
    "evaluate",
    "gate",
    "load_policy",
    "parse_policy",
]
