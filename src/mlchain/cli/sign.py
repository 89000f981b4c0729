"""``mlchain sign``: sign a model in the OpenSSF model-signing (OMS) format."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import (
    SIGNING_DEFAULT_IGNORES,
    AllowSymlinksOption,
    TrustConfigOption,
    certificate_chain_option,
    certificate_option,
    check_model_path,
    check_output_folder,
    identity_token_option,
    signing_key_option,
    signing_method,
    staging_option,
)
from mlchain.errors import UsageError

HELP = (
    "Sign a model file or folder (OpenSSF model signing, Sigstore bundle).\n\n"
    "Methods: Sigstore keyless (default: --identity-token, or ambient CI credentials such as "
    "GitHub Actions OIDC), --key PRIVATE.pem (EC P-256/384/521; password from "
    "MLCHAIN_KEY_PASSWORD or a prompt), or --certificate CERT --certificate-chain CHAIN --key "
    "KEY. The bundle goes to model.sig inside the folder (or next to a single file) unless "
    "--signature says otherwise; model files are never modified. Symbolic links are refused "
    "unless --allow-symlinks and they point to files inside the model. Exit codes: 0 signed; "
    "2 usage error; 3 could not sign."
)


@enum.unique
class HashChoice(str, enum.Enum):
    """Values of ``--hash``."""

    SHA256 = "sha256"
    BLAKE3 = "blake3"


def sign(
    model_path: Annotated[
        Path, typer.Argument(help="Model file or folder to sign", show_default=False)
    ],
    key: Annotated[Path | None, signing_key_option("Sign with this EC private key")] = None,
    certificate: Annotated[
        Path | None, certificate_option("Signing certificate (PEM) matching --key")
    ] = None,
    certificate_chain: Annotated[
        list[Path] | None,
        certificate_chain_option(
            "Intermediate/root certificates (PEM); repeatable", metavar="<path>"
        ),
    ] = None,
    identity_token: Annotated[
        str | None,
        identity_token_option(
            "OIDC token for Sigstore keyless signing (default: ambient CI credentials)"
        ),
    ] = None,
    trust_config: TrustConfigOption = None,
    staging: Annotated[
        bool, staging_option("Use the Sigstore staging instance (tests only)")
    ] = False,
    signature: Annotated[
        Path | None,
        typer.Option("--signature", help="Where to write the bundle (default: model.sig)"),
    ] = None,
    ignore: Annotated[
        list[Path] | None,
        typer.Option(
            "--ignore",
            metavar="<path>",
            help="Leave this file or folder out of the signature; repeatable",
        ),
    ] = None,
    hash_algorithm: Annotated[
        HashChoice,
        typer.Option(
            "--hash",
            envvar="MLCHAIN_HASH",
            help="Per-file digest: sha256, or blake3 (several times faster on large models)",
        ),
    ] = HashChoice.SHA256,
    shard_size: Annotated[
        str | None,
        typer.Option(
            "--shard-size",
            envvar="MLCHAIN_SHARD_SIZE",
            metavar="<size>",
            help="Hash each file in shards of this size (e.g. 1GiB, 256MiB; at least 1MiB), so "
            "one large file is hashed on every core when signing and verifying",
            show_default=False,
        ),
    ] = None,
    allow_symlinks: AllowSymlinksOption = False,
    attach: Annotated[
        list[Path] | None,
        typer.Option(
            "--attach",
            metavar="<path>",
            help="With an oci:// model: also store this signed attestation (mlchain attest, "
            "provenance or sbom --sign) as a referrer; repeatable",
        ),
    ] = None,
) -> None:
    """Sign a model file or folder (OpenSSF model signing, Sigstore bundle)."""
    with error_boundary():
        from mlchain.signing.sign import sign_model

        shard_bytes = parse_shard_size(shard_size) if shard_size is not None else None
        oci = _oci_uri(model_path)
        if oci is not None and shard_bytes is not None:
            raise UsageError(
                "--shard-size applies to files on disk; oci:// models are signed by "
                "their layer digests."
            )
        if oci is None:
            check_model_path(model_path, hint=None)
            if attach:
                raise UsageError("--attach works with oci:// models (docs/oci.md).")
            if signature is not None:
                check_output_folder(signature, "--signature")
        method = signing_method(
            key=key,
            certificate=certificate,
            certificate_chain=certificate_chain,
            identity_token=identity_token,
            trust_config=trust_config,
            staging=staging,
        )
        if oci is not None:  # models in registries: docs/oci.md
            from mlchain.cli.oci import sign_reference

            sign_reference(oci, method, signature=signature, ignore=bool(ignore), attach=attach)
            raise typer.Exit(ExitCode.OK)
        result = sign_model(
            model_path,
            method,
            signature=signature,
            ignore=ignore or [],
            algorithm=hash_algorithm.value,
            allow_symlinks=allow_symlinks,
            shard_size=shard_bytes,
        )
        shards = "" if shard_bytes is None else f" in {len(result.files)} shards"
        console.info(
            f"Signed {len(result.signed_files())} file(s) of {result.model_name} "
            f"({method.kind}, {result.hash_algorithm}{shards}); signature written to "
            f"{result.signature}."
        )
        extra = sorted(set(result.ignored) - _default_ignores(result.signature))
        if extra:
            console.info("Not covered by the signature (--ignore): " + ", ".join(extra) + ".")
    raise typer.Exit(ExitCode.OK)


def _oci_uri(model_path: Path) -> str | None:
    """An ``oci://`` reference given as the model (Path turns ``oci://`` into ``oci:/``)."""
    text = str(model_path)
    return "oci://" + text[len("oci:/") :] if text.startswith("oci:/") else None


def _default_ignores(signature: Path) -> set[str]:
    return {*SIGNING_DEFAULT_IGNORES, signature.name}


_UNITS = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30}
_UNITS |= {"gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}
MIN_SHARD_SIZE = 1 << 20
"""Smaller shards only make the signature bigger (one digest per shard), never faster."""


def parse_shard_size(text: str) -> int:
    """``--shard-size``: bytes, or a number with a binary unit (KiB, MiB, GiB, TiB; K/M/G/T).

    Raises:
        UsageError: not a size, or below :data:`MIN_SHARD_SIZE`.
    """
    import re

    match = re.fullmatch(r"\s*(\d{1,15})\s*([A-Za-z]*)\s*", text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise UsageError(
            f"--shard-size {text!r} is not a size.",
            hint="Give bytes or a number with KiB, MiB, GiB or TiB, for example 1GiB.",
        )
    size = int(match.group(1)) * unit
    if size < MIN_SHARD_SIZE:
        raise UsageError(
            f"--shard-size {text!r} is below 1 MiB.",
            hint="Use 1GiB (model-signing's usual size) unless the model's files are smaller.",
        )
    return size
