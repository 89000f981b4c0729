"""The mlchain error hierarchy.

Core code raises these for *our* failures (unreadable paths, bad policy, network errors, a failed
verification); hostile model content never raises, it becomes a finding. Each class writes the text
the user reads, including the likely fix, in :meth:`MlchainError.diagnostics`.
"""

from __future__ import annotations


class MlchainError(Exception):
    """Root of every error mlchain raises on purpose."""

    hint: str = "Run again with --verbose for details."
    exit_code: int = 3
    """The documented exit code for this kind of error (see docs/exit-codes.md)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def diagnostics(self) -> str:
        """One paragraph for the user: what went wrong and what to do about it."""
        return f"{self.message} {self.hint}".strip()


class InputError(MlchainError):
    """An input path cannot be read (missing, permission denied, vanished mid-scan)."""

    hint = "Check that the path exists and is readable by this user."


class UsageError(MlchainError):
    """Arguments that parse but do not make sense together (exit 2, like a usage error)."""

    hint = "See --help for the accepted options."
    exit_code = 2


class PolicyError(MlchainError):
    """A policy file is malformed: bad YAML, unknown fields, CEL that does not compile."""

    hint = "Fix the policy file; `mlchain policy init` writes a commented example."
    exit_code = 2


class SigningError(MlchainError):
    """Signing could not complete (bad key, no identity token, Sigstore unreachable)."""

    hint = "Check the signing key or identity token and the trust configuration."


class VerificationError(MlchainError):
    """The model does not match its signature, or the signer is not the expected one."""

    hint = "Do not deploy this model; re-sign it or investigate who changed it."
    exit_code = 1


class NetworkError(MlchainError):
    """A remote service (Sigstore, Hugging Face, a registry) could not be reached."""

    hint = "Check network access and the service's address."


class OutputError(MlchainError):
    """A report could not be written."""

    hint = "Check that the output directory exists and is writable."
