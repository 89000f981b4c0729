"""The VM folds bytes built at load time to exactly what CPython's unpickler computes.

Differential: CPython's ``pickle._Unpickler`` runs each construct of ``fixtures/gen_nested.py``
with a ``find_class`` that resolves only a fixed table of pure stdlib functions (``bytes``,
``str.encode``, ``codecs.encode``, ``base64.b64decode``...) and a recording stub in place of the
nested loader; the nested payload is recorded, never loaded. The VM's folded bytes (what it hands
to the nested scan) must be the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import copyreg
import io
import operator
import pickle
import zlib

import pytest
from fixtures.gen_nested import CONSTRUCTS, wrap
from fixtures.gen_pickle import MALICIOUS

from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext
from mlchain.scan.pickle import evaluate as evaluate_module
from mlchain.scan.pickle import vm
from mlchain.scan.pickle.evaluate import MAX_VALUE, OPAQUE, evaluate
from mlchain.scan.pickle.values import Call, Global
from pickle_vm_helpers import run

PURE = {
    ("builtins", "bytes"): bytes,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "getattr"): getattr,
    ("builtins", "str.encode"): str.encode,
    ("builtins", "bytes.fromhex"): bytes.fromhex,
    ("builtins", "bytearray.fromhex"): bytearray.fromhex,
    ("builtins", "bytes.join"): bytes.join,
    ("builtins", "bytes.__add__"): bytes.__add__,
    ("codecs", "encode"): codecs.encode,
    ("_codecs", "encode"): codecs.encode,
    ("codecs", "decode"): codecs.decode,
    ("operator", "add"): operator.add,
    ("_operator", "concat"): operator.concat,
    ("base64", "b64decode"): base64.b64decode,
    ("binascii", "unhexlify"): binascii.unhexlify,
    ("zlib", "decompress"): zlib.decompress,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("io", "BytesIO"): io.BytesIO,
}


def _cpython_argument(data: bytes) -> bytes:
    """What CPython passes to the nested loader (recorded by a stub, never loaded)."""
    seen: list[bytes] = []

    class Recorder(pickle._Unpickler):  # type: ignore[name-defined, misc]
        def find_class(self, module: str, name: str) -> object:
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                return lambda b: seen.append(bytes(b))
            return PURE[(module, name)]

    Recorder(io.BytesIO(data)).load()
    assert len(seen) == 1
    return seen[0]


def _vm_argument(data: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """What the VM hands to its nested scan for the same stream."""
    seen: list[bytes] = []
    real = vm._scan_nested

    def recording(
        buf: bytes,
        location: Location,
        ctx: ScanContext,
        lo: int,
        hi: int,
        depth: int,
        *,
        torch_file: vm.TorchFileScan | None,
    ) -> tuple[list[Finding], str]:
        seen.append(bytes(buf[lo:hi]))
        return real(buf, location, ctx, lo, hi, depth, torch_file=torch_file)

    monkeypatch.setattr(vm, "_scan_nested", recording)
    run(data)
    assert len(seen) == 1
    return seen[0]


PAYLOADS = {
    "small": b"\x80\x02cos\nsystem\n(X\x02\x00\x00\x00idtR.",
    "canary": MALICIOUS["os_system_reduce.pkl"],
    "binary": bytes(range(40)),
}


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_folded_bytes_equal_cpython(
    construct: str, payload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = PAYLOADS[payload]
    if len(raw) > 64 and construct in {
        "bytes_of_int_list",
        "bytearray_of_int_list",
        "memo_alias_appends_after_reference",
        "bytes_snapshot_then_appends",
        "copyreg_reconstructor_bytes",
        "newobj_bytes",
    }:
        pytest.skip("lists longer than the VM keeps are opaque (tested in the regressions)")
    data = wrap(CONSTRUCTS[construct](raw))
    expected = _cpython_argument(data)
    assert expected == raw
    assert _vm_argument(data, monkeypatch) == expected


def _g(module: str, name: str) -> Global:
    return Global(module, name, 0)


def test_decompression_bombs_are_opaque(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate_module, "MAX_VALUE", 1 << 20)
    bomb = zlib.compress(b"\x00" * ((1 << 20) + 1))
    call = Call(_g("zlib", "decompress"), (bomb,), "call", 0)
    assert evaluate(call, b"", {}) is OPAQUE
    small = Call(_g("zlib", "decompress"), (zlib.compress(b"abc"),), "call", 0)
    assert evaluate(small, b"", {}) == b"abc"


def test_only_plain_encoding_names_are_looked_up() -> None:
    for name in ("../../x", "encodings.idna", "", "a" * 80):
        call = Call(_g("codecs", "encode"), ("x", name), "call", 0)
        assert evaluate(call, b"", {}) is OPAQUE
    assert evaluate(Call(_g("codecs", "encode"), ("x", "utf_16_le"), "call", 0), b"", {}) == (
        "x".encode("utf_16_le")
    )


def test_unknown_functions_and_mutated_values_are_opaque() -> None:
    assert evaluate(Call(_g("os", "system"), ("x",), "call", 0), b"", {}) is OPAQUE
    value = bytearray(b"abc")
    assert evaluate(value, b"", {}) == b"abc"
    assert evaluate(value, b"", {id(value): value}) is OPAQUE
    assert evaluate(Call(_g("builtins", "bytes"), (MAX_VALUE + 1,), "call", 0), b"", {}) is OPAQUE


def _ops_cyclic_list_then_many_bytes_calls(calls: int) -> bytes:
    """A list holding itself 64 times, then bytes(L) over and over (each call snapshots L)."""
    lst = b"]" + b"q\x00" + b"(" + b"h\x00" * 64 + b"e" + b"0"
    one = b"cbuiltins\nbytes\n" + b"h\x00" + b"\x85R0"
    return b"\x80\x02" + lst + one * calls + b"N."


def test_snapshots_of_shared_and_cyclic_lists_stay_linear() -> None:
    import time

    start = time.process_time()
    run(_ops_cyclic_list_then_many_bytes_calls(2000))
    assert time.process_time() - start < 5


def test_doubling_chain_of_memo_aliases_is_folded_once_per_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """x = add(x, x) forty times: folding each alias again would be 2**40 calls."""
    import time

    monkeypatch.setattr(evaluate_module, "MAX_VALUE", 1 << 20)

    body = b"C\x01A" + b"q\x00" + b"0"  # memo[0] = b'A'
    step = b"coperator\nadd\n" + b"h\x00h\x00\x86R" + b"q\x00" + b"0"
    nested = b"ctorch.storage\n_load_from_bytes\n" + b"h\x00\x85R"
    data = b"\x80\x02" + body + step * 40 + nested + b"."
    start = time.process_time()
    findings = run(data).findings
    assert time.process_time() - start < 5
    assert any(f.rule_id == "pickle-nested-opaque" for f in findings)
