"""Build and push model artifacts (ModelPack, ModelKit, modelcar) to the test registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass

from mlchain.sources.oci import OCI_EMPTY, OCI_MANIFEST
from mlchain.sources.oci_client import RegistryClient
from mlchain.sources.oci_model import (
    KITOPS_CONFIG,
    MODELPACK_ARTIFACT,
    MODELPACK_CONFIG,
    MODELPACK_FILEPATH,
)


@dataclass
class Pushed:
    """What was pushed: the manifest digest and the raw manifest bytes."""

    digest: str
    raw: bytes
    manifest: dict[str, object]


def tar_bytes(members: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    """A tar archive of regular files (and symlinks), in the given order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return out.getvalue()


def _descriptor(client: RegistryClient, repo: str, media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": client.push_blob(repo, data), "size": len(data)}


def push_manifest(client: RegistryClient, repo: str, tag: str, manifest: dict) -> Pushed:
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    digest = client.put_manifest(repo, tag, raw, OCI_MANIFEST)
    return Pushed(digest, raw, manifest)


def push_modelpack(
    client: RegistryClient,
    repo: str,
    tag: str,
    files: dict[str, bytes],
    *,
    tar_files: dict[str, bytes] | None = None,
) -> Pushed:
    """A ModelPack artifact: one raw layer per file, plus an optional tar+gzip layer."""
    config = json.dumps({"descriptor": {"name": repo}, "modelfs": {"type": "layers"}}).encode()
    layers = []
    for name, data in files.items():
        kind = "weight" if name.endswith((".safetensors", ".bin", ".pt", ".gguf")) else "doc"
        layer = _descriptor(client, repo, f"application/vnd.cncf.model.{kind}.v1.raw", data)
        layer["annotations"] = {MODELPACK_FILEPATH: name}
        layers.append(layer)
    if tar_files:
        blob = gzip.compress(tar_bytes(tar_files), mtime=0)
        layer = _descriptor(client, repo, "application/vnd.cncf.model.code.v1.tar+gzip", blob)
        layer["annotations"] = {MODELPACK_FILEPATH: "code"}
        layers.append(layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MODELPACK_ARTIFACT,
        "config": _descriptor(client, repo, MODELPACK_CONFIG, config),
        "layers": layers,
    }
    return push_manifest(client, repo, tag, manifest)


def push_modelkit(client: RegistryClient, repo: str, tag: str, files: dict[str, bytes]) -> Pushed:
    """A KitOps ModelKit: one tar layer per file (model files in a model layer)."""
    config = json.dumps({"manifestVersion": "1.0.0", "package": {"name": repo}}).encode()
    layers = []
    for name, data in files.items():
        kind = "model" if name.endswith((".safetensors", ".bin", ".pt", ".pkl")) else "docs"
        media = f"application/vnd.kitops.modelkit.{kind}.v1.tar"
        layers.append(_descriptor(client, repo, media, tar_bytes({name: data})))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(client, repo, KITOPS_CONFIG, config),
        "layers": layers,
    }
    return push_manifest(client, repo, tag, manifest)


def push_modelcar(
    client: RegistryClient,
    repo: str,
    tag: str,
    layer_members: list[dict[str, bytes]],
    *,
    links: dict[str, str] | None = None,
) -> Pushed:
    """An image-shaped modelcar: tar+gzip layers whose members hold /models/..."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    layers = []
    for index, members in enumerate(layer_members):
        blob = gzip.compress(
            tar_bytes(members, links=links if index == len(layer_members) - 1 else None), mtime=0
        )
        layers.append(
            _descriptor(client, repo, "application/vnd.oci.image.layer.v1.tar+gzip", blob)
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(client, repo, "application/vnd.oci.image.config.v1+json", config),
        "layers": layers,
    }
    return push_manifest(client, repo, tag, manifest)


__all__ = ["OCI_EMPTY", "push_modelcar", "push_modelkit", "push_modelpack", "tar_bytes"]
