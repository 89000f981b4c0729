"""Nested deserializers fed with bytes built at load time (mlchain issue #13, class 3).

``torch.storage._load_from_bytes`` is on the allowlist (pickled tensors call it), so a pickle
can hand it a whole second pickle. Storing that pickle as a constant is caught by scanning it
recursively; building its bytes *while loading* (``bytes(list)``, ``str.encode``,
``codecs.encode``, ``bytes.fromhex``, ``join``, ``operator.add``, memo aliasing, base64,
zlib...) must be folded to the same bytes and scanned too, or reported as
``pickle-nested-opaque`` when the VM cannot fold it. Fixtures: ``fixtures/gen_nested.py``.

Public precedent for nesting through computed bytes: ``pickle.loads(_codecs.encode(...))``,
https://github.com/mmaitre314/picklescan/pull/25 (picklescan issue #24). No public advisory
covers the other constructs; they come from mlchain issue #13, class 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.gen_nested import CONSTRUCTS, MALICIOUS, OPAQUE, wrap
from fixtures.gen_pickle import call, glob, system_call_p2

from mlchain.models import Severity
from mlchain.scan import scan_file
from mlchain.scan.pickle.dangerous import NESTED_LOADERS
from pickle_vm_helpers import run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nested" / "malicious"


def _nested_payload_found(data: bytes) -> bool:
    return any(
        f.rule_id == "pickle-dangerous-call"
        and f.severity >= Severity.CRITICAL
        and "os.system('touch" in (f.evidence or "")
        and (f.location.member or "").startswith("nested-pickle@")
        for f in run(data).findings
    )


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_load_from_bytes_with_bytes_built_at_load_time(construct: str) -> None:
    """The VM folds the construct and scans the nested pickle (mlchain issue #13, class 3).

    Each parameter is one construct, named after it (bytes_of_int_list, str_encode_latin1,
    codecs_encode_latin1, bytes_fromhex, bytes_join, operator_add, memo_slot_read_twice,
    memo_alias_appends_after_reference, base64_b64decode, zlib_decompress, ...).
    """
    data = (FIXTURES / f"load_from_bytes_{construct}.pkl").read_bytes()
    assert _nested_payload_found(data), [
        (f.rule_id, f.severity.label, f.location.member, f.evidence) for f in run(data).findings
    ]


@pytest.mark.parametrize("construct", sorted(OPAQUE))
def test_load_from_bytes_with_bytes_the_vm_cannot_fold(construct: str) -> None:
    """Unfoldable nested bytes fail closed: pickle-nested-opaque, high (mlchain issue #13, class 3).

    list_setitem_mutation: list.__setitem__ through SETITEMS replaces the items bytes() reads;
    bytearray_appends_mutation: bytearray.extend through APPENDS; int_list_longer_than_kept: more
    items than the VM keeps per list; computed_callable: bytes from a callable made at load time.
    """
    data = (FIXTURES / f"load_from_bytes_{construct}.pkl").read_bytes()
    hits = [
        f
        for f in run(data).findings
        if f.rule_id == "pickle-nested-opaque" and f.severity >= Severity.HIGH
    ]
    assert hits
    assert "torch.storage._load_from_bytes(" in (hits[0].evidence or "")


def test_torch_load_of_bytesio_whose_state_build_replaces() -> None:
    """torch.load(BytesIO()) then BUILD (payload, 0, None): __setstate__ swaps the buffer.

    mlchain issue #13, class 3 (BytesIO.__setstate__ builds the stream at load time).
    """
    assert _nested_payload_found((FIXTURES / "torch_load_bytesio_setstate.pkl").read_bytes())


def test_every_nested_fixture_fails_the_default_gate() -> None:
    for path in sorted(FIXTURES.iterdir()):
        result = scan_file(path)
        assert any(f.severity >= Severity.HIGH for f in result.findings), path.name


@pytest.mark.parametrize("construct", sorted({**CONSTRUCTS, **OPAQUE}))
def test_property_no_construct_turns_a_malicious_payload_into_a_pass(construct: str) -> None:
    """For every malicious payload P: _load_from_bytes(<P built by the construct>) is >= high."""
    build = {**CONSTRUCTS, **OPAQUE}[construct]
    for name, payload in MALICIOUS.items():
        findings = run(wrap(build(payload))).findings
        assert any(f.severity >= Severity.HIGH for f in findings), (construct, name)


@pytest.mark.parametrize("loader", sorted(NESTED_LOADERS), ids=".".join)
@pytest.mark.parametrize("via_bytesio", [False, True], ids=["bytes", "bytesio"])
def test_every_nested_loader_gets_folded_bytes(loader: tuple[str, str], via_bytesio: bool) -> None:
    """Folding is not special to _load_from_bytes: every nested loader (pickle.loads,
    torch.load, joblib.load, pandas.read_pickle, ...) handed bytes built by ``operator.add``,
    directly or in an ``io.BytesIO``, has its nested pickle scanned (mlchain issue #13, class 3).
    """
    construct = CONSTRUCTS["operator_add"](system_call_p2())
    if via_bytesio:
        construct = call(glob("io", "BytesIO"), construct)
    assert _nested_payload_found(wrap(construct, loader))
