"""``mlchain sign``: sign a model in the OpenSSF model-signing (OMS) format."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.errors import UsageError

if TYPE_CHECKING:
    from mlchain.signing.sign import SigningMethod

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

PASSWORD_ENV = "MLCHAIN_KEY_PASSWORD"  # noqa: S105 (a variable name, not a secret)


@enum.unique
class HashChoice(str, enum.Enum):
    """Values of ``--hash``."""

    SHA256 = "sha256"
    BLAKE3 = "blake3"


def sign(
    model_path: Annotated[
        Path, typer.Argument(help="Model file or folder to sign", show_default=False)
    ],
    key: Annotated[
        Path | None,
        typer.Option("--key", envvar="MLCHAIN_SIGNING_KEY", help="Sign with this EC private key"),
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option("--certificate", help="Signing certificate (PEM) matching --key"),
    ] = None,
    certificate_chain: Annotated[
        list[Path] | None,
        typer.Option(
            "--certificate-chain",
            metavar="<path>",
            help="Intermediate/root certificates (PEM); repeatable",
        ),
    ] = None,
    identity_token: Annotated[
        str | None,
        typer.Option(
            "--identity-token",
            envvar="MLCHAIN_IDENTITY_TOKEN",
            help="OIDC token for Sigstore keyless signing (default: ambient CI credentials)",
            show_default=False,
        ),
    ] = None,
    trust_config: Annotated[
        Path | None,
        typer.Option(
            "--trust-config",
            envvar="MLCHAIN_TRUST_CONFIG",
            help="Sigstore ClientTrustConfig JSON for a private Sigstore instance",
        ),
    ] = None,
    staging: Annotated[
        bool, typer.Option("--staging", help="Use the Sigstore staging instance (tests only)")
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
    allow_symlinks: Annotated[
        bool,
        typer.Option(
            "--allow-symlinks", help="Accept symlinks to regular files inside the model folder"
        ),
    ] = False,
) -> None:
    """Sign a model file or folder (OpenSSF model signing, Sigstore bundle)."""
    with error_boundary():
        from mlchain.signing.sign import sign_model

        if not os.path.lexists(model_path):
            raise UsageError(f"No such file or directory: {model_path}.")
        method = _method(
            key, certificate, certificate_chain or [], identity_token, trust_config, staging
        )
        result = sign_model(
            model_path,
            method,
            signature=signature,
            ignore=ignore or [],
            algorithm=hash_algorithm.value,
            allow_symlinks=allow_symlinks,
        )
        console.info(
            f"Signed {len(result.files)} file(s) of {result.model_name} "
            f"({method.kind}, {result.hash_algorithm}); signature written to {result.signature}."
        )
        extra = sorted(set(result.ignored) - _default_ignores(result.signature))
        if extra:
            console.info("Not covered by the signature (--ignore): " + ", ".join(extra) + ".")
    raise typer.Exit(ExitCode.OK)


def _default_ignores(signature: Path) -> set[str]:
    return {".git", ".gitattributes", ".github", ".gitignore", signature.name}


def _method(
    key: Path | None,
    certificate: Path | None,
    chain: list[Path],
    identity_token: str | None,
    trust_config: Path | None,
    staging: bool,
) -> SigningMethod:
    from mlchain.signing.sign import SigningMethod

    if key is None:
        if certificate is not None or chain:
            raise UsageError("--certificate and --certificate-chain need --key (the private key).")
        if staging and trust_config is not None:
            raise UsageError("--staging and --trust-config are alternatives; give one.")
        return SigningMethod.keyless(
            identity_token=identity_token, trust_config=trust_config, staging=staging
        )
    keyless_options = [
        name
        for name, given in (
            ("--identity-token", identity_token is not None),
            ("--trust-config", trust_config is not None),
            ("--staging", staging),
        )
        if given
    ]
    if keyless_options:
        raise UsageError(
            f"{', '.join(keyless_options)} only apply to Sigstore keyless signing, not --key."
        )
    if chain and certificate is None:
        raise UsageError("--certificate-chain needs --certificate (the signing certificate).")
    password = _password(key)
    if certificate is not None:
        return SigningMethod.with_certificate(key, certificate, chain, password=password)
    return SigningMethod.key(key, password=password)


def _password(key: Path) -> bytes | None:
    """The key's password: MLCHAIN_KEY_PASSWORD, else a prompt when the key is encrypted."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env.encode("utf-8")
    try:
        head = key.read_bytes()[:4096]
    except OSError:
        return None  # sign_model reports the unreadable key with its own message
    if b"ENCRYPTED" not in head:
        return None
    if not sys.stdin.isatty():
        raise UsageError(
            f"{key} is encrypted and no password is available.",
            hint=f"Set {PASSWORD_ENV}, or run in a terminal to be prompted.",
        )
    return str(typer.prompt(f"Password for {key}", hide_input=True)).encode("utf-8")
