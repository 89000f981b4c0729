"""``mlchain keygen``: make an EC P-256 key pair for ``sign --key`` / ``verify --key``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlchain.cli import console
from mlchain.cli.errors import ExitCode, error_boundary
from mlchain.cli.options import PASSWORD_ENV
from mlchain.errors import OutputError, UsageError

HELP = (
    "Generate an EC P-256 key pair for `mlchain sign --key` and `mlchain verify --key`.\n\n"
    f"Writes PREFIX.key (PKCS#8 PEM, mode 0600, encrypted with the password from {PASSWORD_ENV}, "
    "or one typed at a prompt; an empty password leaves it unencrypted) and PREFIX.pub (the "
    "public key, for verifiers). Existing files are never overwritten unless --force. "
    "Exit codes: 0 written; 2 usage error (files exist, no password source); 3 could not write."
)


def keygen(
    prefix: Annotated[
        Path,
        typer.Option(
            "--output-key-prefix",
            help="Write PREFIX.key and PREFIX.pub",
            show_default=True,
        ),
    ] = Path("mlchain"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files")] = False,
) -> None:
    """Generate an EC P-256 key pair."""
    with error_boundary():
        private_path = prefix.with_name(prefix.name + ".key")
        public_path = prefix.with_name(prefix.name + ".pub")
        existing = [str(p) for p in (private_path, public_path) if os.path.lexists(p)]
        if existing and not force:
            raise UsageError(
                f"{', '.join(existing)} already exists.",
                hint="Pass --force to overwrite, or choose another --output-key-prefix.",
            )
        password = _new_password()
        private_pem, public_pem = _generate(password)
        _write_private(private_path, private_pem)
        from mlchain.atomic import write_atomically

        write_atomically(public_path, public_pem.decode("ascii"), what="the public key")
        state = "encrypted" if password else "NOT encrypted"
        console.info(f"Wrote {private_path} ({state}, mode 0600) and {public_path}.")
    raise typer.Exit(ExitCode.OK)


def _new_password() -> bytes:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env.encode("utf-8")
    if not sys.stdin.isatty():
        raise UsageError(
            "No password for the new private key.",
            hint=f"Set {PASSWORD_ENV} (an empty value leaves the key unencrypted), or run in a "
            "terminal to be prompted.",
        )
    first = str(typer.prompt("Password for the new key", hide_input=True, default=""))
    second = str(typer.prompt("Repeat it", hide_input=True, default=""))
    if first != second:
        raise UsageError("The two passwords differ.", hint="Run mlchain keygen again.")
    return first.encode("utf-8")


def _generate(password: bytes) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _write_private(path: Path, pem: bytes) -> None:
    """Write the private key 0600 from the start (never briefly readable by others)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write the private key {path}: {exc.strerror or exc}.") from exc
