"""Per-file digests of a model, computed by model-signing exactly as a signature would.

Provenance subjects, the ML-BOM and scan attestations all bind to these digests, so that a deploy
gate can check every attestation against the same bytes the signature covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

HashAlgorithm = Literal["sha256", "blake2", "blake3"]

DEFAULT_SIGNATURE_NAME = "model.sig"


def file_digests(
    model_path: Path,
    *,
    ignore: Sequence[Path] = (),
    algorithm: HashAlgorithm = "sha256",
) -> dict[str, str]:
    """Return ``{relative posix name: hex digest}`` for every file of the model.

    ``model_path`` is a file or a folder. Git metadata and ``ignore`` (paths relative to the
    folder) are skipped, as model-signing skips them when signing. For a single file the key is
    the file name.
    """
    from model_signing import hashing

    config = hashing.Config().use_file_serialization(  # type: ignore[no-untyped-call]
        hashing_algorithm=algorithm
    )
    config.set_ignored_paths(paths=list(ignore), ignore_git_paths=True)
    manifest = config.hash(model_path)
    digests = {
        descriptor.identifier: descriptor.digest.digest_hex
        for descriptor in manifest.resource_descriptors()
    }
    if model_path.is_file():  # model-signing names a single file "."
        (digest,) = digests.values()
        return {model_path.name: digest}
    return digests
