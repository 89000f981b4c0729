"""Signing options shared by ``provenance`` and ``attest`` (the same ones ``mlchain sign`` takes).

A statement is signed only with ``--sign``: then it is wrapped in a DSSE envelope inside a
Sigstore bundle (keyless by default, or ``--key`` / ``--certificate``), and the bundle is the
output instead of the bare statement.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchain.errors import UsageError

if TYPE_CHECKING:
    from mlchain.signing.sign import SigningMethod

SignFlag = Annotated[
    bool,
    typer.Option(
        "--sign",
        envvar="MLCHAIN_SIGN",
        help="Sign the statement: output a Sigstore bundle with a DSSE envelope",
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key", envvar="MLCHAIN_SIGNING_KEY", help="With --sign: sign with this EC private key"
    ),
]
CertificateOption = Annotated[
    Path | None,
    typer.Option("--certificate", help="With --sign: signing certificate (PEM) matching --key"),
]
CertificateChainOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--certificate-chain", help="With --certificate: intermediate/root certificates (PEM)"
    ),
]
IdentityTokenOption = Annotated[
    str | None,
    typer.Option(
        "--identity-token",
        envvar="MLCHAIN_IDENTITY_TOKEN",
        help="With --sign: OIDC token for Sigstore keyless signing (default: ambient CI)",
        show_default=False,
    ),
]
TrustConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--trust-config",
        envvar="MLCHAIN_TRUST_CONFIG",
        help="With --sign: Sigstore ClientTrustConfig JSON for a private Sigstore instance",
    ),
]
StagingOption = Annotated[
    bool, typer.Option("--staging", help="With --sign: use the Sigstore staging instance")
]

_SIGNING_PARAMS = (
    ("key", "--key"),
    ("certificate", "--certificate"),
    ("certificate_chain", "--certificate-chain"),
    ("identity_token", "--identity-token"),
    ("trust_config", "--trust-config"),
    ("staging", "--staging"),
)


def signing_method(
    ctx: typer.Context,
    *,
    sign: bool,
    key: Path | None,
    certificate: Path | None,
    certificate_chain: list[Path] | None,
    identity_token: str | None,
    trust_config: Path | None,
    staging: bool,
) -> SigningMethod | None:
    """The signing method for ``--sign``, or ``None`` for an unsigned statement.

    Signing options typed on the command line without ``--sign`` are a usage error (a key the
    user meant to use must never be silently ignored); the same options coming from environment
    variables are ignored, so a CI can export them once.

    Raises:
        UsageError: on options that do not go together.
    """
    if not sign:
        typed = [flag for name, flag in _SIGNING_PARAMS if _typed(ctx, name)]
        if typed:
            verb = "applies" if len(typed) == 1 else "apply"
            raise UsageError(f"{', '.join(typed)} {verb} only together with --sign.")
        return None
    from mlchain.cli.sign import _method

    return _method(key, certificate, certificate_chain or [], identity_token, trust_config, staging)


def _typed(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def render_statement(document: dict[str, Any], method: SigningMethod | None) -> str:
    """The bare statement (deterministic JSON), or the Sigstore bundle when signing."""
    from mlchain.provenance.statement import dumps

    if method is None:
        return dumps(document)
    from mlchain.signing.sign import sign_statement

    return sign_statement(document, method).rstrip("\n") + "\n"
