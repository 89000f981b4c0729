"""The versioned allowlist of inert pickle globals, and the reconstruction-only libraries.

Allowlist beats blocklist: a global on this list produces no finding; anything else is reported
(high, or critical when :mod:`mlchain.scan.pickle.dangerous` knows why). Entries are exact
``(module, qualname)`` pairs as ``find_class`` receives them; there are no wildcards, because
one function in an "inert" package is enough for a gadget.

Users extend the list only with ``--allow-global module.name`` (``ScanOptions.allow_globals``),
never from a file shipped next to the model. Bump :data:`ALLOWLIST_VERSION` on every change: it
is recorded in reports so a verdict can be traced to the list that produced it.
"""

from __future__ import annotations

ALLOWLIST_VERSION = "2026.11.3"

_BUILTIN_VALUES = (
    "bool",
    "bytearray",
    "bytes",
    "complex",
    "dict",
    "float",
    "frozenset",
    "int",
    "list",
    "range",
    "set",
    "slice",
    "str",
    "tuple",
    "NoneType",
    "Ellipsis",
    "NotImplemented",
    "object",
    # Exceptions are inert values that appear in pickled training state and results.
    "Exception",
    "ValueError",
    "KeyError",
    "IndexError",
    "TypeError",
    "RuntimeError",
    "AttributeError",
    "StopIteration",
)

_TORCH = (
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_qtensor",
    "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout",
    "torch.Size",
    "torch.device",
    "torch.dtype",
    "torch.Tensor",
    "torch.nn.parameter.Parameter",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.storage._load_from_bytes",
    "torch.per_tensor_affine",
    "torch.per_channel_affine",
    "torch.contiguous_format",
    "torch.channels_last",
    "torch.preserve_format",
    "torch.strided",
    "torch.sparse_coo",
)
# Legacy typed storages and dtypes are plain names on the torch module.
_TORCH_STORAGES = (
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
_TORCH_DTYPES = (
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

_NUMPY = (
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.ma.core._mareconstruct",
    "numpy.ma.core.MaskedArray",
    "numpy.core.records.recarray",
    "numpy._core.records.recarray",
    "numpy.recarray",
    "numpy.core.records.record",
    "numpy.record",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random.mtrand._rand",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random._generator.Generator",
    "numpy.ma.MaskedArray",
    "numpy.rec.recarray",
    "numpy.dtypes.Float64DType",
    "numpy.dtypes.Float32DType",
    "numpy.dtypes.Int64DType",
    "numpy.dtypes.Int32DType",
)
_NUMPY_SCALARS = (
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
    "void",
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

_STDLIB = (
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
    "collections.deque",
    "collections.ChainMap",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    "uuid.SafeUUID",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "enum.Enum",
    "re._compile",
    "ipaddress.IPv4Address",
    "ipaddress.IPv6Address",
    "zoneinfo.ZoneInfo",
    "argparse.Namespace",
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "logging.getLogger",
    "types.SimpleNamespace",
    "_codecs.encode",
)

_JOBLIB = ("joblib.numpy_pickle.NumpyArrayWrapper",)


def _split(qualified: str) -> tuple[str, str]:
    module, _, name = qualified.rpartition(".")
    return module, name


SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in _BUILTIN_VALUES}
    | {("__builtin__", n) for n in _BUILTIN_VALUES}
    | {_split(q) for q in (*_TORCH, *_NUMPY, *_STDLIB, *_JOBLIB)}
    | {("torch", f"{n}Storage") for n in _TORCH_STORAGES}
    | {("torch", n) for n in _TORCH_DTYPES}
    | {("numpy", n) for n in _NUMPY_SCALARS}
)
"""Exact ``(module, qualname)`` pairs that reconstruct inert values."""

CONDITIONAL_GLOBALS: frozenset[tuple[str, str]] = frozenset({("_codecs", "encode")})
"""Allowlisted only in the shape their libraries use; the VM checks the arguments."""

RECONSTRUCT_PREFIXES: tuple[str, ...] = (
    "torch.nn.",
    "torch.optim.",
    "torch.ao.nn.",
    "torch.nn.modules.",
    "torchvision.models.",
    "torchvision.transforms.",
    "torchvision.ops.",
    "transformers.models.",
    "transformers.configuration_utils",
    "transformers.tokenization_utils",
    "transformers.generation.configuration_utils",
    "sklearn.",
    "scipy.sparse.",
    "xgboost.",
    "lightgbm.",
    "catboost.",
    "numpy.",
    "pandas.core.",
    "timm.models.",
    "ultralytics.nn.",
    "ultralytics.utils.",
    "peft.tuners.",
    "collections.",
)
"""Module prefixes of well-known ML libraries whose classes may be rebuilt without calls.

Reconstructing one of their classes (NEWOBJ, copyreg reconstruction, BUILD with a state) is
reported as low ``pickle-class-reconstruction``; calling one of their functions stays high.
"""


def is_allowlisted(module: str, name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether ``module.name`` is on the built-in allowlist or was allowed by the user."""
    return (module, name) in SAFE_GLOBALS or f"{module}.{name}" in extra


def is_reconstructable(module: str, name: str) -> bool:
    """Whether ``module.name`` belongs to a library whose classes may be rebuilt (not called)."""
    full = f"{module}."
    return "." not in name and not name.startswith("_") and full.startswith(RECONSTRUCT_PREFIXES)


def looks_like_class(name: str) -> bool:
    """PEP 8 heuristic: a CapWords final name is a class, a lower-case one a function."""
    last = name.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper()
