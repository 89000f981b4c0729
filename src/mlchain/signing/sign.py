"""Sign models (OMS format) and in-toto statements, through model-signing and sigstore-python.

mlchain writes no cryptography of its own: model-signing hashes the model and signs the OMS
statement (key, certificate or Sigstore keyless); sigstore-python signs arbitrary statements
keylessly. The only thing mlchain adds is the plumbing: options, ignore rules, the symlink rule,
error messages and an atomic write of the bundle.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from mlchain.atomic import write_atomically as _write_atomically
from mlchain.errors import InputError, SigningError, UsageError
from mlchain.intoto import PAYLOAD_TYPE, STATEMENT_TYPE
from mlchain.signing import _oms
from mlchain.signing import manifest as _manifest
from mlchain.signing.manifest import HashAlgorithm
from mlchain.signing.tree import list_model

_LOG = logging.getLogger(__name__)

IN_TOTO_PAYLOAD_TYPE = PAYLOAD_TYPE
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SigningMethod:
    """How to sign: Sigstore keyless, an EC private key, or a certificate plus its key.

    Build one with :meth:`keyless`, :meth:`key` or :meth:`certificate`. Secrets (password,
    identity token) are kept out of ``repr``.
    """

    kind: Literal["sigstore", "key", "certificate"]
    private_key: Path | None = None
    password: bytes | None = field(default=None, repr=False)
    certificate: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity_token: str | None = field(default=None, repr=False)
    trust_config: Path | None = None
    staging: bool = False

    @classmethod
    def keyless(
        cls,
        *,
        identity_token: str | None = None,
        trust_config: Path | None = None,
        staging: bool = False,
    ) -> SigningMethod:
        """Sigstore keyless: an explicit OIDC token, else ambient CI credentials."""
        return cls(
            "sigstore", identity_token=identity_token, trust_config=trust_config, staging=staging
        )

    @classmethod
    def key(cls, private_key: Path, *, password: bytes | None = None) -> SigningMethod:
        """An EC (P-256/384/521) private key in PEM."""
        return cls("key", private_key=private_key, password=password)

    @classmethod
    def with_certificate(
        cls,
        private_key: Path,
        certificate: Path,
        chain: Sequence[Path] = (),
        *,
        password: bytes | None = None,
    ) -> SigningMethod:
        """A signing certificate (PEM), its chain (PEM files) and the matching EC private key."""
        return cls(
            "certificate",
            private_key=private_key,
            password=password,
            certificate=certificate,
            certificate_chain=tuple(chain),
        )


@dataclass(frozen=True, slots=True)
class SignResult:
    """What :func:`sign_model` signed and where it wrote the bundle."""

    signature: Path
    model_name: str
    hash_algorithm: str
    files: dict[str, str]
    """``{file name: hex digest}`` as signed."""
    ignored: tuple[str, ...]
    """The signed ignore list (paths relative to the model folder)."""
    shard_size: int | None = None
    """Set when files were hashed in shards of this many bytes; ``files`` then names shards
    (``path:start:end``)."""

    def signed_files(self) -> list[str]:
        """The files the signature covers, each once (shards folded into their file)."""
        return _oms.file_names(self.files, sharded=self.shard_size is not None)


def sign_model(
    model_path: Path,
    method: SigningMethod,
    *,
    signature: Path | None = None,
    ignore: Sequence[Path] = (),
    algorithm: HashAlgorithm = "sha256",
    allow_symlinks: bool = False,
    shard_size: int | None = None,
) -> SignResult:
    """Sign a model file or folder in the OMS format and write the bundle atomically.

    The signature file (inside the model folder by default) and git metadata are always ignored.
    Model files are only read.

    Raises:
        InputError: the model path does not exist.
        SymlinkError: the model breaks mlchain's symlink rule.
        SigningError: the key, certificate or identity token is unusable, or Sigstore failed.
        OutputError: the bundle cannot be written.
    """
    if not model_path.exists():
        raise InputError(f"No such model file or folder: {model_path}.")
    signature = signature if signature is not None else _manifest.default_signature_path(model_path)
    ignores = sorted(
        {
            *_manifest.relative_ignores(model_path, ignore),
            *_manifest.signature_ignore(model_path, signature),
        }
    )
    tree = list_model(model_path)  # an unlistable folder stops signing: no partial signature
    allow_symlinks = _manifest.check_symlinks(model_path, allow=allow_symlinks, ignore=ignores)
    signer = _model_signer(method)  # fail on a bad key before hashing gigabytes

    config = _manifest.hashing_config(
        algorithm=algorithm,
        ignore=ignores,
        allow_symlinks=allow_symlinks,
        method="files" if shard_size is None else "shards",
        shard_size=shard_size,
    )
    try:
        manifest = _manifest.hash_model(config, model_path, tree)
    except (ValueError, OSError) as exc:
        raise SigningError(
            f"Cannot hash {model_path}: {exc}", hint="Check that every model file is readable."
        ) from exc
    if not list(manifest.resource_descriptors()):
        raise UsageError(
            f"Nothing to sign in {model_path}: every file is ignored or the folder is empty.",
            hint="Check the --ignore options.",
        )
    payload = _oms.signing().Payload(manifest)
    bundle_json = _run_signer(lambda: signer.sign(payload).bundle.to_json(), method)
    write_atomically(signature, bundle_json)
    serialization = manifest.serialization_type
    return SignResult(
        signature=signature,
        model_name=manifest.model_name,
        hash_algorithm=str(serialization.get("hash_type", algorithm)),
        files=_oms.manifest_digests(manifest, model_path),
        ignored=tuple(sorted(str(p) for p in serialization.get("ignore_paths", ()))),
        shard_size=shard_size,
    )


def sign_statement(statement: dict[str, Any], method: SigningMethod) -> str:
    """Sign an in-toto statement and return a Sigstore bundle (JSON) with a DSSE envelope.

    Keyless signing goes through sigstore-python's ``Signer.sign_dsse``; key and certificate
    signing produce the same bundle shape as model-signing's key and certificate signers (no
    transparency-log entry), verified by :func:`mlchain.signing.verify.verify_statement`.

    The statement is serialized as compact JSON (integers stay integers; protobuf would turn
    them into floats).

    Raises:
        SigningError: the statement is not an in-toto statement, or signing failed.
    """
    if statement.get("_type") != STATEMENT_TYPE or not statement.get("subject"):
        raise SigningError(
            "Only in-toto Statement v1 documents with at least one subject can be signed.",
            hint=f"Build the statement with _type {STATEMENT_TYPE} and subjects.",
        )
    raw = json.dumps(statement, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if method.kind == "sigstore":
        return _sign_statement_keyless(raw, method)
    signer = _model_signer(method)
    return _run_signer(lambda: _sign_raw_dsse(signer, raw), method)


def _sign_raw_dsse(signer: Any, raw: bytes) -> str:
    """Sign ``raw`` with a model-signing key/certificate signer, in its bundle shape."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore_models import intoto as intoto_pb
    from sigstore_models.bundle import v1 as bundle_pb

    # NOTE(signing): model-signing's signers only accept its own OMS payload; this mirrors their
    # sign() for an arbitrary statement, reusing their key handling, PAE and material.
    private_key = signer._private_key
    sig = private_key.sign(
        _oms.sign_sigstore_pb().pae(raw),
        ec.ECDSA(_oms.sign_ec_key().get_ec_key_hash(private_key.public_key())),
    )
    envelope = intoto_pb.Envelope(
        payload=base64.b64encode(raw),
        payload_type=IN_TOTO_PAYLOAD_TYPE,
        signatures=[intoto_pb.Signature(sig=base64.b64encode(sig), keyid="")],
    )
    bundle = bundle_pb.Bundle(
        media_type=_oms.sign_sigstore_pb()._BUNDLE_MEDIA_TYPE,
        verification_material=signer._get_verification_material(),
        dsse_envelope=envelope,
    )
    return str(bundle.to_json())


def _sign_statement_keyless(raw: bytes, method: SigningMethod) -> str:
    from sigstore import dsse
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    token = identity_token(method)
    trust = _signing_trust_config(method)

    def sign() -> str:
        context = SigningContext.from_trust_config(trust)
        with context.signer(IdentityToken(token)) as signer:
            return str(signer.sign_dsse(dsse.Statement(raw)).to_json())

    return _run_signer(sign, method)


def _signing_trust_config(method: SigningMethod) -> Any:
    from mlchain.signing import trust

    if method.trust_config is not None:
        return trust.load_trust_config(method.trust_config)
    return trust.online_trust_config(staging=method.staging)


def identity_token(method: SigningMethod) -> str:
    """Return the OIDC token to sign with: the explicit one, else ambient CI credentials.

    Raises:
        SigningError: if there is neither.
    """
    if method.identity_token:
        return method.identity_token
    from sigstore.oidc import IdentityError, detect_credential

    try:
        token = detect_credential()
    except IdentityError as exc:
        raise SigningError(f"Ambient OIDC credentials were found but unusable: {exc}.") from exc
    if not token:
        raise SigningError(
            "No OIDC identity token for Sigstore keyless signing.",
            hint=(
                "Pass --identity-token (or MLCHAIN_IDENTITY_TOKEN), run in a CI with OIDC "
                "enabled (GitHub Actions: permissions id-token: write), or sign with --key."
            ),
        )
    return str(token)


def _model_signer(method: SigningMethod) -> Any:
    """Build the model-signing signer for ``method`` (keys and certificates load here)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    if method.kind == "sigstore":
        return _keyless_model_signer(method)
    if method.private_key is None:
        raise UsageError("A private key (--key) is required for key and certificate signing.")
    _check_regular_files(method.private_key, method.certificate, *method.certificate_chain)
    try:
        if method.kind == "key":
            # NOTE(signing): model-signing annotates the password as str but hands it to
            # cryptography's load_pem_private_key, which wants bytes.
            return _oms.sign_ec_key().Signer(method.private_key, method.password)
        if method.certificate is None:
            raise UsageError("Certificate signing needs --certificate and --key.")
        return _certificate_signer(
            method.private_key, method.certificate, method.certificate_chain, method.password
        )
    except OSError as exc:
        raise SigningError(
            f"Cannot read {exc.filename or method.private_key}: {exc.strerror or exc}.",
            hint="Check the key and certificate paths.",
        ) from exc
    except (ValueError, TypeError, AttributeError, UnsupportedAlgorithm) as exc:
        # A key problem, not an identity token or trust configuration one: say so.
        hint = "Check --key" + (", --certificate" if method.certificate else "")
        raise SigningError(_key_problem(exc, method), hint=f"{hint} and {_PASSWORD_ENV}.") from exc


_PASSWORD_ENV = "MLCHAIN_KEY_PASSWORD"  # noqa: S105 (a variable name, not a secret)


def _check_regular_files(*paths: Path | None) -> None:
    """Refuse a key or certificate path that is a FIFO, socket or device (never opened)."""
    from mlchain.inputfile import special_file_kind

    for path in paths:
        kind = special_file_kind(path) if path is not None else None
        if kind is not None:
            raise SigningError(
                f"{path} is {kind}, not a key or certificate file.",
                hint="Pass the PEM file itself.",
            )


def _key_problem(exc: Exception, method: SigningMethod) -> str:
    text = str(exc)
    if isinstance(exc, TypeError) and "encrypted" in text.lower():
        if method.password is None:
            return (
                f"{method.private_key} is encrypted. Set MLCHAIN_KEY_PASSWORD or run "
                "interactively to be prompted for its password."
            )
        return f"{method.private_key} is not encrypted; do not give a password for it."
    if "password" in text.lower() or "decrypt" in text.lower():
        return f"Cannot decrypt {method.private_key}: wrong password?"
    if isinstance(exc, AttributeError) or "curve" in text.lower():
        return (
            f"{method.private_key} is not an EC P-256, P-384 or P-521 key; model signing "
            "supports only those."
        )
    if "public key" in text.lower():
        return f"The certificate {method.certificate} does not belong to {method.private_key}."
    return f"Cannot use the signing key or certificate: {text}"


def _certificate_signer(
    key: Path, certificate: Path, chain: Sequence[Path], password: bytes | None
) -> Any:
    sign_certificate, sign_ec_key = _oms.sign_certificate(), _oms.sign_ec_key()
    if password is None:
        return sign_certificate.Signer(key, certificate, list(chain))

    class _PasswordCertificateSigner(sign_certificate.Signer):  # type: ignore[name-defined,misc]
        """model-signing's certificate signer, for a password-protected key."""

        def __init__(self) -> None:
            from cryptography import x509

            sign_ec_key.Signer.__init__(self, key, password)
            self._signing_certificate = x509.load_pem_x509_certificate(certificate.read_bytes())
            if self._private_key.public_key() != self._signing_certificate.public_key():
                raise ValueError("The public key from the certificate does not match the key")
            self._trust_chain = x509.load_pem_x509_certificates(
                b"".join(p.read_bytes() for p in chain)
            )

    return _PasswordCertificateSigner()


def _keyless_model_signer(method: SigningMethod) -> Any:
    from mlchain.signing import trust

    token = identity_token(method)
    if method.trust_config is not None:
        trust.read_trust_config_text(method.trust_config)  # clear error if unreadable
    else:
        trust.ensure_writable_cache()
    return _run_signer(
        lambda: _oms.sign_sigstore().Signer(
            identity_token=token,
            use_ambient_credentials=False,
            use_staging=method.staging,
            trust_config=method.trust_config,
        ),
        method,
    )


def _run_signer(call: Callable[[], _T], method: SigningMethod) -> _T:
    """Run a third-party signing step, turning its errors into :class:`SigningError`.

    Only keyless signing talks to Sigstore; a key or certificate signer raises none of its
    errors, so those paths do not import sigstore's client (and ``requests``) to catch them.
    """
    if method.kind != "sigstore":
        try:
            return call()
        except (ValueError, TypeError) as exc:
            raise SigningError(f"Signing failed: {exc}") from exc
    import requests
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import NetworkError as SigstoreNetworkError
    from sigstore.oidc import IdentityError

    try:
        return call()
    except IdentityError as exc:
        raise SigningError(
            f"The OIDC identity token was rejected: {_one_line(exc)}.",
            hint="Get a fresh token (they expire within minutes) for the audience 'sigstore'.",
        ) from exc
    except SigstoreNetworkError as exc:
        raise SigningError(
            f"Cannot reach a Sigstore service: {_one_line(exc.__cause__ or exc)}.",
            hint="Check network access, or pass --trust-config for a private Sigstore instance.",
        ) from exc
    except SigstoreError as exc:
        raise SigningError(f"Sigstore signing failed: {_one_line(exc)}.") from exc
    except requests.RequestException as exc:
        raise SigningError(
            f"Cannot reach a Sigstore service ({type(exc).__name__}: {exc}).",
            hint="Check network access, or pass --trust-config for a private Sigstore instance.",
        ) from exc
    except (ValueError, TypeError) as exc:
        raise SigningError(f"Sigstore keyless signing failed: {exc}") from exc


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line, falling back to its diagnostics or type name."""
    text = str(exc).strip()
    if not text and hasattr(exc, "diagnostics"):
        text = str(exc.diagnostics())
    return " ".join(text.split())[:500] or type(exc).__name__


def write_atomically(path: Path, text: str) -> None:
    """Write a signature bundle atomically (see :mod:`mlchain.atomic`).

    Raises:
        OutputError: if the file cannot be written; no partial file is left behind.
    """
    _write_atomically(path, text, what="the signature")
