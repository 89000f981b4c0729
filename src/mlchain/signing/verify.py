"""Verify OMS model signatures and signed in-toto statements.

Signatures are checked by sigstore-python (keyless: certificate chain, SCT, transparency-log
entry, identity policy, DSSE signature) or model-signing (key and certificate bundles). The model
is hashed by model-signing with the hashing settings recorded in the signed statement, and mlchain
compares the digests itself so it can say which file changed, which is missing and which is extra.

Failures are reported, not raised: :func:`verify_model` returns a :class:`ModelVerification`
whose ``errors`` say why. Exceptions are for "could not check" (unreadable or malformed bundle,
missing trust material: exit 3) and contradictory options (exit 2).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlchain.errors import InputError, UsageError
from mlchain.intoto import OMS_PREDICATE_TYPES, PAYLOAD_TYPE, STATEMENT_TYPE
from mlchain.signing import _oms
from mlchain.signing import manifest as _manifest
from mlchain.signing.bundle import (
    BundleError,
    ParsedBundle,
    SignerInfo,
    parse_bundle,
    read_bundle_text,
)
from mlchain.signing.tree import UnreadableModelError, list_model

_LOG = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
IN_TOTO_PAYLOAD_TYPE = PAYLOAD_TYPE
IN_TOTO_STATEMENT_V1 = STATEMENT_TYPE


@dataclass(frozen=True, slots=True)
class VerificationMethod:
    """What a signature must have been made with: a Sigstore identity, a public key, or a CA.

    Build one with :meth:`keyless`, :meth:`key` or :meth:`with_certificate_chain`.
    """

    kind: Literal["sigstore", "key", "certificate"]
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    trust_config: Path | None = None
    staging: bool = False

    @classmethod
    def keyless(
        cls,
        *,
        issuer: str,
        identity: str | None = None,
        identity_regexp: str | None = None,
        trust_config: Path | None = None,
        staging: bool = False,
    ) -> VerificationMethod:
        """Sigstore keyless: the certificate's identity (exact or regexp) and OIDC issuer.

        Raises:
            UsageError: if neither or both of ``identity`` and ``identity_regexp`` are given,
                or the regexp does not compile.
        """
        if (identity is None) == (identity_regexp is None):
            raise UsageError("Give exactly one of --identity and --identity-regexp with --issuer.")
        if identity_regexp is not None:
            try:
                re.compile(identity_regexp)
            except re.error as exc:
                raise UsageError(f"--identity-regexp is not a valid regexp: {exc}.") from exc
        return cls(
            "sigstore",
            identity=identity,
            identity_regexp=identity_regexp,
            issuer=issuer,
            trust_config=trust_config,
            staging=staging,
        )

    @classmethod
    def key(cls, public_key: Path) -> VerificationMethod:
        """An EC public key in PEM."""
        return cls("key", public_key=public_key)

    @classmethod
    def with_certificate_chain(
        cls,
        chain: tuple[Path, ...],
        *,
        identity: str | None = None,
        identity_regexp: str | None = None,
    ) -> VerificationMethod:
        """Certificate-signed bundles, issued by a CA among these PEM certificates.

        The signing certificate must be issued directly by one of the given certificates (the
        issuing CA is pinned), carry the code-signing extended key usage and be valid now. With
        ``identity`` (or ``identity_regexp``, a whole-string match), its subject DN in RFC 4514
        form must match too (cosign's ``--certificate-identity``).

        Raises:
            UsageError: no chain, both identity forms, or a regexp that does not compile.
        """
        if not chain:
            raise UsageError("--certificate-chain needs at least one PEM file (the trusted CA).")
        if identity is not None and identity_regexp is not None:
            raise UsageError("Give at most one of --identity and --identity-regexp.")
        if identity_regexp is not None:
            try:
                re.compile(identity_regexp)
            except re.error as exc:
                raise UsageError(f"--identity-regexp is not a valid regexp: {exc}.") from exc
        return cls(
            "certificate",
            certificate_chain=tuple(chain),
            identity=identity,
            identity_regexp=identity_regexp,
        )

    def describe(self) -> str:
        """A short human description of the expected signer."""
        if self.kind == "key":
            return f"the key {self.public_key}"
        if self.kind == "certificate":
            return "a certificate chaining to " + ", ".join(str(p) for p in self.certificate_chain)
        who = self.identity if self.identity is not None else f"/{self.identity_regexp}/"
        return f"identity {who} from issuer {self.issuer}"


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """A statement whose signature verified, and who signed it."""

    statement: dict[str, Any]
    signer: SignerInfo
    chain_fingerprints: tuple[str, ...] = ()
    """SHA-256 of the trusted CA certificates a certificate signer chained to."""


@dataclass(frozen=True, slots=True)
class ModelVerification:
    """The outcome of :func:`verify_model`; ``verified`` is False when ``errors`` is not empty."""

    model: str
    method: str | None
    signer: SignerInfo | None
    hash_algorithm: str | None = "unknown"
    files: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    signature: str = ""
    model_name: str | None = None
    """The model name the signer signed (the OMS subject), whatever the folder is called now."""
    model_digest: str | None = None
    """The signed OMS model digest (sha256 over the per-file digests), to pin a release."""
    unsigned: tuple[str, ...] = ()
    """Files on disk that the signature does not cover (signed ignore list, git metadata)."""
    authority: str | None = None
    """The policy authority whose own trust material verified the signer (deploy gate)."""
    chain_fingerprints: tuple[str, ...] = ()
    """SHA-256 of the trusted CA certificates the signing certificate chained to."""
    trust_root: str | None = None
    """Which Sigstore trust root verified a keyless signature (bundled, or a file's sha256)."""
    shard_size: int | None = None
    """Set when the signature hashes files in shards of this many bytes (``sign --shard-size``);
    ``files`` then names shards, ``path:start:end``."""

    def signed_files(self) -> list[str]:
        """The files the signature covers, each once (shards folded into their file)."""
        return _oms.file_names(self.files, sharded=self.shard_size is not None)

    @classmethod
    def unverified(cls, reason: str, *, model: str = "") -> ModelVerification:
        """A result for a model whose signature could not even be tried (no bundle, no match)."""
        return cls(
            model=model,
            method=None,
            signer=None,
            hash_algorithm=None,
            errors=(reason,) if reason else (),
        )

    @property
    def verified(self) -> bool:
        """Whether the model matches a signature made by the expected signer."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """Return the versioned machine-readable shape (``mlchain verify -f json``)."""
        signer = self.signer
        identity = None
        if signer is not None and (signer.subject is not None or signer.issuer is not None):
            identity = {"subject": signer.subject or "", "issuer": signer.issuer or ""}
        return {
            "schema_version": SCHEMA_VERSION,
            "verified": self.verified,
            "model": self.model or None,
            "model_name": self.model_name,
            "model_digest": self.model_digest,
            "method": self.method,
            "identity": identity,
            "key_fingerprint": signer.key_fingerprint if signer else None,
            "chain_fingerprints": list(self.chain_fingerprints),
            "signed_at": signer.signed_at if signer else None,
            "log_entry": signer.log_entry.to_json() if signer and signer.log_entry else None,
            "trust_root": self.trust_root,
            "authority": self.authority,
            "hash_algorithm": self.hash_algorithm,
            "shard_size": self.shard_size,
            "files": dict(sorted(self.files.items())),
            "ignored": list(self.ignored),
            "unsigned": list(self.unsigned),
            "errors": list(self.errors),
        }


MAX_TRUST_FILE_BYTES = 1 << 20
"""Largest public key or certificate chain file read (real ones are a few KiB)."""


def read_trust_file(path: Path) -> bytes:
    """Read a public key or CA file given for verification: regular files only, bounded.

    Raises:
        TrustMaterialError: it cannot be read, is a FIFO/socket/device, or is too large (exit 3).
    """
    from mlchain.inputfile import read_regular_file
    from mlchain.signing.trust import TrustMaterialError

    try:
        return read_regular_file(path, limit=MAX_TRUST_FILE_BYTES)
    except OSError as exc:
        raise TrustMaterialError(
            f"Cannot read {path}: {exc.strerror or exc}.",
            hint="Check the --key / --certificate-chain path.",
        ) from exc
    except ValueError as exc:
        raise TrustMaterialError(
            f"Cannot use {path}: {exc}.",
            hint="Pass a PEM EC public key (--key) or PEM CA certificates (--certificate-chain).",
        ) from None


class _Rejected(Exception):
    """Internal: the signature or signer is not acceptable (verification failure)."""


def read_bundle(path: Path) -> ParsedBundle:
    """Read and parse a bundle file (unverified).

    Raises:
        BundleError: if it cannot be read or parsed.
    """
    try:
        text = read_bundle_text(path)
    except FileNotFoundError as exc:
        raise BundleError(
            f"No signature at {path}.",
            hint="Sign the model with `mlchain sign`, or point --signature at its bundle.",
        ) from exc
    except (OSError, ValueError) as exc:
        raise BundleError(f"Cannot read the signature {path}: {exc}.") from exc
    return parse_bundle(text, source=str(path))


def verify_statement(bundle_json: str, method: VerificationMethod) -> VerifiedStatement:
    """Verify a bundle made by :func:`mlchain.signing.sign.sign_statement` (or any DSSE bundle).

    Raises:
        BundleError: the bundle is malformed (exit 3).
        VerificationError: the signature does not verify or the signer is not the expected one.
    """
    from mlchain.errors import VerificationError

    parsed = parse_bundle(bundle_json, source="the attestation bundle")
    try:
        payload_type, payload, facts = _verify_envelope(parsed, method)
        statement = _in_toto_statement(payload_type, payload)
    except _Rejected as exc:
        raise VerificationError(str(exc)) from exc
    return VerifiedStatement(
        statement=statement,
        signer=_verified_signer(parsed, method),
        chain_fingerprints=facts.chain_fingerprints,
    )


def verify_model(
    model_path: Path,
    method: VerificationMethod,
    *,
    signature: Path | None = None,
    allow_symlinks: bool = False,
) -> ModelVerification:
    """Verify a model file or folder against its OMS signature.

    Extra files fail verification, as upstream does by default; the signed ignore list is
    re-applied (it is part of the signed statement and reported in the result).

    Raises:
        InputError: the model does not exist or a file cannot be read (exit 3).
        BundleError: the bundle is unreadable or malformed (exit 3).
        TrustMaterialError: the trust configuration is unusable (exit 3).
    """
    if not model_path.exists():
        raise InputError(f"No such model file or folder: {model_path}.")
    signature = signature if signature is not None else _manifest.default_signature_path(model_path)
    parsed = read_bundle(signature)
    model = model_path.name or str(model_path)
    base = ModelVerification(
        model=model, method=method.kind, signer=parsed.signer, signature=str(signature)
    )
    try:
        payload_type, payload, facts = _verify_envelope(parsed, method)
        statement = _in_toto_statement(payload_type, payload)
        expected = _oms_manifest(statement)
    except _Rejected as exc:
        return _replace(base, errors=(str(exc),))

    serialization = dict(expected.serialization_type)
    algorithm = str(serialization.get("hash_type", "sha256"))
    signed_ignores = tuple(sorted(str(p) for p in serialization.get("ignore_paths", ())))
    expected_files = {d.identifier: d.digest.digest_hex for d in expected.resource_descriptors()}
    name, root_digest = _signed_subject(statement)
    sharded = serialization.get("method") == "shards"
    base = _replace(
        base,
        shard_size=_shard_size(serialization.get("shard_size")) if sharded else None,
        signer=_verified_signer(parsed, method),
        hash_algorithm=algorithm,
        files=_oms.display_names(model_path, expected_files),
        ignored=signed_ignores,
        model_name=name,
        model_digest=root_digest,
        chain_fingerprints=facts.chain_fingerprints,
        trust_root=facts.trust_root,
    )
    ignores = [Path(p) for p in signed_ignores]
    ignores += _manifest.signature_ignore(model_path, signature)
    try:
        tree = list_model(model_path)
    except UnreadableModelError as exc:  # a folder hidden from this user hides unsigned files
        return _replace(base, errors=(exc.message,))
    keep = [p.as_posix() for p in _manifest.signature_ignore(model_path, signature)]
    base = _replace(base, unsigned=tuple(tree.not_covered(signed_ignores, keep=keep)))
    try:
        allow_symlinks = _manifest.check_symlinks(model_path, allow=allow_symlinks, ignore=ignores)
    except _manifest.SymlinkError as exc:
        return _replace(base, errors=(exc.message,))
    except UnreadableModelError as exc:
        return _replace(base, errors=(exc.message,))

    try:
        config = _manifest.hashing_config(
            algorithm=algorithm,
            ignore=ignores,
            allow_symlinks=allow_symlinks,
            method=str(serialization.get("method", "files")),
            shard_size=serialization.get("shard_size"),
        )
        actual = _manifest.hash_model(config, model_path, tree)
    except OSError as exc:
        raise InputError(f"Cannot read the model to verify it: {exc}.") from exc
    except (ValueError, TypeError) as exc:  # unsupported signed settings, special files
        return _replace(base, errors=(f"Cannot hash the model as the signature says: {exc}",))
    actual_files = {d.identifier: d.digest.digest_hex for d in actual.resource_descriptors()}
    errors = _diff(model_path, expected_files, actual_files, unit="shard" if sharded else "file")
    if not expected_files:  # fail closed: a signature over nothing proves nothing
        errors.insert(0, "The signature covers no files (is everything in its ignore list?).")
    return _replace(base, errors=tuple(errors))


def _shard_size(value: object) -> int | None:
    # NOTE(signing): JSON brings the shard size back as a float.
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
        return int(value)
    return None


def _signed_subject(statement: dict[str, Any]) -> tuple[str | None, str | None]:
    """The OMS statement's single subject: the signed model name and its root digest."""
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects or not isinstance(subjects[0], dict):
        return None, None
    name = subjects[0].get("name")
    digest = subjects[0].get("digest")
    sha = digest.get("sha256") if isinstance(digest, dict) else None
    return (
        name if isinstance(name, str) else None,
        sha if isinstance(sha, str) else None,
    )


def _replace(result: ModelVerification, **changes: Any) -> ModelVerification:
    from dataclasses import replace

    return replace(result, **changes)


def _diff(
    model_path: Path, expected: dict[str, str], actual: dict[str, str], *, unit: str = "file"
) -> list[str]:
    def name(identifier: str) -> str:
        return _oms.display_name(model_path, identifier)

    errors = [
        f"{name(n)}: changed (signed digest {expected[n]}, now {actual[n]})"
        for n in sorted(expected.keys() & actual.keys())
        if expected[n] != actual[n]
    ]
    errors += [
        f"{name(n)}: missing (signed but not found)"
        for n in sorted(expected.keys() - actual.keys())
    ]
    errors += [
        f"{name(n)}: extra {unit} (present but not signed)"
        for n in sorted(actual.keys() - expected.keys())
    ]
    return errors


def _in_toto_statement(payload_type: str, payload: bytes) -> dict[str, Any]:
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise _Rejected(f"The signed payload is {payload_type!r}, not an in-toto statement.")
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        raise _Rejected("The signed payload is not valid JSON (or is nested too deeply).") from None
    if not isinstance(statement, dict) or statement.get("_type") != IN_TOTO_STATEMENT_V1:
        raise _Rejected("The signed payload is not an in-toto Statement v1.")
    return statement


def _oms_manifest(statement: dict[str, Any]) -> Any:
    if statement.get("predicateType") not in OMS_PREDICATE_TYPES:
        raise _Rejected(
            f"The signature is not a model signature (predicate type "
            f"{statement.get('predicateType')!r}); is this an attestation bundle?"
        )
    try:
        return _oms.signing().dsse_payload_to_manifest(statement)
    except (ValueError, KeyError, TypeError) as exc:
        raise _Rejected(f"The signed model manifest is inconsistent: {exc}") from exc


def _verified_signer(parsed: ParsedBundle, method: VerificationMethod) -> SignerInfo:
    """The signer facts worth reporting once the signature verified."""
    from dataclasses import replace

    if method.kind == "key" and method.public_key is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from mlchain.signing.bundle import spki_fingerprint

        key = load_pem_public_key(read_trust_file(method.public_key))
        return replace(parsed.signer, key_fingerprint=spki_fingerprint(key))
    return parsed.signer


@dataclass(frozen=True, slots=True)
class _TrustFacts:
    """What verified a signature, beyond the signer itself."""

    chain_fingerprints: tuple[str, ...] = ()
    trust_root: str | None = None


def _verify_envelope(
    parsed: ParsedBundle, method: VerificationMethod
) -> tuple[str, bytes, _TrustFacts]:
    """Check the bundle's signature and signer; return the verified payload and trust facts."""
    kind = parsed.signer.method
    if kind != method.kind:
        raise _Rejected(_kind_mismatch(kind, method))
    if method.kind == "sigstore":
        payload_type, payload = _verify_keyless(parsed, method)
        return payload_type, payload, _TrustFacts(trust_root=_trust_root(method))
    payload_type, payload = _verify_traditional(parsed, method)
    if method.kind == "certificate":
        from mlchain.signing.certificates import check_signing_certificate

        try:
            anchors = check_signing_certificate(
                parsed.data,
                [read_trust_file(p) for p in method.certificate_chain],
                identity=method.identity,
                identity_regexp=method.identity_regexp,
            )
        except ValueError as exc:
            raise _Rejected(str(exc)) from exc
        return payload_type, payload, _TrustFacts(chain_fingerprints=anchors)
    return payload_type, payload, _TrustFacts()


def _trust_root(method: VerificationMethod) -> str:
    """Name the Sigstore trust root a keyless signature was checked against."""
    import hashlib

    if method.trust_config is None:
        return "sigstore-staging (bundled)" if method.staging else "sigstore-public-good (bundled)"
    from mlchain.signing.trust import read_trust_config_text

    digest = hashlib.sha256(read_trust_config_text(method.trust_config).encode()).hexdigest()
    return f"trust-config sha256:{digest}"


def _kind_mismatch(kind: str, method: VerificationMethod) -> str:
    signed = {
        "sigstore": ("keylessly with Sigstore", "verify with --identity and --issuer"),
        "key": ("with a private key", "verify with --key PUBLIC.pem"),
        "certificate": ("with a certificate", "verify with --certificate-chain CA.pem"),
    }[kind]
    expected = {"sigstore": "keylessly", "key": "by a key", "certificate": "with a CA"}
    return (
        f"The model was signed {signed[0]}, not {expected[method.kind]} as {method.describe()} "
        f"expects: {signed[1]}."
    )


def _verify_traditional(parsed: ParsedBundle, method: VerificationMethod) -> tuple[str, bytes]:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    from mlchain.signing.trust import TrustMaterialError

    for path in (method.public_key, *method.certificate_chain):
        if path is not None:
            read_trust_file(path)  # a FIFO or device is refused before model-signing opens it
    try:
        if method.kind == "key":
            assert method.public_key is not None
            verifier: Any = _oms.sign_ec_key().Verifier(method.public_key)
        else:
            verifier = _oms.sign_certificate().Verifier(list(method.certificate_chain))
            # NOTE(signing): let a given intermediate be the anchor (pinning the issuing CA);
            # mlchain's own checks (signing/certificates.py) then run on top of this one.
            _oms.allow_partial_chain(verifier)
    except OSError as exc:
        raise TrustMaterialError(
            f"Cannot read {exc.filename}: {exc.strerror or exc}.",
            hint="Check the --key / --certificate-chain path.",
        ) from exc
    except (ValueError, TypeError, AttributeError, UnsupportedAlgorithm) as exc:
        raise TrustMaterialError(
            f"Cannot use the verification key or certificates: {exc}",
            hint="Pass a PEM EC public key (--key) or PEM CA certificates (--certificate-chain).",
        ) from exc
    try:
        signature = _oms.sign_sigstore_pb().Signature.read(_TextSource(parsed.text))
    except Exception as exc:  # sigstore-models validation errors vary by version
        raise BundleError(f"The signature bundle is malformed ({type(exc).__name__}).") from exc
    try:
        # NOTE(signing): model-signing's public verify() also hashes the model and raises one
        # ValueError for everything; the signature step alone lets mlchain report precisely.
        # model-signing print()s a warning for bundles without a key hint; keep stdout clean
        # for `-f json` and route it to the log instead.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            payload_type, payload = verifier._verify_signed_content(signature)
        if printed.getvalue().strip():
            _LOG.warning("model-signing: %s", printed.getvalue().strip())
    except InvalidSignature as exc:
        raise _Rejected(
            f"The signature does not verify with {method.describe()}: the bundle was signed "
            "with another key or its signed content was altered."
        ) from exc
    except ValueError as exc:
        text = str(exc)
        if "Key mismatch" in text:
            text = (
                f"The signature was made with a different key than {method.public_key} "
                f"(bundle key hint {_key_hint(parsed)})."
            )
        raise _Rejected(text) from exc
    except Exception as exc:  # OpenSSL X509StoreContextError and friends
        raise _Rejected(f"The signing certificate is not trusted: {exc}") from exc
    return str(payload_type), bytes(payload)


def _key_hint(parsed: ParsedBundle) -> str:
    hint = parsed.data.get("verificationMaterial", {}).get("publicKey", {}).get("hint")
    return str(hint) if hint else "absent"


class _TextSource:
    """Duck-typed path for model-signing's ``Signature.read`` (which only calls read_text)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read_text(self, encoding: str = "utf-8") -> str:
        return self._text


def _verify_keyless(parsed: ParsedBundle, method: VerificationMethod) -> tuple[str, bytes]:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier

    from mlchain.signing.trust import load_trust_config

    trust = load_trust_config(method.trust_config, staging=method.staging)
    try:
        bundle = Bundle.from_json(parsed.text)
    except Exception as exc:  # InvalidBundle, pydantic validation errors
        raise _Rejected(f"sigstore-python rejects the bundle: {exc}") from exc
    policy = _IdentityPolicy(method)
    try:
        verifier = Verifier(trusted_root=trust.trusted_root)
        payload_type, payload = verifier.verify_dsse(bundle=bundle, policy=policy)
    except SigstoreError as exc:
        if policy.failure is not None:
            raise _Rejected(policy.failure) from exc
        message = f"The Sigstore signature does not verify: {exc}."
        if "chain" in str(exc):
            message += (
                " The signing certificate or timestamp does not chain to the trusted Sigstore "
                "root (the public-good root unless --trust-config names a private instance)."
            )
        raise _Rejected(message) from exc
    return str(payload_type), bytes(payload)


class _IdentityPolicy:
    """sigstore-python verification policy: exact or regexp identity plus exact OIDC issuer.

    Matches cosign's ``--certificate-identity[-regexp]`` / ``--certificate-oidc-issuer``: the
    regexp must match a whole SAN (``re.fullmatch``). Records why it refused, naming the actual
    signer, so the user sees who signed instead.
    """

    def __init__(self, method: VerificationMethod) -> None:
        self._method = method
        self.failure: str | None = None

    def verify(self, cert: Any) -> None:
        from sigstore.errors import VerificationError as SigstoreVerificationError

        from mlchain.signing.bundle import certificate_identities, fulcio_issuer

        issuer = fulcio_issuer(cert)
        identities = certificate_identities(cert)
        expected = self._method
        problems = []
        if issuer != expected.issuer:
            problems.append(f"issuer {issuer or '(none)'} instead of {expected.issuer}")
        if expected.identity is not None:
            ok = expected.identity in identities
        else:
            pattern = re.compile(expected.identity_regexp or "")
            ok = any(pattern.fullmatch(i) for i in identities)
        if not ok:
            want = (
                expected.identity
                if expected.identity is not None
                else f"an identity matching /{expected.identity_regexp}/"
            )
            problems.append(f"identity {', '.join(identities) or '(none)'} instead of {want}")
        if problems:
            self.failure = "The model was signed by " + " and ".join(problems) + "."
            raise SigstoreVerificationError(self.failure)
