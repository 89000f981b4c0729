"""One test per gadget that hides behind "a known ML library is safe" (mlchain issue #13, class 1).

Before the allowlist became exact, any class of numpy, pandas, torch or scikit-learn that a
pickle rebuilt was graded low, and a few helpers on the allowlist accepted any argument. Each
test below assembles the gadget by hand (nothing is ever unpickled) and asserts the grade: known
side effects are critical, unreviewed library classes and unreviewed shapes of allowlisted
helpers are high, and the reviewed shapes real libraries write stay silent. Where a public
advisory exists the docstring links it; otherwise it cites the issue.
"""

from __future__ import annotations

import pickle

from fixtures.gen_pickle import (
    BUILD,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    NEWOBJ,
    NONE,
    SETITEM,
    STOP,
    TUPLE,
    TUPLE2,
    bu,
    call,
    glob,
    proto,
    su,
)

from mlchain.models import Severity
from pickle_vm_helpers import run

CRITICAL = Severity.CRITICAL
HIGH = Severity.HIGH


def _const(value: object) -> bytes:
    """A protocol 2 constant (pickle.dumps only serialises; nothing is loaded)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _graded(body: bytes) -> list[tuple[str, Severity, str]]:
    result = run(proto(2) + body + STOP)
    return [(f.rule_id, f.severity, f.evidence or "") for f in result.findings]


def _worst_naming(body: bytes, qual: str) -> Severity | None:
    hits = [sev for _, sev, ev in _graded(body) if ev.startswith(qual)]
    return max(hits, default=None)


def _rebuild(module: str, name: str, state: bytes = EMPTY_DICT) -> bytes:
    return glob(module, name) + EMPTY_TUPLE + NEWOBJ + state + BUILD


# ------------------------------------------------------------------------- known side effects --


def test_numpy_memmap_creates_and_writes_files() -> None:
    """numpy.memmap(filename, mode='w+') creates or truncates a file at load time.

    mlchain issue #13, class 1.
    """
    for module in ("numpy", "numpy._core.memmap", "numpy.core.memmap"):
        body = call(glob(module, "memmap"), bu("/tmp/x"), bu("uint8"), bu("w+"))
        assert _worst_naming(body, f"{module}.memmap") == CRITICAL, module


def test_numpy_memmap_as_reconstruct_subtype() -> None:
    """_reconstruct(numpy.memmap, ...) creates an instance of the memmap subtype.

    mlchain issue #13, class 1: the allowlisted helper accepts only reviewed array subtypes.
    """
    body = call(
        glob("numpy._core.multiarray", "_reconstruct"),
        glob("numpy", "memmap"),
        _const((0,)),
        _const(b"b"),
    )
    graded = _graded(body)
    assert ("pickle-dangerous-import", CRITICAL, "numpy.memmap") in graded
    assert any(ev.startswith("numpy._core.multiarray._reconstruct(") for _, _, ev in graded)


def test_numpy_datasource_finaliser_removes_folders() -> None:
    """numpy's DataSource opens paths/URLs and its __del__ removes its temporary directory.

    Rebuilt by NEWOBJ + BUILD with a chosen ``_destpath``, the finaliser deletes that folder.
    mlchain issue #13, class 1.
    """
    state = EMPTY_DICT + su("_destpath") + bu("/home/user") + SETITEM
    for module, name in (
        ("numpy.lib._datasource", "DataSource"),
        ("numpy.lib._datasource", "Repository"),
        ("numpy", "DataSource"),
        ("numpy.lib.npyio", "DataSource"),
    ):
        body = _rebuild(module, name, state)
        assert _worst_naming(body, f"{module}.{name}") == CRITICAL, (module, name)


def test_pandas_computation_expression_evaluates_strings() -> None:
    """pandas' computation Expr/eval parse and evaluate a string expression at construction.

    mlchain issue #13, class 1 (pandas.eval and DataFrame.query reach the same engine).
    """
    for module, name in (
        ("pandas.core.computation.expr", "Expr"),
        ("pandas.core.computation.eval", "eval"),
        ("pandas.core.computation.scope", "Scope"),
        ("pandas", "eval"),
    ):
        body = call(glob(module, name), bu("__import__('os').system('id')"))
        assert _worst_naming(body, f"{module}.{name}") == CRITICAL, (module, name)
    query = call(glob("pandas", "DataFrame.query"), NONE, bu("a > 1"))
    assert _worst_naming(query, "pandas.DataFrame.query") == CRITICAL


def test_pandas_read_pickle_fetches_and_loads_a_remote_pickle() -> None:
    """pandas.read_pickle(url) downloads and unpickles another file.

    https://github.com/protectai/modelscan/issues/269
    """
    body = call(glob("pandas", "read_pickle"), bu("https://example.invalid/x.pkl"))
    assert _worst_naming(body, "pandas.read_pickle") == CRITICAL
    clip = call(glob("pandas", "read_clipboard"))
    assert _worst_naming(clip, "pandas.read_clipboard") == CRITICAL


def test_fraction_exponent_string_exhausts_cpu_and_memory() -> None:
    """Fraction('1e999999999') computes 10**999999999 from a 12-byte string.

    mlchain issue #13, class 1. Fraction.__reduce__ writes ``Fraction('n/d')``, which stays silent.
    """
    dos = call(glob("fractions", "Fraction"), bu("1e999999999"))
    assert ("pickle-dangerous-call", CRITICAL) in {(r, s) for r, s, _ in _graded(dos)}
    assert _graded(call(glob("fractions", "Fraction"), bu("1/3"))) == []
    assert _graded(call(glob("fractions", "Fraction"), _const(1), _const(3))) == []


def test_bytes_of_an_int_allocates_unbounded_memory() -> None:
    """bytes(n)/bytearray(n) allocate n bytes from a few bytes of pickle.

    mlchain issue #13, class 1.
    """
    for name in ("bytes", "bytearray"):
        body = call(glob("builtins", name), _const(10**12))
        assert _worst_naming(body, f"builtins.{name}") == CRITICAL, name
        assert _graded(call(glob("builtins", name), _const(b"ok"))) == []


def test_bytes_of_a_rebuilt_object_runs_its_methods() -> None:
    """bytes(obj) runs obj.__bytes__ or iterates obj: only plain arguments are reviewed.

    mlchain issue #13, class 1.
    """
    obj = _rebuild("argparse", "Namespace")
    worst = _worst_naming(call(glob("builtins", "bytes"), obj), "builtins.bytes")
    assert worst is not None and worst >= HIGH


def test_copyreg_reconstructor_base_init_iterates_its_state() -> None:
    """_reconstructor(cls, dict, state) runs dict.__init__(obj, state), iterating state.

    mlchain issue #13, class 1: with a base other than object, the state must be plain.
    """
    state = _rebuild("argparse", "Namespace")
    body = call(
        glob("copyreg", "_reconstructor"),
        glob("collections", "OrderedDict"),
        glob("builtins", "dict"),
        state,
    )
    assert _worst_naming(body, "copyreg._reconstructor") == HIGH
    plain = call(
        glob("copyreg", "_reconstructor"),
        glob("collections", "OrderedDict"),
        glob("builtins", "dict"),
        _const({"a": 1}),
    )
    assert _graded(plain) == []


def test_huge_range_is_iterated_by_the_container_built_from_it() -> None:
    """list(range(10**12)) iterates a trillion items; the range itself is the amplifier.

    mlchain issue #13, class 1.
    """
    huge = call(glob("builtins", "range"), _const(10**12))
    assert _worst_naming(call(glob("builtins", "list"), huge), "builtins.range") == CRITICAL
    assert _graded(call(glob("builtins", "range"), _const(10))) == []


def test_re_compile_debug_flag_prints_to_stdout() -> None:
    """re._compile(pattern, re.DEBUG) prints the parse tree to the loader's stdout.

    mlchain issue #13, class 1.
    """
    assert _worst_naming(call(glob("re", "_compile"), bu("a+"), _const(128)), "re._compile")
    assert _graded(call(glob("re", "_compile"), bu("a+"), _const(0))) == []


def test_numpy_bit_generator_helper_instantiates_any_class() -> None:
    """numpy.random._pickle.__bit_generator_ctor(cls) calls cls() for any type it is given.

    mlchain issue #13, class 1: given a reviewed dataclass it would run its __init__.
    """
    body = call(
        glob("numpy.random._pickle", "__bit_generator_ctor"),
        glob("transformers.training_args", "TrainingArguments"),
    )
    assert _worst_naming(body, "numpy.random._pickle.__bit_generator_ctor") == CRITICAL
    ok = call(
        glob("numpy.random._pickle", "__bit_generator_ctor"),
        glob("numpy.random._mt19937", "MT19937"),
    )
    assert _graded(ok) == []


def test_zoneinfo_reads_time_zone_files() -> None:
    """ZoneInfo(key) reads a file under the time zone path (or imports tzdata).

    mlchain issue #13, class 1: it left the allowlist (reading the zone database is I/O, so it
    is not "inert"; it is not known to be harmful either, hence high, not critical).
    """
    for name in ("ZoneInfo", "ZoneInfo._unpickle"):
        body = call(glob("zoneinfo", name), bu("Europe/Paris"), _const(1))
        assert _worst_naming(body, f"zoneinfo.{name}") == HIGH, name


# ------------------------------------------------------------------------- reviewed shapes -----


def test_unreviewed_numpy_class_rebuilt_is_high_not_low() -> None:
    """Rebuilding an unreviewed numpy/pandas/sklearn/torch class was low; it is high.

    mlchain issue #13, class 1.
    """
    for module, name in (
        ("numpy.lib._arrayterator_impl", "Arrayterator"),
        ("pandas.core.window.rolling", "Rolling"),
        ("sklearn.isotonic", "IsotonicRegression"),
        ("torch.nn.modules.container", "Container"),
    ):
        graded = _graded(_rebuild(module, name))
        assert graded, (module, name)
        assert max(s for _, s, _ in graded) >= HIGH, (module, name, graded)


def test_enum_functional_api_is_not_a_member_lookup() -> None:
    """An Enum class called with two arguments creates a new class (functional API).

    mlchain issue #13, class 1: enum entries admit exactly one constant.
    """
    body = call(glob("transformers.trainer_utils", "IntervalStrategy"), bu("X"), bu("a b"))
    assert _worst_naming(body, "transformers.trainer_utils.IntervalStrategy") == HIGH
    lookup = call(glob("transformers.trainer_utils", "IntervalStrategy"), bu("steps"))
    assert _graded(lookup) == []


def test_dataclass_called_runs_its_init() -> None:
    """TrainingArguments(...) runs __post_init__ (device setup); only NEWOBJ + BUILD is inert.

    mlchain issue #13, class 1.
    """
    called = call(glob("transformers.training_args", "TrainingArguments"), bu("/tmp/out"))
    assert _worst_naming(called, "transformers.training_args.TrainingArguments") == HIGH
    rebuilt = _rebuild("transformers.training_args", "TrainingArguments")
    assert _graded(rebuilt) == []
    with_args = glob("transformers.training_args", "TrainingArguments") + MARK + bu("x") + TUPLE
    with_args += NEWOBJ
    assert _worst_naming(with_args, "transformers.training_args.TrainingArguments") == HIGH


def test_copyreg_reconstructor_of_an_enum_is_not_reviewed() -> None:
    """copyreg._reconstructor(cls, object, None) rebuilds cls without its lookup.

    mlchain issue #13, class 1: the reconstructor is judged by the class it rebuilds.
    """
    body = call(
        glob("copyreg", "_reconstructor"),
        glob("transformers.trainer_utils", "IntervalStrategy"),
        glob("builtins", "object"),
        NONE,
    )
    assert _worst_naming(body, "copyreg._reconstructor") == HIGH


def test_torch_rebuild_state_cannot_set_dunder_attributes() -> None:
    """_rebuild_parameter_with_state applies its state with setattr, dunders included.

    mlchain issue #13, class 1.
    """
    state = EMPTY_DICT + su("__class__") + glob("mypkg", "Evil") + SETITEM
    body = call(
        glob("torch._utils", "_rebuild_parameter_with_state"),
        NONE,
        _const(False),
        EMPTY_DICT,
        state,
    )
    assert _worst_naming(body, "torch._utils._rebuild_parameter_with_state") == HIGH


def test_pure_builtins_are_inert_only_on_plain_values() -> None:
    """builtins.len/abs/min... were graded "runs arbitrary code"; on plain values they are inert.

    mlchain issue #14, item 5. On a rebuilt object they would run its __len__/__lt__: high.
    """
    for name, arg in (("len", _const([1, 2])), ("abs", _const(-3)), ("min", _const((2, 1)))):
        assert _graded(call(glob("builtins", name), arg)) == [], name
    rebuilt = _rebuild("argparse", "Namespace")
    assert _worst_naming(call(glob("builtins", "len"), rebuilt), "builtins.len") == HIGH


def test_dangerous_builtins_stay_critical() -> None:
    """getattr, eval, exec, open, __import__... are never pure (mlchain issue #14, item 5)."""
    for name in (
        "getattr",
        "eval",
        "exec",
        "open",
        "__import__",
        "compile",
        "breakpoint",
        "input",
        "setattr",
        "delattr",
        "globals",
        "vars",
        "pow",
        "format",
        "round",
        "type",
    ):
        body = call(glob("builtins", name), bu("x"))
        assert _worst_naming(body, f"builtins.{name}") == CRITICAL, name


def test_future_features_are_not_interpreter_internals() -> None:
    """__future__ was graded critical as "private interpreter internals" (issue #14, item 5)."""
    assert _graded(glob("__future__", "annotations")) == []
    assert _worst_naming(call(glob("__future__", "annotations")), "__future__.annotations") == HIGH
    private = glob("_posixsubprocess", "fork_exec")
    assert _worst_naming(private, "_posixsubprocess.fork_exec") == CRITICAL


def test_numpy_module_global_monkeypatching_stays_critical() -> None:
    """BUILD on an imported numpy function to plant os/system names (modelscan #330 shape).

    https://github.com/protectai/modelscan/issues/330
    """
    body = glob("numpy", "size") + NONE + EMPTY_DICT + su("a") + bu("os") + SETITEM
    body += TUPLE2 + BUILD
    graded = _graded(body)
    assert any(s == CRITICAL and r == "pickle-dangerous-call" for r, s, _ in graded), graded
