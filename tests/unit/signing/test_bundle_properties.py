"""Hostile bundles: mlchain errors only, never a crash, never a different statement accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchain.errors import MlchainError
from mlchain.signing.bundle import BundleError, parse_bundle
from mlchain.signing.sign import SigningMethod, sign_statement
from mlchain.signing.verify import VerificationMethod, verify_statement
from signing_helpers import write_key

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "m", "digest": {"sha256": "ef" * 32}}],
    "predicateType": "https://example.com/p",
    "predicate": {},
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200) | _json.map(json.dumps))
def test_parse_bundle_never_crashes(text: str) -> None:
    try:
        parse_bundle(text, source="fuzz")
    except BundleError:
        pass


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    keys = write_key(tmp_path_factory.mktemp("keys"))
    return sign_statement(STATEMENT, SigningMethod.key(keys.private)), keys.public


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_bundle_never_verifies(signed: tuple[str, Path], data: st.DataObject) -> None:
    bundle_json, public = signed
    bundle = json.loads(bundle_json)
    path = data.draw(st.sampled_from(_paths(bundle)))
    replacement = data.draw(_json)
    target = bundle
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    if target[path[-1]] == replacement:  # type: ignore[index]
        return
    target[path[-1]] = replacement  # type: ignore[index]
    try:
        verified = verify_statement(json.dumps(bundle), VerificationMethod.key(public))
    except MlchainError:
        return
    # Unsigned metadata (the key hint, keyid) may change; the signed statement may not.
    assert verified.statement == STATEMENT
