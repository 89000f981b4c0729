"""Known-dangerous pickle globals: what turns a pickle into code execution, with the reason.

This list only *grades* findings (critical instead of high) and explains them; it never decides
that something is safe. Anything not on the allowlist (:mod:`mlchain.scan.pickle.allowlist`) is
reported whether or not it appears here, so a gap in this list costs severity, never detection.

Module entries match the module and every submodule (``asyncio`` covers ``asyncio.unix_events``:
the exact-match mistake of CVE-2025-10157). Dotted names (``pathlib`` + ``os.system``) are judged
by every segment, because protocol 4 resolves them with a getattr chain.
"""

from __future__ import annotations

from dataclasses import dataclass

_EXEC = "runs arbitrary code"
_PROC = "starts processes or runs shell commands"
_FILES = "reads, writes or deletes files"
_NET = "opens network connections"
_LOAD = "deserializes more data, possibly another pickle"
_IMPORT = "imports or resolves arbitrary modules and names"
_REFLECT = "reaches arbitrary attributes or objects (a gadget for any other call)"
_TAMPER = "tampers with the scanner or the running interpreter"
_DEBUG = "runs code through a debugger, profiler or interactive console"
_PRIVATE = "reaches private interpreter internals"

DANGEROUS_MODULES: dict[str, str] = {
    "os": _PROC,
    "posix": _PROC,
    "nt": _PROC,
    "subprocess": _PROC,
    "pty": _PROC,
    "commands": _PROC,
    "popen2": _PROC,
    "_posixsubprocess": _PROC,
    "spawn": _PROC,
    "multiprocessing": _PROC,
    "_multiprocessing": _PROC,
    "concurrent": _PROC,
    "asyncio": _PROC,
    "_winapi": _PROC,
    "msvcrt": _PROC,
    "signal": _PROC,
    "_signal": _PROC,
    "threading": _EXEC,
    "_thread": _EXEC,
    "code": _EXEC,
    "codeop": _EXEC,
    "runpy": _EXEC,
    "timeit": _EXEC,
    "trace": _DEBUG,
    "profile": _DEBUG,
    "cProfile": _DEBUG,
    "_lsprof": _DEBUG,
    "pdb": _DEBUG,
    "bdb": _DEBUG,
    "doctest": _EXEC,
    "pydoc": _EXEC,
    "pydoc_data": _EXEC,
    "idlelib": _EXEC,
    "lib2to3": _EXEC,
    "cgitb": _EXEC,
    "rlcompleter": _EXEC,
    "_interpreters": _EXEC,
    "_xxsubinterpreters": _EXEC,
    "interpreters": _EXEC,
    "concurrent.interpreters": _EXEC,
    "ctypes": _EXEC,
    "_ctypes": _EXEC,
    "cffi": _EXEC,
    "importlib": _IMPORT,
    "_imp": _IMPORT,
    "imp": _IMPORT,
    "zipimport": _IMPORT,
    "pkgutil": _IMPORT,
    "sys": _TAMPER,
    "gc": _REFLECT,
    "inspect": _REFLECT,
    "types": _REFLECT,
    "operator": _REFLECT,
    "_operator": _REFLECT,
    "functools": _REFLECT,
    "_functools": _REFLECT,
    "itertools": _REFLECT,
    "copyreg": _REFLECT,
    "weakref": _REFLECT,
    "ast": _EXEC,
    "dis": _REFLECT,
    "site": _IMPORT,
    "sitecustomize": _IMPORT,
    "usercustomize": _IMPORT,
    "venv": _PROC,
    "ensurepip": _PROC,
    "pip": _PROC,
    "distutils": _PROC,
    "setuptools": _PROC,
    "pkg_resources": _IMPORT,
    "_distutils_hack": _IMPORT,
    "webbrowser": _PROC,
    "antigravity": _PROC,
    "this": _TAMPER,
    "turtle": _EXEC,
    "tkinter": _EXEC,
    "_tkinter": _EXEC,
    "socket": _NET,
    "_socket": _NET,
    "socketserver": _NET,
    "ssl": _NET,
    "_ssl": _NET,
    "select": _NET,
    "selectors": _NET,
    "urllib": _NET,
    "urllib2": _NET,
    "urllib3": _NET,
    "http": _NET,
    "httplib": _NET,
    "httpx": _NET,
    "requests": _NET,
    "aiohttp": _NET,
    "ftplib": _NET,
    "smtplib": _NET,
    "smtpd": _NET,
    "poplib": _NET,
    "imaplib": _NET,
    "nntplib": _NET,
    "telnetlib": _NET,
    "xmlrpc": _NET,
    "wsgiref": _NET,
    "asynchat": _NET,
    "asyncore": _NET,
    "paramiko": _NET,
    "shutil": _FILES,
    "io": _FILES,
    "_io": _FILES,
    "_pyio": _FILES,
    "tempfile": _FILES,
    "fileinput": _FILES,
    "filecmp": _FILES,
    "glob": _FILES,
    "pathlib": _FILES,
    "linecache": _FILES,
    "mmap": _FILES,
    "zipfile": _FILES,
    "tarfile": _FILES,
    "gzip": _FILES,
    "bz2": _FILES,
    "lzma": _FILES,
    "dbm": _FILES,
    "sqlite3": _FILES,
    "logging": _FILES,
    "mailbox": _FILES,
    "codecs": _FILES,
    "encodings": _FILES,
    "uuid": _PROC,
    "_osx_support": _PROC,
    "_aix_support": _PROC,
    "platform": _PROC,
    "ctypes.util": _PROC,
    "pickle": _LOAD,
    "_pickle": _LOAD,
    "cPickle": _LOAD,
    "pickletools": _LOAD,
    "dill": _LOAD,
    "cloudpickle": _LOAD,
    "marshal": _LOAD,
    "shelve": _LOAD,
    "jsonpickle": _LOAD,
    "joblib": _LOAD,
    "yaml": _LOAD,
    "fickling": _TAMPER,
    "picklescan": _TAMPER,
    "modelscan": _TAMPER,
    "modelaudit": _TAMPER,
    "mlchain": _TAMPER,
    "builtins": _EXEC,
    "__builtin__": _EXEC,
    "torch.jit": _EXEC,
    "torch._dynamo": _EXEC,
    "torch._inductor": _EXEC,
    "torch.fx": _EXEC,
    "torch.hub": _NET,
    "torch.utils.cpp_extension": _EXEC,
    "torch.utils.bottleneck": _EXEC,
    "torch.utils.collect_env": _PROC,
    "torch.utils.data": _EXEC,
    "torch.distributed": _NET,
    "torch.package": _LOAD,
    "torch.serialization": _LOAD,
    "torch.ops": _EXEC,
    "torch._ops": _EXEC,
    "torch._C": _EXEC,
    "torch.testing": _EXEC,
    "torch.multiprocessing": _PROC,
    "torch.onnx": _FILES,
    "torch.utils.tensorboard": _FILES,
    "torch.utils.model_zoo": _NET,
    "torch.compiler": _EXEC,
    "numpy.f2py": _EXEC,
    "numpy.distutils": _PROC,
    "numpy.testing": _PROC,
    "numpy.lib.npyio": _LOAD,
    "numpy.lib.format": _LOAD,
    "numpy.lib._npyio_impl": _LOAD,
    "numpy.ctypeslib": _EXEC,
    "numpy.lib.utils": _EXEC,
    "keras": _EXEC,
    "tensorflow": _EXEC,
    "jinja2": _EXEC,
    "IPython": _EXEC,
    "sympy": _EXEC,
    "pandas.io": _FILES,
    "scipy.io": _FILES,
    "sklearn.utils._testing": _EXEC,
    "transformers.dynamic_module_utils": _EXEC,
    "huggingface_hub": _NET,
}
"""Modules (and all their submodules) whose every global is treated as dangerous."""

DANGEROUS_GLOBALS: dict[tuple[str, str], str] = {
    ("builtins", "eval"): _EXEC,
    ("builtins", "exec"): _EXEC,
    ("builtins", "compile"): _EXEC,
    ("builtins", "open"): _FILES,
    ("builtins", "__import__"): _IMPORT,
    ("builtins", "getattr"): _REFLECT,
    ("builtins", "setattr"): _TAMPER,
    ("builtins", "delattr"): _TAMPER,
    ("builtins", "globals"): _REFLECT,
    ("builtins", "locals"): _REFLECT,
    ("builtins", "vars"): _REFLECT,
    ("builtins", "breakpoint"): _DEBUG,
    ("builtins", "input"): _DEBUG,
    ("builtins", "help"): _DEBUG,
    ("builtins", "exit"): _TAMPER,
    ("builtins", "quit"): _TAMPER,
    ("builtins", "memoryview"): _REFLECT,
    ("builtins", "type"): _REFLECT,
    ("builtins", "super"): _REFLECT,
    ("builtins", "classmethod"): _REFLECT,
    ("builtins", "staticmethod"): _REFLECT,
    ("builtins", "property"): _REFLECT,
    ("builtins", "map"): _REFLECT,
    ("builtins", "filter"): _REFLECT,
    ("builtins", "print"): _TAMPER,
    ("builtins", "execfile"): _EXEC,
    ("builtins", "reload"): _IMPORT,
    ("torch", "load"): _LOAD,
    ("torch", "from_file"): _FILES,
    ("torch", "compile"): _EXEC,
    ("torch", "save"): _FILES,
    ("numpy", "load"): _LOAD,
    ("numpy", "loads"): _LOAD,
    ("numpy", "loadtxt"): _FILES,
    ("numpy", "fromfile"): _FILES,
    ("numpy", "memmap"): _FILES,
    ("numpy", "save"): _FILES,
    ("numpy.core.numeric", "load"): _LOAD,
    ("numpy.core.numeric", "loads"): _LOAD,
    ("numpy.core.multiarray", "fromfile"): _FILES,
    ("numpy._core.multiarray", "fromfile"): _FILES,
    ("pandas", "read_pickle"): _LOAD,
    ("pandas", "eval"): _EXEC,
    ("pandas.core.computation.eval", "eval"): _EXEC,
}
"""Individual dangerous globals in otherwise unremarkable modules."""

# Attribute names that reach the interpreter's internals whatever object they hang off.
DANGEROUS_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "__builtins__",
        "__globals__",
        "__dict__",
        "__class__",
        "__base__",
        "__bases__",
        "__mro__",
        "__subclasses__",
        "__import__",
        "__loader__",
        "__spec__",
        "__code__",
        "__closure__",
        "__func__",
        "__self__",
        "__module__",
        "__getattribute__",
        "__getattr__",
        "__setattr__",
        "__reduce__",
        "__reduce_ex__",
        "__init__",
        "__new__",
        "__call__",
        "f_globals",
        "f_locals",
        "gi_frame",
        "modules",
    }
)

# Final names that run code or commands in any module; used for dotted names and for
# modules we know nothing about.
DANGEROUS_NAMES: frozenset[str] = frozenset(
    {
        "system",
        "popen",
        "Popen",
        "exec",
        "eval",
        "compile",
        "execfile",
        "execv",
        "execve",
        "execvp",
        "spawn",
        "spawnv",
        "spawnl",
        "posix_spawn",
        "check_output",
        "check_call",
        "getoutput",
        "getstatusoutput",
        "run_path",
        "run_module",
        "import_module",
        "__import__",
        "load",
        "loads",
        "getattr",
        "setattr",
        "attrgetter",
        "methodcaller",
        "resolve_name",
        "rmtree",
        "unlink",
        "remove",
        "open",
        "urlopen",
        "main",
        "runcode",
        "runsource",
        "timeit",
        "runctx",
        "runcall",
        "create_connection",
    }
)

NESTED_LOADERS: frozenset[tuple[str, str]] = frozenset(
    {
        ("pickle", "loads"),
        ("pickle", "load"),
        ("pickle", "_loads"),
        ("pickle", "_load"),
        ("_pickle", "loads"),
        ("_pickle", "load"),
        ("cPickle", "loads"),
        ("cPickle", "load"),
        ("dill", "loads"),
        ("dill", "load"),
        ("dill._dill", "loads"),
        ("cloudpickle", "loads"),
        ("cloudpickle", "load"),
        ("numpy", "loads"),
        ("numpy", "load"),
        ("numpy.core.numeric", "loads"),
        ("torch", "load"),
        ("torch.serialization", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("joblib", "load"),
        ("joblib.numpy_pickle", "load"),
        ("pandas", "read_pickle"),
        ("pandas.io.pickle", "read_pickle"),
        ("dill._dill", "load"),
        ("numpy.lib.npyio", "load"),
        ("numpy.lib.format", "read_array"),
    }
)
"""Callables that deserialize a pickle from their first argument (bytes or a BytesIO)."""


@dataclass(frozen=True, slots=True)
class Danger:
    """Why a global is dangerous: the matched entry and the effect it has."""

    matched: str
    reason: str


def _module_match(module: str) -> Danger | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        reason = DANGEROUS_MODULES.get(prefix)
        if reason is not None:
            return Danger(prefix, reason)
    return None


def danger_of(module: str, name: str) -> Danger | None:
    """Return why ``module.name`` is dangerous, or ``None`` when it is not known to be.

    ``builtins`` is special: its inert members (``dict``, ``list``, ...) live on the allowlist,
    which is consulted first, so anything else from it reaching this point is dangerous.
    """
    exact = DANGEROUS_GLOBALS.get((module, name))
    if exact is not None:
        return Danger(f"{module}.{name}", exact)
    segments = name.split(".")
    if len(segments) > 1:
        # Dotted names resolve by getattr chains: pathlib + os.system reaches os.system.
        for i, segment in enumerate(segments):
            owner = ".".join([module, *segments[:i]])
            exact = DANGEROUS_GLOBALS.get((owner, segment))
            if exact is not None:
                return Danger(f"{owner}.{segment}", exact)
            if segment in DANGEROUS_ATTRIBUTES:
                return Danger(f"{owner}.{segment}", _REFLECT)
            via = _module_match(segment) if i < len(segments) - 1 else None
            if via is not None:
                return Danger(f"{owner}.{segment}", via.reason)
        if segments[-1] in DANGEROUS_NAMES:
            return Danger(f"{module}.{name}", _EXEC)
    elif name in DANGEROUS_ATTRIBUTES:
        return Danger(f"{module}.{name}", _REFLECT)
    matched = _module_match(module)
    if matched is None and module.startswith("_") and module != "__main__":
        # Private and dunder top-level modules are interpreter internals (_interpreters,
        # _posixsubprocess, ...); the inert ones pickles need are on the allowlist. Classes
        # of the saving script (__main__.Net) stay unknown imports (high), not critical.
        return Danger(module.split(".")[0], _PRIVATE)
    return matched


def is_nested_loader(module: str, name: str) -> bool:
    """Whether calling ``module.name`` deserializes a pickle from its first argument."""
    return (module, name) in NESTED_LOADERS
