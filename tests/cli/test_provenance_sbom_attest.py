"""``provenance``, ``sbom``, ``attest`` and ``verify-attestation`` end to end (in-process)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fixtures.canary import CANARY_PATH
from fixtures.gen_hfmodel import PARAMETER_COUNT

from fakesigstore.fixture import FakeSigstoreSession, fake_sigstore  # noqa: F401
from helpers import FIXTURES, run_cli
from intoto_checks import check_slsa_provenance, check_statement
from mlchain.signing.manifest import file_digests

BENIGN = FIXTURES / "hfmodel" / "benign"
MODEL = BENIGN / "tiny-llama"
SHA = "e" * 40
NO_CI: dict[str, str | None] = {
    "GITHUB_ACTIONS": None,
    "GITLAB_CI": None,
    "SOURCE_DATE_EPOCH": None,
    "MLCHAIN_SIGN": None,
    "MLCHAIN_SIGNING_KEY": None,
    "MLCHAIN_BUILDER_ID": None,
}
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 9\n"


def cli(*args: str, **env: str | None) -> Any:
    return run_cli(*args, env={**NO_CI, **env})  # type: ignore[dict-item]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    target = tmp_path / "tiny-llama"
    shutil.copytree(MODEL, target)
    return target


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    from signing_helpers import write_key

    pair = write_key(tmp_path, "signing")
    return pair.private, pair.public


# --- provenance ---------------------------------------------------------------------------------


def test_provenance_prints_a_valid_deterministic_statement(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("lr: 0.1\n")
    args = (
        "provenance",
        str(MODEL),
        "--param",
        "epochs=3",
        "--param",
        "lr=3e-4",
        "--config",
        str(config),
        "--base-model",
        f"hf://acme/base@{SHA}",
        "--dataset",
        "hf://datasets/acme/corpus",
    )
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    check_slsa_provenance(doc)
    external = doc["predicate"]["buildDefinition"]["externalParameters"]
    assert external["parameters"] == {"epochs": 3, "lr": 0.0003}
    assert external["config"]["path"] == str(config)
    assert {s["name"]: s["digest"]["sha256"] for s in doc["subject"]} == file_digests(MODEL)
    assert (
        doc["predicate"]["runDetails"]["builder"]["id"] == "https://mlchain.dev/builders/local/v1"
    )
    assert "provenance for 9 files written" in first.stderr


def test_provenance_under_github_actions() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": SHA,
        "GITHUB_WORKFLOW_REF": "acme/models/.github/workflows/train.yml@refs/heads/main",
        "GITHUB_RUN_ID": "5",
        "GITHUB_RUN_ATTEMPT": "1",
        "RUNNER_ENVIRONMENT": "self-hosted",
    }
    result = cli("provenance", str(MODEL), **env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    check_slsa_provenance(doc)
    predicate = doc["predicate"]
    assert predicate["runDetails"]["builder"]["id"] == (
        "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main"
    )
    assert predicate["runDetails"]["metadata"]["invocationId"].endswith(
        "/actions/runs/5/attempts/1"
    )
    assert predicate["buildDefinition"]["externalParameters"]["workflow"]["path"] == (
        ".github/workflows/train.yml"
    )
    assert predicate["buildDefinition"]["internalParameters"]["github"] == {
        "runner_environment": "self-hosted"
    }
    (code,) = predicate["buildDefinition"]["resolvedDependencies"]
    assert code["digest"] == {"gitCommit": SHA}


def test_provenance_under_gitlab_with_builder_override() -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_SERVER_URL": "https://gitlab.com",
        "CI_PROJECT_PATH": "ml/m",
        "CI_RUNNER_ID": "3",
        "CI_COMMIT_SHA": SHA,
    }
    result = cli("provenance", str(MODEL), **env)
    assert json.loads(result.stdout)["predicate"]["runDetails"]["builder"]["id"] == (
        "https://gitlab.com/ml/m/-/runners/3"
    )
    override = cli("provenance", str(MODEL), "--builder-id", "https://ci.example/b", **env)
    assert json.loads(override.stdout)["predicate"]["runDetails"]["builder"]["id"] == (
        "https://ci.example/b"
    )


def test_source_date_epoch_sets_finished_on() -> None:
    result = cli("provenance", str(MODEL), "--no-git", SOURCE_DATE_EPOCH="1769860800")
    metadata = json.loads(result.stdout)["predicate"]["runDetails"]["metadata"]
    assert metadata == {"finishedOn": "2026-01-31T12:00:00Z"}


def test_output_inside_the_model_is_not_a_subject(model: Path) -> None:
    target = model / "provenance.json"
    result = cli("provenance", str(model), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    doc = json.loads(target.read_text())
    assert "provenance.json" not in [s["name"] for s in doc["subject"]]
    hashing = doc["predicate"]["buildDefinition"]["internalParameters"]["mlchain"]
    assert hashing["subjectHashing"]["ignore"] == ["model.sig", "provenance.json"]
    assert not list(model.glob(".provenance.json.*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "novalue"], "--param expects key=value"),
        (["--builder-id", "not a uri"], "--builder-id must be a URI"),
        (["--dataset", "nowhere/at/all"], "neither a URI"),
        (["--started-on", "soon"], "ISO 8601"),
        (["--key", "k.pem"], "--key applies only together with --sign"),
    ],
)
def test_provenance_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = cli("provenance", str(MODEL), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_symlinks_follow_the_signing_rule(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    (model / "alias.bin").symlink_to("weights.bin")
    (model / "escape.bin").symlink_to(MODEL / "config.json")
    for command in ("provenance", "sbom", "attest"):
        refused = cli(command, str(model))
        assert refused.exit_code == 2, command
        assert "symbolic link" in refused.stderr
    still_refused = cli("provenance", str(model), "--allow-symlinks")
    assert still_refused.exit_code == 2
    assert "outside the model folder" in still_refused.stderr
    (model / "escape.bin").unlink()
    allowed = cli("provenance", str(model), "--allow-symlinks")
    assert allowed.exit_code == 0, allowed.stderr
    names = [s["name"] for s in json.loads(allowed.stdout)["subject"]]
    assert names == ["alias.bin", "weights.bin"]


def test_empty_model_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for command in ("provenance", "sbom", "attest"):
        result = cli(command, str(tmp_path / "empty"))
        assert result.exit_code == 3, command
        assert "has no files to describe" in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_model_is_a_usage_error() -> None:
    for command in ("provenance", "sbom", "attest"):
        result = cli(command, "/no/such/model")
        assert result.exit_code == 2, command
        assert "No such file or directory" in result.stderr


# --- sbom ---------------------------------------------------------------------------------------


def test_sbom_json_and_xml(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    scan = cli("scan", str(MODEL), "-f", "json", "-o", str(tmp_path / "scan.json"))
    assert scan.exit_code == 0, scan.stderr
    args = ("sbom", str(MODEL), "--scan-report", str(tmp_path / "scan.json"), "--hf-repo", "a/b")
    result, again = cli(*args), cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == again.stdout
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.stdout) is None
    doc = json.loads(result.stdout)
    card = doc["metadata"]["component"]["modelCard"]
    assert {"name": "mlchain:model:parameterCount", "value": str(PARAMETER_COUNT)} in card[
        "properties"
    ]
    assert {"name": "mlchain:scan:verdict", "value": "no-findings"} in doc["metadata"]["component"][
        "properties"
    ]
    xml = cli("sbom", str(MODEL), "-f", "xml", "-o", str(tmp_path / "bom.xml"))
    assert xml.exit_code == 0, xml.stderr
    text = (tmp_path / "bom.xml").read_text()
    assert text.startswith("<?xml") and "<modelCard>" in text


def test_sbom_timestamp_from_source_date_epoch() -> None:
    result = cli("sbom", str(BENIGN / "tiny.gguf"), SOURCE_DATE_EPOCH="1769860800")
    assert json.loads(result.stdout)["metadata"]["timestamp"] == "2026-01-31T12:00:00Z"


def test_sbom_rejects_a_report_that_is_not_ours(tmp_path: Path) -> None:
    bad = tmp_path / "scan.json"
    bad.write_text('{"results": []}')
    result = cli("sbom", str(MODEL), "--scan-report", str(bad))
    assert result.exit_code == 2
    assert "not a mlchain JSON report" in result.stderr
    missing = cli("sbom", str(MODEL), "--scan-report", str(tmp_path / "none.json"))
    assert missing.exit_code == 3


def test_sbom_notes_unparseable_cards() -> None:
    result = cli("sbom", str(FIXTURES / "hfmodel" / "malicious" / "yaml-tag-card"))
    assert result.exit_code == 0
    assert "note: README.md: front matter is not valid YAML" in result.stderr
    assert not Path(CANARY_PATH).exists()


# --- attest and verify-attestation --------------------------------------------------------------


def test_attest_pass_and_fail_exit_codes(tmp_path: Path) -> None:
    result = cli("attest", str(MODEL))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    check_statement(doc)
    assert doc["predicate"]["verdict"] == "pass"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "weights.safetensors").write_text(LFS_POINTER)
    failed = cli("attest", str(bad), "-o", str(tmp_path / "a.json"))
    assert failed.exit_code == 1
    assert json.loads((tmp_path / "a.json").read_text())["predicate"]["verdict"] == "fail"
    assert "verdict fail" in failed.stderr


def test_signed_provenance_and_scan_attestation_verify_with_a_key(
    model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    prov, scan = tmp_path / "prov.bundle.json", tmp_path / "scan.bundle.json"
    made = cli("provenance", str(model), "--sign", "--key", str(private), "-o", str(prov))
    assert made.exit_code == 0, made.stderr
    assert json.loads(prov.read_text())["dsseEnvelope"]["payloadType"] == (
        "application/vnd.in-toto+json"
    )
    made = cli("attest", str(model), "--sign", "--key", str(private), "-o", str(scan))
    assert made.exit_code == 0, made.stderr

    for bundle, kind in ((prov, "provenance/v1"), (scan, "attestations/scan/v1")):
        ok = cli("verify-attestation", str(bundle), str(model), "--key", str(public), "-f", "json")
        assert ok.exit_code == 0, ok.stderr
        result = json.loads(ok.stdout)
        assert result["verified"] and result["predicate_type"].endswith(kind)
        assert result["subjects"] == 9

    builder = "https://mlchain.dev/builders/local/v1"
    pinned = cli(
        "verify-attestation", str(prov), str(model), "--key", str(public), "--builder-id", builder
    )
    assert pinned.exit_code == 0, pinned.stderr
    other_builder = cli(
        "verify-attestation",
        str(prov),
        str(model),
        "--key",
        str(public),
        "--builder-id",
        "https://x/y",
    )
    assert other_builder.exit_code == 1
    assert "expected 'https://x/y'" in other_builder.stderr

    wrong_type = cli(
        "verify-attestation",
        str(prov),
        str(model),
        "--key",
        str(public),
        "--predicate-type",
        "https://mlchain.dev/attestations/scan/v1",
    )
    assert wrong_type.exit_code == 1

    (model / "model-00002-of-00002.safetensors").write_bytes(b"\0" * 16)
    changed = cli("verify-attestation", str(scan), str(model), "--key", str(public))
    assert changed.exit_code == 1
    assert "model-00002-of-00002.safetensors: digest differs" in changed.stderr
    assert f"attestation FAILED: {scan}" in changed.stdout

    (model / "extra.py").write_text("print('hi')\n")
    extra = cli("verify-attestation", str(prov), str(model), "--key", str(public), "-f", "json")
    errors = json.loads(extra.stdout)["errors"]
    assert "extra.py: on disk but not covered by the attestation" in errors


def test_verify_attestation_with_another_key_fails(keys: tuple[Path, Path], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private, _ = keys
    bundle = tmp_path / "b.json"
    cli("provenance", str(MODEL), "--sign", "--key", str(private), "-o", str(bundle))
    other = tmp_path / "other.pub"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = cli("verify-attestation", str(bundle), str(MODEL), "--key", str(other))
    assert result.exit_code == 1
    missing = cli("verify-attestation", str(bundle), str(MODEL))
    assert missing.exit_code == 2
    assert "--key" in missing.stderr


def test_keyless_provenance_with_a_local_sigstore(
    fake_sigstore: FakeSigstoreSession,  # noqa: F811
    tmp_path: Path,
) -> None:
    identity = "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main"
    token = fake_sigstore.mint_token(identity)
    bundle = tmp_path / "prov.bundle.json"
    trust = str(fake_sigstore.trust_config)
    made = cli(
        "provenance",
        str(MODEL),
        "--sign",
        "--identity-token",
        token,
        "--trust-config",
        trust,
        "-o",
        str(bundle),
    )
    assert made.exit_code == 0, made.stderr
    common = ("--issuer", fake_sigstore.issuer, "--trust-config", trust)
    ok = cli("verify-attestation", str(bundle), str(MODEL), "--identity", identity, *common)
    assert ok.exit_code == 0, ok.stderr
    assert identity in ok.stdout
    wrong = cli("verify-attestation", str(bundle), str(MODEL), "--identity", "x@y.z", *common)
    assert wrong.exit_code == 1


def test_help_lists_the_new_commands() -> None:
    result = run_cli("--help")
    for command in ("provenance", "sbom", "attest", "verify-attestation"):
        assert command in result.stdout


def _hf_cache(tmp_path: Path) -> tuple[Path, str]:
    """A Hugging Face cache repository holding the tiny-llama files as blobs."""
    import hashlib

    commit = "f" * 40
    repo = tmp_path / "hub" / "models--acme--tiny-llama"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for source in sorted(MODEL.iterdir()):
        data = source.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / source.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    return repo, commit


def test_hugging_face_cache_snapshot(tmp_path: Path) -> None:
    repo, commit = _hf_cache(tmp_path)
    prov = cli("provenance", str(repo), "--no-git")
    assert prov.exit_code == 0, prov.stderr
    subjects = {s["name"]: s["digest"]["sha256"] for s in json.loads(prov.stdout)["subject"]}
    assert subjects == file_digests(MODEL)
    bom = cli("sbom", str(repo / "snapshots" / commit))
    assert bom.exit_code == 0, bom.stderr
    model = json.loads(bom.stdout)["metadata"]["component"]
    assert model["purl"] == f"pkg:huggingface/acme/tiny-llama@{commit}"
    attest = cli("attest", str(repo))
    assert attest.exit_code == 0, attest.stderr
    assert "notInReport" not in json.loads(attest.stdout)["predicate"]


def test_tampered_hugging_face_cache_blob_is_refused(tmp_path: Path) -> None:
    repo, _ = _hf_cache(tmp_path)
    blob = next(p for p in (repo / "blobs").iterdir())
    blob.write_bytes(b"tampered")
    result = cli("provenance", str(repo))
    assert result.exit_code == 3
    assert "does not have the sha256 its name promises" in result.stderr


def test_hugging_face_cache_link_leaving_the_repository(tmp_path: Path) -> None:
    repo, commit = _hf_cache(tmp_path)
    (repo / "snapshots" / commit / "evil.json").symlink_to(MODEL / "config.json")
    result = cli("sbom", str(repo))
    assert result.exit_code == 2
    assert "links outside its cached repository" in result.stderr


def test_signed_sbom_attestation(model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    plain = cli("sbom", str(model), "--attestation")
    assert plain.exit_code == 0, plain.stderr
    doc = json.loads(plain.stdout)
    check_statement(doc)
    assert doc["predicateType"] == "https://cyclonedx.org/bom"
    assert (
        JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc["predicate"])) is None
    )
    assert doc["predicate"] == json.loads(cli("sbom", str(model)).stdout)

    bundle = tmp_path / "bom.bundle.json"
    made = cli("sbom", str(model), "--sign", "--key", str(keys[0]), "-o", str(bundle))
    assert made.exit_code == 0, made.stderr
    ok = cli("verify-attestation", str(bundle), str(model), "--key", str(keys[1]), "-f", "json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["details"]["serial_number"] == doc["predicate"]["serialNumber"]
    xml = cli("sbom", str(model), "--attestation", "-f", "xml")
    assert xml.exit_code == 2


def test_help_of_the_new_commands_imports_nothing_heavy() -> None:
    import os
    import subprocess
    import sys

    from helpers import REPO

    code = (
        "import sys\n"
        "from mlchain.cli import app\n"
        "from typer.testing import CliRunner\n"
        "for cmd in ('provenance', 'sbom', 'attest', 'verify-attestation'):\n"
        "    assert CliRunner().invoke(app, [cmd, '--help']).exit_code == 0, cmd\n"
        "heavy = ('model_signing', 'sigstore', 'cyclonedx', 'yaml', 'jsonschema', 'gguf')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_ignore_is_read_like_mlchain_sign(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(model.parent)
    for spelling in (
        "README.md",
        "./README.md",
        f"{model.name}/README.md",
        str(model / "README.md"),
    ):
        result = cli("provenance", str(model), "--no-git", "--ignore", spelling)
        assert result.exit_code == 0, result.stderr
        names = [s["name"] for s in json.loads(result.stdout)["subject"]]
        assert "README.md" not in names and len(names) == 8, spelling


def test_certificate_signed_scan_attestation(model: Path, tmp_path: Path) -> None:
    from signing_helpers import write_pki

    pki = write_pki(tmp_path)
    bundle = tmp_path / "scan.bundle.json"
    made = cli(
        "attest",
        str(model),
        "--sign",
        "--key",
        str(pki.leaf_key),
        "--certificate",
        str(pki.leaf),
        "--certificate-chain",
        str(pki.chain),
        "-o",
        str(bundle),
    )
    assert made.exit_code == 0, made.stderr
    ok = cli("verify-attestation", str(bundle), str(model), "--certificate-chain", str(pki.ca))
    assert ok.exit_code == 0, ok.stderr
    other = write_pki(tmp_path, name="other")
    bad = cli("verify-attestation", str(bundle), str(model), "--certificate-chain", str(other.ca))
    assert bad.exit_code == 1


def test_deploy_gate_end_to_end(model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    """sign + provenance + attest -> verify --attestation -> policy check (key authority)."""
    private, public = keys
    out = tmp_path / "out"
    out.mkdir()
    assert cli("sign", str(model), "--key", str(private)).exit_code == 0
    prov, scan = out / "prov.bundle.json", out / "scan.bundle.json"
    assert (
        cli("provenance", str(model), "--sign", "--key", str(private), "-o", str(prov)).exit_code
        == 0
    )
    assert (
        cli("attest", str(model), "--sign", "--key", str(private), "-o", str(scan)).exit_code == 0
    )
    assert cli("scan", str(model), "-f", "json", "-o", str(out / "scan.json")).exit_code == 0
    verify = cli(
        "verify", str(model), "--key", str(public), "--attestation", str(prov),
        "--attestation", str(scan), "-f", "json", "-o", str(out / "verify.json"),
    )  # fmt: skip
    assert verify.exit_code == 0, verify.stderr
    result = json.loads((out / "verify.json").read_text())
    assert [a["verified"] for a in result["attestations"]] == [True, True]
    assert {a["predicate_type"] for a in result["attestations"]} == {
        "https://slsa.dev/provenance/v1",
        "https://mlchain.dev/attestations/scan/v1",
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\nspec:\n"
        f"  authorities:\n    - name: ci\n      key:\n        path: {public}\n"
        "  attestations:\n    - type: provenance\n    - type: scan\n"
        "  scan:\n    failOn: medium\n"
    )
    args = ("policy", "check", "--policy", str(policy), "--verification", str(out / "verify.json"))
    gate = cli(*args, "--scan", str(out / "scan.json"))
    assert gate.exit_code == 0, gate.stdout + gate.stderr

    statement = out / "prov.json"
    checked = cli(
        "verify-attestation", str(prov), str(model), "--key", str(public),
        "--statement-output", str(statement),
    )  # fmt: skip
    assert checked.exit_code == 0, checked.stderr
    builder_policy = tmp_path / "builder.yaml"
    builder_policy.write_text(
        policy.read_text() + "  validations:\n    - name: builder\n      expression: >-\n"
        "        provenance.predicate.runDetails.builder.id =="
        " 'https://mlchain.dev/builders/local/v1'\n      message: unexpected builder\n"
    )
    built = cli(
        "policy", "check", "--policy", str(builder_policy), "--verification",
        str(out / "verify.json"), "--scan", str(out / "scan.json"), "--provenance", str(statement),
    )  # fmt: skip
    assert built.exit_code == 0, built.stdout + built.stderr
    builder_policy.write_text(builder_policy.read_text().replace("local/v1", "other/v1"))
    wrong = cli(
        "policy", "check", "--policy", str(builder_policy), "--verification",
        str(out / "verify.json"), "--scan", str(out / "scan.json"), "--provenance", str(statement),
    )  # fmt: skip
    assert wrong.exit_code == 1

    (model / "tokenizer.json").write_text("{}")
    again = cli(
        "verify", str(model), "--key", str(public), "--attestation", str(scan), "-f", "json",
        "-o", str(out / "verify.json"),
    )  # fmt: skip
    assert again.exit_code == 1
    entry = json.loads((out / "verify.json").read_text())["attestations"][0]
    assert entry["verified"] is False
    assert "tokenizer.json: digest differs" in entry["errors"][0]
    assert cli(*args, "--scan", str(out / "scan.json")).exit_code == 1


def test_verify_attestation_signed_by_someone_else(
    model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    from signing_helpers import write_key

    private, public = keys
    assert cli("sign", str(model), "--key", str(private)).exit_code == 0
    other = write_key(tmp_path, name="other")
    bundle = tmp_path / "scan.bundle.json"
    made = cli("attest", str(model), "--sign", "--key", str(other.private), "-o", str(bundle))
    assert made.exit_code == 0, made.stderr
    result = cli("verify", str(model), "--key", str(public), "--attestation", str(bundle))
    assert result.exit_code == 1
    assert "VERIFIED:" in result.stdout  # the model signature itself is fine
    assert f"attestation FAILED: {bundle}" in result.stdout
    assert "an attestation did not verify" in result.stderr
