"""`mlchain scan oci://...` against a real registry: layouts, equality with the folder scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions
from mlchain.sources.oci import RegistryError, parse_oci_uri
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_model import scan_oci
from oci.helpers import finding_keys, fixture_files, write_folder
from oci.models import push_modelcar, push_modelkit, push_modelpack
from oci.registry import Registry

PICKLES = [
    "pickle/malicious/cprofile_run.pkl",
    "pickle/malicious/build_setstate_injection.pkl",
    "pickle/malicious/ext_opcode.pkl",
]
SAFETENSORS = [
    "safetensors/benign/f32.safetensors",
    "safetensors/benign/with_metadata.safetensors",
    "safetensors/malicious/appended_pickle.safetensors",
    "safetensors/malicious/offsets_past_eof.safetensors",
    "safetensors/malicious/overlapping_offsets.safetensors",
    "safetensors/malicious/header_past_eof.safetensors",
    "safetensors/malicious/gap_between_tensors.safetensors",
    "safetensors/malicious/huge_header_length.safetensors",
]
GGUF = ["gguf/benign/chatml.gguf", "gguf/malicious/cve_2024_34359_template.gguf"]


def _ref(registry: Registry, path: str) -> object:
    return parse_oci_uri(f"oci://{registry.host}/{path}")


def _folder_report(tmp_path: Path, files: dict[str, bytes]) -> object:
    return scan_paths([write_folder(tmp_path / "folder", files)], ScanOptions(jobs=1))


def test_modelpack_scan_equals_folder_scan(registry: Registry, tmp_path: Path) -> None:
    files = fixture_files(PICKLES + SAFETENSORS + GGUF)
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "scan/pack", "v1", files)
    report, pulled = scan_oci(client, _ref(registry, "scan/pack:v1"), ScanOptions(jobs=1))
    folder = _folder_report(tmp_path, files)
    assert finding_keys(report) == finding_keys(folder)
    assert report.findings, "the malicious fixtures must be found"
    assert report.metadata["oci_manifest_digest"] == pushed.digest
    assert report.metadata["oci_layout"] == "modelpack"
    layer_digests = {
        layer["annotations"]["org.cncf.model.filepath"]: layer["digest"]
        for layer in pushed.manifest["layers"]
    }
    assert json.loads(report.metadata["oci_files"]) == layer_digests
    assert report.roots == (f"oci://{registry.host}/scan/pack@{pushed.digest}",)
    by_path = {str(r.location.path): r for r in report.results}
    assert by_path["cprofile_run.pkl"].sha256 == layer_digests["cprofile_run.pkl"][7:]
    assert "f32.safetensors" in pulled.header_only


def test_safetensors_layers_are_read_header_only(registry: Registry, tmp_path: Path) -> None:
    """A 16 MiB safetensors layer: two small range requests, not the tensor bytes."""
    import struct

    size = 16 * 1024 * 1024
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}})
    header_bytes = header.encode().ljust(64 * ((len(header) + 63) // 64))
    blob = struct.pack("<Q", len(header_bytes)) + header_bytes + bytes(size)
    client = RegistryClient(registry.host)
    push_modelpack(client, "scan/big", "v1", {"big.safetensors": blob})
    reader = RegistryClient(registry.host)
    report, pulled = scan_oci(reader, _ref(registry, "scan/big:v1"), ScanOptions(jobs=1))
    assert pulled.header_only == ["big.safetensors"]
    assert reader.bytes_received < 80 * 1024, reader.bytes_received  # 64 KiB head + header
    assert finding_keys(report) == finding_keys(_folder_report(tmp_path, {"big.safetensors": blob}))


def test_modelkit_scan_equals_folder_scan(registry: Registry, tmp_path: Path) -> None:
    files = fixture_files([*PICKLES, "safetensors/benign/f32.safetensors"])
    client = RegistryClient(registry.host)
    push_modelkit(client, "scan/kit", "v1", files)
    report, _ = scan_oci(client, _ref(registry, "scan/kit:v1"), ScanOptions(jobs=1))
    assert report.metadata["oci_layout"] == "modelkit"
    assert finding_keys(report) == finding_keys(_folder_report(tmp_path, files))
    assert {f.rule_id for f in report.findings} >= {"pickle-dangerous-call"}


def test_modelcar_scan_equals_folder_scan_under_models(registry: Registry, tmp_path: Path) -> None:
    files = fixture_files(PICKLES)
    members = {f"models/{name}": data for name, data in files.items()}
    members["bin/busybox"] = b"\x7fELF not part of the model"
    client = RegistryClient(registry.host)
    push_modelcar(client, "scan/car", "v1", [members])
    report, pulled = scan_oci(client, _ref(registry, "scan/car:v1"), ScanOptions(jobs=1))
    assert report.metadata["oci_layout"] == "modelcar"
    assert set(pulled.files) == set(files)
    assert finding_keys(report) == finding_keys(_folder_report(tmp_path, files))


def test_modelcar_link_escape_and_duplicate_are_findings(registry: Registry) -> None:
    """Tar links, path escapes and a name in two layers (mlchain issue #17, item 2)."""
    client = RegistryClient(registry.host)
    push_modelcar(
        client,
        "scan/evilcar",
        "v1",
        [
            {"models/model.pkl": b"\x80\x04K\x01."},
            {"models/model.pkl": b"\x80\x04K\x02.", "models/../../etc/cron.d/x": b"* * * * *"},
        ],
        links={"models/weights.bin": "/etc/shadow"},
    )
    report, pulled = scan_oci(client, _ref(registry, "scan/evilcar:v1"), ScanOptions(jobs=1))
    problems = {
        (str(f.location.path), f.message.split(";")[0])
        for f in report.findings
        if f.rule_id == "archive-suspicious-member"
    }
    messages = " ".join(m for _, m in problems)
    assert "names this file twice" in messages
    assert "climbs out" in messages
    assert "link" in messages
    assert ("weights.bin", "a layer member is a link or special file") in problems
    assert set(pulled.files) == {"model.pkl"}


def test_altered_blob_is_refused(registry: Registry) -> None:
    """A registry serving bytes that do not hash to the layer digest is caught."""
    client = RegistryClient(registry.host)
    original = b"\x80\x04X\x0c\x00\x00\x00altered-test\x94."  # unique: blobs are shared
    pushed = push_modelpack(client, "scan/altered", "v1", {"model.pkl": original})
    digest = pushed.manifest["layers"][0]["digest"].split(":")[1]
    data = next(registry.root.glob(f"data/docker/registry/v2/blobs/sha256/*/{digest}/data"))
    data.write_bytes(original.replace(b"altered", b"ALTERED"))  # same size, other bytes
    try:
        with pytest.raises(RegistryError, match="altered"):
            scan_oci(client, _ref(registry, "scan/altered:v1"), ScanOptions(jobs=1))
    finally:
        data.write_bytes(original)


def test_index_is_refused_with_the_digests_to_pick(registry: Registry) -> None:
    client = RegistryClient(registry.host)
    pushed = push_modelpack(client, "scan/multi", "v1", {"a.txt": b"hello"})
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": pushed.digest,
                "size": len(pushed.raw),
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    raw = json.dumps(index).encode()
    client.put_manifest("scan/multi", "idx", raw, "application/vnd.oci.image.index.v1+json")
    from mlchain.errors import UsageError

    with pytest.raises(UsageError) as caught:
        scan_oci(client, _ref(registry, "scan/multi:idx"), ScanOptions(jobs=1))
    assert "image index" in caught.value.message
    assert pushed.digest in caught.value.hint


def test_require_pinned_refuses_a_tag(registry: Registry) -> None:
    from mlchain.errors import UsageError

    with pytest.raises(UsageError, match="not pinned"):
        scan_oci(
            RegistryClient(registry.host),
            _ref(registry, "scan/pack:v1"),
            ScanOptions(),
            require_pinned=True,
        )
