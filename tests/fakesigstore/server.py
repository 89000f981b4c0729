"""A loopback stand-in for Sigstore (OIDC issuer, Fulcio CA, CT log, Rekor v1 log).

It speaks just enough of each protocol for unmodified sigstore-python and model-signing to sign
and verify offline. Every key is generated when the server is created; nothing is persisted.
The server binds 127.0.0.1 only, on a port chosen by the OS.

See README.md next to this file for what it implements and what it does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

AUDIENCE = "sigstore"
LOG_NAME = "fakesigstore.local"
OPERATOR = "fakesigstore.local"
LEAF_LIFETIME = timedelta(minutes=10)
_OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_P256 = "PKIX_ECDSA_P256_SHA_256"


class HttpError(Exception):
    """An error answered to the client as ``{"code": status, "message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 key id: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(_spki(key)).digest()


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) < 0x80:
        length = bytes([len(raw)])
    else:
        size = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return b"\x0c" + length + raw


def _der_octets(raw: bytes) -> bytes:
    size = len(raw).to_bytes((len(raw).bit_length() + 7) // 8 or 1, "big")
    length = bytes([len(raw)]) if len(raw) < 0x80 else bytes([0x80 | len(size)]) + size
    return b"\x04" + length + raw


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """Largest power of two strictly below ``size`` (RFC 6962 section 2.1)."""
    return 1 << ((size - 1).bit_length() - 1)


def _tree_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(_tree_root(leaves[:k]), _tree_root(leaves[k:]))


def _audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]), ordered from the leaf upwards."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*_audit_path(index, leaves[:k]), _tree_root(leaves[k:])]
    return [*_audit_path(index - k, leaves[k:]), _tree_root(leaves[:k])]


def _ca_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fakesigstore"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    issuer_name, issuer_key = issuer if issuer else (name, key)
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if not issuer else 0), True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA256())
    )


class FakeSigstore:
    """OIDC issuer + Fulcio + CT log + Rekor v1, served over HTTP on 127.0.0.1.

    Use as a context manager, or call `start()` and `stop()`.

    Attributes:
        url: Base URL of the server (Fulcio and Rekor live at its root).
        issuer: The OIDC issuer URL (``<url>/oidc``), the default ``iss`` of minted tokens.
        entries: Canonicalized bodies of the Rekor entries logged so far.
        requests: ``(method, path, status)`` of every request served, for assertions.
    """

    def __init__(self, allowed_issuers: Collection[str] | None = None) -> None:
        """Generate fresh keys and certificates (the server is not started yet).

        Args:
            allowed_issuers: Issuer URLs the fake Fulcio certifies. ``None`` (the default)
                accepts any ``iss`` on a token signed by this server's OIDC key and certifies
                that issuer, which lets tests simulate CI issuers; a collection refuses the
                others with HTTP 401, like a Fulcio not configured for them.
        """
        self.allowed_issuers = None if allowed_issuers is None else frozenset(allowed_issuers)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self.not_before = now - timedelta(hours=1)
        self.not_after = now + timedelta(days=1)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.oidc_key = ec.generate_private_key(ec.SECP256R1())
        self.oidc_kid = _key_id(self.oidc_key.public_key()).hex()[:16]
        self.root_cert = _ca_cert(
            "fakesigstore root", self.root_key, None, self.not_before, self.not_after
        )
        self.intermediate_cert = _ca_cert(
            "fakesigstore intermediate",
            self.intermediate_key,
            (self.root_cert.subject, self.root_key),
            self.not_before,
            self.not_after,
        )
        self.entries: list[bytes] = []
        self._by_uuid: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._leaves: list[bytes] = []
        self._lock = threading.Lock()
        self._tree_id = int.from_bytes(_key_id(self.rekor_key.public_key())[:7], "big")
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.issuer = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeSigstore:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.issuer = f"{self.url}/oidc"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fakesigstore", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSigstore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- OIDC ------------------------------------------------------------------------------------

    def mint_token(
        self,
        identity: str,
        issuer: str | None = None,
        *,
        audience: str = AUDIENCE,
        lifetime: int = 600,
        key: ec.EllipticCurvePrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """Mint an ES256 identity token.

        Args:
            identity: Becomes ``sub``; also ``email`` (with ``email_verified``) when it looks
                like an email address.
            issuer: The ``iss`` claim; defaults to this server's issuer. Fulcio accepts any
                issuer on a token signed by this server's key and certifies that issuer.
            audience: The ``aud`` claim.
            lifetime: Seconds until ``exp`` (negative for an already expired token).
            key: Signing key; defaults to the issuer's own key (pass another to forge).
            **claims: Extra claims, overriding the defaults.

        Returns:
            The compact JWT.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "sub": identity,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if "@" in identity and "://" not in identity:
            payload.update(email=identity, email_verified=True)
        payload.update(claims)
        return jwt.encode(
            payload, key or self.oidc_key, algorithm="ES256", headers={"kid": self.oidc_kid}
        )

    def _oidc_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def _jwks(self) -> dict[str, Any]:
        numbers = self.oidc_key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.oidc_kid}
        jwk.update(x=_b64url_int(numbers.x), y=_b64url_int(numbers.y))
        return {"keys": [jwk]}

    # -- Fulcio ----------------------------------------------------------------------------------

    def _verify_token(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.oidc_key.public_key(),
                algorithms=["ES256"],
                audience=AUDIENCE,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise HttpError(401, f"invalid identity token: {exc}") from exc
        if self.allowed_issuers is not None and claims["iss"] not in self.allowed_issuers:
            raise HttpError(401, f"issuer {claims['iss']!r} is not configured")
        return claims

    def _san(self, claims: dict[str, Any]) -> x509.GeneralName:
        if "email" in claims:
            if claims.get("email_verified") is not True:
                raise HttpError(400, "email in identity token is not verified")
            return x509.RFC822Name(str(claims["email"]))
        subject = str(claims["sub"])
        if "://" not in subject:
            raise HttpError(400, "token subject is neither an email nor a URI")
        return x509.UniformResourceIdentifier(subject)

    def signing_cert(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """Fulcio ``POST /api/v2/signingCert``: certify the CSR key for the token identity."""
        claims = self._verify_token(token)
        san = self._san(claims)
        try:
            pem = base64.b64decode(body["certificateSigningRequest"], validate=True)
            csr = x509.load_pem_x509_csr(pem)
        except (KeyError, TypeError, ValueError) as exc:
            raise HttpError(400, f"bad certificateSigningRequest: {exc}") from exc
        if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise HttpError(400, "CSR key must be ECDSA or RSA")
        if not csr.is_signature_valid:
            raise HttpError(400, "CSR signature does not verify (no proof of possession)")
        issuer_url = str(claims["iss"])
        now = datetime.now(timezone.utc).replace(microsecond=0)
        issuer_pub = self.intermediate_key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(_OID_ISSUER_V1, issuer_url.encode()), False)
            .add_extension(x509.UnrecognizedExtension(_OID_ISSUER_V2, _der_utf8(issuer_url)), False)
        )
        # The precertificate TBS is the final TBS without the SCT list extension: build it
        # first, have the CT log sign it, then embed the SCT as the last extension.
        precert = builder.sign(self.intermediate_key, hashes.SHA256())
        sct = self._sct(precert.tbs_certificate_bytes, _key_id(issuer_pub), int(now.timestamp()))
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(_OID_SCT_LIST, _der_octets(sct_list)), False
        ).sign(self.intermediate_key, hashes.SHA256())
        chain = [leaf, self.intermediate_cert, self.root_cert]
        pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

    def _sct(self, tbs: bytes, issuer_key_id: bytes, seconds: int) -> bytes:
        """An RFC 6962 v1 SCT for a precertificate entry, signed by the CT log key."""
        millis = seconds * 1000  # whole seconds: survives the verifier's float round trip
        signed = (
            struct.pack("!BBQH", 0, 0, millis, 1)
            + issuer_key_id
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        log_id = _key_id(self.ct_key.public_key())
        # version, log id, timestamp, no extensions, sha256(4)/ecdsa(3), signature
        return (
            struct.pack("!B", 0)
            + log_id
            + struct.pack("!QH", millis, 0)
            + struct.pack("!BBH", 4, 3, len(signature))
            + signature
        )

    # -- Rekor -----------------------------------------------------------------------------------

    def _canonical_body(self, proposed: dict[str, Any]) -> bytes:
        kind = proposed.get("kind")
        spec = proposed.get("spec") or {}
        if proposed.get("apiVersion") != "0.0.1" or kind not in ("dsse", "hashedrekord"):
            raise HttpError(400, f"unsupported entry kind {kind!r}")
        try:
            if kind == "dsse":
                canonical = self._dsse_spec(spec["proposedContent"])
            else:
                canonical = self._hashedrekord_spec(spec)
        except (KeyError, TypeError, ValueError, InvalidSignature) as exc:
            raise HttpError(400, f"invalid {kind} entry: {exc!r}") from exc
        entry = {"apiVersion": "0.0.1", "kind": kind, "spec": canonical}
        return rfc8785.dumps(entry)

    @staticmethod
    def _cert_key(b64_pem: str) -> ec.EllipticCurvePublicKey:
        cert = x509.load_pem_x509_certificate(base64.b64decode(b64_pem, validate=True))
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("only ECDSA verifiers are supported")
        return key

    def _dsse_spec(self, content: dict[str, Any]) -> dict[str, Any]:
        envelope_text: str = content["envelope"]
        envelope = json.loads(envelope_text)
        payload = base64.b64decode(envelope["payload"], validate=True)
        ptype = str(envelope["payloadType"]).encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
        verifiers = content["verifiers"]
        if len(verifiers) != 1 or not envelope["signatures"]:
            raise ValueError("expected one verifier and at least one signature")
        key = self._cert_key(verifiers[0])
        signatures = []
        for sig in envelope["signatures"]:
            raw = base64.b64decode(sig["sig"], validate=True)
            key.verify(raw, pae, ec.ECDSA(hashes.SHA256()))
            signatures.append({"signature": _b64(raw), "verifier": verifiers[0]})
        return {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(envelope_text.encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": signatures,
        }

    def _hashedrekord_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        digest_hex = spec["data"]["hash"]["value"]
        if spec["data"]["hash"]["algorithm"] != "sha256":
            raise ValueError("only sha256 hashedrekord entries are supported")
        signature = base64.b64decode(spec["signature"]["content"], validate=True)
        pem_b64 = spec["signature"]["publicKey"]["content"]
        key = self._cert_key(pem_b64)
        key.verify(signature, bytes.fromhex(digest_hex), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {"content": _b64(signature), "publicKey": {"content": pem_b64}},
        }

    def _checkpoint(self, size: int, root: bytes) -> str:
        note = f"{LOG_NAME} - {self._tree_id}\n{size}\n{_b64(root)}\n"
        signature = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        hint = _key_id(self.rekor_key.public_key())[:4]
        return f"{note}\n\u2014 {LOG_NAME} {_b64(hint + signature)}\n"

    def create_entry(self, proposed: dict[str, Any]) -> dict[str, Any]:
        """Rekor ``POST /api/v1/log/entries``: log the entry, answer with proof, checkpoint, SET."""
        body = self._canonical_body(proposed)
        log_id = _key_id(self.rekor_key.public_key()).hex()
        with self._lock:
            index = len(self._leaves)
            self._leaves.append(_leaf_hash(body))
            self.entries.append(body)
            leaves = list(self._leaves)
        integrated = int(time.time())
        body_b64 = _b64(body)
        promise: dict[str, Any] = {
            "body": body_b64,
            "integratedTime": integrated,
            "logID": log_id,
            "logIndex": index,
        }
        set_sig = self.rekor_key.sign(rfc8785.dumps(promise), ec.ECDSA(hashes.SHA256()))
        root = _tree_root(leaves)
        entry = {
            **promise,
            "verification": {
                "signedEntryTimestamp": _b64(set_sig),
                "inclusionProof": {
                    "logIndex": index,
                    "treeSize": len(leaves),
                    "rootHash": root.hex(),
                    "hashes": [h.hex() for h in _audit_path(index, leaves)],
                    "checkpoint": self._checkpoint(len(leaves), root),
                },
            },
        }
        uuid = leaves[index].hex()
        with self._lock:
            self._by_uuid[uuid] = entry
        return {uuid: entry}

    def get_entry(self, uuid: str) -> dict[str, Any]:
        """Rekor ``GET /api/v1/log/entries/<uuid>`` (the proof is as of the entry's creation)."""
        with self._lock:
            entry = self._by_uuid.get(uuid)
        if entry is None:
            raise HttpError(404, f"no entry {uuid}")
        return {uuid: entry}

    def _trust_bundle(self) -> dict[str, Any]:
        pems = [
            c.public_bytes(serialization.Encoding.PEM).decode()
            for c in (self.intermediate_cert, self.root_cert)
        ]
        return {"chains": [{"certificates": pems}]}

    def _log_info(self) -> dict[str, Any]:
        with self._lock:
            leaves = list(self._leaves)
        root = _tree_root(leaves)
        return {
            "rootHash": root.hex(),
            "treeSize": len(leaves),
            "signedTreeHead": self._checkpoint(len(leaves), root),
            "treeID": str(self._tree_id),
        }

    # -- trust configuration ---------------------------------------------------------------------

    def trust_config(self, path: Path) -> Path:
        """Write a ClientTrustConfig (trusted root + signing config) for this server to ``path``.

        Args:
            path: Destination file; its parent must exist.

        Returns:
            ``path``.
        """
        valid = {"start": _iso(self.not_before), "end": _iso(self.not_after)}

        def tlog(base_url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            pub = key.public_key()
            return {
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": _b64(_spki(pub)), "keyDetails": _P256, "validFor": valid},
                "logId": {"keyId": _b64(_key_id(pub))},
            }

        def service(url: str) -> dict[str, Any]:
            return {"url": url, "majorApiVersion": 1, "validFor": valid, "operator": OPERATOR}

        chain = [self.intermediate_cert, self.root_cert]
        config = {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [tlog(self.url, self.rekor_key)],
                "certificateAuthorities": [
                    {
                        "subject": {"organization": "fakesigstore", "commonName": "fakesigstore"},
                        "uri": self.url,
                        "certChain": {
                            "certificates": [
                                {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))}
                                for c in chain
                            ]
                        },
                        "validFor": valid,
                    }
                ],
                "ctlogs": [tlog(f"{self.url}/ct", self.ct_key)],
                "timestampAuthorities": [],
            },
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service(self.url)],
                "oidcUrls": [service(self.issuer)],
                "rekorTlogUrls": [service(self.url)],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return path


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the `FakeSigstore` bound as the class attribute ``fake``."""

    fake: FakeSigstore
    server_version = "fakesigstore/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (requests are recorded on ``fake``)."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.fake.requests.append((self.command, self.path, status))

    def _dispatch(self) -> None:
        fake, path = self.fake, self.path.split("?", 1)[0]
        try:
            if self.command == "GET" and path == "/oidc/.well-known/openid-configuration":
                self._send(200, fake._oidc_configuration())
            elif self.command == "GET" and path == "/oidc/jwks":
                self._send(200, fake._jwks())
            elif self.command == "GET" and path == "/api/v1/log":
                self._send(200, fake._log_info())
            elif self.command == "GET" and path.startswith("/api/v1/log/entries/"):
                self._send(200, fake.get_entry(path.rsplit("/", 1)[1]))
            elif self.command == "GET" and path == "/api/v2/trustBundle":
                self._send(200, fake._trust_bundle())
            elif self.command == "POST" and path == "/api/v2/signingCert":
                auth = self.headers.get("Authorization", "")
                body = self._json()
                token = auth[7:] if auth.startswith("Bearer ") else ""
                if not token:  # Fulcio also accepts the token in the body
                    token = str((body.get("credentials") or {}).get("oidcIdentityToken", ""))
                self._send(200, fake.signing_cert(token, body))
            elif self.command == "POST" and path == "/api/v1/log/entries":
                self._send(201, fake.create_entry(self._json()))
            else:
                raise HttpError(404, f"no route for {self.command} {path}")
        except HttpError as exc:
            self._send(exc.status, {"code": exc.status, "message": exc.message})
        except Exception as exc:  # a bug in the fake: answer 500 rather than drop the socket
            self._send(500, {"code": 500, "message": f"fakesigstore bug: {exc!r}"})

    def _json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= 8 * 1024 * 1024:
            raise HttpError(400, "missing or oversized request body")
        try:
            value = json.loads(self.rfile.read(length))
        except ValueError as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise HttpError(400, "body is not a JSON object")
        return value

    do_GET = _dispatch
    do_POST = _dispatch
