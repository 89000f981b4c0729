"""Unit tests of the symbolic pickle VM: opcode coverage, memo/stack semantics, evidence, limits."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import mmap
import pickle
import uuid
from pathlib import Path

import pytest
from fixtures.gen_pickle import (
    BUILD,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    NEWOBJ,
    POP,
    REDUCE,
    STOP,
    TUPLE,
    TUPLE1,
    binget,
    binput,
    bu,
    call,
    frame,
    glob,
    proto,
    sglob,
    su,
    system_call_p2,
)

from mlchain.models import Severity
from mlchain.scan.base import Limits
from pickle_vm_helpers import LOC, rules, run, run_with, serious

BENIGN = [
    {"a": [1, 2, (3, 4.5)], "b": b"xx", "c": None, "d": True, "e": False},
    [collections.OrderedDict(a=1), collections.defaultdict(list, a=[1]), collections.Counter("ab")],
    collections.deque([1, 2]),
    [datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.date(2021, 1, 1), datetime.timedelta(3)],
    [decimal.Decimal("1.5"), fractions.Fraction(1, 3), uuid.UUID(int=7), 1 + 2j],
    [bytearray(b"ab"), {1, 2}, frozenset({3}), slice(1, 2, 3), range(5)],
    ["h\u00e9llo \u2603", "x" * 5000, b"y" * 70000, 2**100, -(2**70), 1.5, -0.0],
    [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], {}, set()],
]
SHARED = [1, 2]
BENIGN.append([SHARED, SHARED, {"x": SHARED}])  # memo GET paths


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("index", range(len(BENIGN)))
def test_benign_plain_data_has_no_findings(protocol: int, index: int) -> None:
    data = pickle.dumps(BENIGN[index], protocol=protocol)
    result = run(data)
    assert result.findings == []
    assert result.pickles == 1
    assert result.end == len(data)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_scalars_are_allowlisted(protocol: int) -> None:
    np = pytest.importorskip("numpy")
    obj = [
        np.arange(6).reshape(2, 3),
        np.float32(1.5),
        np.array(["a", "bc"]),
        np.int64(3),
        np.random.RandomState(0),
        np.random.default_rng(0),
        np.ma.masked_array([1, 2], [0, 1]),
        np.array([1, 2], dtype="M8[s]"),
        np.zeros(2, dtype=[("a", "i4"), ("b", "O")]),
    ]
    result = run(pickle.dumps(obj, protocol=protocol))
    assert serious(result, Severity.LOW) == []
    assert ("numpy", "dtype") in result.globals


def test_globals_are_reported_raw_as_find_class_sees_them() -> None:
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=0)
    assert run(data).globals == {("collections", "OrderedDict")}
    # protocol 2 set() goes through __builtin__ names that find_class maps
    data = b"c__builtin__\nset\n(]tR."
    result = run(data)
    assert result.globals == {("__builtin__", "set")}
    assert result.findings == []


def test_evidence_reconstructs_the_call() -> None:
    result = run(system_call_p2())
    (f,) = result.findings
    assert f.rule_id == "pickle-dangerous-call"
    assert f.severity is Severity.CRITICAL
    assert f.evidence == "os.system('touch /tmp/mlchain-canary-executed')"
    assert f.location.offset == len(
        proto(2) + glob("os", "system") + MARK + bu("touch /tmp/mlchain-canary-executed") + TUPLE
    )


def test_evidence_is_sanitised_and_truncated() -> None:
    cmd = "\x1b[31mred\x1b[0m\n" + "A" * 1000
    result = run(proto(2) + call(glob("os", "system"), bu(cmd)) + STOP)
    (f,) = result.findings
    assert f.evidence is not None
    assert "\x1b" not in f.evidence
    assert "\n" not in f.evidence
    assert len(f.evidence) <= 160


def test_memo_put_and_memoize_share_indices_like_the_loader() -> None:
    data = proto(4) + su("builtins") + binput(1) + POP + su("os") + b"\x94" + POP + binget(1)
    data += su("system") + b"\x93" + STOP
    result = run(data)
    assert result.globals == {("os", "system")}
    assert "pickle-dangerous-import" in rules(result)


def test_missing_memo_entry_is_a_parse_error() -> None:
    result = run(proto(2) + binget(3) + STOP)
    assert rules(result) == {"parse-error"}
    assert "memo" in result.findings[0].message


def test_pop_removes_a_mark_like_the_c_unpickler() -> None:
    # MARK POP leaves no mark, so TUPLE has none to find.
    result = run(b"(0(K\x01t.")
    assert result.findings == []
    assert result.pickles == 1
    assert rules(run(b"(0K\x01t.")) == {"parse-error"}


def test_stack_underflow_is_a_parse_error() -> None:
    assert rules(run(b"R.")) == {"parse-error"}
    assert rules(run(b"(.")) == {"parse-error"}  # STOP cannot pop below the mark


def test_popped_call_is_still_reported() -> None:
    data = proto(2) + call(glob("subprocess", "check_output"), bu("id")) + POP + b"N" + STOP
    result = run(data)
    assert {f.rule_id for f in serious(result)} == {"pickle-dangerous-call"}
    assert "subprocess.check_output('id')" in (result.findings[0].evidence or "")


def test_unknown_import_and_call_are_high() -> None:
    imported = run(proto(2) + glob("mypkg.mod", "Thing") + STOP)
    assert [(f.rule_id, f.severity) for f in imported.findings] == [
        ("pickle-unknown-import", Severity.HIGH)
    ]
    called = run(proto(2) + call(glob("mypkg.mod", "helper"), bu("x")) + STOP)
    assert [(f.rule_id, f.severity) for f in called.findings] == [
        ("pickle-unknown-call", Severity.HIGH)
    ]
    assert called.findings[0].evidence == "mypkg.mod.helper('x')"


def test_reviewed_ml_class_rebuild_is_silent_unreviewed_is_high() -> None:
    # mlchain issue #13, class 1: only exact, reviewed classes rebuild silently.
    rebuilt = proto(2) + glob("torch.nn.modules.linear", "Linear") + EMPTY_TUPLE + NEWOBJ
    rebuilt += EMPTY_DICT + su("in_features") + b"K\x04s" + BUILD + STOP
    assert run(rebuilt).findings == []
    reconstructor = b"ccopy_reg\n_reconstructor\n(csklearn.linear_model._base\nLinearRegression\n"
    reconstructor += b"c__builtin__\nobject\nNtR}bK\x01."
    assert run(reconstructor).findings == []
    unreviewed = proto(2) + glob("torch.nn.modules.mymod", "Thing") + EMPTY_TUPLE + NEWOBJ + STOP
    assert [(f.rule_id, f.severity) for f in run(unreviewed).findings] == [
        ("pickle-class-reconstruction", Severity.HIGH)
    ]
    called = run(proto(2) + call(glob("sklearn.utils", "some_function"), bu("x")) + STOP)
    assert [(f.rule_id, f.severity) for f in called.findings] == [
        ("pickle-unknown-call", Severity.HIGH)
    ]


def test_user_allowed_global_produces_no_finding() -> None:
    data = proto(2) + call(glob("mypkg.mod", "helper"), bu("x")) + STOP
    assert run_with(data, allow=frozenset({"mypkg.mod.helper"})).findings == []


def test_codecs_encode_only_in_the_latin1_shape() -> None:
    ok = proto(2) + call(glob("_codecs", "encode"), bu("abc"), bu("latin1")) + STOP
    assert run(ok).findings == []
    odd = proto(2) + call(glob("_codecs", "encode"), bu("abc"), bu("rot13")) + STOP
    assert rules(run(odd)) == {"pickle-unknown-call"}


def test_multiple_pickles_are_all_scanned() -> None:
    first = pickle.dumps([1, 2], protocol=2)
    data = first * 5 + system_call_p2()
    result = run(data)
    assert result.pickles == 6
    assert result.end == len(data)
    assert rules(result) == {"pickle-dangerous-call"}
    assert result.findings[0].location.offset is not None
    assert result.findings[0].location.offset > len(first) * 5


def test_max_pickles_stops_and_reports_end() -> None:
    first = pickle.dumps({"a": 1}, protocol=2)
    data = first + b"raw tensor bytes \x00\x01\x02"
    result = run(data, max_pickles=1)
    assert (result.pickles, result.end, result.findings) == (1, len(first), [])
    tail = run(data)
    assert rules(tail) == {"pickle-trailing-data"}
    assert tail.findings[0].severity is Severity.MEDIUM


def test_start_offset_and_absolute_locations() -> None:
    data = b"HEADER" + system_call_p2()
    result = run(data, start=6)
    assert result.pickles == 1
    assert result.end == len(data)
    assert result.findings[0].location.offset is not None
    assert result.findings[0].location.offset > 6


def test_mmap_and_memoryview_inputs(tmp_path: Path) -> None:
    data = pickle.dumps({"k": "v" * 10000}, protocol=4) + system_call_p2()
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        from_mmap = run(view)  # type: ignore[arg-type]
    from_view = run(memoryview(data))  # type: ignore[arg-type]
    assert rules(from_mmap) == rules(from_view) == {"pickle-dangerous-call"}
    assert from_mmap.pickles == from_view.pickles == 2


def test_inst_and_obj_calls() -> None:
    inst = b"(S'id'\nisubprocess\ncall\n."
    assert rules(run(inst)) == {"pickle-dangerous-call"}
    obj = b"(cposix\nsystem\nS'id'\no."
    result = run(obj)
    assert result.findings[0].evidence == "posix.system('id')"


def test_newobj_ex_and_frozenset_and_additems() -> None:
    data = pickle.dumps([frozenset({1}), {2, 3}], protocol=4)
    assert run(data).findings == []
    newobj_ex = proto(4) + glob("mypkg", "Thing") + EMPTY_TUPLE + EMPTY_DICT + b"\x92" + STOP
    assert rules(run(newobj_ex)) == {"pickle-unknown-import"}


def test_persistent_ids_are_info() -> None:
    result = run(proto(2) + bu("storage") + b"Q" + STOP)
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("pickle-persistent-id", Severity.INFO)
    ]
    assert run(b"Pabc\n.").findings[0].rule_id == "pickle-persistent-id"


def test_ext_opcodes_are_reported() -> None:
    for op in (b"\x82\x05", b"\x83\x05\x00", b"\x84\x05\x00\x00\x00"):
        assert "pickle-extension-code" in rules(run(proto(2) + op + STOP))


def test_stack_global_with_bytes_is_a_parse_error() -> None:
    data = proto(4) + b"C\x02os" + b"C\x06system" + b"\x93" + STOP
    assert rules(run(data)) == {"parse-error"}
    assert run(data).globals == set()


def test_frames_are_followed() -> None:
    data = pickle.dumps(list(range(50000)), protocol=4)
    assert b"\x95" in data[:3]
    result = run(data)
    assert result.findings == []
    assert result.end == len(data)


def test_frame_crossing_is_reported_and_both_readings_scanned() -> None:
    payload = sglob("os", "system") + su("id") + TUPLE1 + REDUCE + STOP
    tail = b"Z" * 16 + b"B" + len(payload).to_bytes(4, "little")
    body = b"B" + (9000).to_bytes(4, "little") + b"\0" * 9000 + POP
    body += b"X" + len(tail).to_bytes(4, "little") + b"HHHHH"
    data = proto(4) + frame(body) + tail + payload + STOP
    result = run(data)
    assert {"pickle-frame-violation", "pickle-dangerous-call"} <= rules(result)
    assert ("os", "system") in result.globals


def test_truncated_frame_is_a_parse_error() -> None:
    assert rules(run(proto(4) + b"\x95" + (10**6).to_bytes(8, "little") + b"N.")) == {"parse-error"}


def test_claimed_lengths_are_not_allocated() -> None:
    for op in (b"\x8e", b"\x8d", b"\x96"):
        result = run(proto(4) + op + (2**60).to_bytes(8, "little") + b"abc")
        assert rules(result) == {"parse-error"}
    assert rules(run(b"T\xff\xff\xff\xff.")) == {"parse-error"}  # negative BINSTRING


def test_nested_pickle_is_scanned_recursively() -> None:
    inner = system_call_p2()
    data = (
        proto(2)
        + call(glob("_pickle", "loads"), b"B" + len(inner).to_bytes(4, "little") + inner)
        + STOP
    )
    result = run(data)
    assert "pickle-nested" in rules(result)
    nested = [f for f in result.findings if f.location.member]
    assert nested
    assert nested[0].location.member is not None
    assert nested[0].location.member.startswith("nested-pickle@")
    assert nested[0].evidence == "os.system('touch /tmp/mlchain-canary-executed')"


def test_nesting_limit() -> None:
    data = system_call_p2()
    for _ in range(4):
        data = (
            proto(2)
            + call(glob("pickle", "loads"), b"B" + len(data).to_bytes(4, "little") + data)
            + STOP
        )
    result = run_with(data, Limits(max_nesting=2))
    assert "scan-limit-exceeded" in rules(result)


@pytest.mark.parametrize(
    ("limits", "data"),
    [
        (Limits(max_opcodes=1000), pickle.dumps(list(range(100000)), protocol=2)),
        (Limits(max_memo=10), pickle.dumps([[i] for i in range(100)], protocol=2)),
        (Limits(max_stack=10), b"(" * 50 + b"."),
        (Limits(max_pickle_bytes=100), pickle.dumps(list(range(1000)), protocol=2)),
    ],
)
def test_limits_are_findings(limits: Limits, data: bytes) -> None:
    assert "scan-limit-exceeded" in rules(run_with(data, limits))


def test_joblib_array_bytes_are_skipped_exactly() -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    obj = {
        "f": np.ones((3, 4), dtype=np.float32),
        "o": np.array(["x", None], dtype=object),
        "e": np.zeros((0,)),
        "s": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
        "u": np.array(["abc", "de"]),
        "tricky": np.arange(95, 120, dtype=np.int64),  # contains bytes 'c' and '\n'
    }
    for protocol in (2, 3, 4, 5):
        buf = io.BytesIO()
        joblib.dump(obj, buf, protocol=protocol)
        data = buf.getvalue()
        result = run(data)
        assert result.findings == [], (protocol, result.findings)
        assert result.end == len(data)


def test_joblib_truncated_array_is_a_parse_error() -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    joblib.dump(np.arange(1000), buf)
    assert "parse-error" in rules(run(buf.getvalue()[:-100]))


def test_location_offsets_use_the_given_location() -> None:
    result = run(system_call_p2())
    assert result.findings[0].location.path == LOC.path


def test_object_budget_bounds_memory() -> None:
    data = b"N" + b"\x85" * 200_000 + b"."
    result = run_with(data, Limits(max_stack=1000, max_memo=1000))
    assert rules(result) == {"scan-limit-exceeded"}
    assert result.pickles == 1


def test_clean_nested_pickle_is_medium() -> None:
    inner = pickle.dumps([1, 2], protocol=2)
    arg = b"B" + len(inner).to_bytes(4, "little") + inner
    result = run(proto(2) + call(glob("torch.storage", "_load_from_bytes"), arg) + STOP)
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("pickle-nested", Severity.MEDIUM)
    ]


def test_allowlisted_helper_calling_a_pickled_callable_is_checked() -> None:
    inner = glob("torch._utils", "_rebuild_tensor_v2")
    ok = call(
        glob("torch._tensor", "_rebuild_from_type_v2"),
        inner,
        glob("torch", "Tensor"),
        MARK + TUPLE,
        EMPTY_DICT,
    )
    assert run(proto(2) + ok + STOP).findings == []
    bad = call(
        glob("torch._tensor", "_rebuild_from_type_v2"),
        glob("os", "system"),
        glob("torch", "Tensor"),
        MARK + bu("id") + TUPLE,
        EMPTY_DICT,
    )
    result = run(proto(2) + bad + STOP)
    assert [(f.rule_id, f.evidence) for f in result.findings] == [
        ("pickle-dangerous-call", "os.system('id')")
    ]
    rs = call(glob("numpy.random._pickle", "__randomstate_ctor"), bu("id"), glob("mypkg", "ctor"))
    # The helper instantiates whatever class it is given: outside numpy's bit generators that
    # is a known-dangerous shape of an allowlisted helper (mlchain issue #13, class 1).
    assert rules(run(proto(2) + rs + STOP)) == {"pickle-unknown-call", "pickle-dangerous-call"}


def test_opcode_limit_is_exact() -> None:
    data = pickle.dumps(list(range(600)), protocol=2)
    assert "scan-limit-exceeded" in rules(run_with(data, Limits(max_opcodes=500)))
    assert run_with(data, Limits(max_opcodes=5000)).findings == []


def test_long_text_constants_stay_in_the_input() -> None:
    long = "a" * 100_000
    for protocol in (0, 1, 2, 4):
        data = pickle.dumps([long, long + "b"], protocol=protocol)
        result = run(data)
        assert result.findings == []
        assert result.end == len(data)


def test_stack_global_with_names_computed_at_load_time() -> None:
    module = call(glob("builtins", "str"), b"C\x02os", bu("ascii"))
    data = proto(4) + module + su("system") + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP
    result = run(data)
    found = {(f.rule_id, f.severity) for f in result.findings}
    assert ("pickle-unknown-import", Severity.HIGH) in found
    assert any("computed at load time" in f.message for f in result.findings)


def test_container_opcodes_on_imported_objects_are_calls() -> None:
    data = proto(2) + glob("mypkg", "registry") + MARK + bu("x") + b"e" + STOP
    result = run(data)
    assert ("pickle-unknown-call", Severity.HIGH) in {
        (f.rule_id, f.severity) for f in result.findings
    }
    assert any("extend(" in (f.evidence or "") for f in result.findings)


def test_out_of_band_buffers() -> None:
    result = run(proto(5) + b"\x97\x98" + STOP)
    assert result.pickles == 1
    assert serious(result) == []


def test_every_opcode_of_protocols_0_to_5_has_a_handler() -> None:
    import pickletools

    from mlchain.scan.pickle.opcodes import OPS

    codes = {op.code.encode("latin-1")[0] for op in pickletools.opcodes}
    assert codes - set(OPS) == {ord(".")}  # STOP ends the pickle inside the machine loop
    assert set(OPS) <= codes


def test_main_module_classes_are_unknown_not_critical() -> None:
    data = proto(2) + glob("__main__", "Net") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT + BUILD + STOP
    assert [(f.rule_id, f.severity) for f in run(data).findings] == [
        ("pickle-unknown-import", Severity.HIGH)
    ]
    dotted = proto(4) + sglob("__main__", "os.system") + STOP
    assert rules(run(dotted)) == {"pickle-dangerous-import"}


def test_frame_readings_are_bounded() -> None:
    # Ten frames whose last argument straddles the boundary: 2**10 possible file readings.
    body = b""
    for _ in range(10):
        body += b"\x95" + (4).to_bytes(8, "little") + b"N0M\x01" + b"\x00" + b"0"
    data = proto(4) + body + b"N" + STOP
    result = run(data)
    assert {"pickle-frame-violation", "scan-limit-exceeded"} <= rules(result)
    assert any("ways to read" in f.message for f in result.findings)


def test_python2_names_are_mapped_only_below_protocol_3() -> None:
    # find_class maps copy_reg -> copyreg only for protocols < 3 (fix_imports).
    body = b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nc__builtin__\nobject\nNtR."
    mapped = run(b"\x80\x02" + body)
    assert mapped.findings == []
    unmapped = run(b"\x80\x03" + body)
    assert ("pickle-unknown-call", Severity.HIGH) in {
        (f.rule_id, f.severity) for f in unmapped.findings
    }
    assert ("copy_reg", "_reconstructor") in unmapped.globals == mapped.globals
