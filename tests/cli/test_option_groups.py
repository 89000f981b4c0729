"""Option groups declared once (issue #16 item 5): --sign and its six signer options for
provenance, sbom and attest; the expected-signer options for verify and verify-attestation."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer

from mlchain.cli import app, attest, options, provenance, sbom, verify, verify_attestation

SIGN = [name for name, _, _ in options._SIGN_OPTIONS]
VERIFIER = [name for name, _, _ in options._VERIFIER_OPTIONS]


def _command(name: str) -> Any:
    group: Any = typer.main.get_command(app)
    return group.get_command(None, name)  # commands are registered lazily (cli/__init__.py)


def _help_of(command: Any, names: list[str]) -> dict[str, tuple[tuple[str, ...], str]]:
    found = {p.name: (tuple(p.opts), getattr(p, "help", "") or "") for p in command.params}
    return {n: found[n] for n in names}


@pytest.mark.parametrize(
    ("module", "function", "names"),
    [
        (provenance, "provenance", SIGN),
        (sbom, "sbom", SIGN),
        (attest, "attest", SIGN),
        (verify, "verify", VERIFIER),
        (verify_attestation, "verify_attestation", VERIFIER),
    ],
)
def test_the_command_body_does_not_declare_the_group(module, function: str, names) -> None:  # type: ignore[no-untyped-def]
    body = inspect.signature(getattr(module, function).__wrapped__)
    assert not set(names) & set(body.parameters), "declared in the command again"
    assert "ctx" in body.parameters  # it reads them back from ctx.params


@pytest.mark.parametrize(
    ("names", "commands"),
    [
        (SIGN, ["provenance", "sbom", "attest"]),
        (VERIFIER, ["verify", "verify-attestation"]),
    ],
)
def test_every_command_of_a_group_offers_the_same_options(
    names: list[str], commands: list[str]
) -> None:
    shapes = [_help_of(_command(c), names) for c in commands]
    assert all(shape == shapes[0] for shape in shapes), shapes
    assert len(shapes[0]) == 7
