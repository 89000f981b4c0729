"""Model layouts in OCI manifests, and scanning them without pulling everything.

Three shapes are understood:

- **CNCF ModelPack**: config ``application/vnd.cncf.model.config.v1+json``; layers
  ``application/vnd.cncf.model.<kind>.v1.<raw|tar|tar+gzip|tar+zstd>``, the file name in the
  ``org.cncf.model.filepath`` annotation (raw layers are the file's bytes, tar layers hold it);
- **KitOps ModelKits**: config ``application/vnd.kitops.modelkit.config.v1+json``; layers
  ``application/vnd.kitops.modelkit.<kind>.v1.tar[+gzip|+zstd]`` (members are model paths);
- **modelcars**: plain image manifests whose tar(.gz) layers hold the model under ``/models/``
  (KServe's convention); only that folder is reported.

Raw safetensors layers are read header-only with two HTTP range requests into a sparse file of
the layer's size, as for ``hf://``; every other layer is downloaded into a private temporary
folder, bounded, and its digest checked before any byte is used. Tar members are laid out by
mlchain itself (never ``tarfile.extract``): absolute names, ``..``, links, devices and names
that appear twice are findings and are not written.
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlchain.errors import UsageError
from mlchain.models import ArtifactFormat, Finding, Location, ScanReport, ScanResult
from mlchain.scan.base import ScanOptions, finding
from mlchain.sources.oci import (
    MAX_MANIFEST_BYTES,
    Manifest,
    OciRef,
    RegistryError,
    descriptor_digest,
    descriptor_size,
)
from mlchain.sources.oci_client import RangeNotServed, RegistryClient

MODELPACK_CONFIG = "application/vnd.cncf.model.config.v1+json"
MODELPACK_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
MODELPACK_PREFIX = "application/vnd.cncf.model."
MODELPACK_FILEPATH = "org.cncf.model.filepath"
KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
KITOPS_PREFIX = "application/vnd.kitops.modelkit."
IMAGE_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "tar",
}
TITLE = "org.opencontainers.image.title"
MODELCAR_ROOT = "models"
DEFAULT_MAX_BLOB = 16 * 1024**3
"""Largest layer downloaded for a scan (header-only layers are not bounded by it)."""
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
HEAD_WINDOW = 64 * 1024
"""Bytes format detection reads from the start of a file (``mlchain.scan.detect.HEAD_BYTES``)."""
GAP_PEEK = 64
"""Bytes fetched at the start of each undeclared gap (the scanner quotes the first 16)."""
MAX_REGIONS = 256
"""More separate ranges than this and the layer is downloaded instead."""


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer as the model sees it: where its files go and how it is packed."""

    digest: str
    size: int
    media_type: str
    packing: str
    """``raw``, ``tar``, ``tar+gzip`` or ``tar+zstd``."""
    path: str | None
    """Logical file name of a raw layer (``None`` for tar layers, whose members name files)."""


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """What a manifest holds: its layout name and the layers that carry model files."""

    kind: str
    """``modelpack``, ``modelkit`` or ``modelcar``."""
    layers: tuple[Layer, ...]


@dataclass(slots=True)
class Pulled:
    """A model laid out locally for scanning, with where each file came from."""

    ref: OciRef
    manifest: Manifest
    layout: ModelLayout
    root: Path
    files: dict[str, str] = field(default_factory=dict)
    """Logical file name -> digest of the layer it came from."""
    raw: set[str] = field(default_factory=set)
    """Files whose layer is the file itself (the layer digest is the file's sha256)."""
    header_only: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """Layout problems (tar escapes, links, duplicates, unsupported packing)."""


def _packing(media_type: str) -> str | None:
    for suffix in ("tar+gzip", "tar+zstd", "tar", "raw"):
        if media_type.endswith("." + suffix):
            return suffix
    return IMAGE_LAYER_TYPES.get(media_type)


def describe_layout(manifest: Manifest, uri: str) -> ModelLayout:
    """Classify a manifest and list its model layers.

    Raises:
        UsageError: the manifest is none of the three model shapes, or a raw layer has no
            usable file name.
    """
    config_type = str(manifest.config.get("mediaType", ""))
    artifact = str(manifest.data.get("artifactType", ""))
    if config_type == MODELPACK_CONFIG or artifact == MODELPACK_ARTIFACT:
        kind, prefix = "modelpack", MODELPACK_PREFIX
    elif config_type == KITOPS_CONFIG:
        kind, prefix = "modelkit", KITOPS_PREFIX
    elif any(str(d.get("mediaType")) in IMAGE_LAYER_TYPES for d in manifest.layers):
        kind, prefix = "modelcar", ""
    else:
        raise UsageError(
            f"{uri} is not a model: its config is {config_type or '(none)'!r} and no layer is "
            "a ModelPack, ModelKit or image layer.",
            hint="mlchain reads CNCF ModelPack, KitOps ModelKit and modelcar (image with "
            "/models) manifests.",
        )
    layers = []
    for descriptor in manifest.layers:
        media_type = str(descriptor.get("mediaType", ""))
        if prefix and not media_type.startswith(prefix):
            continue
        if not prefix and media_type not in IMAGE_LAYER_TYPES:
            continue
        packing = _packing(media_type)
        if packing is None:
            continue
        annotations = descriptor.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        path = None
        if packing == "raw":
            name = annotations.get(MODELPACK_FILEPATH) or annotations.get(TITLE)
            if not isinstance(name, str) or not name:
                raise UsageError(
                    f"{uri}: the raw layer {descriptor.get('digest')} has no "
                    f"{MODELPACK_FILEPATH} annotation, so its file name is unknown."
                )
            path = name
        layers.append(
            Layer(
                descriptor_digest(descriptor),
                descriptor_size(descriptor),
                media_type,
                packing,
                path,
            )
        )
    return ModelLayout(kind, tuple(layers))


def _clean_name(name: str) -> str | None:
    """A member or annotation name as a relative POSIX path, or ``None`` when it escapes."""
    if "\x00" in name or "\\" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class _Puller:
    """Lays layers out under ``root``; collects layout findings."""

    def __init__(
        self,
        client: RegistryClient,
        pulled: Pulled,
        options: ScanOptions,
        max_blob: int,
        *,
        header_only: bool = True,
    ) -> None:
        self.header_only = header_only
        self.client = client
        self.pulled = pulled
        self.options = options
        self.max_blob = max_blob
        self.repo = pulled.ref.repository

    def problem(self, rule: str, message: str, path: str, evidence: str | None = None) -> None:
        self.pulled.findings.append(
            finding(rule, message, Location(PurePosixPath(path)), evidence=evidence)
        )

    def target(self, logical: str, layer: Layer) -> Path | None:
        if logical in self.pulled.files:
            self.problem(
                "archive-suspicious-member",
                "the model names this file twice; which copy a loader reads depends on the tool",
                logical,
                evidence=f"layers {self.pulled.files[logical]} and {layer.digest}",
            )
            return None
        target = self.pulled.root.joinpath(*PurePosixPath(logical).parts)
        inside = list(target.parents)[: len(PurePosixPath(logical).parts) - 1]
        if target.exists() or any(p.is_file() for p in inside):
            self.problem("archive-suspicious-member", "a file and a folder share a name", logical)
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        self.pulled.files[logical] = layer.digest
        return target

    def raw(self, layer: Layer) -> None:
        assert layer.path is not None
        logical = _clean_name(layer.path)
        if logical is None:
            self.problem(
                "archive-suspicious-member",
                "a layer's file name is absolute or climbs out with '..'; it was not pulled",
                "(manifest)",
                evidence=layer.path,
            )
            return
        target = self.target(logical, layer)
        if target is None:
            return
        self.pulled.raw.add(logical)
        header_only = self.header_only and logical.endswith(".safetensors")
        if header_only and self._safetensors_header(layer, target):
            self.pulled.header_only.append(logical)
            return
        self.client.download_blob(self.repo, _descriptor(layer), target, self.max_blob)

    def _safetensors_header(self, layer: Layer, target: Path) -> bool:
        """Fetch only the header into a sparse file; ``False`` when it is not a plausible one."""
        if layer.size < 10:
            return False
        try:
            return self._read_safetensors_header(layer, target)
        except RangeNotServed:
            return False  # a registry without ranges: download the layer instead

    def _read_safetensors_header(self, layer: Layer, target: Path) -> bool:
        """Fetch what a local safetensors scan reads; the tensor bytes stay sparse zeros.

        That is: the first 64 KiB (format detection) and the whole header, the first bytes of
        every undeclared gap between tensors (shown as evidence), and everything after the last
        tensor (an appended payload). Anything odd means a full download instead.
        """
        size = layer.size
        head = self.client.read_range(self.repo, layer.digest, 0, min(size, HEAD_WINDOW) - 1)
        (length,) = struct.unpack("<Q", head[:8])
        if not 2 <= length <= min(MAX_SAFETENSORS_HEADER, size - 8):
            return False  # not safetensors-shaped: download it and let detection decide
        if 8 + length > len(head):
            head += self.client.read_range(self.repo, layer.digest, len(head), 8 + length - 1)
        spans = _spans(head[8 : 8 + length])
        if spans is None:
            return False  # not JSON or odd offsets: download it and let the scanner report
        data_start = 8 + length
        regions: list[tuple[int, int]] = []  # (offset, length) beyond the head
        expected = 0
        for begin, end in sorted(spans):
            if begin > expected:
                regions.append((data_start + expected, GAP_PEEK))
            expected = max(expected, end)
        if data_start + expected < size:
            tail = size - data_start - expected
            if tail > MAX_SAFETENSORS_HEADER:
                return False  # a large tail is not "header-only" any more: download instead
            regions.append((data_start + expected, tail))
        if len(regions) > MAX_REGIONS:
            return False
        with target.open("xb") as handle:
            target.chmod(0o600)
            handle.truncate(size)
            handle.write(head)
            for offset, wanted in regions:
                last = min(size, offset + wanted) - 1
                if offset >= len(head) and offset <= last:
                    handle.seek(offset)
                    handle.write(self.client.read_range(self.repo, layer.digest, offset, last))
        return True

    def tar(self, layer: Layer, index: int) -> None:
        work = self.pulled.root.parent / "layers"
        work.mkdir(exist_ok=True)
        blob = work / f"{index}.blob"
        self.client.download_blob(self.repo, _descriptor(layer), blob, self.max_blob)
        label = f"(layer {index} {layer.digest[:19]})"
        if layer.packing == "tar+zstd":
            self.problem(
                "archive-unsupported",
                "zstd-compressed layer: mlchain cannot decompress zstd with the standard library, "
                "so its files were not scanned",
                label,
            )
            return
        tar_path = blob
        if layer.packing == "tar+gzip":
            tar_path = work / f"{index}.tar"
            if not self._gunzip(blob, tar_path, label):
                return
        self._lay_out_tar(tar_path, layer, label)

    def _gunzip(self, source: Path, target: Path, label: str) -> bool:
        limits = self.options.limits
        inflater = zlib.decompressobj(wbits=31)
        total = 0
        compressed = source.stat().st_size
        with source.open("rb") as src, target.open("xb") as out:
            while chunk := src.read(1 << 20):
                data = inflater.decompress(chunk, 1 << 24)
                while True:
                    total += len(data)
                    if total > limits.max_decompressed_bytes or (
                        total > 1 << 20 and total > limits.max_ratio * max(compressed, 1)
                    ):
                        self.problem(
                            "archive-bomb",
                            "the layer decompresses beyond mlchain's size or ratio limits",
                            label,
                        )
                        return False
                    out.write(data)
                    if not inflater.unconsumed_tail:
                        break
                    data = inflater.decompress(inflater.unconsumed_tail, 1 << 24)
                if inflater.eof:
                    break
        if not inflater.eof:
            self.problem("archive-unsupported", "the gzip layer is truncated or corrupt", label)
            return False
        return True

    def _lay_out_tar(self, tar_path: Path, layer: Layer, label: str) -> None:
        from mlchain.scan.containers.tarreader import read_members

        size = tar_path.stat().st_size
        if size == 0:
            return
        modelcar = self.pulled.layout.kind == "modelcar"
        with (
            tar_path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            listing = read_members(buf, max_members=self.options.limits.max_members)
            if listing.error is not None or listing.overflow:
                self.problem(
                    "archive-unsupported",
                    "the tar layer could not be read to the end: "
                    + (listing.error or "too many members"),
                    label,
                )
            for member in listing.members:
                name = member.name
                if modelcar:
                    relative = name[2:] if name.startswith("./") else name
                    if relative.split("/", 1)[0] != MODELCAR_ROOT:
                        continue  # the image's own files (OS, runtime) are not the model
                    name = relative.partition("/")[2]
                    if not name:
                        continue
                if member.type == b"5":
                    continue
                logical = _clean_name(name)
                where = logical or label
                if logical is None:
                    self.problem(
                        "archive-suspicious-member",
                        "a layer member is absolute or climbs out with '..'; it was not written",
                        label,
                        evidence=member.name,
                    )
                    continue
                if PurePosixPath(logical).name.startswith(".wh."):
                    self.problem(
                        "archive-suspicious-member",
                        "an image whiteout deletes a model file from an earlier layer",
                        where,
                        evidence=member.name,
                    )
                    continue
                if member.is_link or member.is_device or not member.is_regular:
                    self.problem(
                        "archive-suspicious-member",
                        "a layer member is a link or special file; it was not followed",
                        where,
                        evidence=f"{member.name} -> {member.linkname}"
                        if member.is_link
                        else member.name,
                    )
                    continue
                if member.sparse:
                    self.problem("archive-unsupported", "sparse tar member; not scanned", where)
                    continue
                target = self.target(logical, layer)
                if target is None:
                    continue
                if member.data_offset + member.size > size:
                    self.problem(
                        "archive-unsupported",
                        "the layer ends inside this member's data; tar readers fail here, only "
                        "the bytes present were scanned",
                        logical,
                    )
                with target.open("xb") as out:
                    target.chmod(0o600)
                    start = member.data_offset
                    end = min(start + member.size, size)
                    for pos in range(start, end, 1 << 20):
                        out.write(buf[pos : min(pos + (1 << 20), end)])


def _spans(header: bytes) -> list[tuple[int, int]] | None:
    """The ``data_offsets`` pairs a safetensors header declares, or ``None`` when it is odd."""
    try:
        data = json.loads(header)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    spans = []
    for name, entry in data.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            return None
        if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets):
            return None
        spans.append((offsets[0], offsets[1]))
    return spans


def _descriptor(layer: Layer) -> dict[str, Any]:
    return {"digest": layer.digest, "size": layer.size, "mediaType": layer.media_type}


def pull_model(
    client: RegistryClient,
    ref: OciRef,
    manifest: Manifest,
    dest: Path,
    options: ScanOptions,
    *,
    max_blob: int = DEFAULT_MAX_BLOB,
    header_only: bool = True,
) -> Pulled:
    """Lay the model's files out under ``dest/model`` for scanning (see the module doc).

    With ``header_only=False`` every layer is downloaded whole and digest-checked (the deploy
    gate hashes the files it publishes).
    """
    layout = describe_layout(manifest, ref.uri)
    if manifest.config and layout.kind != "modelcar":
        config = manifest.config
        if descriptor_size(config) <= MAX_MANIFEST_BYTES:
            client.read_blob(ref.repository, config, MAX_MANIFEST_BYTES)  # digest-checked
    root = dest / "model"
    root.mkdir(mode=0o700)
    pulled = Pulled(ref, manifest, layout, root)
    puller = _Puller(client, pulled, options, max_blob, header_only=header_only)
    for index, layer in enumerate(layout.layers):
        if layer.packing == "raw":
            puller.raw(layer)
        else:
            puller.tar(layer, index)
    return pulled


def scan_oci(
    client: RegistryClient,
    ref: OciRef,
    options: ScanOptions,
    *,
    require_pinned: bool = False,
    max_blob: int = DEFAULT_MAX_BLOB,
) -> tuple[ScanReport, Pulled]:
    """Resolve ``ref`` once, lay its model out in a private temporary folder, scan, label.

    The report's root is the reference pinned to the manifest digest; raw layers carry their
    digest as the file's sha256; the metadata records the manifest digest, the layout and the
    layer digest of every file. The temporary folder is removed before returning.

    Raises:
        UsageError: ``require_pinned`` and ``ref`` is a tag, or the manifest is not a model.
        RegistryError: the registry failed or served altered bytes.
    """
    check_pinned(ref, require_pinned)
    from mlchain.scan import scan_paths

    manifest = client.resolve(ref)
    with tempfile.TemporaryDirectory(prefix="mlchain-oci-") as tmp:
        pulled = pull_model(client, ref, manifest, Path(tmp), options, max_blob=max_blob)
        report = scan_paths([pulled.root], options)
    results = [
        dataclasses.replace(r, sha256=_hex(pulled.files[str(r.location.path)]))
        if str(r.location.path) in pulled.raw
        else r
        for r in report.results
    ]
    for problem in pulled.findings:
        results.append(
            ScanResult(problem.location, ArtifactFormat.DATA, (problem,), skipped="not pulled")
        )
    results.sort(key=lambda r: (str(r.location.path), r.location.member or ""))
    metadata = {
        **report.metadata,
        "oci_uri": ref.uri,
        "oci_manifest_digest": manifest.digest,
        "oci_layout": pulled.layout.kind,
        "oci_files": json.dumps(dict(sorted(pulled.files.items())), separators=(",", ":")),
    }
    if pulled.header_only:
        metadata["oci_header_only"] = ",".join(sorted(pulled.header_only))
    pinned = ref.pinned(manifest.digest).uri
    report = dataclasses.replace(report, results=tuple(results), roots=(pinned,), metadata=metadata)
    return report, pulled


def check_pinned(ref: OciRef, require_pinned: bool) -> None:
    """Refuse a tag reference when pinning is required.

    Raises:
        UsageError: ``require_pinned`` and ``ref`` has no digest.
    """
    if require_pinned and ref.digest is None:
        raise UsageError(
            f"{ref.uri} is not pinned to a digest.",
            hint="Pass oci://REGISTRY/REPO@sha256:DIGEST (the digest is printed when a tag is "
            "resolved), or drop --require-pinned.",
        )


def _hex(digest: str) -> str | None:
    algorithm, _, value = digest.partition(":")
    return value if algorithm == "sha256" else None


__all__ = ["RegistryError", "describe_layout", "pull_model", "scan_oci"]
