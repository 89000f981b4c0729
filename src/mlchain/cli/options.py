"""Options and option plumbing shared by the command modules.

An option that several commands declare the same way (flag, env var, help) is one ``Annotated``
alias here. Where commands word an option's help their own way (``--fail-on`` means "exit 1" to
``scan`` and "verdict fail" to ``attest``), a small factory here fixes the flag names, env var and
limits, and the command passes its help text. The builders turn the signer options into a
``SigningMethod`` or ``VerificationMethod`` with the same usage errors in every command.

``mlchain --help`` imports this module: sigstore, model_signing and the other heavy libraries are
imported only inside the functions that need them.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from mlchain.errors import UsageError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    from mlchain.signing.sign import SigningMethod
    from mlchain.signing.verify import VerificationMethod

# --- The model on disk (provenance, sbom, attest, verify-attestation; sign and verify in part) ---

ModelPathArgument = Annotated[Path, typer.Argument(help="Model file or folder", show_default=False)]
IgnoreOption = Annotated[
    list[str] | None,
    typer.Option("--ignore", help="Leave this path (relative to the model folder) out"),
]
AllowSymlinksOption = Annotated[
    bool,
    typer.Option(
        "--allow-symlinks", help="Accept symlinks to regular files inside the model folder"
    ),
]

LOCAL_MODEL_HINT = "Give the local model file or folder (download hf:// models first)."
SIGNING_DEFAULT_IGNORES = frozenset({".git", ".gitattributes", ".github", ".gitignore"})
"""Paths model signing always leaves out; not worth a "not covered" line of their own."""


def check_model_path(model_path: Path, *, hint: str | None = LOCAL_MODEL_HINT) -> None:
    """Refuse a model path that does not exist (a usage error, exit 2).

    Args:
        model_path: the model file or folder as given.
        hint: what to do about it; ``None`` for the generic usage-error hint.
    """
    if not os.path.lexists(model_path):
        raise UsageError(f"No such file or directory: {model_path}.", hint=hint)


def ignored_paths(
    model_path: Path, ignore: list[str] | tuple[str, ...], output: Path | None
) -> list[str]:
    """``--ignore`` paths, ``model.sig`` and the output file when it lies in the model folder.

    ``--ignore`` is read as ``mlchain sign --ignore`` reads it (relative to the current folder
    when that names something inside the model, else relative to the model folder).
    """
    from mlchain.signing.manifest import DEFAULT_SIGNATURE_NAME, relative_ignores

    if not model_path.is_dir():
        return []
    given = [Path(p.strip()) for p in ignore if p.strip()]
    skip = {p.as_posix() for p in relative_ignores(model_path, given)}
    skip.add(DEFAULT_SIGNATURE_NAME)
    if output is not None and str(output) != "-":
        import contextlib

        with contextlib.suppress(ValueError):  # written outside the model: nothing to leave out
            skip.add(output.resolve().relative_to(model_path.resolve()).as_posix())
    return sorted(skip)


# --- Scanning (scan, attest; --jobs also verify --policy) ---


def fail_on_option(help_text: str) -> Any:
    """``--fail-on`` (``MLCHAIN_FAIL_ON``), a :class:`SeverityChoice`."""
    return typer.Option("--fail-on", envvar="MLCHAIN_FAIL_ON", help=help_text)


def strict_option(help_text: str) -> Any:
    """``--strict`` (``MLCHAIN_STRICT``): an unscanned file fails too."""
    return typer.Option("--strict", envvar="MLCHAIN_STRICT", help=help_text)


def allow_global_option(help_text: str) -> Any:
    """``--allow-global`` (``MLCHAIN_ALLOW_GLOBAL``), read with :func:`allowed_globals`."""
    return typer.Option("--allow-global", envvar="MLCHAIN_ALLOW_GLOBAL", help=help_text)


def jobs_option(help_text: str) -> Any:
    """``--jobs`` / ``-j`` (``MLCHAIN_JOBS``), at least 0 (0: one worker per core)."""
    return typer.Option("--jobs", "-j", envvar="MLCHAIN_JOBS", min=0, help=help_text)


# --- Output ---


@enum.unique
class ResultFormat(str, enum.Enum):
    """``--format`` of the commands that print a verdict (verify, verify-attestation, policy)."""

    TABLE = "table"
    JSON = "json"


def format_option(help_text: str, *, envvar: str | None = None) -> Any:
    """``--format`` / ``-f`` (case-insensitive: ``-f SARIF`` works as trivy users type it)."""
    return typer.Option("--format", "-f", envvar=envvar, help=help_text, case_sensitive=False)


def output_option(help_text: str, *, envvar: str | None = None) -> Any:
    """``--output`` / ``-o`` (written with :func:`mlchain.cli.console.write_output`)."""
    return typer.Option("--output", "-o", envvar=envvar, help=help_text)


# --- Signer options: `sign`, and `--sign` of provenance, sbom and attest, word them their own way;
# verify and verify-attestation share theirs. ---


def signing_key_option(help_text: str) -> Any:
    """``--key`` (``MLCHAIN_SIGNING_KEY``): the EC private key to sign with."""
    return typer.Option("--key", envvar="MLCHAIN_SIGNING_KEY", help=help_text)


def certificate_option(help_text: str) -> Any:
    """``--certificate``: the signing certificate matching ``--key``."""
    return typer.Option("--certificate", help=help_text)


def certificate_chain_option(help_text: str, *, metavar: str | None = None) -> Any:
    """``--certificate-chain``, repeatable: intermediate/root or trusted CA certificates."""
    return typer.Option("--certificate-chain", metavar=metavar, help=help_text)


def identity_token_option(help_text: str) -> Any:
    """``--identity-token`` (``MLCHAIN_IDENTITY_TOKEN``), never shown in ``--help``."""
    return typer.Option(
        "--identity-token", envvar="MLCHAIN_IDENTITY_TOKEN", help=help_text, show_default=False
    )


def trust_config_option(help_text: str) -> Any:
    """``--trust-config`` (``MLCHAIN_TRUST_CONFIG``): a private Sigstore instance."""
    return typer.Option("--trust-config", envvar="MLCHAIN_TRUST_CONFIG", help=help_text)


def staging_option(help_text: str) -> Any:
    """``--staging``: the Sigstore staging instance."""
    return typer.Option("--staging", help=help_text)


TrustConfigOption = Annotated[
    Path | None,
    trust_config_option("Sigstore ClientTrustConfig JSON for a private Sigstore instance"),
]
"""``--trust-config`` of sign, verify and verify-attestation."""

# --sign and the options that go with it (provenance, sbom, attest)
SignFlag = Annotated[
    bool,
    typer.Option(
        "--sign",
        envvar="MLCHAIN_SIGN",
        help="Sign the statement: output a Sigstore bundle with a DSSE envelope",
    ),
]
StatementKeyOption = Annotated[
    Path | None, signing_key_option("With --sign: sign with this EC private key")
]
StatementCertificateOption = Annotated[
    Path | None, certificate_option("With --sign: signing certificate (PEM) matching --key")
]
StatementChainOption = Annotated[
    list[Path] | None,
    certificate_chain_option("With --certificate: intermediate/root certificates (PEM)"),
]
StatementIdentityTokenOption = Annotated[
    str | None,
    identity_token_option(
        "With --sign: OIDC token for Sigstore keyless signing (default: ambient CI)"
    ),
]
StatementTrustConfigOption = Annotated[
    Path | None,
    trust_config_option(
        "With --sign: Sigstore ClientTrustConfig JSON for a private Sigstore instance"
    ),
]
StatementStagingOption = Annotated[
    bool, staging_option("With --sign: use the Sigstore staging instance")
]
_SIGN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("sign", SignFlag, False),
    ("key", StatementKeyOption, None),
    ("certificate", StatementCertificateOption, None),
    ("certificate_chain", StatementChainOption, None),
    ("identity_token", StatementIdentityTokenOption, None),
    ("trust_config", StatementTrustConfigOption, None),
    ("staging", StatementStagingOption, False),
)
"""The options :func:`with_sign_options` adds: (parameter name, annotation, default)."""

# verify and verify-attestation
IdentityOption = Annotated[
    str | None,
    typer.Option(
        "--identity",
        "--certificate-identity",
        envvar="MLCHAIN_IDENTITY",
        help="Expected signer identity (keyless SAN, or a signing certificate's subject DN)",
    ),
]
IdentityRegexpOption = Annotated[
    str | None,
    typer.Option(
        "--identity-regexp",
        "--certificate-identity-regexp",
        envvar="MLCHAIN_IDENTITY_REGEXP",
        help="Expected signer identity as a regexp matching the whole identity",
    ),
]
IssuerOption = Annotated[
    str | None,
    typer.Option(
        "--issuer",
        "--certificate-oidc-issuer",
        envvar="MLCHAIN_ISSUER",
        help="Expected OIDC issuer URL",
    ),
]
PublicKeyOption = Annotated[
    Path | None,
    typer.Option("--key", envvar="MLCHAIN_VERIFY_KEY", help="EC public key (PEM)"),
]
_TRUSTED_CHAIN_HELP = "Trusted CA certificates (PEM); repeatable"
TrustedChainOption = Annotated[
    list[Path] | None, certificate_chain_option(_TRUSTED_CHAIN_HELP, metavar="<path>")
]
TrustStagingOption = Annotated[
    bool, staging_option("Trust the Sigstore staging instance (tests only)")
]
_VERIFIER_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("identity", IdentityOption, None),
    ("identity_regexp", IdentityRegexpOption, None),
    ("issuer", IssuerOption, None),
    ("key", PublicKeyOption, None),
    ("certificate_chain", TrustedChainOption, None),
    ("trust_config", TrustConfigOption, None),
    ("staging", TrustStagingOption, False),
)
"""The options :func:`with_verifier_options` adds: (parameter name, annotation, default)."""


# --- Signer options -> methods ---

PASSWORD_ENV = "MLCHAIN_KEY_PASSWORD"  # noqa: S105 (a variable name, not a secret)

_STATEMENT_SIGNING_PARAMS = (
    ("key", "--key"),
    ("certificate", "--certificate"),
    ("certificate_chain", "--certificate-chain"),
    ("identity_token", "--identity-token"),
    ("trust_config", "--trust-config"),
    ("staging", "--staging"),
)


def signing_method(
    *,
    key: Path | None,
    certificate: Path | None,
    certificate_chain: list[Path] | None,
    identity_token: str | None,
    trust_config: Path | None,
    staging: bool,
) -> SigningMethod:
    """The signing method the options name: Sigstore keyless, a key, or a key and certificate.

    The key's password comes from ``MLCHAIN_KEY_PASSWORD``, else a prompt when it is encrypted.

    Raises:
        UsageError: on options that do not go together.
    """
    from mlchain.signing.sign import SigningMethod

    chain = certificate_chain or []
    if key is None:
        if certificate is not None or chain:
            raise UsageError("--certificate and --certificate-chain need --key (the private key).")
        if staging and trust_config is not None:
            raise UsageError("--staging and --trust-config are alternatives; give one.")
        return SigningMethod.keyless(
            identity_token=identity_token, trust_config=trust_config, staging=staging
        )
    keyless_options = _given(
        ("--identity-token", identity_token is not None),
        ("--trust-config", trust_config is not None),
        ("--staging", staging),
    )
    if keyless_options:
        raise UsageError(
            f"{', '.join(keyless_options)} only apply to Sigstore keyless signing, not --key."
        )
    if chain and certificate is None:
        raise UsageError("--certificate-chain needs --certificate (the signing certificate).")
    check_key_file(key, "private")
    password = _password(key)
    if certificate is not None:
        return SigningMethod.with_certificate(key, certificate, chain, password=password)
    return SigningMethod.key(key, password=password)


def with_sign_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--sign`` and its six signer options to a publish-side command, declared once here.

    provenance, sbom and attest take the same seven options. The command does not list them: it
    reads them back with :func:`statement_signing_method` from ``ctx.params`` (so it must take a
    ``ctx: typer.Context``).
    """
    return _with_options(command, _SIGN_OPTIONS)


def with_verifier_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the seven options naming the expected signer (verify, verify-attestation).

    The command reads them back with :func:`verifier_method` (or ``ctx.params``).
    """
    return _with_options(command, _VERIFIER_OPTIONS, first=True)


def _with_options(
    command: Callable[..., None], options: tuple[tuple[str, Any, Any], ...], *, first: bool = False
) -> Callable[..., None]:
    """Add ``options`` (name, annotation, default) to ``command``'s signature for typer.

    They go last, or with ``first`` right after the arguments (so ``--help`` lists them first).
    The wrapper drops them from the keyword arguments: the command reads them from
    ``ctx.params``, where click puts every parameter (typer passes everything by keyword).
    """
    import functools
    import inspect

    base = inspect.signature(command, eval_str=True)
    kind_of = inspect.Parameter.POSITIONAL_OR_KEYWORD if first else inspect.Parameter.KEYWORD_ONLY
    extra = [
        inspect.Parameter(name, kind_of, default=default, annotation=kind)
        for name, kind, default in options
    ]
    params = list(base.parameters.values())
    at = len(params)
    if first:  # after the last parameter without a default (ctx and the arguments)
        at = max((i + 1 for i, p in enumerate(params) if p.default is p.empty), default=0)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        for name, _, _ in options:
            kwargs.pop(name, None)
        command(*args, **kwargs)

    wrapper.__signature__ = base.replace(  # type: ignore[attr-defined]
        parameters=[*params[:at], *extra, *params[at:]]
    )
    return wrapper


def statement_signing_method(ctx: typer.Context) -> SigningMethod | None:
    """The signing method for ``--sign``, or ``None`` for an unsigned statement.

    Reads the options :func:`with_sign_options` added. Signing options typed on the command line
    without ``--sign`` are a usage error (a key the user meant to use must never be silently
    ignored); the same options coming from environment variables are ignored, so a CI can
    export them once.

    Raises:
        UsageError: on options that do not go together.
    """
    params = ctx.params
    if not params.get("sign"):
        typed = [flag for name, flag in _STATEMENT_SIGNING_PARAMS if _typed(ctx, name)]
        if typed:
            verb = "applies" if len(typed) == 1 else "apply"
            raise UsageError(f"{', '.join(typed)} {verb} only together with --sign.")
        return None
    return signing_method(
        key=_path(params.get("key")),
        certificate=_path(params.get("certificate")),
        certificate_chain=[Path(p) for p in params.get("certificate_chain") or ()],
        identity_token=params.get("identity_token"),
        trust_config=_path(params.get("trust_config")),
        staging=bool(params.get("staging")),
    )


def source_date_epoch(env: Mapping[str, str]) -> dt.datetime | None:
    """``SOURCE_DATE_EPOCH`` as a timestamp (reproducible builds), or ``None`` when unset.

    Raises:
        UsageError: if it is not a timestamp.
    """
    from mlchain.provenance.statement import parse_timestamp

    epoch = env.get("SOURCE_DATE_EPOCH")
    return parse_timestamp(epoch, "SOURCE_DATE_EPOCH") if epoch else None


def digest_model_for_statement(
    model_path: Path, ignore: list[str] | None, output: Path | None, *, allow_symlinks: bool
) -> tuple[Path, list[str], dict[str, str]]:
    """The model folder, the paths left out, and the per-file digests a statement's subjects name.

    A Hugging Face cache repository becomes its snapshot; ``--ignore``, ``model.sig`` and an
    output file inside the model are left out (:func:`ignored_paths`).

    Raises:
        InputError: if the model cannot be read.
    """
    from mlchain.intoto import digest_model, model_root

    root = model_root(model_path)
    skip = ignored_paths(root, ignore or (), output)
    return root, skip, digest_model(root, skip, allow_symlinks=allow_symlinks)


def check_key_file(key: Path, need: Literal["public", "private"]) -> None:
    """Refuse a key of the wrong kind before any work: a public key to sign, RSA, Ed25519...

    A file that cannot be read or classified is left to the signing code, which says why.

    Raises:
        UsageError: naming what the file is and what the command needs (exit 2).
    """
    from mlchain.inputfile import read_regular_file
    from mlchain.signing.keyinfo import key_problem

    try:
        data = read_regular_file(key, limit=1 << 20)
    except (OSError, ValueError):
        return
    problem = key_problem(key, data, need)
    if problem is not None:
        raise UsageError(problem, hint="")


def check_output_folder(path: Path, option: str) -> None:
    """Refuse, before any work, an output whose folder does not exist (a usage error, exit 2).

    Signing hashes the whole model first; a typo in ``--signature`` must not cost that.
    """
    target = path.expanduser()
    if target.is_dir():
        raise UsageError(
            f"{option} {path} is a folder; give the file to write.",
            hint=f"For example {option} {path / 'model.sig'}.",
        )
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(
            f"Cannot write {option} {path}: the folder {folder} does not exist.",
            hint=f"Create it first (mkdir -p {folder}) or choose another path.",
        )


def _given(*options: tuple[str, bool]) -> list[str]:
    """The flags of ``(flag, given)`` pairs that were given, in order."""
    return [flag for flag, given in options if given]


def _typed(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _password(key: Path) -> bytes | None:
    """The key's password: MLCHAIN_KEY_PASSWORD, else a prompt when the key is encrypted.

    Raises:
        UsageError: on a cosign key (mlchain cannot read its encryption), or an encrypted key
            with no password source.
    """
    from mlchain.inputfile import read_regular_file

    try:  # a FIFO or device at the key path is refused, never opened for a blocking read
        head = read_regular_file(key, limit=1 << 20)[:4096]
    except (OSError, ValueError):
        head = b""  # sign_model reports the unreadable key with its own message
    if b"SIGSTORE PRIVATE KEY" in head or b"COSIGN PRIVATE KEY" in head:
        raise UsageError(
            f"{key} is a cosign key (scrypt and secretbox encryption), which mlchain does not "
            "read.",
            hint="Sign with an EC PEM key: `mlchain keygen` makes one. cosign can use the same PEM "
            "key after `cosign import-key-pair --key mlchain.key`, so one key serves both tools.",
        )
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env.encode("utf-8")
    if b"ENCRYPTED" not in head:
        return None
    if not sys.stdin.isatty():
        raise UsageError(
            f"{key} is encrypted and no password is available.",
            hint=f"Set {PASSWORD_ENV}, or run in a terminal to be prompted.",
        )
    return str(typer.prompt(f"Password for {key}", hide_input=True)).encode("utf-8")


def render_statement(document: dict[str, Any], method: SigningMethod | None) -> str:
    """The bare statement (deterministic JSON), or the Sigstore bundle when signing."""
    from mlchain.provenance.statement import dumps

    if method is None:
        return dumps(document)
    from mlchain.signing.sign import sign_statement

    return sign_statement(document, method).rstrip("\n") + "\n"


def verification_method(
    model_path: Path,
    signature: Path | None,
    *,
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    key: Path | None,
    certificate_chain: list[Path] | None,
    trust_config: Path | None,
    staging: bool,
) -> VerificationMethod:
    """The verification method the options name: keyless identity, a public key, or a CA chain.

    ``model_path`` and ``signature`` locate the bundle, which says what it needs when no
    method is given (it is only parsed, not trusted).

    Raises:
        UsageError: on options that do not go together, or none at all.
    """
    from mlchain.signing.verify import VerificationMethod

    chain = certificate_chain or []
    named = identity is not None or identity_regexp is not None
    # With --certificate-chain, --identity/--identity-regexp constrain the certificate subject.
    keyless = issuer is not None or (named and not chain)
    chosen = _given(
        ("--identity/--issuer", keyless),
        ("--key", key is not None),
        ("--certificate-chain", bool(chain)),
    )
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} are alternatives; give one verification method.")
    if (trust_config is not None or staging) and not keyless:
        raise UsageError("--trust-config and --staging apply only to keyless (--identity) bundles.")
    if staging and trust_config is not None:
        raise UsageError("--staging and --trust-config are alternatives; give one.")
    if key is not None:
        check_key_file(key, "public")
        return VerificationMethod.key(key)
    if chain:
        return VerificationMethod.with_certificate_chain(
            tuple(chain), identity=identity, identity_regexp=identity_regexp
        )
    if keyless:
        if issuer is None:
            raise UsageError("--issuer is required with --identity/--identity-regexp.")
        return VerificationMethod.keyless(
            issuer=issuer,
            identity=identity,
            identity_regexp=identity_regexp,
            trust_config=trust_config,
            staging=staging,
        )
    raise UsageError(_missing_method_message(model_path, signature))


def verifier_method(
    ctx: typer.Context, model_path: Path, signature: Path | None
) -> VerificationMethod:
    """:func:`verification_method` for the options :func:`with_verifier_options` added.

    Raises:
        UsageError: on options that do not go together, or none at all.
    """
    params = ctx.params
    return verification_method(
        model_path,
        signature,
        identity=params.get("identity"),
        identity_regexp=params.get("identity_regexp"),
        issuer=params.get("issuer"),
        key=_path(params.get("key")),
        certificate_chain=[Path(p) for p in params.get("certificate_chain") or ()],
        trust_config=_path(params.get("trust_config")),
        staging=bool(params.get("staging")),
    )


def _path(value: object) -> Path | None:
    """A path option read from ``ctx.params`` (click keeps it a ``str``; typer converts later)."""
    return None if value is None else Path(str(value))


def trust_config_param(ctx: typer.Context) -> Path | None:
    """``--trust-config`` as given to a command decorated with :func:`with_verifier_options`."""
    return _path(ctx.params.get("trust_config"))


def verifier_given(ctx: typer.Context) -> bool:
    """Whether an option naming an expected signer was given (``--trust-config`` names none)."""
    return any(ctx.params.get(name) for name, _, _ in _VERIFIER_OPTIONS if name != "trust_config")


def _missing_method_message(model_path: Path, signature: Path | None) -> str:
    """Say which options the bundle at hand needs (it is only parsed, not trusted)."""
    from mlchain.signing.bundle import BundleError
    from mlchain.signing.manifest import default_signature_path
    from mlchain.signing.verify import read_bundle

    path = signature if signature is not None else default_signature_path(model_path)
    try:
        kind = read_bundle(path).signer.method
    except BundleError:
        kind = None
    need = {
        "sigstore": "it is signed keylessly with Sigstore: give --identity (or "
        "--identity-regexp) and --issuer for the signer you expect",
        "key": "it is signed with a key: give --key PUBLIC.pem",
        "certificate": "it is signed with a certificate: give --certificate-chain CA.pem",
        None: "give --identity and --issuer (keyless), --key or --certificate-chain",
    }[kind]
    return f"No verification method for {path}; {need}."
