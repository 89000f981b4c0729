"""Benchmark: verify a multi-GB ModelPack model in a registry by manifest.

Usage::

    python benchmarks/oci_verify.py [--gib 4] [--layers 4] [--runs 5]

Starts Debian's ``docker-registry`` on loopback (as the tests do), stores a ModelPack model of
``--gib`` GiB of zero-filled weights (written as *sparse* files straight into the registry's
filesystem storage, so nothing large touches the disk; the layer digests are real sha256 sums),
signs it with a fresh key (the bundle is pushed as a referrer), and then times
``mlchain verify oci://...@sha256:... --key PUB`` through a counting reverse proxy:

- in-process: :func:`mlchain.sources.oci_sign.verify_oci` (median of ``--runs``);
- whole process: the CLI, imports included (median of ``--runs``);
- bytes the registry served per verification, and the requests made.

For scale, a folder verification of the same weights hashes every byte (sha256 runs at about
1.6 GB/s here, NOTES.md), i.e. seconds per GiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from mlchain.signing.sign import SigningMethod  # noqa: E402
from mlchain.signing.verify import VerificationMethod  # noqa: E402
from mlchain.sources.oci import OCI_MANIFEST, parse_oci_uri  # noqa: E402
from mlchain.sources.oci_client import RegistryClient  # noqa: E402
from mlchain.sources.oci_model import (  # noqa: E402
    MODELPACK_ARTIFACT,
    MODELPACK_CONFIG,
    MODELPACK_FILEPATH,
)
from mlchain.sources.oci_sign import sign_oci, verify_oci  # noqa: E402
from oci.proxy import RegistryProxy  # noqa: E402
from oci.registry import start_registry  # noqa: E402


def _zero_digest(size: int) -> str:
    hasher = hashlib.sha256()
    block = bytes(8 * 1024 * 1024)
    left = size
    while left:
        step = min(left, len(block))
        hasher.update(block[:step] if step < len(block) else block)
        left -= step
    return "sha256:" + hasher.hexdigest()


def _store_sparse_blob(storage: Path, repo: str, size: int) -> str:
    """Write a zero-filled blob of ``size`` bytes into distribution's filesystem layout."""
    digest = _zero_digest(size)
    hexd = digest.split(":")[1]
    blob = storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
    blob.parent.mkdir(parents=True, exist_ok=True)
    with blob.open("wb") as handle:
        handle.truncate(size)
    link = storage / "docker/registry/v2/repositories" / repo / "_layers/sha256" / hexd / "link"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.write_text(digest)
    return digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from signing_helpers import write_key

    with tempfile.TemporaryDirectory(prefix="mlchain-bench-oci-") as tmp:
        work = Path(tmp)
        registry = start_registry(work / "registry")
        try:
            return _run(args, work, registry, write_key)
        finally:
            registry.stop()


def _run(args: argparse.Namespace, work: Path, registry: object, write_key: object) -> int:
    repo = "bench/llm"
    total = int(args.gib * 1024**3)
    per_layer = total // args.layers
    storage = registry.root / "data"  # type: ignore[attr-defined]
    started = time.perf_counter()
    layers = []
    for index in range(args.layers):
        size = per_layer + index  # distinct sizes -> distinct digests
        digest = _store_sparse_blob(storage, repo, size)
        layers.append(
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": digest,
                "size": size,
                "annotations": {MODELPACK_FILEPATH: f"model-{index:05d}-of-{args.layers:05d}.bin"},
            }
        )
    prepared = time.perf_counter() - started
    host = registry.host  # type: ignore[attr-defined]
    client = RegistryClient(host)
    config = json.dumps({"descriptor": {"name": repo}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MODELPACK_ARTIFACT,
        "config": {
            "mediaType": MODELPACK_CONFIG,
            "digest": client.push_blob(repo, config),
            "size": len(config),
        },
        "layers": layers,
    }
    raw = json.dumps(manifest).encode()
    digest = client.put_manifest(repo, "v1", raw, OCI_MANIFEST)
    keys = write_key(work, "bench")  # type: ignore[operator]
    signed = sign_oci(
        client, parse_oci_uri(f"oci://{host}/{repo}:v1"), SigningMethod.key(keys.private)
    )

    with RegistryProxy(host) as proxy:
        uri = f"oci://{proxy.host}/{repo}@{digest}"
        ref = parse_oci_uri(uri)
        method = VerificationMethod.key(keys.public)
        in_process = []
        served = []
        for _ in range(args.runs + 1):
            proxy.reset()
            t0 = time.perf_counter()
            result = verify_oci(RegistryClient(proxy.host), ref, method)
            in_process.append(time.perf_counter() - t0)
            served.append(proxy.bytes_served)
            if not result.verified:
                print("verification failed:", result.errors, file=sys.stderr)
                return 1
        requests = list(proxy.requests)
        cli = []
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mlchain", "verify", uri, "--key", str(keys.public)],
                check=True,
                env=env,
                capture_output=True,
            )
            cli.append(time.perf_counter() - t0)

    # Baseline: the same files as a local folder (sparse), verified with the same bundle (raw
    # layers: layer digest == file sha256), which hashes every byte.
    folder = work / "folder"
    folder.mkdir()
    for layer in layers:
        with (folder / layer["annotations"][MODELPACK_FILEPATH]).open("wb") as handle:
            handle.truncate(layer["size"])
    bundle = work / "bundle.sig"
    bundle.write_text(signed.bundle)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mlchain",
            "verify",
            str(folder),
            "--key",
            str(keys.public),
            "--signature",
            str(bundle),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    folder_time = time.perf_counter() - t0

    print(f"model: {args.layers} raw ModelPack layers, {total / 1024**3:.2f} GiB in total")
    print(f"setup (sparse layers + their sha256, once): {prepared:.1f} s")
    print(
        f"verify_oci in-process, median of {args.runs}: {statistics.median(in_process[1:]) * 1000:.1f} ms"
    )
    print(f"mlchain verify (whole process), median of {args.runs}: {statistics.median(cli):.2f} s")
    print(
        f"baseline: mlchain verify of the same files as a local folder (whole process, same bundle): {folder_time:.2f} s"
    )
    print(f"bytes served per verification: {statistics.median(served[1:]):.0f}")
    print("requests of the last verification:")
    for method_name, path, size in requests:
        print(f"  {method_name} {path.split('?')[0]} -> {size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
