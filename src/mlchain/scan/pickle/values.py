"""Symbolic values of the pickle VM, and their rendering as evidence.

Constants (``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``) and tuples are plain Python
values, so the common case allocates nothing extra. Everything whose real value only exists at
load time (imported globals, call results, persistent ids) is a small slotted object. Containers
keep a bounded prefix of their items: pickle opcodes cannot read items back out of a container,
so the prefix only serves evidence and library metadata (numpy dtypes, joblib wrappers).
"""

from __future__ import annotations

MAX_ITEMS = 64
"""Items kept per list, dict or set; the rest are counted, not stored."""

INLINE_BYTES = 4096
"""Strings and bytes longer than this stay in the input as a :class:`Blob` (no copy)."""


class Global:
    """An object ``find_class(module, name)`` returns."""

    __slots__ = ("module", "name", "offset")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset

    @property
    def qualname(self) -> str:
        """``module.name`` as users write it."""
        return f"{self.module}.{self.name}"


class Call:
    """The result of calling or instantiating ``func`` (REDUCE, INST, OBJ, NEWOBJ, ...)."""

    __slots__ = ("args", "func", "hook", "kind", "offset", "state")

    def __init__(self, func: object, args: tuple[object, ...], kind: str, offset: int) -> None:
        self.func = func
        self.args = args
        self.kind = kind
        """``call`` (a real call), ``new`` (``cls.__new__`` only) or ``reconstruct``."""
        self.offset = offset
        self.state: object = None
        """Argument of the last BUILD applied to this object."""
        self.hook: object = None
        """A ``__setstate__`` installed on this object by an earlier BUILD's slot state."""


class Persistent:
    """What the loader's ``persistent_load(pid)`` returns."""

    __slots__ = ("offset", "pid")

    def __init__(self, pid: object, offset: int) -> None:
        self.pid = pid
        self.offset = offset


class Unknown:
    """A value the VM cannot know (extension registry entries, out-of-band buffers, arrays)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


class Blob:
    """A long string or bytes constant, left in the input: ``data[start:start + length]``."""

    __slots__ = ("kind", "length", "start")

    def __init__(self, start: int, length: int, kind: str) -> None:
        self.start = start
        self.length = length
        self.kind = kind
        """``bytes``, ``bytearray``, ``utf8``, ``ascii``, ``escape`` or ``raw-unicode``."""


class SList:
    """A list (or a list-like object the loader appends to)."""

    __slots__ = ("count", "items")

    def __init__(self, items: list[object] | None = None) -> None:
        self.items: list[object] = []
        self.count = 0
        if items:
            self.extend(items)

    def extend(self, items: list[object] | tuple[object, ...]) -> None:
        """Append items, keeping at most :data:`MAX_ITEMS`."""
        room = MAX_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(items[:room])
        self.count += len(items)


class SSet(SList):
    """A set or frozenset."""

    __slots__ = ("frozen",)

    def __init__(self, items: list[object] | None = None, *, frozen: bool = False) -> None:
        super().__init__(items)
        self.frozen = frozen


class SDict:
    """A dict (or a mapping the loader sets items on); keeps the first pairs."""

    __slots__ = ("count", "keys", "pairs")

    def __init__(self) -> None:
        self.pairs: list[tuple[object, object]] = []
        self.keys: dict[str, int] = {}
        self.count = 0

    def set(self, key: object, value: object) -> None:
        """Record ``self[key] = value``; a repeated string key overwrites its pair."""
        self.count += 1
        if type(key) is str:
            at = self.keys.get(key)
            if at is not None:
                self.pairs[at] = (key, value)
                return
            if len(self.pairs) < MAX_ITEMS:
                self.keys[key] = len(self.pairs)
                self.pairs.append((key, value))
        elif len(self.pairs) < MAX_ITEMS:
            self.pairs.append((key, value))

    def set_many(self, items: list[object]) -> None:
        """Record ``self[k] = v`` for the flat ``[k0, v0, k1, v1, ...]`` list (SETITEMS)."""
        pairs = self.pairs
        keys = self.keys
        for i in range(0, len(items) - 1, 2):
            key = items[i]
            if type(key) is str:
                at = keys.get(key)
                if at is not None:
                    pairs[at] = (key, items[i + 1])
                    continue
                if len(pairs) < MAX_ITEMS:
                    keys[key] = len(pairs)
                    pairs.append((key, items[i + 1]))
            elif len(pairs) < MAX_ITEMS:
                pairs.append((key, items[i + 1]))
        self.count += len(items) // 2

    def get(self, key: str) -> object:
        """Value of a constant string key, or ``None``."""
        at = self.keys.get(key)
        return None if at is None else self.pairs[at][1]

    def has(self, key: str) -> bool:
        """Whether a constant string key was set."""
        return key in self.keys


def render(value: object, budget: int = 200, depth: int = 0) -> str:
    """Render a symbolic value as Python-like source, e.g. ``os.system('touch /tmp/x')``.

    The output is bounded by ``budget`` characters and nesting depth; callers still pass it
    through :func:`mlchain.sanitize.clean` before it becomes evidence.
    """
    if depth > 6 or budget <= 0:
        return "…"
    if isinstance(value, (str, bytes, bytearray)):
        text = repr(value[:budget])
        return text if len(value) <= budget else text + "…"
    if value is None or isinstance(value, (bool, int, float, complex)):
        text = repr(value)
        return text if len(text) <= budget else text[:budget] + "…"
    if isinstance(value, Global):
        return value.qualname
    if isinstance(value, Call):
        func = render(value.func, budget, depth + 1)
        if value.kind == "new":
            func += ".__new__"
        args = _render_seq(value.args, budget - len(func), depth)
        return f"{func}({args})"
    if isinstance(value, tuple):
        inner = _render_seq(value, budget, depth)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, SSet):
        inner = _render_seq(value.items, budget, depth, value.count)
        return f"frozenset({{{inner}}})" if value.frozen else f"{{{inner}}}"
    if isinstance(value, SList):
        return f"[{_render_seq(value.items, budget, depth, value.count)}]"
    if isinstance(value, SDict):
        parts: list[str] = []
        used = 0
        for key, item in value.pairs:
            if used > budget:
                parts.append("…")
                break
            part = f"{render(key, 40, depth + 1)}: {render(item, budget - used, depth + 1)}"
            parts.append(part)
            used += len(part) + 2
        if value.count > len(value.pairs) and parts[-1:] != ["…"]:
            parts.append("…")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, Persistent):
        return f"persistent_load({render(value.pid, budget, depth + 1)})"
    if isinstance(value, Blob):
        return f"<{value.kind} of {value.length} bytes at offset {value.start}>"
    if isinstance(value, Unknown):
        return f"<{value.what}>"
    return "<?>"


def _render_seq(
    items: tuple[object, ...] | list[object], budget: int, depth: int, count: int | None = None
) -> str:
    parts: list[str] = []
    used = 0
    for item in items:
        if used > budget:
            parts.append("…")
            break
        part = render(item, max(budget - used, 8), depth + 1)
        parts.append(part)
        used += len(part) + 2
    else:
        if count is not None and count > len(items):
            parts.append("…")
    return ", ".join(parts)


def root_global(value: object, depth: int = 0) -> Global | None:
    """The global a callable ultimately comes from: ``getattr(x, 'y')`` -> ``builtins.getattr``."""
    while depth < 32:
        if isinstance(value, Global):
            return value
        if isinstance(value, Call):
            value = value.func
            depth += 1
            continue
        return None
    return None
