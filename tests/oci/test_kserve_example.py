"""deploy/kubernetes/kserve-oci: the manifests parse, the policy loads, the script gates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlchain.policy import load_policy
from mlchain.signing.sign import SigningMethod
from mlchain.sources.oci import parse_oci_uri
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_sign import sign_oci
from oci.helpers import fixture_files
from oci.models import push_modelpack
from oci.registry import Registry
from signing_helpers import write_key

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "kserve-oci"
SCRIPT = EXAMPLE / "pull-verify-publish.sh"


def test_manifests_parse_and_pin_a_digest() -> None:
    (csc,) = yaml.safe_load_all((EXAMPLE / "cluster-storage-container.yaml").read_text())
    (isvc,) = yaml.safe_load_all((EXAMPLE / "inferenceservice.yaml").read_text())
    prefix = csc["spec"]["supportedUriFormats"][0]["prefix"]
    uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    assert uri.startswith(prefix)
    ref = parse_oci_uri(uri)
    assert ref is not None
    assert ref.digest is not None
    env = {e["name"]: e["value"] for e in csc["spec"]["container"]["env"]}
    assert env["MLCHAIN_ALLOWED_PREFIX"] == prefix
    assert load_policy(EXAMPLE / "policy.yaml").name == "kserve-oci"


def _shim(folder: Path) -> dict[str, str]:
    """Put an `mlchain` executable running this checkout first on PATH."""
    shim = folder / "bin" / "mlchain"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlchain "$@"\n')
    shim.chmod(0o755)
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {
        **os.environ,
        "PATH": f"{shim.parent}:{os.environ['PATH']}",
        "PYTHONPATH": src,
    }


@pytest.mark.slow
def test_script_refuses_tags_and_foreign_registries_then_publishes(
    registry: Registry, tmp_path: Path
) -> None:
    keys = write_key(tmp_path, "release")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: p\nspec:\n"
        f"  authorities:\n    - name: k\n      key:\n        path: {keys.public}\n"
    )
    client = RegistryClient(registry.host)
    files = fixture_files(["safetensors/benign/f32.safetensors"])
    pushed = push_modelpack(client, "models/llama", "v1", files)
    sign_oci(
        client,
        parse_oci_uri(f"oci://{registry.host}/models/llama:v1"),
        SigningMethod.key(keys.private),
    )
    env = {
        **_shim(tmp_path),
        "MLCHAIN_POLICY": str(policy),
        "MLCHAIN_ALLOWED_PREFIX": f"oci://{registry.host}/models/",
    }

    def run(uri: str, dest: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(SCRIPT), uri, str(dest)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    tag = run(f"oci://{registry.host}/models/llama:v1", tmp_path / "a")
    assert tag.returncode == 1
    assert "pin the model by digest" in tag.stderr
    foreign = run(f"oci://127.0.0.2:1/models/llama@{pushed.digest}", tmp_path / "b")
    assert foreign.returncode == 1
    assert "not under" in foreign.stderr
    dest = tmp_path / "mnt" / "models"
    ok = run(f"oci://{registry.host}/models/llama@{pushed.digest}", dest)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
