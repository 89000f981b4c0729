"""The ``oci://`` halves of ``mlchain sign`` and ``mlchain verify`` (docs/oci.md).

Kept apart from the command modules so those only gain a one-line hook. This is CLI code: it
reads the Docker config locations from the environment and prints on stderr.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlchain.cli import console
from mlchain.errors import UsageError
from mlchain.sanitize import clean
from mlchain.sources.oci import OciRef
from mlchain.sources.oci_auth import docker_config_paths
from mlchain.sources.oci_client import RegistryClient, client_for


def _client(uri: str) -> tuple[OciRef, RegistryClient]:
    from mlchain.sources.oci import parse_oci_uri

    ref = parse_oci_uri(uri)
    assert ref is not None
    return ref, client_for(ref, docker_config_paths(os.environ, Path.home()))


def sign_reference(
    uri: str, method: Any, *, signature: Path | None, ignore: bool, attach: list[Path] | None = None
) -> None:
    """Sign the model ``uri`` names by its manifest and push the bundle as a referrer.

    ``attach``: signed attestation bundles (``mlchain attest|provenance|sbom --sign``) to store
    as referrers of the same manifest, where the deploy gate finds them.
    """
    from mlchain.signing.sign import write_atomically
    from mlchain.sources.oci_sign import sign_oci

    if ignore:
        raise UsageError(
            "--ignore does not apply to oci:// models: every model layer is signed.",
            hint="Push the model without the files you want left out.",
        )
    ref, client = _client(uri)
    result = sign_oci(client, ref, method)
    if ref.digest is None:
        console.info(f"resolved {ref.uri} to {result.manifest_digest}")
    if signature is not None:
        write_atomically(signature, result.bundle)
    where = f"; a copy is in {signature}" if signature is not None else ""
    console.info(
        f"Signed {len(result.files)} layer(s) of {ref.pinned(result.manifest_digest).uri} "
        f"({method.kind}); the bundle is referrer {result.signature_digest} "
        f"(found by {result.found_by}){where}."
    )
    for path in attach or []:
        from mlchain.signing.bundle import read_bundle_text
        from mlchain.sources.oci_sign import push_attestation

        predicate, digest, _ = push_attestation(
            client, ref.pinned(result.manifest_digest), read_bundle_text(path)
        )
        console.info(f"Attached {path} ({clean(predicate)}) as referrer {digest}.")


def verify_reference(
    uri: str,
    method: Any,
    *,
    signature: Path | None,
    fmt: Any,
    output: Path | None,
    render: Callable[[Any], str],
) -> bool:
    """Verify ``uri`` by manifest (no weights downloaded); render like a folder verify."""
    from mlchain.sanitize import clean
    from mlchain.sources.oci_sign import verify_oci

    ref, client = _client(uri)
    result = verify_oci(client, ref, method, signature=signature)
    if ref.digest is None:
        console.info(f"resolved {ref.uri} to {result.model.rpartition('@')[2]}")
    document = result.to_json()
    document["oci"] = {"reference": result.model, "signature": result.signature}
    text = render(result)
    if getattr(fmt, "value", fmt) == "json":
        text = json.dumps(document, indent=2) + "\n"
    console.write_output(text, output)
    if not result.verified:
        console.error(
            f"{clean(result.model, 400)} failed verification: {clean(result.errors[0], 400)} "
            "Do not deploy this model; re-sign it or investigate who changed it."
        )
    return bool(result.verified)


def oci_gate(copy_to: Path | None) -> Callable[..., bool]:
    """The gate for ``oci://`` models, publishing into ``copy_to`` when given and allowed."""

    def gate(model_path: Path, policy_path: Path, **options: Any) -> bool:
        options.pop("copy_to", None)  # the folder gate's own --copy-to argument, if passed
        return run_oci_gate(model_path, policy_path, copy_to=copy_to, **options)

    return gate


def run_oci_gate(
    model_path: Path,
    policy_path: Path,
    *,
    signature: Path | None,
    attestations: list[Path],
    trust_config: Path | None,
    allow_symlinks: bool,
    jobs: int,
    fmt: Any,
    output: Path | None,
    copy_to: Path | None = None,
) -> bool:
    """The deploy gate for ``oci://...@sha256:...``: pull verified bytes, then the folder gate.

    The reference must be pinned by digest. Every layer is downloaded (digest-checked) into a
    private staging folder; the signature is the ``--signature`` file or the first Sigstore
    bundle among the manifest's referrers; then the folder gate runs unchanged on the result.
    With ``copy_to`` (a new path, or an empty folder such as the volume a model server mounts),
    the staging folder is created on its file system and, once the gate allows, renamed into
    place: the server reads exactly the bytes that were digest-checked, verified and scanned. A
    denied model publishes nothing.
    """
    from mlchain.gate import run_gate
    from mlchain.policy import load_policy
    from mlchain.scan.base import ScanOptions
    from mlchain.sources.oci_model import check_pinned, pull_model
    from mlchain.sources.oci_sign import find_bundles

    del allow_symlinks  # a pulled model holds no links: they are findings, never written
    loaded = load_policy(policy_path)  # a bad policy is a usage error (exit 2) before any work
    ref, client = _client("oci://" + str(model_path)[len("oci:/") :])
    check_pinned(ref, True)
    manifest = client.resolve(ref)
    label = ref.uri
    staging_parent = _staging_parent(copy_to) if copy_to is not None else None
    with tempfile.TemporaryDirectory(prefix=".mlchain-oci-gate-", dir=staging_parent) as tmp:
        work = Path(tmp)
        pulled = pull_model(client, ref, manifest, work, ScanOptions(jobs=jobs), header_only=False)
        found = find_bundles(client, ref, manifest.digest, attestations=True)[0]
        for index, text in enumerate(found):
            stored = work / f"attestation-{index}.json"
            stored.write_text(text, encoding="utf-8")
            attestations = [*attestations, stored]
        if signature is None:
            bundles, found_by = find_bundles(client, ref, manifest.digest)
            signature = work / f"no bundle among the referrers ({found_by})"
            if bundles:
                signature = work / "referrer.sig"
                signature.write_text(bundles[-1], encoding="utf-8")
        console.info(f"gate: {len(pulled.files)} file(s) of {label} pulled and digest-checked")
        result = run_gate(
            pulled.root,
            loaded,
            signature=signature,
            attestations=attestations,
            trust_config=trust_config,
            allow_symlinks=False,
            jobs=jobs,
        )

        def shown(text: str) -> str:
            text = text.replace(str(pulled.root), label)
            return clean(text.replace(str(work) + "/", ""), 400)

        decision = result.decision
        if getattr(fmt, "value", fmt) == "json":
            document = result.to_json()
            document["oci"] = {"reference": label, "files": pulled.files}
            text = json.dumps(document, indent=2) + "\n"
            text = text.replace(str(pulled.root), label).replace(str(work) + "/", "")
        else:
            verdict = "ALLOWED" if decision.allowed else "DENIED"
            lines = [f"{verdict} by policy {clean(decision.policy)}: {label}"]
            for rule in decision.results:
                mark = "pass" if rule.passed else "FAIL"
                lines.append(f"  [{mark}] {clean(rule.name)}: {shown(rule.message)}")
            text = "\n".join(lines) + "\n"
        if not decision.allowed:
            first = decision.failures[0] if decision.failures else None
            reason = f" First failure: {shown(first.message)}" if first else ""
            console.error(f"policy {clean(decision.policy)} denies {label}.{reason}")
        elif copy_to is not None:
            _publish(pulled.root, copy_to)
            console.info(f"published {len(pulled.files)} verified file(s) into {copy_to}")
    console.write_output(text, output)
    return bool(decision.allowed)


def _staging_parent(dest: Path) -> Path:
    """Where to stage a pull for ``--copy-to DEST`` (on DEST's file system, so renames work).

    ``DEST`` is either a new path (published by renaming the staging folder, atomically) or an
    existing empty folder such as a volume mount (published by renaming its entries into it).
    """
    if dest.is_dir():
        if any(not p.name.startswith(".mlchain-oci-gate-") for p in dest.iterdir()):
            raise UsageError(
                f"--copy-to {dest} is not empty; mlchain publishes only into an empty folder or "
                "a new path, so the server never sees a mix of verified and other files."
            )
        return dest
    if dest.exists() or dest.is_symlink():
        raise UsageError(f"--copy-to {dest} exists and is not a folder.")
    if not dest.parent.is_dir():
        raise UsageError(f"--copy-to {dest}: its parent folder does not exist.")
    return dest.parent


def _publish(root: Path, dest: Path) -> None:
    """Move the pulled files to ``dest`` (same file system: the staging folder is beside/inside).

    Files were created owner-only while pulling; published, they become read-only for all (the
    model server may run as another user, and nothing should modify verified bytes).
    """
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o444)
    root.chmod(0o755)
    if not dest.exists():
        root.rename(dest)  # atomic: the path appears complete or not at all
        return
    for entry in sorted(root.iterdir()):
        entry.replace(dest / entry.name)


def require_method(given: object) -> None:
    """Refuse ``verify oci://`` without an expected signer (there is no local bundle to read).

    Raises:
        UsageError: when no verification option was given.
    """
    if not given:
        raise UsageError(
            "Say who must have signed the model: --key PUBLIC.pem, --certificate-chain CA.pem, "
            "or --identity/--identity-regexp with --issuer (or use --policy)."
        )
