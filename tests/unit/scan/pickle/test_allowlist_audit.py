"""The allowlist is exact, reasoned, audited and the VM grades by it (mlchain issue #13, class 1).

* Every entry records a reason and the library version it was read from; docs/allowlist.md is
  generated from the entries (drift test).
* ``tests/data/allowlist_audit.json`` (written by ``fixtures/audit_allowlist.py`` with the real
  libraries) lists the load hooks each class has; each entry's reason must cover them, so a
  library release adding a ``__setstate__`` or finaliser fails here until reviewed.
* Differential: every public global of numpy, pandas, scikit-learn and torch that is NOT on the
  allowlist is graded at least high by the VM, whether it is imported, called or rebuilt; every
  entry used outside its reviewed shape is at least high, and inside it is silent.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import pickle
from pathlib import Path

import pytest
from fixtures.gen_pickle import EMPTY_TUPLE, NEWOBJ, NONE, POP, REDUCE, STOP, glob, proto
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import Severity
from mlchain.scan.pickle import allowlist
from mlchain.scan.pickle.allowlist import ALLOWLIST, NOTHING, ONE_CONSTANT, PLAIN, Entry
from mlchain.scan.pickle.allowlist_data import ENTRIES
from pickle_vm_helpers import run

REPO = Path(__file__).resolve().parents[4]
DATA = REPO / "tests" / "data"
AUDIT = json.loads((DATA / "allowlist_audit.json").read_text(encoding="utf-8"))
RECORDS: dict[str, dict[str, object]] = AUDIT["entries"]

LEGACY_NAMES = {
    "builtins.NoneType",
    "numpy.float_",
    "transformers.trainer_utils.EvaluationStrategy",
}
"""Entries absent from the audited versions, kept for pickles written by older versions
(EvaluationStrategy: transformers 4 only, read in 4.57.6)."""
NOT_ENUM_ONE_CONSTANT = {"logging.getLogger"}
"""Entries called with one constant that are not Enum classes (reason says what they do)."""


def _gen_allowlist() -> object:
    spec = importlib.util.spec_from_file_location(
        "gen_allowlist", REPO / "docs" / "gen_allowlist.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _candidates() -> list[tuple[str, str]]:
    text = gzip.decompress((DATA / "ml_library_globals.txt.gz").read_bytes()).decode()
    pairs = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            module, name = line.split(" ", 1)
            pairs.append((module, name))
    return pairs


# ------------------------------------------------------------------------- the data -----------


def test_every_entry_has_a_reason_a_source_and_an_exact_name() -> None:
    assert len(ENTRIES) == len(ALLOWLIST) > 500
    for entry in ENTRIES:
        assert len(entry.reason) >= 10, entry.qualname
        assert entry.source, entry.qualname
        assert entry.module and entry.name, entry.qualname
        assert "*" not in entry.qualname and not entry.module.endswith(".")
        assert not entry.name.startswith("."), entry.qualname


def test_no_prefix_rule_remains() -> None:
    # The old "reconstructable library prefix" rule is gone: being in numpy grants nothing.
    assert not hasattr(allowlist, "RECONSTRUCT_PREFIXES")
    assert not allowlist.is_reconstructable("numpy.lib._datasource", "DataSource")
    assert not allowlist.is_reconstructable("torch.nn.modules.linear", "Linear")
    assert allowlist.known_library("numpy.lib._datasource") == "numpy"
    assert not allowlist.is_allowlisted("numpy.lib._datasource", "DataSource")


def test_allowlist_doc_matches_the_data() -> None:
    gen = _gen_allowlist()
    expected = gen.render()  # type: ignore[attr-defined]
    actual = (REPO / "docs" / "allowlist.md").read_text(encoding="utf-8")
    assert actual == expected, "run python docs/gen_allowlist.py"
    assert f"**{allowlist.ALLOWLIST_VERSION}**" in actual
    for entry in ENTRIES:
        assert f"`{entry.name}`" in actual or f"`{entry.qualname}`" in actual, entry.qualname


def test_every_entry_was_audited() -> None:
    assert set(RECORDS) == {e.qualname for e in ENTRIES}, "run fixtures/audit_allowlist.py"
    unresolved = {
        q for q, r in RECORDS.items() if not r["resolved"] and not q.startswith("__builtin__.")
    }
    assert unresolved == LEGACY_NAMES


def _compiled_builtin(where: object) -> bool:
    return (
        isinstance(where, str) and where.startswith(("builtins.", "types.")) and "compiled" in where
    )


def _covers(entry: Entry, hook: str, where: object) -> bool:
    owner = str(where).split(" (", 1)[0].rsplit(".", 1)[-1]
    ok = hook in entry.reason and owner in entry.reason
    assert ok, f"{entry.qualname}: reason does not cover {owner}.{hook} ({where})"
    return ok


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.qualname)
def test_reason_covers_the_load_hooks_the_audit_found(entry: Entry) -> None:
    record = RECORDS[entry.qualname]
    if not record["resolved"]:
        return
    hooks = record["hooks"]
    assert isinstance(hooks, dict)
    relevant = {h: w for h, w in hooks.items() if not _compiled_builtin(w)}
    if entry.new is not None:
        # NEWOBJ runs __new__; BUILD runs __setstate__, or consults __getattr__ for it. The
        # reason must name the hook and the class that defines it (read for that class).
        assert "__del__" not in relevant or _covers(entry, "__del__", relevant["__del__"])
        if "__setstate__" in relevant:
            assert _covers(entry, "__setstate__", relevant["__setstate__"])
        elif "__getattr__" in relevant:
            assert _covers(entry, "__getattr__", relevant["__getattr__"])
        elif "__getattribute__" in relevant:
            assert _covers(entry, "__getattribute__", relevant["__getattribute__"])
        if "__new__" in relevant:
            assert _covers(entry, "__new__", relevant["__new__"])
    if entry.call is ONE_CONSTANT and entry.qualname not in NOT_ENUM_ONE_CONSTANT:
        assert record["kind"] == "enum", entry.qualname
        if "_missing_" in relevant:
            assert "_missing_" in entry.reason, relevant["_missing_"]
    if entry.call is None and entry.new is None:
        # Reference-only entries: calling or rebuilding them must be reported (checked below).
        assert record["kind"] in {"class", "function", "value", "enum", "dataclass"}


# ------------------------------------------------------------------------- the VM -------------

_CHUNK = 400


def _chunks(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _graded(pairs: list[tuple[str, str]], use: bytes) -> dict[str, Severity]:
    """Scan one pickle using every pair the same way; the worst severity naming each one."""
    body = proto(2) + b"".join(glob(m, n) + use + POP for m, n in pairs) + NONE + STOP
    result = run(body)
    wanted = {f"{m}.{n}" for m, n in pairs}
    worst: dict[str, Severity] = {}
    for f in result.findings:
        # Evidence is the import ("mod.name") or the rendered call ("mod.name(...)").
        qual = (f.evidence or "").split("(", 1)[0].removesuffix(".__new__")
        assert qual in wanted, (f.rule_id, f.message, f.evidence)
        worst[qual] = max(worst.get(qual, Severity.INFO), f.severity)
    return worst


@pytest.mark.slow
def test_known_library_globals_off_the_allowlist_are_at_least_high() -> None:
    candidates = [
        (m, n)
        for m, n in _candidates()
        if (m, n) not in ALLOWLIST and "\n" not in m + n and " " not in n
    ]
    assert len(candidates) > 10000
    uses = {"imported": b"", "called": EMPTY_TUPLE + REDUCE, "rebuilt": EMPTY_TUPLE + NEWOBJ}
    for how, use in uses.items():
        for chunk in _chunks(candidates):
            worst = _graded(chunk, use)
            quiet = [
                f"{m}.{n}" for m, n in chunk if worst.get(f"{m}.{n}", Severity.INFO) < Severity.HIGH
            ]
            assert quiet == [], f"{how}: {quiet[:10]}"


def _expected_flag(entry: Entry, kind: str) -> bool:
    if kind == "call" and entry.module in ("copyreg", "copy_reg"):
        return False  # judged by the class they rebuild; with no class nothing is rebuilt
    shape = entry.call if kind == "call" else entry.new
    return shape is None or not shape.check(())


@pytest.mark.parametrize("kind", ["call", "new"])
def test_allowlisted_globals_are_graded_by_their_shape(kind: str) -> None:
    """Differential: the VM's verdict on ``g()``/``g.__new__(g)`` equals the entry's shape."""
    use = EMPTY_TUPLE + (REDUCE if kind == "call" else NEWOBJ)
    entries = [e for e in ENTRIES if e.module not in ("__builtin__",)]
    for chunk in _chunks([(e.module, e.name) for e in entries]):
        worst = _graded(chunk, use)
        for module, name in chunk:
            entry = ALLOWLIST[(module, name)]
            got = worst.get(entry.qualname)
            if _expected_flag(entry, kind):
                assert got is not None and got >= Severity.HIGH, (entry.qualname, kind)
            else:
                assert got is None, (entry.qualname, kind, got)


def test_referencing_any_allowlisted_global_is_silent() -> None:
    for chunk in _chunks([(e.module, e.name) for e in ENTRIES]):
        assert _graded(chunk, b"") == {}


def test_unreviewed_ml_class_rebuilt_is_high_class_reconstruction() -> None:
    body = proto(2) + glob("sklearn.isotonic", "IsotonicRegression") + EMPTY_TUPLE + NEWOBJ + STOP
    result = run(body)
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("pickle-class-reconstruction", Severity.HIGH)
    ]
    assert "not on the reviewed allowlist" in result.findings[0].message


# ------------------------------------------------------------------------- properties ---------

_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_REBUILT = glob("argparse", "Namespace") + EMPTY_TUPLE + NEWOBJ
"""An instance rebuilt by the pickle (a reviewed class): its methods are not plain values."""
_BY_SHAPE = {
    shape.name: [e for e in ENTRIES if e.call is shape and e.module != "__builtin__"]
    for shape in (ONE_CONSTANT, PLAIN)
}
_NEW_NOTHING = [e for e in ENTRIES if e.new is NOTHING and e.module != "__builtin__"]


def _const(value: object) -> bytes:
    return pickle.dumps(value, protocol=2)[2:-1]


def _call_with(entry: Entry, args: list[bytes]) -> bytes:
    return glob(entry.module, entry.name) + b"(" + b"".join(args) + b"t" + REDUCE


def _grade(body: bytes, entry: Entry) -> Severity | None:
    result = run(proto(2) + body + STOP)
    hits = [f.severity for f in result.findings if (f.evidence or "").startswith(entry.qualname)]
    return max(hits, default=None)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(_BY_SHAPE["plain values"]),
    st.lists(_PLAIN, max_size=3),
    st.integers(0, 3),
)
def test_plain_shaped_entries_are_silent_on_plain_values_only(
    entry: Entry, values: list[object], where: int
) -> None:
    args = [_const(v) for v in values]
    assert _grade(_call_with(entry, args), entry) is None
    args.insert(min(where, len(args)), _REBUILT)
    worst = _grade(_call_with(entry, args), entry)
    assert worst is not None and worst >= Severity.HIGH


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(_BY_SHAPE["one constant"]),
    st.one_of(st.text(max_size=12), st.integers(-(10**6), 10**6)),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), min_size=1, max_size=3),
)
def test_enum_shaped_entries_admit_exactly_one_constant(
    entry: Entry, value: object, extra: list[object]
) -> None:
    assert _grade(_call_with(entry, [_const(value)]), entry) is None
    more = _call_with(entry, [_const(value), *(_const(v) for v in extra)])
    worst = _grade(more, entry)
    assert worst is not None and worst >= Severity.HIGH
    rebuilt = _grade(_call_with(entry, [_REBUILT]), entry)
    assert rebuilt is not None and rebuilt >= Severity.HIGH


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_NEW_NOTHING), st.lists(_PLAIN, min_size=1, max_size=3))
def test_rebuild_only_entries_admit_no_newobj_arguments(entry: Entry, values: list[object]) -> None:
    plain = glob(entry.module, entry.name) + EMPTY_TUPLE + NEWOBJ
    assert _grade(plain, entry) is None
    body = glob(entry.module, entry.name) + _const(tuple(values)) + NEWOBJ
    worst = _grade(body, entry)
    assert worst is not None and worst >= Severity.HIGH


def test_pandas_pre_3_spellings_are_the_same_reviewed_entries() -> None:
    """pandas < 3 pickles name defining modules (pandas.core.frame.DataFrame); same classes."""
    from mlchain.scan.pickle.allowlist_data import _PANDAS_HOMES

    for module, names in _PANDAS_HOMES.items():
        for name in names:
            alias = ALLOWLIST[(module, name)]
            public = ALLOWLIST.get(("pandas", name)) or ALLOWLIST[("pandas.arrays", name)]
            assert (alias.call, alias.new) == (public.call, public.new), alias.qualname
            assert RECORDS[alias.qualname]["hooks"] == RECORDS[public.qualname]["hooks"]
    index = (
        glob("pandas.core.indexes.base", "_new_Index")
        + b"("
        + glob("pandas.core.indexes.range", "RangeIndex")
        + _const({"start": 0, "stop": 3, "step": 1, "name": None})
        + b"t"
        + REDUCE
    )
    assert run(proto(2) + index + STOP).findings == []
