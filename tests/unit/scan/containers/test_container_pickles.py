"""The seam to the pickle VM: torch's own persistent ids are expected inside torch containers."""

from __future__ import annotations

from container_helpers import LOC
from mlchain.scan.base import finding
from mlchain.scan.containers.pickles import without_torch_storages


def pid(evidence: str) -> object:
    return finding("pickle-persistent-id", "refers to external objects", LOC, evidence=evidence)


def test_storage_and_module_ids_are_dropped_other_ids_kept() -> None:
    kept = pid("('custom', 1)")
    findings = [
        pid("('storage', torch.FloatStorage, '0', 'cpu', 4)"),
        pid("\"('storage', <class 'torch.FloatStorage'>, '1', 'cpu', 4, None)\""),
        pid("'(\\'module\\', <class \\'torch.nn.Linear\\'>, \\'x.py\\', \\'src\\')'"),
        kept,
        finding("pickle-dangerous-call", "calls os.system", LOC, evidence="('storage', os.system)"),
    ]
    out = without_torch_storages(findings)  # type: ignore[arg-type]
    assert [f.rule_id for f in out] == ["pickle-persistent-id", "pickle-dangerous-call"]
    assert out[0] is kept
