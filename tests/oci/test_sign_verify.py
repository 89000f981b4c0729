"""Sign and verify models in the registry by manifest (mlchain issue #17, item 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_cli
from mlchain.signing.sign import SigningMethod
from mlchain.signing.verify import VerificationMethod
from mlchain.sources.oci import RegistryError, fallback_tag, parse_oci_uri
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_sign import BUNDLE_ARTIFACT_TYPE, sign_oci, verify_oci
from oci.models import push_modelcar, push_modelpack
from oci.proxy import RegistryProxy
from oci.registry import Registry
from signing_helpers import KeyPair, write_key

FILES = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "README.md": b"hi"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    folder = tmp_path_factory.mktemp("keys")
    return write_key(folder, "signer"), write_key(folder, "other")


@pytest.fixture
def api_proxy(registry: Registry) -> Iterator[RegistryProxy]:
    with RegistryProxy(registry.host, referrers_api=True) as proxy:
        yield proxy


def _ref(host: str, path: str) -> object:
    return parse_oci_uri(f"oci://{host}/{path}")


def test_sign_then_verify_without_downloading_weights(
    registry: Registry, keys: tuple[KeyPair, KeyPair]
) -> None:
    signer, _ = keys
    weights = b"\x00" * (2 * 1024 * 1024)
    with RegistryProxy(registry.host) as proxy:
        client = RegistryClient(proxy.host)
        pushed = push_modelpack(client, "sv/pack", "v1", {**FILES, "weights.bin": weights})
        result = sign_oci(client, _ref(proxy.host, "sv/pack:v1"), SigningMethod.key(signer.private))
        assert result.found_by == "tag-schema"  # Debian's registry has no referrers API
        assert result.manifest_digest == pushed.digest
        proxy.reset()
        ref = _ref(proxy.host, f"sv/pack@{pushed.digest}")
        verification = verify_oci(
            RegistryClient(proxy.host), ref, VerificationMethod.key(signer.public)
        )
        assert verification.verified, verification.errors
        assert set(verification.files) == {"model.safetensors", "README.md", "weights.bin"}
        assert proxy.bytes_served < len(weights) // 20, proxy.requests
        layer_digests = {d["digest"] for d in pushed.manifest["layers"]}
        assert not any(d in path for _, path, _ in proxy.requests for d in layer_digests)


def test_referrer_is_stored_as_cosign_does(
    registry: Registry, keys: tuple[KeyPair, KeyPair]
) -> None:
    signer, _ = keys
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "sv/shape", "v1", FILES)
    result = sign_oci(client, _ref(registry.host, "sv/shape:v1"), SigningMethod.key(signer.private))
    index = client.get_manifest("sv/shape", fallback_tag(pushed.digest))
    (entry,) = index.data["manifests"]
    assert entry["artifactType"] == BUNDLE_ARTIFACT_TYPE
    referrer = client.get_manifest("sv/shape", result.signature_digest)
    assert referrer.data["subject"]["digest"] == pushed.digest
    assert referrer.data["artifactType"] == BUNDLE_ARTIFACT_TYPE
    assert referrer.data["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert referrer.layers[0]["mediaType"] == BUNDLE_ARTIFACT_TYPE
    statement = json.loads(
        __import__("base64").b64decode(json.loads(result.bundle)["dsseEnvelope"]["payload"])
    )
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    assert statement["subject"][0]["name"] == f"sv/shape@{pushed.digest}"
    resources = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
    assert resources == {
        d["annotations"]["org.cncf.model.filepath"]: d["digest"].split(":")[1]
        for d in pushed.manifest["layers"]
    }


def test_referrers_api_path(api_proxy: RegistryProxy, keys: tuple[KeyPair, KeyPair]) -> None:
    signer, _ = keys
    client = RegistryClient(api_proxy.host)
    pushed = push_modelpack(client, "sv/api", "v1", FILES)
    result = sign_oci(client, _ref(api_proxy.host, "sv/api:v1"), SigningMethod.key(signer.private))
    assert result.found_by == "referrers-api"
    with pytest.raises(RegistryError, match=r"HTTP 404"):
        client.get_manifest("sv/api", fallback_tag(pushed.digest))  # no tag index written
    ref = _ref(api_proxy.host, f"sv/api@{pushed.digest}")
    verification = verify_oci(client, ref, VerificationMethod.key(signer.public))
    assert verification.verified, verification.errors
    assert "referrers-api" in verification.signature


def test_tampered_tag_fails_verification(registry: Registry, keys: tuple[KeyPair, KeyPair]) -> None:
    """Push a different blob under the same tag: the signed layer digest no longer matches."""
    signer, _ = keys
    client = RegistryClient(registry.host)
    first = push_modelpack(client, "sv/tamper", "v1", FILES)
    sign_oci(
        client,
        _ref(registry.host, "sv/tamper:v1"),
        SigningMethod.key(signer.private),
        bind_manifest=False,
    )
    # An attacker with push access re-tags: one layer changed, the old signature copied along.
    second = push_modelpack(client, "sv/tamper", "v1", {**FILES, "README.md": b"pwned"})
    assert second.digest != first.digest
    index = client.get_manifest("sv/tamper", fallback_tag(first.digest))
    client.put_manifest(
        "sv/tamper",
        fallback_tag(second.digest),
        index.raw,
        "application/vnd.oci.image.index.v1+json",
    )
    good = verify_oci(
        client,
        _ref(registry.host, f"sv/tamper@{first.digest}"),
        VerificationMethod.key(signer.public),
    )
    assert good.verified, good.errors
    bad = verify_oci(
        client, _ref(registry.host, "sv/tamper:v1"), VerificationMethod.key(signer.public)
    )
    assert not bad.verified
    # The copied index points at a referrer whose subject is the old manifest: not accepted.
    assert "No signature found" in bad.errors[0]


def test_changed_layer_is_named_in_the_errors(
    registry: Registry, keys: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    signer, _ = keys
    client = RegistryClient(registry.host)
    push_modelpack(client, "sv/change", "v1", FILES)
    bundle = tmp_path / "model.sig"
    result = sign_oci(
        client,
        _ref(registry.host, "sv/change:v1"),
        SigningMethod.key(signer.private),
        bind_manifest=False,
        push=False,
    )
    bundle.write_text(result.bundle)
    push_modelpack(
        client, "sv/change", "v2", {**FILES, "model.safetensors": FILES["model.safetensors"] + b" "}
    )
    changed = verify_oci(
        client,
        _ref(registry.host, "sv/change:v2"),
        VerificationMethod.key(signer.public),
        signature=bundle,
    )
    assert not changed.verified
    assert changed.errors[0].startswith("model.safetensors: changed")


def test_bound_manifest_refuses_another_manifest(
    registry: Registry, keys: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    signer, _ = keys
    client = RegistryClient(registry.host)
    push_modelpack(client, "sv/bound", "v1", FILES)
    result = sign_oci(
        client, _ref(registry.host, "sv/bound:v1"), SigningMethod.key(signer.private), push=False
    )
    bundle = tmp_path / "model.sig"
    bundle.write_text(result.bundle)
    # Same layers, another manifest (an annotation added): the binding catches it.
    manifest = client.get_manifest("sv/bound", "v1").data
    manifest["annotations"] = {"org.opencontainers.image.description": "re-wrapped"}
    raw = json.dumps(manifest).encode()
    client.put_manifest("sv/bound", "v2", raw, "application/vnd.oci.image.manifest.v1+json")
    other = verify_oci(
        client,
        _ref(registry.host, "sv/bound:v2"),
        VerificationMethod.key(signer.public),
        signature=bundle,
    )
    assert not other.verified
    assert "bound to the manifest" in other.errors[0]


def test_wrong_key_and_missing_signature(registry: Registry, keys: tuple[KeyPair, KeyPair]) -> None:
    signer, other = keys
    client = RegistryClient(registry.host)
    push_modelpack(client, "sv/keys", "v1", FILES)
    unsigned = verify_oci(
        client, _ref(registry.host, "sv/keys:v1"), VerificationMethod.key(signer.public)
    )
    assert not unsigned.verified
    assert "No signature found" in unsigned.errors[0]
    sign_oci(client, _ref(registry.host, "sv/keys:v1"), SigningMethod.key(signer.private))
    wrong = verify_oci(
        client, _ref(registry.host, "sv/keys:v1"), VerificationMethod.key(other.public)
    )
    assert not wrong.verified
    assert "different key" in wrong.errors[0] or "does not verify" in wrong.errors[0]


def test_modelcar_signed_by_layer(registry: Registry, keys: tuple[KeyPair, KeyPair]) -> None:
    signer, _ = keys
    client = RegistryClient(registry.host)
    push_modelcar(client, "sv/car", "v1", [{"models/a.bin": b"a"}, {"models/b.bin": b"b"}])
    result = sign_oci(client, _ref(registry.host, "sv/car:v1"), SigningMethod.key(signer.private))
    assert set(result.files) == {"layer-0.tar", "layer-1.tar"}
    assert verify_oci(
        client, _ref(registry.host, "sv/car:v1"), VerificationMethod.key(signer.public)
    ).verified


def test_cli_sign_verify_and_json(
    registry: Registry, keys: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    signer, other = keys
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "sv/cli", "v1", FILES)
    uri = f"oci://{registry.host}/sv/cli:v1"
    signed = run_cli(
        "sign", uri, "--key", str(signer.private), "--signature", str(tmp_path / "b.sig")
    )
    assert signed.exit_code == 0, signed.stderr
    assert pushed.digest in signed.stderr
    assert (tmp_path / "b.sig").is_file()
    pinned = f"oci://{registry.host}/sv/cli@{pushed.digest}"
    ok = run_cli("verify", pinned, "--key", str(signer.public), "--format", "json")
    assert ok.exit_code == 0, ok.stderr
    document = json.loads(ok.stdout)
    assert document["verified"] is True
    assert document["oci"]["reference"] == pinned
    bad = run_cli("verify", pinned, "--key", str(other.public))
    assert bad.exit_code == 1
    assert "Do not deploy" in bad.stderr
    from_file = run_cli(
        "verify", uri, "--key", str(signer.public), "--signature", str(tmp_path / "b.sig")
    )
    assert from_file.exit_code == 0, from_file.stderr
    assert f"resolved {uri} to {pushed.digest}" in from_file.stderr


def test_raw_layer_signature_also_verifies_the_pulled_folder(
    registry: Registry, keys: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    """Raw ModelPack layers: the layer digest is the file's sha256, so OMS folder verify agrees."""
    signer, _ = keys
    client = RegistryClient(registry.host)
    push_modelpack(client, "sv/folder", "v1", FILES)
    result = sign_oci(
        client, _ref(registry.host, "sv/folder:v1"), SigningMethod.key(signer.private), push=False
    )
    folder = tmp_path / "model"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    bundle = tmp_path / "model.sig"
    bundle.write_text(result.bundle)
    verified = run_cli(
        "verify", str(folder), "--key", str(signer.public), "--signature", str(bundle)
    )
    assert verified.exit_code == 0, verified.stderr


def test_verify_reports_the_signed_model_name_and_digest(
    registry: Registry, keys: tuple[KeyPair, KeyPair]
) -> None:
    signer, _ = keys
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "sv/named", "v1", FILES)
    sign_oci(client, _ref(registry.host, "sv/named:v1"), SigningMethod.key(signer.private))
    result = run_cli(
        "verify", f"oci://{registry.host}/sv/named:v1", "--key", str(signer.public), "-f", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model_name"] == f"sv/named@{pushed.digest}"
    assert len(document["model_digest"]) == 64
