"""Opcode handlers of the symbolic pickle VM, one per opcode of protocols 0-5.

Each handler follows the matching ``load_*`` function of CPython's ``Modules/_pickle.c`` (and
notes where ``pickle._Unpickler``, which joblib uses, differs); :class:`~.machine.Machine`
dispatches on :data:`OPS`, which the driver hands to it. Handlers use only the machine's public API
(:meth:`~.machine.Machine.take`, :meth:`~.machine.Machine.line`, :meth:`~.machine.Machine.top`,
:meth:`~.machine.Machine.marker`, :meth:`~.machine.Machine.underflow`, ...). The commonest
opcodes also have inline fast paths in the machine's loop that must stay equivalent to these
handlers (a test runs every fixture with them off).
"""

from __future__ import annotations

import codecs
import struct
import sys
from collections.abc import Callable

from mlchain.scan.pickle import allowlist
from mlchain.scan.pickle.machine import (
    DEGRADED,
    NOT_BYTES_KINDS,
    Abort,
    Handler,
    Machine,
)
from mlchain.scan.pickle.values import (
    INLINE_BYTES,
    Blob,
    Call,
    Global,
    Persistent,
    SDict,
    SList,
    SSet,
    Unknown,
    render,
)

OPS: dict[int, Handler] = {}
"""Opcode byte -> handler (STOP is handled by the machine's loop itself)."""


def _op(code: bytes) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        OPS[code[0]] = func
        return func

    return register


@_op(b"(")
def _mark(m: Machine) -> None:
    m.marks.append(len(m.stack))


@_op(b"0")
def _pop_op(m: Machine) -> None:
    n = len(m.stack)
    if m.marks and m.marks[-1] == n:
        m.marks.pop()  # the C unpickler's POP also pops a MARK
    elif n <= m.fence:
        raise m.underflow()
    else:
        m.stack.pop()


@_op(b"1")
def _pop_mark(m: Machine) -> None:
    del m.stack[m.marker() :]


@_op(b"2")
def _dup(m: Machine) -> None:
    m.stack.append(m.top())


@_op(b"F")
def _float(m: Machine) -> None:
    text = m.line()
    try:
        m.stack.append(float(text))
    except ValueError:
        raise Abort("parse-error", f"invalid float literal {text[:40]!r}", m.op_at) from None


@_op(b"I")
def _int(m: Machine) -> None:
    text = m.line()
    if text in (b"00", b"01"):
        m.stack.append(text == b"01")
    else:
        m.stack.append(m.int_text(text))


@_op(b"J")
def _binint(m: Machine) -> None:
    m.stack.append(m.sint(4))


@_op(b"K")
def _binint1(m: Machine) -> None:
    m.stack.append(m.uint(1))


@_op(b"M")
def _binint2(m: Machine) -> None:
    m.stack.append(m.uint(2))


@_op(b"L")
def _long(m: Machine) -> None:
    m.stack.append(m.int_text(m.line(), long=True))


def _long_n(m: Machine, n: int) -> None:
    if n < 0:
        raise Abort("parse-error", "LONG pickle has negative byte count", m.op_at)
    if n > 512:
        m.take(n)
        m.stack.append(Unknown("big integer"))
    else:
        m.stack.append(int.from_bytes(m.arg(n), "little", signed=True) if n else 0)


@_op(b"\x8a")
def _long1(m: Machine) -> None:
    _long_n(m, m.uint(1))


@_op(b"\x8b")
def _long4(m: Machine) -> None:
    _long_n(m, m.sint(4))


@_op(b"N")
def _none(m: Machine) -> None:
    m.stack.append(None)


@_op(b"\x88")
def _true(m: Machine) -> None:
    m.stack.append(True)


@_op(b"\x89")
def _false(m: Machine) -> None:
    m.stack.append(False)


@_op(b"G")
def _binfloat(m: Machine) -> None:
    m.stack.append(struct.unpack(">d", m.arg(8))[0])


def _persistent(m: Machine, pid: object) -> None:
    if not m.persistent_seen:
        m.persistent_seen = True
        m.event(
            "pickle-persistent-id",
            "refers to external objects through persistent ids",
            m.op_at,
            render(pid),
        )
    m.stack.append(m.keep(Persistent(pid, m.op_at)))


@_op(b"P")
def _persid(m: Machine) -> None:
    line = m.line()
    try:
        pid = line.decode("ascii")
    except UnicodeDecodeError:
        raise Abort("parse-error", "persistent IDs in protocol 0 must be ASCII", m.op_at) from None
    _persistent(m, pid)


@_op(b"Q")
def _binpersid(m: Machine) -> None:
    _persistent(m, m.pop())


@_op(b"R")
def _reduce(m: Machine) -> None:
    args = m.pop()
    func = m.pop()
    m.stack.append(m.keep(m.call(func, args if isinstance(args, tuple) else (args,), "call")))


@_op(b"S")
def _string(m: Machine) -> None:
    start, end = m.line_span()
    if end - start > INLINE_BYTES:
        m.stack.append(Blob(start, end - start, "escape"))
        return
    line = bytes(m.data[start:end])
    if len(line) < 2 or line[:1] != line[-1:] or line[:1] not in (b"'", b'"'):
        raise Abort("parse-error", "the STRING opcode argument must be quoted", m.op_at)
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError as exc:
        raise Abort("parse-error", f"invalid STRING escape: {exc}", m.op_at) from None
    m.stack.append(raw.decode("latin-1"))


@_op(b"T")
def _binstring(m: Machine) -> None:
    n = m.sint(4)
    if n < 0:
        raise Abort("parse-error", "BINSTRING pickle has negative byte count", m.op_at)
    m.push_bytes(n, "ascii")


@_op(b"U")
def _short_binstring(m: Machine) -> None:
    m.push_bytes(m.uint(1), "ascii")


@_op(b"V")
def _unicode(m: Machine) -> None:
    start, end = m.line_span()
    if end - start > INLINE_BYTES:
        m.stack.append(Blob(start, end - start, "raw-unicode"))
        return
    line = bytes(m.data[start:end])
    try:
        m.stack.append(line.decode("raw_unicode_escape"))
    except UnicodeDecodeError as exc:
        raise Abort("parse-error", f"invalid UNICODE argument: {exc.reason}", m.op_at) from None


@_op(b"X")
def _binunicode(m: Machine) -> None:
    m.push_bytes(m.uint(4), "utf8")


@_op(b"\x8c")
def _short_binunicode(m: Machine) -> None:
    m.push_bytes(m.uint(1), "utf8")


@_op(b"\x8d")
def _binunicode8(m: Machine) -> None:
    m.push_bytes(m.uint(8), "utf8")


@_op(b"B")
def _binbytes(m: Machine) -> None:
    m.push_bytes(m.uint(4), "bytes")


@_op(b"C")
def _short_binbytes(m: Machine) -> None:
    m.push_bytes(m.uint(1), "bytes")


@_op(b"\x8e")
def _binbytes8(m: Machine) -> None:
    m.push_bytes(m.uint(8), "bytes")


@_op(b"\x96")
def _bytearray8(m: Machine) -> None:
    m.push_bytes(m.uint(8), "bytearray")


@_op(b")")
def _empty_tuple(m: Machine) -> None:
    m.stack.append(())


def _tuple_n(m: Machine, n: int) -> None:
    m.stack.append(m.keep(m.tuple_from(len(m.stack) - n)))


@_op(b"\x85")
def _tuple1(m: Machine) -> None:
    _tuple_n(m, 1)


@_op(b"\x86")
def _tuple2(m: Machine) -> None:
    _tuple_n(m, 2)


@_op(b"\x87")
def _tuple3(m: Machine) -> None:
    _tuple_n(m, 3)


@_op(b"t")
def _tuple(m: Machine) -> None:
    m.stack.append(m.keep(m.tuple_from(m.marker())))


@_op(b"]")
def _empty_list(m: Machine) -> None:
    m.stack.append(m.keep(SList()))


@_op(b"l")
def _list(m: Machine) -> None:
    m.stack.append(m.keep(SList(m.pop_from(m.marker()))))


@_op(b"}")
def _empty_dict(m: Machine) -> None:
    m.stack.append(m.keep(SDict()))


@_op(b"d")
def _dict(m: Machine) -> None:
    items = m.pop_from(m.marker())
    if len(items) % 2:
        raise Abort("parse-error", "odd number of items for DICT", m.op_at)
    d = SDict()
    for i in range(0, len(items), 2):
        d.set(items[i], items[i + 1])
    m.stack.append(m.keep(d))


@_op(b"\x8f")
def _empty_set(m: Machine) -> None:
    m.stack.append(m.keep(SSet()))


@_op(b"\x91")
def _frozenset(m: Machine) -> None:
    m.stack.append(m.keep(SSet(m.pop_from(m.marker()), frozen=True)))


def _do_append(m: Machine, x: int) -> None:
    n = len(m.stack)
    if x > n or x <= m.fence:
        raise m.underflow()
    if n == x:
        return
    items = m.stack[x:]
    del m.stack[x:]
    target = m.stack[x - 1]
    if isinstance(target, SList) and not isinstance(target, SSet):
        target.extend(items)
        return
    m.mutates(target)
    if isinstance(target, (Call, Persistent, Global)):
        # Not a list: the loader calls target.extend(...) or target.append(...).
        _container_call(m, target, "extend", items)


def _container_call(m: Machine, target: object, method: str, items: list[object]) -> None:
    cls = m.instance_class(target)
    if cls is not None and (cls.module, cls.name) in allowlist.SAFE_GLOBALS:
        return
    if isinstance(target, Global) or cls is None:
        m.event(
            "pickle-unknown-call",
            f"calls {method}() on an object that is not a container",
            m.op_at,
            f"{render(target, 80)}.{method}({render(tuple(items), 80)})",
        )


@_op(b"a")
def _append(m: Machine) -> None:
    _do_append(m, len(m.stack) - 1)


@_op(b"e")
def _appends(m: Machine) -> None:
    _do_append(m, m.marker())


def _do_setitems(m: Machine, x: int) -> None:
    n = len(m.stack)
    if x > n or x <= m.fence:
        raise m.underflow()
    if n == x:
        return
    if (n - x) % 2:
        raise Abort("parse-error", "odd number of items for SETITEMS", m.op_at)
    items = m.stack[x:]
    del m.stack[x:]
    target = m.stack[x - 1]
    if isinstance(target, SDict):
        target.set_many(items)
        return
    m.mutates(target)
    if isinstance(target, (Call, Persistent, Global)):
        _container_call(m, target, "__setitem__", items)


@_op(b"s")
def _setitem(m: Machine) -> None:
    _do_setitems(m, len(m.stack) - 2)


@_op(b"u")
def _setitems(m: Machine) -> None:
    _do_setitems(m, m.marker())


@_op(b"\x90")
def _additems(m: Machine) -> None:
    mark = m.marker()
    n = len(m.stack)
    if mark > n or mark <= m.fence:
        raise m.underflow()
    if n == mark:
        return
    items = m.stack[mark:]
    del m.stack[mark:]
    target = m.stack[mark - 1]
    if isinstance(target, SSet):
        target.extend(items)
        return
    m.mutates(target)
    if isinstance(target, (Call, Persistent, Global)):
        _container_call(m, target, "add", items)


@_op(b"b")
def _build(m: Machine) -> None:
    if len(m.stack) - 2 < m.fence:
        raise m.underflow()
    state = m.stack.pop()
    inst = m.stack[-1]
    if isinstance(inst, Global):
        m.event(
            "pickle-dangerous-call",
            f"BUILD sets attributes on the imported object {inst.qualname} (monkey-patching)",
            m.op_at,
            f"{inst.qualname}.__setstate__({render(state, 120)})",
        )
        return
    if inst is DEGRADED:
        return
    if isinstance(inst, (Persistent, Unknown)):
        m.event(
            "pickle-unknown-call",
            "BUILD calls __setstate__ on an object supplied from outside the pickle",
            m.op_at,
            f"{render(inst, 60)}.__setstate__({render(state, 100)})",
        )
        return
    if isinstance(inst, Call):
        if inst.hook is not None:
            # An earlier BUILD installed __setstate__: this BUILD calls it with the state.
            m.call(inst.hook, (state,), "call")
            return
        _check_slot_state(m, inst, state)
        inst.state = state
        cls = m.instance_class(inst)
        if cls is not None:
            m.reconstructs(cls)
            if m.joblib and (cls.module, cls.name) == (
                "joblib.numpy_pickle",
                "NumpyArrayWrapper",
            ):
                m.joblib_array(state)
                m.stack[-1] = Unknown("numpy array read by joblib")


def _check_slot_state(m: Machine, inst: Call, state: object) -> None:
    """BUILD's (state, slotstate) form runs setattr(inst, key, value) for every slot item."""
    slots = state[1] if isinstance(state, tuple) and len(state) == 2 else None
    if not isinstance(slots, SDict):
        return
    for key, value in slots.pairs:
        if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
            m.event(
                "pickle-dangerous-call",
                f"BUILD sets {key} on an object, replacing its behaviour",
                m.op_at,
                f"setattr({render(inst, 60)}, {key!r}, {render(value, 80)})",
            )
            if key == "__setstate__":
                inst.hook = value


@_op(b"c")
def _global_op(m: Machine) -> None:
    module = _decode_name(m, m.line(), "utf-8")
    name = _decode_name(m, m.line(), "utf-8")
    m.stack.append(m.find_class(module, name))


def _decode_name(m: Machine, raw: bytes, encoding: str) -> str:
    if not raw:
        raise Abort("parse-error", "pickle data was truncated (empty name)", m.op_at)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise Abort("parse-error", f"global name is not valid {encoding}", m.op_at) from None


@_op(b"\x93")
def _stack_global(m: Machine) -> None:
    name = m.pop()
    module = m.pop()
    if isinstance(name, Blob) and name.kind in NOT_BYTES_KINDS:
        name = bytes(m.data[name.start : name.start + name.length]).decode("utf-8", "replace")
    if isinstance(module, Blob) and module.kind in NOT_BYTES_KINDS:
        module = bytes(m.data[module.start : module.start + module.length]).decode(
            "utf-8", "replace"
        )
    if isinstance(name, str) and isinstance(module, str):
        m.stack.append(m.find_class(module, name))
        return
    if isinstance(name, (bytes, bytearray, int, float, tuple, SList, SDict, SSet, Blob)) or (
        name is None
    ):
        raise Abort("parse-error", "STACK_GLOBAL requires str", m.op_at)
    if isinstance(module, (bytes, bytearray, int, float, tuple, SList, SDict, SSet, Blob)) or (
        module is None
    ):
        raise Abort("parse-error", "STACK_GLOBAL requires str", m.op_at)
    # Names computed at load time: nothing can vouch for what gets imported.
    m.event(
        "pickle-unknown-import",
        "imports a global whose module or name is computed at load time",
        m.op_at,
        f"{render(module, 80)} . {render(name, 80)}",
    )
    m.stack.append(Unknown("dynamically imported global"))


@_op(b"i")
def _inst(m: Machine) -> None:
    # The C unpickler looks for the MARK first; pickle._Unpickler (joblib's) imports first.
    module = _decode_name(m, m.line(), "ascii")
    name = _decode_name(m, m.line(), "ascii")
    cls = m.find_class(module, name)
    args = m.tuple_from(m.marker())
    m.stack.append(m.keep(_instantiate(m, cls, args)))


def _instantiate(m: Machine, cls: object, args: tuple[object, ...]) -> Call:
    # instantiate(): no args and a type -> cls.__new__(cls); otherwise cls(*args).
    if not args and isinstance(cls, Global) and allowlist.looks_like_class(cls.name):
        return m.call(cls, args, "new")
    return m.call(cls, args, "call")


@_op(b"o")
def _obj(m: Machine) -> None:
    mark = m.marker()
    if len(m.stack) - mark < 1:
        raise m.underflow()
    args = m.tuple_from(mark + 1)
    cls = m.pop()
    m.stack.append(m.keep(_instantiate(m, cls, args)))


@_op(b"\x81")
def _newobj(m: Machine) -> None:
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.keep(m.call(cls, args if isinstance(args, tuple) else (args,), "new")))


@_op(b"\x92")
def _newobj_ex(m: Machine) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    full = (*args, kwargs) if isinstance(args, tuple) else (args, kwargs)
    m.stack.append(m.keep(m.call(cls, full, "new")))


def _ext(m: Machine, code: int) -> None:
    if code <= 0:
        raise Abort("parse-error", "EXT specifies code <= 0", m.op_at)
    m.event(
        "pickle-extension-code",
        f"imports extension code {code} from the loading process's copyreg registry",
        m.op_at,
        f"EXT {code}",
    )
    m.stack.append(Unknown(f"extension object {code}"))


@_op(b"\x82")
def _ext1(m: Machine) -> None:
    _ext(m, m.uint(1))


@_op(b"\x83")
def _ext2(m: Machine) -> None:
    _ext(m, m.uint(2))


@_op(b"\x84")
def _ext4(m: Machine) -> None:
    _ext(m, m.sint(4))


@_op(b"g")
def _get(m: Machine) -> None:
    m.memo_get(_memo_key(m, m.line()))


def _memo_key(m: Machine, text: bytes) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise Abort("parse-error", f"invalid memo key {text[:40]!r}", m.op_at) from None


@_op(b"h")
def _binget(m: Machine) -> None:
    m.memo_get(m.uint(1))


@_op(b"j")
def _long_binget(m: Machine) -> None:
    m.memo_get(m.uint(4))


@_op(b"p")
def _put(m: Machine) -> None:
    key = _memo_key(m, m.line())
    if key < 0:
        raise Abort("parse-error", "negative PUT argument", m.op_at)
    m.memo_put(key, m.top())


@_op(b"q")
def _binput(m: Machine) -> None:
    key = m.uint(1)
    m.memo_put(key, m.top())


@_op(b"r")
def _long_binput(m: Machine) -> None:
    key = m.uint(4)
    m.memo_put(key, m.top())


@_op(b"\x94")
def _memoize(m: Machine) -> None:
    m.memo_put(len(m.memo), m.top())


@_op(b"\x80")
def _proto(m: Machine) -> None:
    proto = m.uint(1)
    if proto > 5:
        raise Abort("parse-error", f"unsupported pickle protocol: {proto}", m.op_at)
    m.proto = proto


@_op(b"\x95")
def _frame(m: Machine) -> None:
    n = m.uint(8)
    if n > sys.maxsize:
        raise Abort("parse-error", "FRAME length exceeds the platform maximum", m.op_at)
    pos = m.pos
    fe = m.frame_end
    if fe is not None and pos < fe:
        if pos + n <= fe:
            m.diverge("FRAME starts inside another frame")
            if m.hard:
                return  # the C unpickler finds the bytes in its buffer and keeps it
        elif not m.hard:
            m.diverge("FRAME starts inside another frame and runs past it")
        elif m.decide(2) == 0:
            m.pos = pos = fe  # the rest of the old buffer is dropped
    if pos + n > m.end:
        if m.end < m.real_end:
            raise m.truncated(f"FRAME of {n} bytes")
        # The C unpickler stops here; pickle._Unpickler (joblib's) reads the short frame on.
        m.event("parse-error", f"FRAME of {n} bytes runs past the end of the data", m.op_at)
        n = m.end - pos
    m.set_frame(pos + n)


@_op(b"\x97")
def _next_buffer(m: Machine) -> None:
    m.stack.append(Unknown("out-of-band buffer"))


@_op(b"\x98")
def _readonly_buffer(m: Machine) -> None:
    m.top()
