"""Attacks on `mlchain verify` and the deploy gate (`verify --policy`), one test each.

Each test reproduces an attack of the red-team review (mlchain issue #15; the review's commands
are in shared/reviews/SECURITY_REVIEW.md) through the CLI and shows it refused with the
documented exit code. There is no public advisory for these: the reference is the issue item.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakesigstore.fixture import fake_sigstore  # noqa: F401
from helpers import FIXTURES, run_cli
from helpers import deadline as _deadline
from signing_helpers import write_key

EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."
"""The review's 27-byte protocol-0 pickle (critical pickle-dangerous-call); never loaded."""


def _fresh(tmp_path: Path, name: str = "m") -> tuple[Path, Path, Path]:
    """A small signed model (config.json, model.safetensors, sub/tok.txt): (model, key, pub)."""
    keys = write_key(tmp_path, "signer")
    model = tmp_path / name
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type":"bert"}\n')
    shutil.copy(
        FIXTURES / "safetensors" / "benign" / "f32.safetensors", model / "model.safetensors"
    )
    (model / "sub" / "tok.txt").write_text("hello\n")
    signed = run_cli("sign", str(model), "--key", str(keys.private))
    assert signed.exit_code == 0, signed.stderr
    return model, keys.private, keys.public


def _key_policy(tmp_path: Path, public: Path, extra: str = "", *, strict: bool = True) -> Path:
    path = tmp_path / "keypolicy.yaml"
    path.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: key-gate\n"
        f"spec:\n  authorities:\n    - name: release-key\n      key:\n        path: {public}\n"
        f"  scan:\n    failOn: medium\n    strict: {'true' if strict else 'false'}\n" + extra
    )
    return path


def _gate(model: Path, policy: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    with _deadline():
        result = run_cli("verify", str(model), "--policy", str(policy), "-f", "json", *extra)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


# --- 15.7: special files as inputs ------------------------------------------------------------


def test_fifo_signature_is_refused_at_once(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: a FIFO at ``model.sig`` hung plain ``mlchain verify`` forever
    (and the "which method?" probe too). It is refused at once: exit 3, could not check."""
    model, _, public = _fresh(tmp_path)
    (model / "model.sig").unlink()
    os.mkfifo(model / "model.sig")
    with _deadline():
        result = run_cli("verify", str(model), "--key", str(public))
        probe = run_cli("verify", str(model))
    assert result.exit_code == 3, result.stderr
    assert "FIFO" in result.stderr
    assert probe.exit_code == 2  # no method given: a usage error, not a hang


def test_fifo_signature_under_policy_is_denied(tmp_path: Path) -> None:
    """mlchain issue #15, item 7 (the gate side): a FIFO ``model.sig`` denies (exit 1)."""
    model, _, public = _fresh(tmp_path)
    (model / "model.sig").unlink()
    os.mkfifo(model / "model.sig")
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 1
    assert report["allowed"] is False


@pytest.mark.parametrize("where", ["attestation", "verify-attestation", "policy", "key", "chain"])
def test_fifo_input_files_are_refused_at_once(tmp_path: Path, where: str) -> None:
    """mlchain issue #15, item 7: a FIFO given as ``--attestation``, to ``verify-attestation``,
    as ``--policy``, as ``--key`` or as ``--certificate-chain`` is refused (exit 2 or 3),
    never opened for a blocking read."""
    model, _, public = _fresh(tmp_path)
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    args = {
        "attestation": ["verify", str(model), "--key", str(public), "--attestation", str(fifo)],
        "verify-attestation": ["verify-attestation", str(fifo), str(model), "--key", str(public)],
        "policy": ["verify", str(model), "--policy", str(fifo)],
        "key": ["verify", str(model), "--key", str(fifo)],
        "chain": ["verify", str(model), "--certificate-chain", str(fifo)],
    }[where]
    with _deadline():
        result = run_cli(*args)
    assert result.exit_code in (1, 2, 3), result.stderr
    if where != "chain":  # a key bundle checked with a chain is refused on the method first
        assert result.exit_code in (2, 3)
        assert "FIFO" in result.stderr or "not a regular file" in result.stderr


def test_fifo_attestation_in_gate_is_an_unverified_entry(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: ``--attestation FIFO`` under ``--policy`` is recorded as an
    unreadable bundle (and the gate still decides), never a blocking read."""
    model, _, public = _fresh(tmp_path)
    fifo = tmp_path / "att.json"
    os.mkfifo(fifo)
    code, report = _gate(model, _key_policy(tmp_path, public), "--attestation", str(fifo))
    entries = report["verification"]["attestations"]
    assert entries and entries[0]["verified"] is False
    assert "FIFO" in entries[0]["errors"][0]
    assert code == 0  # the attestation was optional; the signature and scan hold


def test_fifo_signing_key_is_refused(tmp_path: Path) -> None:
    """mlchain issue #15, item 7: ``mlchain sign --key FIFO`` fails at once (exit 3)."""
    model, _, _ = _fresh(tmp_path)
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    with _deadline():
        result = run_cli("sign", str(model), "--key", str(fifo))
    assert result.exit_code == 3, result.stderr
    assert "FIFO" in result.stderr


# --- 15.1: unlistable directories -------------------------------------------------------------


def _as_uid(uid: int, *args: str) -> tuple[int, str]:
    """Run the CLI in a forked child under ``uid`` (no capabilities): (exit code, stderr).

    The interpreter lives under /root here, unreadable to other users, so the child is forked
    from this (already warmed-up) process rather than exec'd.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the unprivileged user, run, report, never return
        code = 99
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            result = run_cli(*args)
            code = result.exit_code
            os.write(write, result.stderr.encode()[:60000])
        except BaseException as exc:  # report anything, the parent asserts
            os.write(write, repr(exc).encode()[:60000])
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged uid can traverse (pytest's own tmp folders are 0700)."""
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged uid (os.setresuid)")
    folder = Path(tempfile.mkdtemp(prefix="mlchain-uid-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def _open_up(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_unlistable_directory_hides_unsigned_pickle_from_non_root(shared_dir: Path) -> None:
    """mlchain issue #15, item 1: a mode-0311 folder (traversable, not listable) hid an unsigned
    pickle from ``verify`` run as a non-root uid (the Kubernetes example runs as 65532), as
    model-signing's ``Path.glob`` skips folders it cannot list. Now: exit 1, naming the folder,
    for plain verify and for the gate (``strict: false``)."""
    model, _, public = _fresh(shared_dir)
    policy = _key_policy(shared_dir, public, strict=False)
    (model / "hidden").mkdir()
    (model / "hidden" / "model.pkl").write_bytes(EVIL_PICKLE)
    _open_up(shared_dir)
    (model / "hidden").chmod(0o311)
    with _deadline(60):
        run_cli("verify", str(model), "--policy", str(policy))  # warm every import as root
        code, stderr = _as_uid(65532, "verify", str(model), "--key", str(public))
        gate_code, gate_err = _as_uid(65532, "verify", str(model), "--policy", str(policy))
    assert code == 1, stderr
    assert "hidden" in stderr
    assert gate_code == 1, gate_err
    # The file is really there for that uid (opened by name), so it must not be overlooked.
    (model / "hidden").chmod(0o755)
    as_root = run_cli("verify", str(model), "--key", str(public))
    assert as_root.exit_code == 1 and "extra file" in as_root.stderr


def test_unlistable_directory_cannot_ride_on_an_accepted_scan_attestation(
    shared_dir: Path,
) -> None:
    """mlchain issue #15, item 1: with ``acceptAttestation`` the scan attestation's subjects
    were computed by the same blind walk, so a fully genuine chain ALLOWED a model with a hidden
    unsigned pickle. Now the subjects' walk fails too: denied (exit 1)."""
    model, private, public = _fresh(shared_dir)
    atts = shared_dir / "m.mlchain"
    atts.mkdir()
    made = run_cli(
        "attest", str(model), "--sign", "--key", str(private), "-o", str(atts / "s.json")
    )
    assert made.exit_code == 0, made.stderr
    extra = "  attestations:\n    - type: scan\n      authorities: [release-key]\n"
    policy = _key_policy(shared_dir, public, extra)
    policy.write_text(
        policy.read_text().replace("strict: true\n", "strict: true\n    acceptAttestation: true\n")
    )
    (model / "hidden").mkdir()
    (model / "hidden" / "model.pkl").write_bytes(EVIL_PICKLE)
    _open_up(shared_dir)
    (model / "hidden").chmod(0o311)
    with _deadline(60):
        run_cli("verify", str(model), "--policy", str(policy))
        code, stderr = _as_uid(65532, "verify", str(model), "--policy", str(policy))
    assert code == 1, stderr


def test_unlistable_directory_is_refused_at_signing(shared_dir: Path) -> None:
    """mlchain issue #15, item 1: ``sign`` run as a non-root uid signed a partial view of the
    model. Now it refuses (exit 3, naming the folder) and writes no signature."""
    keys = write_key(shared_dir, "signer")
    model = shared_dir / "s"
    (model / "hidden").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "hidden" / "w.bin").write_bytes(b"x")
    _open_up(shared_dir)
    (model / "hidden").chmod(0o311)
    out = shared_dir / "out.sig"
    with _deadline(60):
        run_cli("sign", str(model), "--key", str(keys.private), "--signature", str(out))
        out.unlink()
        code, stderr = _as_uid(
            65532, "sign", str(model), "--key", str(keys.private), "--signature", str(out)
        )
    assert code == 3, stderr
    assert "hidden" in stderr
    assert not out.exists()


# --- 15.2: attestation authority confusion ----------------------------------------------------


def _two_authorities(tmp_path: Path, release_pub: Path, partner_pub: Path, body: str) -> Path:
    path = tmp_path / "twopolicy.yaml"
    path.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: two\nspec:\n"
        "  authorities:\n"
        f"    - name: release-key\n      key:\n        path: {release_pub}\n"
        f"    - name: partner-key\n      key:\n        path: {partner_pub}\n" + body
    )
    return path


def test_forged_provenance_from_a_lesser_authority_is_not_the_policy_input(tmp_path: Path) -> None:
    """mlchain issue #15, item 2: a provenance statement signed by *another* policy authority
    (``partner-key``), named to sort first, became the ``provenance`` input while the requirement
    (``authorities: [release-key]``) was satisfied by the genuine one. Now only statements from
    the authorities the requirement names feed the input, and the forged one is reported."""
    model, private, public = _fresh(tmp_path)
    partner = write_key(tmp_path, "partner")
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    bad_builder = "https://dev-laptop.example.com/eve"
    good_builder = "https://ci.example.com/builders/prod"
    for key, builder, name in (
        (private, bad_builder, "provenance.json"),
        (partner.private, good_builder, "00-provenance.json"),
    ):
        made = run_cli(
            "provenance", str(model), "--no-git", "--builder-id", builder,
            "--sign", "--key", str(key), "-o", str(atts / name),
        )  # fmt: skip
        assert made.exit_code == 0, made.stderr
    policy = _two_authorities(
        tmp_path,
        public,
        partner.public,
        "  attestations:\n    - name: slsa\n      type: provenance\n"
        "      authorities: [release-key]\n"
        "  validations:\n    - name: builder-allowed\n"
        f"      expression: 'provenance.predicate.runDetails.builder.id == \"{good_builder}\"'\n"
        "      message: builder outside the allowlist\n",
    )
    code, report = _gate(model, policy)
    assert code == 1
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert "builder-allowed" in failed
    forged = next(a for a in report["verification"]["attestations"] if "00-" in a["bundle"])
    assert forged["authority"] == "partner-key"
    assert forged["used_for"] is None and "not used as the provenance input" in forged["note"]


def test_forged_scan_report_from_a_lesser_authority_is_not_accepted(tmp_path: Path) -> None:
    """mlchain issue #15, item 2: with ``acceptAttestation``, a scan attestation signed by a less
    trusted policy authority (findings removed) replaced the re-scan of a model holding an
    ``os.system`` pickle. Now the scan input comes only from the authority the scan requirement
    names: the genuine report (with its critical finding) denies."""
    model, private, public = _fresh(tmp_path)
    (model / "extra.pkl").write_bytes(EVIL_PICKLE)
    assert run_cli("sign", str(model), "--key", str(private)).exit_code == 0
    partner = write_key(tmp_path, "partner")
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    made = run_cli(
        "attest", str(model), "--fail-on", "never", "--sign", "--key", str(private),
        "-o", str(atts / "scan.json"),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    _forge_clean_scan(atts / "scan.json", partner.private, atts / "00-scan.json")
    policy = _two_authorities(
        tmp_path,
        public,
        partner.public,
        "  attestations:\n    - type: scan\n      authorities: [release-key]\n"
        "  scan:\n    failOn: medium\n    acceptAttestation: true\n",
    )
    code, report = _gate(model, policy)
    assert code == 1
    assert report["scan_source"] == "attestation"
    assert any(r["name"] == "scan" and not r["passed"] for r in report["results"])


def _forge_clean_scan(genuine: Path, key: Path, target: Path) -> None:
    """The review's forge_scan.py: same subjects, findings removed, re-signed with ``key``."""
    import base64

    from mlchain.signing.sign import SigningMethod, sign_statement

    bundle = json.loads(genuine.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for result in statement["predicate"]["report"]["results"]:
        result["findings"] = []
        result["max_severity"] = None
    statement["predicate"]["maxSeverity"] = None
    target.write_text(sign_statement(statement, SigningMethod.key(key)))


def test_two_disagreeing_attestations_from_the_same_authority_deny(tmp_path: Path) -> None:
    """mlchain issue #15, item 2: more than one qualifying statement of a type is a deny unless
    they agree (the gate cannot tell which one the publisher meant)."""
    model, private, public = _fresh(tmp_path)
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    for builder, name in (
        ("https://ci.example.com/a", "a.json"),
        ("https://ci.example.com/b", "b.json"),
    ):
        made = run_cli(
            "provenance", str(model), "--no-git", "--builder-id", builder,
            "--sign", "--key", str(private), "-o", str(atts / name),
        )  # fmt: skip
        assert made.exit_code == 0
    code, report = _gate(
        model, _key_policy(tmp_path, public, "  attestations:\n    - type: provenance\n")
    )
    assert code == 1
    conflict = [r for r in report["results"] if r["name"] == "attestation-conflict"]
    assert conflict and not conflict[0]["passed"]
    # Identical copies agree: one attestation copied N times is checked once and allowed.
    (atts / "b.json").unlink()
    shutil.copy(atts / "a.json", atts / "c.json")
    code, report = _gate(
        model, _key_policy(tmp_path, public, "  attestations:\n    - type: provenance\n")
    )
    assert code == 0, report


# --- 15.3 and 15.4: certificate chains ------------------------------------------------------


class _Pki:
    """The review's mkpki.py: two roots, intermediates, and release/TLS/expired/spoof leaves."""

    def __init__(self, folder: Path) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.folder = folder
        now = dt.datetime.now(dt.timezone.utc)
        pem = serialization.Encoding.PEM

        def name(cn: str, org: str = "Example Corp") -> x509.Name:
            return x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                ]
            )

        def cert(
            subject: x509.Name,
            key: Any,
            issuer: tuple[x509.Name, Any] | None,
            *,
            ca: bool,
            eku: Any = None,
            before: Any = None,
            after: Any = None,
        ) -> Any:
            issuer_name, issuer_key = issuer if issuer else (subject, key)
            builder = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(before or now - dt.timedelta(days=1000 if ca else 1))
                .not_valid_after(after or now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=not ca,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=ca,
                        crl_sign=ca,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
            )
            if eku is not None:
                builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            return builder.sign(issuer_key, hashes.SHA256())

        def key() -> Any:
            return ec.generate_private_key(ec.SECP256R1())

        def write(label: str, *certs: Any, private: Any = None) -> Path:
            path = folder / f"{label}.pem"
            path.write_bytes(b"".join(c.public_bytes(pem) for c in certs))
            if private is not None:
                (folder / f"{label}.key").write_bytes(
                    private.private_bytes(
                        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                )
            return path

        code = ExtendedKeyUsageOID.CODE_SIGNING
        ka, ki, kt, kb, kf = key(), key(), key(), key(), key()
        root_a = cert(name("Example Root CA"), ka, None, ca=True)
        int_a = cert(name("Example Model Signing CA 1"), ki, (root_a.subject, ka), ca=True)
        tls_ca = cert(name("Example TLS CA"), kt, (root_a.subject, ka), ca=True)
        root_b = cert(name("Partner Root", "Partner Inc"), kb, None, ca=True)
        fake_int = cert(name("Example Model Signing CA 1"), kf, (root_b.subject, kb), ca=True)
        leaves = {
            "release": (name("release.ml-platform.example.com"), (int_a.subject, ki), code, None),
            "expired": (
                name("old.ml-platform.example.com"),
                (int_a.subject, ki),
                code,
                (now - dt.timedelta(days=800), now - dt.timedelta(days=400)),
            ),
            "tls2": (
                name("grafana.ml-platform.example.com"),
                (int_a.subject, ki),
                ExtendedKeyUsageOID.SERVER_AUTH,
                None,
            ),
            "sibling": (name("build.ml-platform.example.com"), (tls_ca.subject, kt), code, None),
            "spoof": (name("release.ml-platform.example.com"), (fake_int.subject, kf), code, None),
        }
        self.leaf: dict[str, Path] = {}
        for label, (subject, issuer, eku, validity) in leaves.items():
            private = key()
            before, after = validity or (None, None)
            leaf = cert(subject, private, issuer, ca=False, eku=eku, before=before, after=after)
            self.leaf[label] = write(label, leaf, private=private)
        self.root_a = write("rootA", root_a)
        self.int_a = write("intA", int_a)
        self.chain_a = write("chainA", int_a, root_a)
        self.tls_ca = write("tlsCA", tls_ca)
        self.root_b = write("rootB", root_b)
        self.fake_int = write("fakeInt", fake_int)

    def sign(self, model: Path, label: str, *chain: Path) -> None:
        leaf = self.leaf[label]
        args = [
            "sign",
            str(model),
            "--certificate",
            str(leaf),
            "--key",
            str(leaf.with_suffix(".key")),
        ]
        for extra in chain:
            args += ["--certificate-chain", str(extra)]
        result = run_cli(*args)
        assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> _Pki:
    return _Pki(tmp_path_factory.mktemp("pki"))


def _model_only(tmp_path: Path, name: str) -> Path:
    model = tmp_path / name
    model.mkdir()
    (model / "config.json").write_text('{"model_type":"bert"}\n')
    return model


def test_certificate_from_another_trusted_ca_cannot_impersonate_an_authority(
    tmp_path: Path, pki: _Pki
) -> None:
    """mlchain issue #15, item 3: a partner CA minted an intermediate *named* like the release
    CA and a leaf named like the release host; the chain verified with the partner's authority
    and the policy credited ``example-release`` by DN strings. Now an authority matches only
    when its own chain and its own subject rule accept the signer: denied (exit 1)."""
    model = _model_only(tmp_path, "c_spoof")
    pki.sign(model, "spoof", pki.fake_int)
    policy = tmp_path / "pki2policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: pki2\nspec:\n"
        "  authorities:\n"
        f"    - name: example-release\n      certificateChain:\n        path: {pki.chain_a}\n"
        "        subjectRegExp: '^O=Example Corp,CN=release\\.ml-platform\\.example\\.com$'\n"
        f"    - name: partner\n      certificateChain:\n        path: {pki.root_b}\n"
        "        subjectRegExp: '^O=Partner Inc,CN=[a-z0-9-]+\\.partner\\.example$'\n"
    )
    code, report = _gate(model, policy)
    assert code == 1
    assert report["verification"]["authority"] is None
    # The genuine release certificate is allowed, and the result names the chain that verified.
    genuine = _model_only(tmp_path, "c_release")
    pki.sign(genuine, "release", pki.int_a)
    code, report = _gate(genuine, policy)
    assert code == 0, report
    assert report["verification"]["authority"] == "example-release"
    assert report["verification"]["chain_fingerprints"]


@pytest.mark.parametrize(
    ("label", "trusted", "why"),
    [
        ("expired", ["chainA"], "not valid now"),
        ("tls2", ["chainA"], "code-signing"),
        ("sibling", ["rootA"], "not issued by a CA given"),
    ],
)
def test_weak_certificate_verification(
    tmp_path: Path, pki: _Pki, label: str, trusted: list[str], why: str
) -> None:
    """mlchain issue #15, item 4: model-signing's certificate verifier accepted an expired leaf
    (validity checked at its own notBefore), a TLS server certificate (KeyUsage
    digitalSignature sufficed) and a leaf from a sibling CA under the trusted root (bundle
    intermediates trusted). mlchain now requires codeSigning, validity now and the issuing CA
    among the given certificates: each is refused (exit 1)."""
    model = _model_only(tmp_path, f"c_{label}")
    pki.sign(model, label, pki.tls_ca if label == "sibling" else pki.int_a)
    args = ["verify", str(model)]
    for name in trusted:
        args += ["--certificate-chain", str(pki.folder / f"{name}.pem")]
    result = run_cli(*args)
    assert result.exit_code == 1, result.stdout
    assert why in result.stderr + result.stdout


def test_certificate_identity_options_on_plain_verify(tmp_path: Path, pki: _Pki) -> None:
    """mlchain issue #15, item 4: plain ``verify --certificate-chain`` checked no subject. It
    now takes cosign's ``--certificate-identity``/``--certificate-identity-regexp``; the issuing
    CA alone can be the anchor (it is pinned)."""
    model = _model_only(tmp_path, "c_release")
    pki.sign(model, "release", pki.int_a)
    base = ["verify", str(model), "--certificate-chain", str(pki.int_a)]
    assert run_cli(*base).exit_code == 0
    subject = "O=Example Corp,CN=release.ml-platform.example.com"
    assert run_cli(*base, "--certificate-identity", subject).exit_code == 0
    wrong = run_cli(*base, "--certificate-identity", "O=Example Corp,CN=other")
    assert wrong.exit_code == 1
    assert run_cli(*base, "--certificate-identity-regexp", "O=.*,CN=release\\..*").exit_code == 0
    assert run_cli(*base, "--certificate-identity-regexp", "release").exit_code == 1  # anchored


# --- 15.5: time of check vs time of use ------------------------------------------------------


def _signed_with_payload(tmp_path: Path) -> tuple[Path, Path, Path]:
    model, private, public = _fresh(tmp_path)
    (model / "payload.pkl").write_bytes(EVIL_PICKLE)
    assert run_cli("sign", str(model), "--key", str(private)).exit_code == 0
    return model, private, public


def _swap_before_scan(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """The review's toctou_swap.py, deterministically: after the hash, before the scan, rename
    a benign pickle over the signed malicious one."""
    import mlchain.scan

    real = mlchain.scan.scan_paths

    def swapping(*args: Any, **kwargs: Any) -> Any:
        benign = victim.with_name(victim.name + ".tmp")
        benign.write_bytes(b"\x80\x02}q\x00.")
        benign.replace(victim)
        return real(*args, **kwargs)

    monkeypatch.setattr(mlchain.scan, "scan_paths", swapping)


def test_file_swapped_between_hash_and_scan_is_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlchain issue #15, item 5: the gate hashed the signed malicious pickle, then scanned a
    benign file swapped in by another writer, and allowed the model. The gate now records each
    file's identity and change stamps when it lists the model and denies when any changed."""
    model, _, public = _signed_with_payload(tmp_path)
    _swap_before_scan(monkeypatch, model / "payload.pkl")
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 1
    failed = {r["name"]: r["message"] for r in report["results"] if not r["passed"]}
    assert "unchanged-during-gate" in failed
    assert "payload.pkl" in failed["unchanged-during-gate"]


def test_copy_to_verifies_and_publishes_only_the_private_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlchain issue #15, item 5: ``verify --policy P --copy-to DIR`` copies the model to a
    private folder, verifies and scans the copy, and publishes it at DIR (one rename) only when
    allowed. Swapping the original during the gate changes nothing: the copy is what is judged
    and served."""
    model, _, public = _signed_with_payload(tmp_path)
    policy = _key_policy(tmp_path, public)
    served = tmp_path / "serve" / "model"  # the parent folder is created as needed
    _swap_before_scan(monkeypatch, model / "payload.pkl")
    code, report = _gate(model, policy, "--copy-to", str(served))
    assert code == 1  # the private copy holds the signed os.system pickle: denied
    assert report["copied_to"] is None
    assert not served.exists() and list(served.parent.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / "ok").mkdir()
    clean, _, clean_pub = _fresh(tmp_path / "ok")
    code, report = _gate(clean, _key_policy(tmp_path / "ok", clean_pub), "--copy-to", str(served))
    assert code == 0, report
    assert report["copied_to"] == str(served)
    assert sorted(p.relative_to(served).as_posix() for p in served.rglob("*")) == sorted(
        p.relative_to(clean).as_posix() for p in clean.rglob("*")
    )
    assert (served / "model.safetensors").read_bytes() == (clean / "model.safetensors").read_bytes()
    again = run_cli("verify", str(clean), "--policy", str(policy), "--copy-to", str(served))
    assert again.exit_code == 2  # never over an existing folder


# --- 15.6: replay and rollback --------------------------------------------------------------


def test_replayed_model_under_another_name_is_reported_and_can_be_refused(tmp_path: Path) -> None:
    """mlchain issue #15, item 6: any bundle the authority ever signed verified for identical
    bytes under any name, and the signed name appeared nowhere. The result now reports the
    signed model name and digest, and a policy can require them (``signature.model_name``)."""
    model, _, public = _fresh(tmp_path, "exp-unreviewed")
    prod = tmp_path / "prod-model"
    shutil.copytree(model, prod)
    plain = run_cli("verify", str(prod), "--key", str(public), "-f", "json")
    document = json.loads(plain.stdout)
    assert plain.exit_code == 0
    assert document["model"] == "prod-model"
    assert document["model_name"] == "exp-unreviewed"
    assert len(document["model_digest"]) == 64
    extra = (
        "  validations:\n    - name: release-name\n"
        "      expression: 'signature.model_name == \"prod-model\"'\n"
        "      message: this bundle was signed for another model\n"
    )
    code, report = _gate(prod, _key_policy(tmp_path, public, extra))
    assert code == 1
    assert [r["name"] for r in report["results"] if not r["passed"]] == ["release-name"]


# --- 15.8: unsigned files -------------------------------------------------------------------


def _ignored_docs_with_pickle(tmp_path: Path) -> tuple[Path, Path]:
    """The review's d1: signed with --ignore docs, then a pickle and code dropped in docs/."""
    keys = write_key(tmp_path, "signer")
    model = tmp_path / "d1"
    (model / "docs").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type":"bert"}\n')
    (model / "docs" / "README.md").write_text("# docs\n")
    signed = run_cli("sign", str(model), "--key", str(keys.private), "--ignore", "docs")
    assert signed.exit_code == 0, signed.stderr
    (model / "docs" / "evil.pkl").write_bytes(EVIL_PICKLE)
    (model / "docs" / "conf.py").write_text('import os\nos.system("id")\n')
    return model, keys.public


def test_unsigned_files_in_an_ignored_folder_are_listed(tmp_path: Path) -> None:
    """mlchain issue #15, item 8: the shipped "no unsigned code" rule tested the ignore *prefixes*
    against globs, so anything under an ignored folder passed. The verification result now lists
    the files on disk that the signature does not cover (``unsigned``)."""
    model, public = _ignored_docs_with_pickle(tmp_path)
    result = run_cli("verify", str(model), "--key", str(public), "-f", "json")
    assert result.exit_code == 0  # the signature itself holds: the signer ignored docs/
    assert json.loads(result.stdout)["unsigned"] == [
        "docs/README.md",
        "docs/conf.py",
        "docs/evil.pkl",
    ]
    text = run_cli("verify", str(model), "--key", str(public))
    assert "docs/evil.pkl" in text.stdout


SHIPPED_POLICIES = sorted((FIXTURES.parent / "docs" / "policies").glob("*.yaml"))
SHIPPED_POLICIES.append(FIXTURES.parent / "deploy" / "kubernetes" / "base" / "policy.yaml")


@pytest.mark.parametrize("shipped", SHIPPED_POLICIES, ids=lambda p: p.name)
def test_every_shipped_policy_denies_an_unsigned_pickle_in_an_ignored_folder(
    tmp_path: Path, shipped: Path
) -> None:
    """mlchain issue #15, item 8: every shipped policy (docs/policies, the Kubernetes example),
    with its authorities replaced by the test key and its attestation requirements dropped,
    denies an unsigned pickle in an ignored folder through its own rules: the unsigned-files
    validation and the re-scan."""
    import yaml

    model, public = _ignored_docs_with_pickle(tmp_path)
    document = yaml.safe_load(shipped.read_text())
    spec = document["spec"]
    spec["authorities"] = [{"name": "test-key", "key": {"path": str(public)}}]
    spec.pop("attestations", None)
    spec["validations"] = [
        v for v in spec.get("validations", []) if not {"provenance", "sbom"} & _inputs(v)
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(document))
    code, report = _gate(model, policy)
    assert code == 1
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert "no-unsigned-files" in failed
    assert "scan" in failed
    assert not failed & {"signature", "authorities"}


def _inputs(validation: dict[str, Any]) -> set[str]:
    return {n for n in ("provenance", "sbom") if n in validation["expression"]}


# --- 15.9: lower ----------------------------------------------------------------------------


def test_first_signing_with_a_relative_path_records_the_right_ignore_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlchain issue #15, item 9: ``mlchain sign m2`` (a relative path, first signing) recorded
    ``m2/model.sig`` in the signed ignore list, leaving an unsigned slot ``m2/m2/model.sig``.
    The signed list now holds exactly ``model.sig``, and the slot is an extra file (exit 1)."""
    model, private, public = _fresh(tmp_path, "m2")
    (model / "model.sig").unlink()
    monkeypatch.chdir(tmp_path)
    assert run_cli("sign", "m2", "--key", str(private)).exit_code == 0
    document = json.loads(run_cli("verify", "m2", "--key", str(public), "-f", "json").stdout)
    assert [p for p in document["ignored"] if not p.startswith(".git")] == ["model.sig"]
    (model / "m2").mkdir()
    (model / "m2" / "model.sig").write_text('import os\nos.system("id")\n')
    result = run_cli("verify", "m2", "--key", str(public))
    assert result.exit_code == 1
    assert "m2/model.sig: extra file" in result.stdout


def test_top_level_git_folder_is_neither_signed_nor_scanned_so_it_denies(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: a top-level ``.git/`` is left out of OMS signatures and was
    skipped by the scanner: free unsigned, unscanned storage inside an allowed model. The gate
    now lists it as unsigned and, with ``spec.scan``, denies version-control folders."""
    model, _, public = _fresh(tmp_path)
    (model / ".git").mkdir()
    (model / ".git" / "evil.pkl").write_bytes(EVIL_PICKLE)
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 1
    assert report["verification"]["unsigned"] == [".git/evil.pkl"]
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert "no-vcs-folders" in failed


def test_nested_vcs_folder_is_signed_but_never_scanned_so_it_denies(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: ``sub/.svn/x.pkl`` shipped by a poisoned upstream was signed
    but never scanned (the scanner skips VCS folders at any depth). Every signed file must now be
    scanned: the gate denies (``scan-coverage``, ``no-vcs-folders``)."""
    model, private, public = _fresh(tmp_path)
    (model / "sub" / ".svn").mkdir()
    (model / "sub" / ".svn" / "x.pkl").write_bytes(EVIL_PICKLE)
    assert run_cli("sign", str(model), "--key", str(private)).exit_code == 0
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 1
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert {"scan-coverage", "no-vcs-folders"} <= failed


def test_deeply_nested_json_is_a_clear_error_not_an_internal_error(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: ``[[[[...]]]]`` 200,000 deep in ``model.sig`` or in a bundle
    beside the model ended in "internal error ... bug in mlchain". Now: a malformed-bundle error
    (exit 3) for plain verify, an unreadable entry for the gate (which still decides)."""
    model, _, public = _fresh(tmp_path)
    deep = "[" * 200_000 + "]" * 200_000
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    (atts / "deep.json").write_text(deep)
    code, report = _gate(model, _key_policy(tmp_path, public))
    assert code == 0, report  # the junk bundle is reported, the gate decides on the rest
    assert report["verification"]["attestations"][0]["verified"] is False
    (model / "model.sig").write_text('{"mediaType": "x", "x": ' + deep + "}")
    result = run_cli("verify", str(model), "--key", str(public))
    assert result.exit_code == 3
    assert "internal error" not in result.stderr
    assert "nested too deeply" in result.stderr


@pytest.mark.slow
def test_directory_tree_deeper_than_path_max_is_a_clear_failure(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: a directory chain deeper than PATH_MAX ended in "internal error
    (OSError: File name too long)". Now verification fails (exit 1) saying the model is nested
    too deeply to read."""
    model, _, public = _fresh(tmp_path)
    fd = os.open(model, os.O_RDONLY)
    try:
        for _ in range(1100):  # 1100 * 4 bytes > PATH_MAX (4096); created with *at() calls
            os.mkdir("dee", dir_fd=fd)
            child = os.open("dee", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    result = run_cli("verify", str(model), "--key", str(public))
    assert result.exit_code == 1, result.stderr
    assert "nested too deeply" in result.stdout + result.stderr
    assert "internal error" not in result.stderr
    _rm_deep(model / "dee")


def _rm_deep(top: Path) -> None:
    """Remove a chain deeper than PATH_MAX: lift the second level up, one level at a time."""
    spare = top.with_name(top.name + ".up")
    while (top / "dee").is_dir():
        (top / "dee").rename(spare)
        top.rmdir()
        spare.rename(top)
    top.rmdir()


def test_glob_with_many_wildcards_is_linear_on_hostile_names(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: ``matches_glob`` compiled globs to backtracking regexes; three
    files named by 200 dots took minutes against ``**/*.*.*.*.*.pt``. The match is now an NFA
    simulation, linear in the name."""
    import time

    from mlchain.policy.functions import matches_glob

    name = "." * 5000 + "1"
    start = time.perf_counter()
    assert not matches_glob(name, "**/*.*.*.*.*.pt")
    assert matches_glob(name + ".pt", "**/*.*.*.*.*.pt")
    assert time.perf_counter() - start < 1.0
    model, _, public = _fresh(tmp_path)
    for i in range(3):
        (model / ("." * 200 + str(i))).write_bytes(b"x")
    extra = (
        "  validations:\n    - name: no-pt\n"
        "      expression: 'model.files.all(f, !matches_glob(f.path, \"**/*.*.*.*.*.pt\"))'\n"
        "      message: a .pt file\n"
    )
    start = time.perf_counter()
    code, _ = _gate(model, _key_policy(tmp_path, public, extra))
    assert code == 1  # extra unsigned files; the point is that it returns at once
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_copies_of_one_attestation_do_not_multiply_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlchain issue #15, item 9 / issue #16, item 4: every attestation bundle re-hashed the
    whole model, so N copies of one genuine bundle cost N full hashes. The gate now hashes the
    model at most once per hashing setting (here: once), however many attestations there are."""
    import mlchain.signing.manifest as manifest

    model, private, public = _fresh(tmp_path)
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    for kind in ("provenance", "attest", "sbom"):
        args = [kind, str(model)] + (["--no-git"] if kind == "provenance" else [])
        made = run_cli(*args, "--sign", "--key", str(private), "-o", str(atts / f"{kind}.json"))
        assert made.exit_code == 0, made.stderr
    for copy in range(5):
        shutil.copy(atts / "attest.json", atts / f"copy-{copy}.json")
    calls: list[tuple[str, tuple[str, ...]]] = []
    real = manifest.hash_model

    def counting(config: Any, path: Path, tree: Any = None) -> Any:
        calls.append((str(path), tuple(sorted(str(p) for p in config._ignored_paths))))
        return real(config, path, tree)

    monkeypatch.setattr(manifest, "hash_model", counting)
    extra = "  attestations:\n    - type: provenance\n    - type: scan\n    - type: sbom\n"
    code, report = _gate(model, _key_policy(tmp_path, public, extra))
    assert code == 0, report
    assert len(calls) == len(set(calls)) == 1, calls


def test_trust_root_that_verified_is_recorded(
    tmp_path: Path,
    fake_sigstore: Any,  # noqa: F811
) -> None:
    """mlchain issue #15, item 9: ``MLCHAIN_TRUST_CONFIG`` silently replaced the keyless root
    of trust, and the result said nothing. The result now names the root that verified
    (``trust_root``: the bundled public-good root, or the trust-config file's sha256)."""
    import hashlib

    model = tmp_path / "k"
    model.mkdir()
    (model / "config.json").write_text("{}")
    trust = fake_sigstore.trust_config
    token = fake_sigstore.mint_token("release@example.org")
    signed = run_cli("sign", str(model), "--identity-token", token, "--trust-config", str(trust))
    assert signed.exit_code == 0, signed.stderr
    result = run_cli(
        "verify", str(model), "--identity", "release@example.org",
        "--issuer", fake_sigstore.issuer, "-f", "json",
        env={"MLCHAIN_TRUST_CONFIG": str(trust)},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    digest = hashlib.sha256(Path(trust).read_bytes()).hexdigest()
    assert json.loads(result.stdout)["trust_root"] == f"trust-config sha256:{digest}"


def test_cel_matches_is_unanchored_and_full_match_is_not(tmp_path: Path) -> None:
    """mlchain issue #15, item 9: CEL's ``matches`` is an unanchored search, so a
    ``matches`` on ``release@example.com`` accepts ``evil-release@example.com.attacker.org``.
    mlchain documents it and provides the anchored ``full_match``."""
    from mlchain.policy import PolicyInputs, evaluate, parse_policy

    policy = parse_policy(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: m\nspec:\n"
        "  authorities:\n    - name: a\n      keyless:\n        issuer: https://i.example\n"
        "        subjectRegExp: '.*'\n"
        "  validations:\n"
        "    - name: unanchored\n"
        "      expression: 'signature.identity.subject.matches(\"release@example\\\\.com\")'\n"
        "      message: m\n"
        "    - name: anchored\n"
        "      expression: 'full_match(signature.identity.subject, \"release@example\\\\.com\")'\n"
        "      message: m\n"
    )
    evil = {"identity": {"subject": "evil-release@example.com.attacker.org", "issuer": "x"}}
    results = {r.name: r.passed for r in evaluate(policy, PolicyInputs(verification=evil)).results}
    assert results["unanchored"] is True  # core CEL, as documented
    assert results["anchored"] is False


# --- defences that held in the review: they keep holding --------------------------------------


def test_held_special_files_inside_the_model_deny_without_hanging(tmp_path: Path) -> None:
    """Review, "defences that held": a FIFO or socket inside the model fails plain verify and
    the gate (exit 1) and is never opened."""
    model, _, public = _fresh(tmp_path)
    os.mkfifo(model / "pipe")
    with _deadline():
        plain = run_cli("verify", str(model), "--key", str(public))
    assert plain.exit_code == 1
    code, _ = _gate(model, _key_policy(tmp_path, public))
    assert code == 1


def test_held_junk_bundles_are_recorded_without_echoing_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review, "defences that held": garbage and a link to /proc/self/environ in
    ``<model>.mlchain/`` are unverified entries; no content (a secret) is echoed."""
    model, _, public = _fresh(tmp_path)
    monkeypatch.setenv("SECRET_TOKEN", "hunter2-sekrit")
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    (atts / "garbage.json").write_text("not json at all")
    (atts / "env.json").symlink_to("/proc/self/environ")
    with _deadline():
        result = run_cli("verify", str(model), "--policy", str(_key_policy(tmp_path, public)))
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout + result.stderr
    _, report = _gate(model, _key_policy(tmp_path, public))
    assert all(not a["verified"] for a in report["verification"]["attestations"])
    assert "hunter2" not in json.dumps(report)


def test_held_attestation_for_other_files_does_not_satisfy_a_requirement(tmp_path: Path) -> None:
    """Review, "defences that held": the provenance of one model copied beside a changed model
    fails its subjects check ("digest differs"); the requirement is not met."""
    model, private, public = _fresh(tmp_path)
    atts = tmp_path / "m.mlchain"
    atts.mkdir()
    made = run_cli(
        "provenance", str(model), "--no-git", "--sign", "--key", str(private),
        "-o", str(atts / "provenance.json"),
    )  # fmt: skip
    assert made.exit_code == 0
    (model / "config.json").write_text('{"model_type":"gpt2"}\n')
    assert run_cli("sign", str(model), "--key", str(private)).exit_code == 0
    code, report = _gate(
        model, _key_policy(tmp_path, public, "  attestations:\n    - type: provenance\n")
    )
    assert code == 1
    (entry,) = report["verification"]["attestations"]
    assert any("digest differs" in e for e in entry["errors"])


def test_held_kind_confusion_key_bundle_against_a_certificate_authority(
    tmp_path: Path, pki: _Pki
) -> None:
    """Review, "defences that held": a key-signed bundle is never verified by a certificate
    authority (each kind only by its own verifier): denied."""
    model, _, _ = _fresh(tmp_path)
    policy = tmp_path / "certpolicy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: c\nspec:\n"
        f"  authorities:\n    - name: ca\n      certificateChain:\n        path: {pki.chain_a}\n"
    )
    code, report = _gate(model, policy)
    assert code == 1
    assert (
        "signed with a key, and the policy has no key authority"
        in report["verification"]["errors"][0]
    )
