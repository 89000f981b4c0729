"""The reviewed allowlist entries, each with the reason its reconstruction is inert (data only).

What "inert" means here (docs/security-model.md, "What the pickle allowlist promises"): used in
the shape its entry allows, the global's load path -- the call, or ``__new__`` plus BUILD
(``__setstate__`` or a ``__dict__`` update), ``__del__`` and any ``__getattr__`` BUILD consults --
performs no file, network or process I/O, imports nothing chosen by the pickle, evaluates no
string as code, calls no callable taken from the pickle (or the VM checks that call), and costs
time and memory in proportion to the bytes of the pickle, except where a reason says otherwise.

Sources read: CPython 3.11 (``Lib/``, ``Modules/_pickle.c``), torch 2.13.0+cpu, numpy 2.4.6,
pandas 3.1.1, scikit-learn 1.9.1, joblib 1.6.0, transformers 5.25.0 and 4.57.6, accelerate
1.16.0, optuna 5.1.0. ``docs/allowlist.md`` is generated from this module.
"""

from __future__ import annotations

from mlchain.scan.pickle.allowlist_shapes import (
    ANY,
    BIT_GENERATOR,
    DTYPE_SPEC,
    FRACTION,
    LATIN1,
    NDARRAY_SUBTYPE,
    NO_DUNDER_STATE,
    NO_SIZE,
    NOTHING,
    ONE_CONSTANT,
    PLAIN,
    RE_FLAGS,
    SMALL_RANGE,
    Entry,
    Shape,
)
from mlchain.scan.pickle.allowlist_tables import (
    SKLEARN_ESTIMATORS,
    SKLEARN_METRICS,
    SKLEARN_SPLITTERS,
    TORCH_NN_MODULES,
)
from mlchain.scan.pickle.values import Global, SDict, SList, SSet

_PY = "CPython 3.11"
_TORCH = "torch 2.13.0"
_NUMPY = "numpy 2.4.6"
_PANDAS = "pandas 3.1.1"
_SKLEARN = "scikit-learn 1.9.1"
_HF = "transformers 5.25.0 and 4.57.6"
_ACCEL = "accelerate 1.16.0"
_OPTUNA = "optuna 5.1.0"


def _containers(args: tuple[object, ...]) -> bool:
    # Builtin containers iterate their argument: only constants and builtin containers, never
    # an object that would be iterated (or measured) through its own methods.
    return all(
        a is None or isinstance(a, (bool, int, float, str, bytes, tuple, SList, SSet, SDict))
        for a in args
    )


def _factory(args: tuple[object, ...]) -> bool:
    # defaultdict(default_factory) stores the factory; it is called only on a missing key later.
    return len(args) <= 1 and (not args or args[0] is None or isinstance(args[0], Global))


def _first_class(names: frozenset[tuple[str, str]], what: str) -> Shape:
    def check(args: tuple[object, ...]) -> bool:
        first = args[0] if args else None
        return isinstance(first, Global) and (first.module, first.name) in names

    return Shape(
        f"{what} class", f"the first argument is one of the reviewed {what} classes", check
    )


CONTAINER = Shape(
    "containers",
    "constants or builtin containers (never an object iterated through its own methods)",
    _containers,
)
FACTORY = Shape("default factory", "`None` or a referenced global, stored and not called", _factory)


def _e(
    qualified: str,
    reason: str,
    source: str,
    *,
    call: Shape | None = None,
    new: Shape | None = None,
) -> Entry:
    module, _, name = qualified.rpartition(".")
    return Entry(module, name, reason, call=call, new=new, source=source)


def _ref(qualified: str, reason: str, source: str) -> Entry:
    return _e(qualified, reason, source)


_ENUM = (
    "Enum member lookup: EnumType.__call__ with one value runs Enum.__new__, which looks the "
    "value up in _value2member_map_ (then _missing_, {missing})"
)
_DATACLASS = (
    "dataclass rebuilt by NEWOBJ + BUILD: __init__/__post_init__ do not run; no __setstate__, "
    "__getattr__ or __del__, so BUILD is a __dict__ update"
)


def _enum(qualified: str, source: str, missing: str = "not overridden") -> Entry:
    return _e(qualified, _ENUM.format(missing=missing), source, call=ONE_CONSTANT)


# ------------------------------------------------------------------------- Python -------------

_VALUE = "builtin value type: constructs an immutable value or plain container from its arguments"
_PURE = (
    "pure builtin: computes a result from plain values, in time linear (or n log n) in their "
    "size; no method of a rebuilt object can run because the arguments must be plain"
)
_EXC = "exception class: stores its arguments in .args; BaseException.__setstate__ sets __dict__"

_BUILTINS: list[Entry] = [
    *(
        _e(f"builtins.{n}", _VALUE, _PY, call=PLAIN, new=PLAIN)
        for n in ("bool", "int", "float", "complex", "str", "slice")
    ),
    _e(
        "builtins.bytes",
        "bytes from plain values; an int argument (bytes(n)) allocates n bytes and is excluded",
        _PY,
        call=NO_SIZE,
        new=NO_SIZE,
    ),
    _e(
        "builtins.bytearray",
        "bytearray from plain values (protocol < 5 spelling); bytearray(n) allocates and is "
        "excluded",
        _PY,
        call=NO_SIZE,
        new=NO_SIZE,
    ),
    *(
        _e(
            f"builtins.{n}",
            "builtin container: copies the items of a constant or builtin container; hashing "
            "items of a set/dict runs their __hash__, like SETITEMS does",
            _PY,
            call=CONTAINER,
            new=CONTAINER,
        )
        for n in ("dict", "list", "tuple", "set", "frozenset")
    ),
    _e(
        "builtins.range",
        "lazy integer sequence; limited in length because list()/tuple() of it iterate it",
        _PY,
        call=SMALL_RANGE,
    ),
    _e(
        "builtins.object",
        "object(): the empty base; object.__new__(cls) is the base case of copyreg reconstructors",
        _PY,
        call=NOTHING,
        new=ANY,
    ),
    *(
        _ref(f"builtins.{n}", "singleton or its type, referenced as a value", _PY)
        for n in ("NoneType", "Ellipsis", "NotImplemented")
    ),
    *(
        _e(f"builtins.{n}", _EXC, _PY, call=PLAIN, new=PLAIN)
        for n in (
            "Exception",
            "ValueError",
            "KeyError",
            "IndexError",
            "TypeError",
            "RuntimeError",
            "AttributeError",
            "StopIteration",
        )
    ),
    *(
        _e(f"builtins.{n}", _PURE, _PY, call=PLAIN)
        for n in (
            "abs",
            "all",
            "any",
            "ascii",
            "bin",
            "callable",
            "chr",
            "hash",
            "hex",
            "id",
            "len",
            "max",
            "min",
            "oct",
            "ord",
            "repr",
            "sorted",
            "sum",
        )
    ),
]
# Protocol 0-2 pickles name the module __builtin__ (mapped by fix_imports); same entries.
_BUILTINS += [
    Entry("__builtin__", e.name, e.reason, call=e.call, new=e.new, source=e.source)
    for e in list(_BUILTINS)
]

_FUTURE_FEATURES = (
    "nested_scopes",
    "generators",
    "division",
    "absolute_import",
    "with_statement",
    "print_function",
    "unicode_literals",
    "barry_as_FLUFL",
    "generator_stop",
    "annotations",
)

_STDLIB: list[Entry] = [
    _e(
        "copyreg._reconstructor",
        "copyreg helper: base.__new__(cls, state) and base.__init__(obj, state); the VM "
        "judges cls and base by their own entries (both must allow rebuilding)",
        _PY,
        call=ANY,
    ),
    _e(
        "copyreg.__newobj__",
        "copyreg helper: cls.__new__(cls, *args); judged by cls's entry and the args",
        _PY,
        call=ANY,
    ),
    _e(
        "copyreg.__newobj_ex__",
        "copyreg helper: cls.__new__(cls, *args, **kwargs); judged by cls's entry, no kwargs",
        _PY,
        call=ANY,
    ),
    _e(
        "collections.OrderedDict",
        "dict subclass; its C __reduce__ rebuilds it empty then SETITEMS adds the items",
        _PY,
        call=CONTAINER,
        new=CONTAINER,
    ),
    _e(
        "collections.defaultdict",
        "stores default_factory without calling it (called only on a missing key, after load)",
        _PY,
        call=FACTORY,
    ),
    _e("collections.Counter", "dict subclass; update() copies a mapping", _PY, call=CONTAINER),
    _e("collections.deque", "copies a list, optional maxlen int", _PY, call=CONTAINER),
    _e(
        "collections.ChainMap",
        "rebuilt by copyreg + BUILD: a __dict__ update of its maps list",
        _PY,
        call=CONTAINER,
        new=NOTHING,
    ),
    *(
        _e(
            f"datetime.{n}",
            "C type; parses its packed bytes or ints, no other code runs",
            _PY,
            call=PLAIN,
        )
        for n in ("datetime", "date", "time", "timedelta")
    ),
    _e(
        "datetime.timezone",
        "C type; the offset must be a timedelta instance (type-checked, no method called)",
        _PY,
        call=ANY,
    ),
    _e(
        "decimal.Decimal",
        "parses a decimal string; the exponent is stored, not expanded (unlike Fraction)",
        _PY,
        call=PLAIN,
    ),
    _e(
        "fractions.Fraction",
        "Fraction(numerator, denominator) or Fraction('n/d'): gcd of ints from the pickle; the "
        "exponent form ('1e999999999') expands to a power of ten and is excluded (critical)",
        _PY,
        call=FRACTION,
    ),
    _e(
        "uuid.UUID",
        "rebuilt by copyreg + UUID.__setstate__, which sets the int and is_safe fields",
        _PY,
        call=PLAIN,
        new=NOTHING,
    ),
    _enum("uuid.SafeUUID", _PY),
    _e(
        "enum.Enum",
        "Enum(value) on the base class is a member lookup (functional API needs 2+ arguments)",
        _PY,
        call=ONE_CONSTANT,
    ),
    _e(
        "re._compile",
        "compiles a pattern (cached); matching happens only after load; re.DEBUG excluded",
        _PY,
        call=RE_FLAGS,
    ),
    *(
        _e(f"ipaddress.{n}", "parses an address string or int", _PY, call=PLAIN)
        for n in ("IPv4Address", "IPv6Address")
    ),
    _e(
        "argparse.Namespace",
        "rebuilt by copyreg + BUILD: no __setstate__, a plain __dict__ update",
        _PY,
        new=NOTHING,
    ),
    _e(
        "types.SimpleNamespace",
        "C type (its __new__, __init__ and __getattribute__ are the builtin ones, no "
        "__getattr__): SimpleNamespace() then BUILD, which has no __setstate__ to call and "
        "updates __dict__",
        _PY,
        call=NOTHING,
        new=NOTHING,
    ),
    *(
        _e(
            f"pathlib.{n}",
            "a path value: string handling only, no file system access at construction",
            _PY,
            call=PLAIN,
        )
        for n in (
            "Path",
            "PosixPath",
            "WindowsPath",
            "PurePath",
            "PurePosixPath",
            "PureWindowsPath",
        )
    ),
    _e(
        "logging.getLogger",
        "Logger.__reduce__ spelling: returns (and registers) the named logger; no handler or "
        "file is created",
        _PY,
        call=ONE_CONSTANT,
    ),
    _e(
        "_codecs.encode",
        "protocol 2 spelling of bytes: encode(text, 'latin1') only",
        _PY,
        call=LATIN1,
    ),
    *(
        _ref(f"__future__.{n}", "a __future__ feature record, referenced as a value", _PY)
        for n in _FUTURE_FEATURES
    ),
    _e(
        "__future__._Feature",
        "plain class (no __new__/__setstate__): rebuilt by a __dict__ update",
        _PY,
        new=NOTHING,
    ),
]

# ------------------------------------------------------------------------- torch --------------

_REBUILD = "tensor rebuild helper of torch.load: views a storage; hooks are stored, never called"
_TORCH_ENTRIES: list[Entry] = [
    *(
        _e(f"torch._utils.{n}", _REBUILD, _TORCH, call=ANY)
        for n in (
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_sparse_tensor",
            "_rebuild_nested_tensor",
            "_rebuild_qtensor",
        )
    ),
    _e(
        "torch._utils._rebuild_parameter_with_state",
        "Parameter(data) then _set_obj_state: setattr for each state key (no dunder keys)",
        _TORCH,
        call=NO_DUNDER_STATE,
    ),
    _e(
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch.from_numpy(array).to(dtype, device): a copy, no I/O",
        _TORCH,
        call=ANY,
    ),
    _e(
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch.empty_strided on the meta device: allocates no data",
        _TORCH,
        call=ANY,
    ),
    _e(
        "torch._utils._rebuild_wrapper_subclass",
        "Tensor._make_wrapper_subclass(cls, ...): cls is judged by its own entry",
        _TORCH,
        call=ANY,
    ),
    _e(
        "torch._tensor._rebuild_from_type_v2",
        "calls func(*args) (checked by the VM as a call of its own), as_subclass(new_type), "
        "then new_type.__setstate__ or setattr per state key (no dunder keys)",
        _TORCH,
        call=NO_DUNDER_STATE,
    ),
    _e(
        "torch.serialization._get_layout",
        "looks a layout name up in a dict built from torch's own attributes",
        _TORCH,
        call=PLAIN,
    ),
    _e(
        "torch.storage._load_from_bytes",
        "torch.load of nested bytes: the VM scans the nested pickle as a stream of its own",
        _TORCH,
        call=ANY,
    ),
    _e("torch.Size", "tuple subclass of ints", _TORCH, call=PLAIN),
    _e("torch.device", "parses a device string; no device is initialised", _TORCH, call=PLAIN),
    *(
        _ref(f"torch.{n}", "torch type or constant, referenced as a value", _TORCH)
        for n in (
            "dtype",
            "Tensor",
            "per_tensor_affine",
            "per_channel_affine",
            "contiguous_format",
            "channels_last",
            "preserve_format",
            "strided",
            "sparse_coo",
        )
    ),
    *(
        _ref(f"torch.storage.{n}", "storage class named in persistent ids", _TORCH)
        for n in ("UntypedStorage", "TypedStorage")
    ),
    _ref(
        "torch.nn.parameter.Parameter",
        "referenced as the new_type of _rebuild_from_type_v2",
        _TORCH,
    ),
    *(
        _ref(f"torch.{n}Storage", "legacy typed storage class named in persistent ids", _TORCH)
        for n in (
            "Double",
            "Float",
            "Half",
            "BFloat16",
            "Long",
            "Int",
            "Short",
            "Char",
            "Byte",
            "Bool",
            "ComplexDouble",
            "ComplexFloat",
            "QUInt8",
            "QInt8",
            "QInt32",
            "QUInt4x2",
            "QUInt2x4",
            "Untyped",
        )
    ),
    *(
        _ref(f"torch.{n}", "dtype constant", _TORCH)
        for n in (
            "float16",
            "float32",
            "float64",
            "bfloat16",
            "half",
            "float",
            "double",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "bool",
            "complex32",
            "complex64",
            "complex128",
            "qint8",
            "quint8",
            "qint32",
            "quint4x2",
            "float8_e4m3fn",
            "float8_e5m2",
            "float8_e4m3fnuz",
            "float8_e5m2fnuz",
        )
    ),
]

_NN_DEFAULT = (
    "nn.Module subclass rebuilt by object.__new__ and Module.__setstate__ (a __dict__ update "
    "plus empty hook dicts); hooks are stored, never called at load"
)
_NN_HOOKED = {
    "MultiheadAttention": "MultiheadAttention.__setstate__ adds a default _qkv_same_embed_dim flag",
    "Softmax": "Softmax.__setstate__ sets dim = None when missing",
    "Softmin": "Softmin.__setstate__ sets dim = None when missing",
    "LogSoftmax": "LogSoftmax.__setstate__ sets dim = None when missing",
    "AvgPool3d": "AvgPool3d.__setstate__ sets default padding/ceil_mode/count_include_pad",
    "RNNBase": "RNNBase.__setstate__ rebuilds the flat weight name lists from its own attributes",
    "RNN": "RNNBase.__setstate__ rebuilds the flat weight name lists from its own attributes",
    "LSTM": "RNNBase.__setstate__ rebuilds the flat weight name lists from its own attributes",
    "GRU": "RNNBase.__setstate__ rebuilds the flat weight name lists from its own attributes",
    "TransformerEncoderLayer": "TransformerEncoderLayer.__setstate__ defaults activation to F.relu",
    "TransformerDecoderLayer": "TransformerDecoderLayer.__setstate__ defaults activation to F.relu",
    "Upsample": "Upsample.__setstate__ defaults recompute_scale_factor",
    "UpsamplingNearest2d": "Upsample.__setstate__ defaults recompute_scale_factor",
    "UpsamplingBilinear2d": "Upsample.__setstate__ defaults recompute_scale_factor",
}


def _nn_reason(module: str, name: str) -> str:
    if module == "torch.nn.modules.conv":
        return f"{_NN_DEFAULT}; _ConvNd.__setstate__ defaults padding_mode"
    extra = _NN_HOOKED.get(name)
    return f"{_NN_DEFAULT}; {extra}" if extra else _NN_DEFAULT


_TORCH_NN: list[Entry] = [
    Entry(m, n, _nn_reason(m, n), new=NOTHING, source=_TORCH)
    for m, names in TORCH_NN_MODULES.items()
    for n in names
]

# ------------------------------------------------------------------------- numpy --------------

_NDARRAY_STATE = (
    "; BUILD runs ndarray.__setstate__, which copies raw bytes or, for object arrays, takes "
    "the list of objects already built by the pickle"
)
_NUMPY_ENTRIES: list[Entry] = [
    *(
        _e(
            f"{m}._reconstruct",
            "creates an empty array of a reviewed subtype" + _NDARRAY_STATE,
            _NUMPY,
            call=NDARRAY_SUBTYPE,
        )
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    ),
    *(
        _e(
            f"{m}.scalar",
            "builds a scalar from a dtype and its raw bytes (object dtype: returns the object)",
            _NUMPY,
            call=ANY,
        )
        for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    ),
    *(
        _e(
            f"{m}._frombuffer",
            "numpy.frombuffer(buf, dtype).reshape(shape, order): views bytes, no I/O",
            _NUMPY,
            call=ANY,
        )
        for m in ("numpy.core.numeric", "numpy._core.numeric")
    ),
    _e(
        "numpy.dtype",
        "parses a type code or structured description; BUILD runs the C arraydescr_setstate",
        _NUMPY,
        call=DTYPE_SPEC,
    ),
    _e(
        "numpy.ma.core._mareconstruct",
        "ndarray.__new__ of the base class and MaskedArray.__new__ of a reviewed subtype; "
        "BUILD runs MaskedArray.__setstate__ (data and mask via ndarray.__setstate__)",
        _NUMPY,
        call=NDARRAY_SUBTYPE,
    ),
    *(
        _ref(q, "array subtype referenced by _reconstruct/_mareconstruct", _NUMPY)
        for q in (
            "numpy.ndarray",
            "numpy.ma.core.MaskedArray",
            "numpy.ma.MaskedArray",
            "numpy.core.records.recarray",
            "numpy._core.records.recarray",
            "numpy.recarray",
            "numpy.rec.recarray",
            "numpy.core.records.record",
            "numpy.record",
        )
    ),
    *(
        _e(
            f"numpy.random._pickle.{n}",
            "pickle helper: looks the bit generator up by name, or instantiates the class it is "
            "given (so only numpy's own bit generators are allowed as arguments)",
            _NUMPY,
            call=BIT_GENERATOR,
        )
        for n in ("__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor")
    ),
    _ref(
        "numpy.random.mtrand._rand",
        "the module-level RandomState; a BUILD on it is reported by the VM as monkey-patching",
        _NUMPY,
    ),
    *(
        _e(
            q,
            "bit generator: seeding from plain values; BUILD runs its __setstate__, which "
            "validates and copies the state dict",
            _NUMPY,
            call=PLAIN,
        )
        for q in (
            "numpy.random._mt19937.MT19937",
            "numpy.random._pcg64.PCG64",
            "numpy.random._pcg64.PCG64DXSM",
            "numpy.random._philox.Philox",
            "numpy.random._sfc64.SFC64",
        )
    ),
    _e(
        "numpy.random.bit_generator.SeedSequence",
        "entropy pool from plain ints",
        _NUMPY,
        call=PLAIN,
    ),
    _e(
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "Cython unpickle helper: SeedSequence.__new__ then sets its fields from the state",
        _NUMPY,
        call=_first_class(
            frozenset({("numpy.random.bit_generator", "SeedSequence")}), "SeedSequence"
        ),
    ),
    _e(
        "numpy.random._generator.Generator",
        "wraps a bit generator instance",
        _NUMPY,
        call=BIT_GENERATOR,
    ),
    *(
        _e(f"numpy.dtypes.{n}", "DType class: returns its canonical dtype", _NUMPY, call=PLAIN)
        for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType")
    ),
    *(
        _e(
            f"numpy.{n}",
            "numpy scalar type: converts a plain value (numpy.void, which allocates by size, "
            "is not listed)",
            _NUMPY,
            call=PLAIN,
        )
        for n in (
            "bool_",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
            "longdouble",
            "complex64",
            "complex128",
            "str_",
            "bytes_",
            "datetime64",
            "timedelta64",
            "intc",
            "uintc",
            "longlong",
            "ulonglong",
            "half",
            "single",
            "double",
            "float_",
            "int_",
        )
    ),
    _e(
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "rebuilt by NEWOBJ + BUILD (a __dict__ update); read_array then reads the "
        "raw array bytes, which the VM skips with the same arithmetic",
        "joblib 1.6.0",
        new=NOTHING,
    ),
]

# ------------------------------------------------------------------------- pandas -------------

_PANDAS_HOMES: dict[str, tuple[str, ...]] = {
    "pandas.core.frame": ("DataFrame",),
    "pandas.core.series": ("Series",),
    "pandas.core.indexes.base": ("Index",),
    "pandas.core.indexes.range": ("RangeIndex",),
    "pandas.core.indexes.multi": ("MultiIndex",),
    "pandas.core.indexes.datetimes": ("DatetimeIndex",),
    "pandas.core.indexes.timedeltas": ("TimedeltaIndex",),
    "pandas.core.indexes.period": ("PeriodIndex",),
    "pandas.core.indexes.category": ("CategoricalIndex",),
    "pandas.core.arrays.categorical": ("Categorical",),
    "pandas.core.arrays.datetimes": ("DatetimeArray",),
    "pandas.core.arrays.timedeltas": ("TimedeltaArray",),
    "pandas.core.arrays.period": ("PeriodArray",),
    "pandas.core.arrays.string_": ("StringArray", "StringDtype"),
    "pandas.core.arrays.integer": (
        "IntegerArray",
        "Int8Dtype",
        "Int16Dtype",
        "Int32Dtype",
        "Int64Dtype",
        "UInt8Dtype",
        "UInt16Dtype",
        "UInt32Dtype",
        "UInt64Dtype",
    ),
    "pandas.core.arrays.floating": ("FloatingArray", "Float32Dtype", "Float64Dtype"),
    "pandas.core.arrays.boolean": ("BooleanArray", "BooleanDtype"),
    "pandas.core.dtypes.dtypes": ("CategoricalDtype", "DatetimeTZDtype", "PeriodDtype"),
}
"""Defining modules of the reviewed pandas classes: pandas < 3 pickles name these (pandas 3 sets
``__module__`` to ``pandas``/``pandas.arrays``); both spellings resolve to the same class."""


def _home_aliases(names: set[str]) -> set[tuple[str, str]]:
    return {(m, n) for m, found in _PANDAS_HOMES.items() for n in found if n in names}


_INDEX_NAMES = {
    "Index",
    "RangeIndex",
    "MultiIndex",
    "DatetimeIndex",
    "TimedeltaIndex",
    "PeriodIndex",
    "CategoricalIndex",
}
_INDEX_CLASSES = frozenset({("pandas", n) for n in _INDEX_NAMES} | _home_aliases(_INDEX_NAMES))
_BACKED_CLASSES = frozenset(
    {
        ("pandas", "Categorical"),
        ("pandas.arrays", "DatetimeArray"),
        ("pandas.arrays", "TimedeltaArray"),
        ("pandas.arrays", "PeriodArray"),
        ("pandas.arrays", "StringArray"),
    }
    | _home_aliases(
        {"Categorical", "DatetimeArray", "TimedeltaArray", "PeriodArray", "StringArray"}
    )
)
_PANDAS_ENTRIES: list[Entry] = [
    _e(
        "pandas.core.indexes.base._new_Index",
        "cls.__new__(cls, **d) for a reviewed Index class: validates data and infers a dtype; "
        "dtype strings resolve through pandas' registry of installed extension dtypes",
        _PANDAS,
        call=_first_class(_INDEX_CLASSES, "pandas Index"),
    ),
    *(
        _ref(f"{m}.{n}", "Index class, passed to _new_Index", _PANDAS)
        for m, n in sorted(_INDEX_CLASSES)
        if m == "pandas"
    ),
    _e(
        "pandas._libs.internals._unpickle_block",
        "new_block(values, placement, ndim): wraps an already built array",
        _PANDAS,
        call=ANY,
    ),
    _e(
        "pandas.core.internals.managers.BlockManager",
        "BlockManager(blocks, axes) checks shapes; its Cython __new__ only allocates the "
        "extension object, and its Cython __setstate__ reads the legacy 0.14.1 state layout "
        "into blocks",
        _PANDAS,
        call=ANY,
        new=NOTHING,
    ),
    _e(
        "pandas.core.internals.managers.SingleBlockManager",
        "SingleBlockManager.__setstate__ rebuilds its block from arrays and axes",
        _PANDAS,
        new=NOTHING,
    ),
    *(
        _e(
            f"pandas.{n}",
            "NDFrame.__setstate__: object.__setattr__ of the state's attributes and Flags(); "
            "no __getattr__ hooks or expressions",
            _PANDAS,
            new=NOTHING,
        )
        for n in ("DataFrame", "Series")
    ),
    _e(
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
        "Cython unpickle helper: cls.__new__ for a reviewed NDArrayBacked class, then "
        "NDArrayBacked.__setstate__ sets _ndarray, _dtype and the remaining attributes",
        _PANDAS,
        call=_first_class(_BACKED_CLASSES, "NDArrayBacked"),
    ),
    *(
        _ref(f"{m}.{n}", "NDArrayBacked class, passed to __pyx_unpickle_NDArrayBacked", _PANDAS)
        for m, n in sorted(_BACKED_CLASSES)
        if m in ("pandas", "pandas.arrays")
    ),
    _e(
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "Cython helper: Timestamp from an int value, unit and tz object (the tz is a global "
        "of its own; its utcoffset may be consulted)",
        _PANDAS,
        call=ANY,
    ),
    _e(
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
        "Cython helper: Timedelta from an int value and unit",
        _PANDAS,
        call=PLAIN,
    ),
    _e(
        "pandas._libs.tslibs.nattype._nat_unpickle",
        "returns the NaT singleton",
        _PANDAS,
        call=NOTHING,
    ),
    *(
        _e(
            f"pandas.arrays.{n}",
            "masked array: no __new__/__setstate__, BUILD is a __dict__ update of _data/_mask",
            _PANDAS,
            new=NOTHING,
        )
        for n in ("IntegerArray", "FloatingArray", "BooleanArray")
    ),
    _e(
        "pandas.CategoricalDtype",
        "CategoricalDtype.__setstate__ sets _categories and _ordered",
        _PANDAS,
        new=NOTHING,
    ),
    _e(
        "pandas.DatetimeTZDtype",
        "DatetimeTZDtype.__setstate__ sets _tz and _unit (the tz object is built by the pickle)",
        _PANDAS,
        new=NOTHING,
    ),
    *(
        _e(
            f"pandas.{n}",
            "masked numeric dtype: no __new__/__setstate__, plain __dict__ update",
            _PANDAS,
            new=NOTHING,
        )
        for n in (
            "Int8Dtype",
            "Int16Dtype",
            "Int32Dtype",
            "Int64Dtype",
            "UInt8Dtype",
            "UInt16Dtype",
            "UInt32Dtype",
            "UInt64Dtype",
            "Float32Dtype",
            "Float64Dtype",
            "BooleanDtype",
        )
    ),
    _e(
        "pandas.StringDtype",
        "StringDtype(storage, na_value): validates the storage name ('python' or 'pyarrow')",
        _PANDAS,
        call=PLAIN,
    ),
    _e(
        "pandas.PeriodDtype",
        "PeriodDtype(freq string): parses an offset alias",
        _PANDAS,
        call=PLAIN,
    ),
]

_PUBLIC_PANDAS = {
    (e.module, e.name): e for e in _PANDAS_ENTRIES if e.module in ("pandas", "pandas.arrays")
}
_PANDAS_ENTRIES += [
    Entry(
        module,
        name,
        f"{public.reason} (pre-3.0 spelling of {public.qualname})",
        call=public.call,
        new=public.new,
        source=_PANDAS,
    )
    for module, names in _PANDAS_HOMES.items()
    for name in names
    for public in [
        _PUBLIC_PANDAS.get(("pandas", name)) or _PUBLIC_PANDAS.get(("pandas.arrays", name))
    ]
    if public is not None
]

# ------------------------------------------------------------------------- scikit-learn -------

_SK_EST = (
    "estimator rebuilt by copyreg + BaseEstimator.__setstate__: pops _sklearn_version (may warn) "
    "and updates __dict__; no __new__/__del__/__getattr__ (checked by the audit script)"
)
_SKLEARN_ENTRIES: list[Entry] = [
    *(
        Entry(m, n, _SK_EST, new=NOTHING, source=_SKLEARN)
        for m, names in SKLEARN_ESTIMATORS.items()
        for n in names
    ),
    *(
        Entry(
            m,
            n,
            "cross-validation splitter: no __setstate__, a __dict__ update",
            new=NOTHING,
            source=_SKLEARN,
        )
        for m, names in SKLEARN_SPLITTERS.items()
        for n in names
    ),
    *(
        Entry(
            m,
            n,
            "metric function referenced by a scorer; called only when scoring, not at load",
            source=_SKLEARN,
        )
        for m, names in SKLEARN_METRICS.items()
        for n in names
    ),
    _e(
        "sklearn.metrics._scorer._Scorer",
        "scorer: no __setstate__, a __dict__ update holding a referenced metric function",
        _SKLEARN,
        new=NOTHING,
    ),
    _e(
        "sklearn.tree._tree.Tree",
        "Cython Tree(n_features, n_classes, n_outputs) allocates per-class arrays; "
        "Tree.__setstate__ checks and copies the node and value arrays",
        _SKLEARN,
        call=ANY,
    ),
]

# ------------------------------------------------------------------------- training state -----

_EXPLICIT = "ExplicitEnum._missing_ raises ValueError"
_TRAINING_ENTRIES: list[Entry] = [
    _e("transformers.training_args.TrainingArguments", _DATACLASS, _HF, new=NOTHING),
    _e("transformers.trainer_pt_utils.AcceleratorConfig", _DATACLASS, _HF, new=NOTHING),
    _e(
        "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
        _DATACLASS,
        _HF,
        new=NOTHING,
    ),
    _e(
        "transformers.generation.configuration_utils.GenerationConfig",
        "plain class (held by Seq2SeqTrainingArguments): NEWOBJ + BUILD, no __new__/"
        "__setstate__/__getattr__/__del__, a __dict__ update; __init__ does not run",
        _HF,
        new=NOTHING,
    ),
    _enum("transformers.training_args.ParallelMode", _HF),
    *(
        _enum(q, _HF, _EXPLICIT)
        for q in (
            "transformers.trainer_utils.IntervalStrategy",
            "transformers.trainer_utils.SaveStrategy",
            "transformers.trainer_utils.HubStrategy",
            "transformers.trainer_utils.SchedulerType",
            "transformers.trainer_utils.FSDPOption",
            "transformers.training_args.OptimizerNames",
            "transformers.debug_utils.DebugOption",
            "transformers.utils.generic.PaddingStrategy",
            "transformers.trainer_utils.EvaluationStrategy",
        )
    ),
    _e(
        "accelerate.state.PartialState",
        "plain class rebuilt by NEWOBJ + BUILD (a __dict__ update; __init__ does not run). "
        "BUILD looks up __setstate__, which reaches PartialState.__getattr__: it only raises "
        "AttributeError",
        _ACCEL,
        new=NOTHING,
    ),
    _enum("accelerate.utils.dataclasses.DistributedType", _ACCEL),
    _enum("accelerate.utils.dataclasses.PrecisionType", _ACCEL),
    _enum("accelerate.utils.dataclasses.DynamoBackend", _ACCEL),
    _enum("accelerate.utils.dataclasses.ComputeEnvironment", _ACCEL),
    _enum("optuna.study._study_direction.StudyDirection", _OPTUNA),
    _enum("optuna.trial._state.TrialState", _OPTUNA),
    *(
        _e(
            q,
            "plain class rebuilt by NEWOBJ + BUILD: no __new__/__setstate__/__getattr__/__del__, "
            "a __dict__ update",
            _OPTUNA,
            new=NOTHING,
        )
        for q in (
            "optuna.distributions.FloatDistribution",
            "optuna.distributions.IntDistribution",
            "optuna.distributions.CategoricalDistribution",
            "optuna.pruners._median.MedianPruner",
            "optuna.pruners._nop.NopPruner",
            "optuna.samplers._lazy_random_state.LazyRandomState",
            "optuna.samplers._random.RandomSampler",
            "optuna.samplers._tpe.sampler.TPESampler",
            "optuna.samplers._cmaes.CmaEsSampler",
            "optuna.search_space.intersection.IntersectionSearchSpace",
            "optuna.storages._in_memory._StudyInfo",
            "optuna.trial._frozen.FrozenTrial",
        )
    ),
    _e(
        "optuna.samplers._tpe.parzen_estimator._ParzenEstimatorParameters",
        "_ParzenEstimatorParameters is a NamedTuple: its __new__ is tuple.__new__(cls, *fields)",
        _OPTUNA,
        new=ANY,
    ),
    _ref(
        "optuna.samplers._tpe.parzen_estimator._ParzenEstimator",
        "referenced class (TPESampler stores the type), not instantiated at load",
        _OPTUNA,
    ),
    _ref(
        "optuna.samplers._tpe.sampler.default_weights",
        "weights function referenced by TPESampler; called only when sampling",
        _OPTUNA,
    ),
    _ref(
        "optuna.samplers._tpe.sampler.default_gamma",
        "gamma function referenced by TPESampler; called only when sampling",
        _OPTUNA,
    ),
    _e(
        "optuna.storages._in_memory.InMemoryStorage",
        "InMemoryStorage.__setstate__ updates __dict__ and creates a threading.RLock",
        _OPTUNA,
        new=NOTHING,
    ),
    _e(
        "optuna.study.study.Study",
        "Study.__setstate__ updates __dict__ and creates a thread-local attribute holder",
        _OPTUNA,
        new=NOTHING,
    ),
]

# ------------------------------------------------------------------------- real-world corpus --
# Added from benchmarks/realworld.py (issue 14 acceptance): classes that fitted scikit-learn
# models pickle beside the estimators above. Read in scikit-learn 1.9.1 (sklearn/_loss/*.py,
# _loss.pyx.tp, ensemble/_hist_gradient_boosting/{binning,predictor}.py,
# neighbors/_binary_tree.pxi.tp, metrics/_dist_metrics.pyx.tp); regression test:
# tests/unit/scan/test_realworld_allowlist.py on fixtures/realworld/.

_SK_LOSS_PLAIN = (
    "loss/link helper rebuilt by NEWOBJ + BUILD: no __new__/__setstate__/__getattr__/__del__ on "
    "its MRO, so BUILD is a __dict__ update (its closs, link and Interval attributes are "
    "themselves rebuilt from reviewed entries)"
)
_SK_CY_LOSS = (
    "Cython loss object: CyLossFunction.__reduce__ is (cls, ()) or (cls, (param,)); tp_new "
    "allocates the empty object and __init__ stores the float parameter (no __cinit__, no "
    "__setstate__)"
)
_SK_TREES = frozenset(
    {
        ("sklearn.neighbors._kd_tree", "KDTree"),
        ("sklearn.neighbors._kd_tree", "KDTree64"),
        ("sklearn.neighbors._kd_tree", "KDTree32"),
        ("sklearn.neighbors._ball_tree", "BallTree"),
        ("sklearn.neighbors._ball_tree", "BallTree64"),
        ("sklearn.neighbors._ball_tree", "BallTree32"),
    }
)
_SK_METRIC_NAMES = (
    "Euclidean",
    "SEuclidean",
    "Manhattan",
    "Chebyshev",
    "Minkowski",
    "Mahalanobis",
    "Hamming",
    "Canberra",
    "BrayCurtis",
    "Jaccard",
    "Matching",
    "Dice",
    "Kulsinski",
    "RogersTanimoto",
    "RussellRao",
    "SokalMichener",
    "SokalSneath",
    "Haversine",
)
# PyFuncDistance is deliberately absent: its state carries a Python callable and kwargs.
_SK_METRICS = frozenset(
    ("sklearn.metrics._dist_metrics", f"{name}Distance{bits}")
    for name in _SK_METRIC_NAMES
    for bits in ("64", "32")
)
_SK_NEWOBJ = (
    "Cython helper newObj(cls) returns cls.__new__(cls) (tp_new: an empty object); admitted only "
    "with a reviewed {what} class as its argument, whose __setstate__ then applies the state"
)
_REALWORLD_ENTRIES: list[Entry] = [
    _e("sklearn._loss.link.Interval", _DATACLASS, _SKLEARN, new=NOTHING),
    *(
        _e(f"sklearn._loss.link.{name}", _SK_LOSS_PLAIN, _SKLEARN, new=NOTHING)
        for name in ("IdentityLink", "LogLink", "LogitLink", "HalfLogitLink")
    ),
    *(
        _e(f"sklearn._loss.loss.{name}", _SK_LOSS_PLAIN, _SKLEARN, new=NOTHING)
        for name in (
            "HalfSquaredError",
            "AbsoluteError",
            "PinballLoss",
            "HuberLoss",
            "HalfPoissonLoss",
            "HalfGammaLoss",
            "HalfTweedieLoss",
            "HalfTweedieLossIdentity",
            "HalfBinomialLoss",
            "ExponentialLoss",
        )
    ),
    *(
        _e(f"sklearn._loss._loss.{name}", _SK_CY_LOSS, _SKLEARN, call=PLAIN)
        for name in (
            "CyHalfSquaredError",
            "CyAbsoluteError",
            "CyPinballLoss",
            "CyHuberLoss",
            "CyHalfPoissonLoss",
            "CyHalfGammaLoss",
            "CyHalfTweedieLoss",
            "CyHalfTweedieLossIdentity",
            "CyHalfBinomialLoss",
            "CyExponentialLoss",
        )
    ),
    _e(
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        _SK_EST,
        _SKLEARN,
        new=NOTHING,
    ),
    _e(
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "TreePredictor.__setstate__ updates __dict__ (object has no __setstate__ to defer to) "
        "and casts the nodes array to the predictor record dtype with casting='same_kind' "
        "(a copy proportional to the array); no __new__/__getattr__/__del__",
        _SKLEARN,
        new=NOTHING,
    ),
    *(
        _e(
            f"{module}.newObj",
            _SK_NEWOBJ.format(what="KDTree/BallTree"),
            _SKLEARN,
            call=_first_class(_SK_TREES, "KDTree/BallTree"),
        )
        for module in ("sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree")
    ),
    *(
        _ref(
            f"{module}.{name}",
            "Cython neighbours tree, created only through newObj; BinaryTree.__setstate__ assigns "
            "typed array and int fields (Cython checks their types), keeps a DistanceMetric "
            "instance and np.asarray/np.sum's the optional sample weights",
            _SKLEARN,
        )
        for module, name in sorted(_SK_TREES)
    ),
    _e(
        "sklearn.metrics._dist_metrics.newObj",
        _SK_NEWOBJ.format(what="DistanceMetric"),
        _SKLEARN,
        call=_first_class(_SK_METRICS, "DistanceMetric"),
    ),
    *(
        _ref(
            f"{module}.{name}",
            "Cython distance metric, created only through newObj; DistanceMetric.__setstate__ "
            "assigns p and the vec/mat arrays (Mahalanobis also allocates a buffer of "
            "mat.shape[0] floats, bounded by the array it was given)",
            _SKLEARN,
        )
        for module, name in sorted(_SK_METRICS)
    ),
    # Multiclass (Hist)GradientBoosting: the multinomial loss is a Cython class without fields,
    # pickled by Cython's generated __reduce_cython__.
    _e("sklearn._loss.link.MultinomialLogit", _SK_LOSS_PLAIN, _SKLEARN, new=NOTHING),
    _e("sklearn._loss.loss.HalfMultinomialLoss", _SK_LOSS_PLAIN, _SKLEARN, new=NOTHING),
    _e(
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        "Cython-generated unpickler: checks the layout checksum (PickleError otherwise), then "
        "CyHalfMultinomialLoss.__new__(cls), a TypeError unless cls is that class or a subtype; "
        "the state must be a tuple, and the class has no fields and no __dict__ to update",
        _SKLEARN,
        call=_first_class(
            frozenset({("sklearn._loss._loss", "CyHalfMultinomialLoss")}), "CyHalfMultinomialLoss"
        ),
    ),
    _ref(
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "Cython loss class without fields, created only through its generated unpickler",
        _SKLEARN,
    ),
]

# Gradient-boosting libraries (issue 14 acceptance). Their pickles hand the model to the
# library's own C++ parser: the same parser, on the same bytes, that loads the native formats
# (XGBoost JSON/UBJSON, LightGBM text, CatBoost .cbm) mlchain already treats as data. Rebuilding
# them adds no Python-level effect; what it does not add either is a guarantee about those
# parsers' memory safety (docs/security-model.md says so). Read in xgboost 3.2.0
# (xgboost/core.py, sklearn.py), lightgbm 4.7.0 (lightgbm/basic.py, sklearn.py) and catboost
# 1.2.10 (catboost/core.py); regression tests: tests/unit/scan/test_realworld_allowlist.py.
_XGBOOST = "xgboost 3.2.0"
_LIGHTGBM = "lightgbm 4.7.0"
_CATBOOST = "catboost 1.2.10"
_GBM_WRAPPER = (
    "scikit-learn wrapper rebuilt by NEWOBJ + BUILD: BaseEstimator.__setstate__ pops "
    "_sklearn_version (may warn) and updates __dict__; the fitted booster is its own entry; "
    "no __new__/__del__/__getattr__ of its own"
)
_GBM_ENTRIES: list[Entry] = [
    _e(
        "xgboost.core.Booster",
        "Booster.__setstate__: if state['handle'] is not None, XGBoosterCreate then "
        "XGBoosterUnserializeFromBuffer over that buffer (ctypes from_buffer: a writable buffer "
        "such as the bytearray xgboost writes, else TypeError), then a __dict__ update; the "
        "native parser reads the model and its JSON config, and does no file, network or "
        "process I/O. Booster.__del__ frees the handle, which is None or the one just created",
        _XGBOOST,
        new=NOTHING,
    ),
    *(
        _e(f"xgboost.sklearn.{name}", _GBM_WRAPPER, _XGBOOST, new=NOTHING)
        for name in (
            "XGBModel",
            "XGBClassifier",
            "XGBRegressor",
            "XGBRanker",
            "XGBRFClassifier",
            "XGBRFRegressor",
        )
    ),
    _e(
        "lightgbm.basic.Booster",
        "Booster.__setstate__: if state has a '_handle' (or 'handle') that is not None, "
        "LGBM_BoosterLoadModelFromString on its UTF-8 text (a str; anything else raises), "
        "then a __dict__ update; the native parser reads the text model, its parameters are "
        "stored, not applied. Booster.__del__ calls LGBM_NetworkFree when _network is true and "
        "frees _handle, which is None or the handle just created",
        _LIGHTGBM,
        new=NOTHING,
    ),
    *(
        _e(f"lightgbm.sklearn.{name}", _GBM_WRAPPER, _LIGHTGBM, new=NOTHING)
        for name in ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")
    ),
    *(
        _e(
            f"catboost.core.{name}",
            "_CatBoostBase.__setstate__: creates an empty native _CatBoost, deserialises "
            "state['__model'] (asserted bytes) with the native CBM parser, passes '_test_evals' "
            "(lists of floats) to the native object, sets two attributes and updates "
            "_init_params with the rest (parameters are stored, not applied: train_dir and "
            "the like are used only by fit). No __new__/__del__/__getattr__ in Python",
            _CATBOOST,
            new=NOTHING,
        )
        for name in ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
    ),
]

ENTRIES: tuple[Entry, ...] = (
    *_BUILTINS,
    *_STDLIB,
    *_TORCH_ENTRIES,
    *_TORCH_NN,
    *_NUMPY_ENTRIES,
    *_PANDAS_ENTRIES,
    *_SKLEARN_ENTRIES,
    *_TRAINING_ENTRIES,
    *_REALWORLD_ENTRIES,
    *_GBM_ENTRIES,
)
"""Every entry, grouped by library (the order of docs/allowlist.md)."""
