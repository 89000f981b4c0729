"""Golden files for the machine-readable outputs: scan JSON, SARIF and the CycloneDX ML-BOM.

An additive schema change, a renamed key or a reordered list shows up in review as a diff of
``tests/golden/*.json``. After an intended change, refresh them with
``pytest tests/golden --update-goldens`` and review the diff.

Normalised before comparing (they change for reasons unrelated to the format): mlchain's version
and the pickle allowlist's version, the absolute scan folder in SARIF ``originalUriBaseIds``,
and SARIF ``rules[]`` entries that no result references (the catalogue grows with every new
rule; ``ruleIndex`` is re-pointed into the shortened list).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlchain import __version__
from mlchain.cli import app

GOLDEN = Path(__file__).parent
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``models/llama`` (benign tiny-llama) and ``models/evil.pkl`` (a malicious pickle)."""
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", tmp_path / "models" / "llama")
    shutil.copy(
        FIXTURES / "pickle" / "malicious" / "build_setstate_injection.pkl",
        tmp_path / "models" / "evil.pkl",
    )
    monkeypatch.chdir(tmp_path)
    for name in (
        "SOURCE_DATE_EPOCH",
        "MLCHAIN_FAIL_ON",
        "MLCHAIN_FORMAT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    return tmp_path


def _run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _normalise(value: Any, workspace: Path) -> Any:
    if isinstance(value, dict):
        return {
            k: "<allowlist-version>" if "allowlist_version" in k else _normalise(v, workspace)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v, workspace) for v in value]
    if isinstance(value, str):
        value = value.replace(workspace.as_uri(), "file:///WORKSPACE").replace(
            str(workspace), "/WORKSPACE"
        )
        return "<mlchain-version>" if value == __version__ else value
    return value


def _compare(name: str, document: Any, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if request.config.getoption("--update-goldens"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{name} is missing: run pytest tests/golden --update-goldens"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, run `pytest tests/golden --update-goldens` and review "
        "the diff"
    )


def test_scan_json(workspace: Path, request: pytest.FixtureRequest) -> None:
    document = _run("scan", "-f", "json", "models", code=1)
    _compare("scan.json", _normalise(document, workspace), request)


def test_scan_sarif(workspace: Path, request: pytest.FixtureRequest) -> None:
    document = _run("scan", "-f", "sarif", "models", code=1)
    for run in document["runs"]:
        used = {result["ruleId"] for result in run.get("results", [])}
        driver = run["tool"]["driver"]
        driver["rules"] = [rule for rule in driver.get("rules", []) if rule["id"] in used]
        index = {rule["id"]: i for i, rule in enumerate(driver["rules"])}
        for result in run.get("results", []):
            if "ruleIndex" in result:  # re-pointed into the shortened list, and checked
                assert result["ruleId"] in index
                result["ruleIndex"] = index[result["ruleId"]]
    _compare("scan.sarif.json", _normalise(document, workspace), request)


def test_sbom_cyclonedx(workspace: Path, request: pytest.FixtureRequest) -> None:
    document = _run("sbom", "models/llama")
    _compare("sbom.cdx.json", _normalise(document, workspace), request)


def _fixed_key(folder: Path) -> tuple[Path, Path]:
    """An EC P-256 pair derived from a constant: its fingerprint, hence the output, is stable."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from signing_helpers import write_pem_pair

    key = ec.derive_private_key(0x6D6C636861696E, ec.SECP256R1())
    pair = write_pem_pair(key, folder / "release.key", folder / "release.pub")
    return pair.private, pair.public


def test_verdicts(workspace: Path, request: pytest.FixtureRequest) -> None:
    """verify, verify --attestation, verify-attestation and policy check, each ``-f json``."""
    private, public = _fixed_key(workspace)
    model = "models/llama"
    for args in (
        ("sign", model, "--key", str(private)),
        (
            "provenance",
            model,
            "--no-git",
            "--builder-id",
            "https://ci.example.org/builder",
            "--sign",
            "--key",
            str(private),
            "-o",
            "prov.json",
        ),
    ):
        made = CliRunner().invoke(app, list(args), env={"SOURCE_DATE_EPOCH": "1767225600"})
        assert made.exit_code == 0, made.output
    verified = _run(
        "verify", model, "--key", str(public), "--attestation", "prov.json", "-f", "json"
    )
    attested = _run("verify-attestation", "prov.json", model, "--key", str(public), "-f", "json")
    (workspace / "verify.json").write_text(json.dumps(verified))
    policy = workspace / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: golden\nspec:\n"
        f"  authorities:\n    - name: release\n      key:\n        path: {public}\n"
        "  attestations:\n    - type: provenance\n"
    )
    decision = _run(
        "policy", "check", "--policy", str(policy), "--verification", "verify.json", "-f", "json"
    )
    document = {"verify": verified, "verify-attestation": attested, "policy check": decision}
    _compare("verdicts.json", _normalise(document, workspace), request)
