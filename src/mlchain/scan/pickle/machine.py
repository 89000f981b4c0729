"""One pass of the symbolic pickle VM over one stream: the machine the opcode handlers drive.

:class:`Machine` holds the loader's state (object stack with its mark stack and fence, memo,
framing, protocol) and the primitives the handlers in :mod:`.opcodes` call through a public,
named API: reading arguments (:meth:`~Machine.take`, :meth:`~Machine.arg`, :meth:`~Machine.line`),
the stack (:meth:`~Machine.pop`, :meth:`~Machine.top`, :meth:`~Machine.marker`,
:meth:`~Machine.underflow`), the memo, globals and calls (:meth:`~Machine.find_class`,
:meth:`~Machine.call`) and evidence (:meth:`~Machine.event`). The opcode table and the recursion
into nested pickles are handed in, so this module imports neither the handlers nor the driver
(:mod:`.vm`); grading the globals a pass saw is :mod:`.verdict`'s job.

The design of the whole VM (framing, readings, joblib arrays, limits) is described in :mod:`.vm`.
"""

from __future__ import annotations

import mmap
import struct
import sys
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.pickle import allowlist, dangerous
from mlchain.scan.pickle.evaluate import OPAQUE, evaluate, freeze, needs_snapshot
from mlchain.scan.pickle.values import (
    INLINE_BYTES,
    Blob,
    Call,
    Global,
    SDict,
    SList,
    Unknown,
    render,
    root_global,
)

Buffer = bytes | bytearray | memoryview | mmap.mmap

Handler = Callable[["Machine"], None]
"""An opcode handler: reads its argument and updates the machine, or raises :class:`Abort`."""

NestedScan = Callable[[Buffer, Location, ScanContext, int, int, int], tuple[list[Finding], str]]
"""Scan ``buf[lo:hi]``, handed to a nested deserializer, at ``depth``: ``(buf, location, ctx, lo,
hi, depth) -> (findings, what the bytes were read as)``, e.g. ``"pickle"`` or
:data:`LEGACY_TORCH`. The driver hands it in; the machine calls it for nested deserializers."""

LEGACY_TORCH = "legacy torch serialization"
"""What :data:`NestedScan` reports for bytes read as a legacy ``torch.save`` file."""

_TORCH_TENSOR_LOADERS = frozenset({("torch.storage", "_load_from_bytes")})
"""Nested loaders that pickled tensors use: a clean legacy torch file passed to them is low."""

MAX_FINDINGS = 500
"""Distinct findings kept per scanned stream; the rest are summarised in one finding."""

_TUPLE_KEEP = 256
DEGRADED = Unknown("object not tracked (object budget exhausted)")
NOT_BYTES_KINDS = frozenset({"utf8", "ascii", "escape", "raw-unicode"})
_NESTED_MEMBER = "nested-pickle@{offset}"
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_DOUBLE = struct.Struct(">d")
_BYTES_IO = frozenset({("io", "BytesIO"), ("_io", "BytesIO")})


class Abort(Exception):
    """Ends the current pickle: the loader would raise here (or a limit was hit)."""

    def __init__(self, rule: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.offset = offset


class Usage:
    """How one global was used across the stream."""

    __slots__ = ("bad_use", "call", "calls", "offset", "reconstructed")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.calls = 0
        self.call: Call | None = None
        self.reconstructed = 0
        self.bad_use: Call | None = None


class Event:
    """One piece of evidence a pass recorded; becomes one finding."""

    __slots__ = ("count", "evidence", "message", "offset", "rule", "severity")

    def __init__(
        self, rule: str, message: str, offset: int, evidence: str | None, severity: Severity | None
    ) -> None:
        self.rule = rule
        self.message = message
        self.offset = offset
        self.evidence = evidence
        self.severity = severity
        self.count = 1


def mapped_name(module: str, name: str) -> tuple[str, str]:
    """Apply Python 2 name fixes as ``find_class`` does for protocols < 3 (``fix_imports``).

    The machine applies it when a global is resolved (see ``Machine._global``); everything
    after that works on the resolved names.
    """
    hit = NAME_MAPPING.get((module, name))
    if hit is not None:
        return hit
    return IMPORT_MAPPING.get(module, module), name


class Machine:
    """One pass of the VM over one stream (see :mod:`.vm` for the passes)."""

    fast_paths = True
    """Run the commonest opcodes inline in the main loop; off, every opcode goes through its
    handler. The findings must not differ (a test runs every fixture both ways)."""

    def __init__(
        self,
        data: Buffer,
        location: Location,
        ctx: ScanContext,
        start: int,
        stop: int,
        depth: int,
        origin: int,
        *,
        ops: dict[int, Handler],
        nested: NestedScan,
        script: tuple[int, ...] | None = None,
        joblib: bool = True,
    ) -> None:
        self.data = data
        self.handlers = ops
        """Opcode byte -> handler (:data:`mlchain.scan.pickle.opcodes.OPS`)."""
        self.nested = nested
        self.loc = location
        self.ctx = ctx
        self.depth = depth
        self.origin = origin
        self.hard = script is not None
        """Frames are buffers the loader read whole (``pickle.load`` on a file), not linear."""
        self.script = script or ()
        self.decisions: list[tuple[int, int]] = []
        """(choice, number of options) at each point where file loaders may differ."""
        self.joblib = joblib
        limits = ctx.limits
        self.real_end = stop
        self.end = min(stop, start + max(limits.max_pickle_bytes, 0))
        self.max_ops = limits.max_opcodes
        self.max_memo = limits.max_memo
        self.max_stack = limits.max_stack
        self.allowed = ctx.options.allow_globals
        self.budget = 8 * max(limits.max_stack, limits.max_memo)
        self.kept = 0
        self.pos = start
        self.op_at = start
        self.ops = 0
        self.next_check = min(0x10000, self.max_ops + 1)
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}
        self.proto = 0
        self.frame_end: int | None = None
        self.limit = self.end
        self.globals: set[tuple[str, str]] = set()
        self.usage: dict[tuple[str, str], Usage] = {}
        self.events: dict[tuple[str, str], Event] = {}
        self.extra: list[Finding] = []
        self.diverged = False
        self.joblib_arrays = 0
        self.persistent_seen = False
        self.mutated: dict[int, object] = {}
        """Objects changed at load time in ways the VM does not model (by ``id``; kept alive)."""

    # ---------------------------------------------------------------- driving -------------------

    def run(self, max_pickles: int | None) -> tuple[int, int]:
        """Scan pickles until the stream ends; return (end offset, complete pickles)."""
        pickles = 0
        last_end = self.pos
        while max_pickles is None or pickles < max_pickles:
            if self.pos >= self.real_end:
                if pickles == 0:
                    self.event("parse-error", "no pickle data: the stream is empty", self.pos)
                break
            try:
                self._one_pickle()
            except Abort as exc:
                if exc.rule == "parse-error" and pickles > 0:
                    self.event(
                        "pickle-trailing-data",
                        f"{self.real_end - last_end} bytes after pickle {pickles} are not a "
                        f"complete pickle ({exc.message})",
                        last_end,
                    )
                    return last_end, pickles
                self.event(exc.rule, exc.message, exc.offset)
                return max(self.pos, exc.offset), pickles
            pickles += 1
            if self.frame_end is not None and self.pos < self.frame_end:
                if not self.hard:
                    self.diverge(
                        "STOP inside a frame; loaders disagree on where the next pickle starts"
                    )
                    self.set_frame(None)
                else:
                    choice = self.decide(3)
                    if choice == 1:
                        # A new Unpickler on the same file starts after the frame read whole.
                        self.pos = self.frame_end
                        self.set_frame(None)
                    elif choice == 2:
                        self.set_frame(None)  # the frame came from peek(): read on linearly
                    # else the same Unpickler keeps its buffer: the frame's rest is read next.
            else:
                self.set_frame(None)
            last_end = self.pos
        return last_end, pickles

    def _one_pickle(self) -> None:
        self.stack = []
        self.marks = []
        self.proto = 0
        ops = self.handlers
        fast = self.fast_paths
        data = self.data
        stack = self.stack
        marks = self.marks
        max_stack = self.max_stack
        inline = INLINE_BYTES
        while True:
            pos = self.pos
            limit = self.limit
            if pos < limit:
                code = data[pos]
                self.pos = pos + 1
            else:
                pos = self._take_slow(1)
                code = data[pos]
                limit = -1  # no fast paths at a frame or stream boundary
            self.op_at = pos
            self.ops += 1
            if self.ops >= self.next_check:
                self._check_budget()
            # Fast paths for the commonest opcodes when their argument is inside the buffer;
            # each matches its handler in .opcodes exactly (which also covers every other case),
            # which a test checks by running every fixture with ``fast_paths`` off.
            if fast:
                if code == 0x71 and pos + 2 <= limit:  # BINPUT
                    if len(stack) <= (marks[-1] if marks else 0):
                        raise self.underflow()
                    self.pos = pos + 2
                    self.memo_put(data[pos + 1], stack[-1])
                    continue
                if code == 0x68 and pos + 2 <= limit:  # BINGET
                    self.pos = pos + 2
                    self.memo_get(data[pos + 1])
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                if code == 0x72 and pos + 5 <= limit:  # LONG_BINPUT (torch's memo is large)
                    if len(stack) <= (marks[-1] if marks else 0):
                        raise self.underflow()
                    self.pos = pos + 5
                    self.memo_put(_UINT32.unpack_from(data, pos + 1)[0], stack[-1])
                    continue
                if code == 0x6A and pos + 5 <= limit:  # LONG_BINGET
                    self.pos = pos + 5
                    self.memo_get(_UINT32.unpack_from(data, pos + 1)[0])
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                if code == 0x85 or code == 0x86:  # TUPLE1, TUPLE2
                    start = len(stack) - (code - 0x84)
                    if start < (marks[-1] if marks else 0):
                        raise self.underflow()
                    items = tuple(stack[start:])
                    del stack[start:]
                    stack.append(self.keep(items))
                    continue
                if code == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                if code == 0x89 or code == 0x88:  # NEWFALSE, NEWTRUE
                    stack.append(code == 0x88)
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                if code == 0x8C and pos + 2 <= limit:  # SHORT_BINUNICODE
                    n = data[pos + 1]
                    if pos + 2 + n <= limit:
                        self.pos = pos + 2 + n
                        try:
                            stack.append(
                                bytes(data[pos + 2 : pos + 2 + n]).decode("utf-8", "surrogatepass")
                            )
                        except UnicodeDecodeError as exc:
                            raise Abort(
                                "parse-error", f"invalid UTF-8 string: {exc.reason}", pos
                            ) from None
                        continue
                elif code == 0x58 and pos + 5 <= limit:  # BINUNICODE
                    n = int.from_bytes(data[pos + 1 : pos + 5], "little")
                    if n <= inline and pos + 5 + n <= limit:
                        self.pos = pos + 5 + n
                        try:
                            stack.append(
                                bytes(data[pos + 5 : pos + 5 + n]).decode("utf-8", "surrogatepass")
                            )
                        except UnicodeDecodeError as exc:
                            raise Abort(
                                "parse-error", f"invalid UTF-8 string: {exc.reason}", pos
                            ) from None
                        continue
                elif code == 0x4B and pos + 2 <= limit:  # BININT1
                    self.pos = pos + 2
                    stack.append(data[pos + 1])
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                elif code == 0x28:  # MARK
                    marks.append(len(stack))
                    if len(marks) > max_stack:
                        raise self._stack_limit()
                    continue
                elif code == 0x94:  # MEMOIZE
                    if len(stack) <= (marks[-1] if marks else 0):
                        raise self.underflow()
                    self.memo_put(len(self.memo), stack[-1])
                    continue
                elif code == 0x4E:  # NONE
                    stack.append(None)
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                elif code == 0x4A and pos + 5 <= limit:  # BININT
                    self.pos = pos + 5
                    stack.append(_INT32.unpack_from(data, pos + 1)[0])
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
                elif code == 0x47 and pos + 9 <= limit:  # BINFLOAT
                    self.pos = pos + 9
                    stack.append(_DOUBLE.unpack_from(data, pos + 1)[0])
                    if len(stack) > max_stack:
                        raise self._stack_limit()
                    continue
            if code == 0x2E:  # STOP
                self.pop()
                return
            handler = ops.get(code)
            if handler is None:
                raise Abort("parse-error", f"invalid pickle opcode 0x{code:02x}", pos)
            handler(self)
            if len(stack) > max_stack or len(marks) > max_stack:
                raise self._stack_limit()

    def _stack_limit(self) -> Abort:
        return Abort(
            "scan-limit-exceeded",
            f"pickle stack exceeds the limit of {self.max_stack} entries",
            self.op_at,
        )

    def _check_budget(self) -> None:
        self.next_check = min(self.ops + 0x10000, self.max_ops + 1)
        if self.ops > self.max_ops:
            raise Abort(
                "scan-limit-exceeded",
                f"pickle exceeds the limit of {self.max_ops} opcodes",
                self.op_at,
            )
        if self.ctx.out_of_time():
            raise Abort("scan-limit-exceeded", "time limit reached while scanning", self.op_at)

    # ---------------------------------------------------------------- reading -------------------

    def truncated(self, what: str) -> Abort:
        """The abort for a read past the data (or past the byte limit)."""
        if self.end < self.real_end:
            return Abort(
                "scan-limit-exceeded",
                f"pickle stream exceeds the limit of {self.ctx.limits.max_pickle_bytes} bytes",
                self.op_at,
            )
        return Abort("parse-error", f"pickle data was truncated ({what})", self.op_at)

    def set_frame(self, frame_end: int | None) -> None:
        """Enter a frame ending at ``frame_end`` (``None``: no frame)."""
        self.frame_end = frame_end
        self.limit = self.end if frame_end is None else min(self.end, frame_end)

    def take(self, n: int) -> int:
        """Consume ``n`` bytes and return the offset they start at (loader's framing rules)."""
        pos = self.pos
        if pos + n <= self.limit:
            self.pos = pos + n
            return pos
        return self._take_slow(n)

    def _take_slow(self, n: int) -> int:
        pos = self.pos
        new = pos + n
        fe = self.frame_end
        if fe is not None and new > fe:
            if pos < fe:
                if not self.hard:
                    self.diverge("an opcode argument runs past the end of its FRAME")
                elif self.decide(2) == 0:
                    pos, new = fe, fe + n  # the rest of the frame is dropped
            self.set_frame(None)
        if new > self.end:
            raise self.truncated(f"{n} bytes needed at offset {pos}")
        self.pos = new
        return pos

    def arg(self, n: int) -> bytes:
        """Consume ``n`` bytes and return them."""
        at = self.take(n)
        return bytes(self.data[at : at + n])

    def uint(self, n: int) -> int:
        """Consume an unsigned little-endian integer of ``n`` bytes."""
        if n == 1:
            return self.data[self.take(1)]
        return int.from_bytes(self.arg(n), "little")

    def sint(self, n: int) -> int:
        """Consume a signed little-endian integer of ``n`` bytes."""
        return int.from_bytes(self.arg(n), "little", signed=True)

    def _find_nl(self, lo: int, hi: int) -> int:
        data = self.data
        if not isinstance(data, memoryview):
            return data.find(b"\n", lo, hi)
        while lo < hi:
            chunk = bytes(data[lo : min(hi, lo + 65536)])
            i = chunk.find(b"\n")
            if i >= 0:
                return lo + i
            lo += len(chunk)
        return -1

    def line(self) -> bytes:
        """Read one line without its newline, as the loader's readline does."""
        start, end = self.line_span()
        return bytes(self.data[start:end])

    def line_span(self) -> tuple[int, int]:
        """Like :meth:`_line` but return the line's offsets (long lines are never copied)."""
        pos = self.pos
        fe = self.frame_end
        nl = -1
        if fe is not None and pos < fe:
            nl = self._find_nl(pos, fe)
            if nl < 0:
                if not self.hard:
                    self.diverge("a text opcode's line runs past the end of its FRAME")
                elif self.decide(2) == 0:
                    pos = fe  # readline() on the file, after the frame
                self.set_frame(None)
        elif fe is not None:
            self.set_frame(None)
        if nl < 0:
            nl = self._find_nl(pos, self.end)
        if nl < 0:
            raise self.truncated("line without a newline")
        self.pos = nl + 1
        return pos, nl

    def decide(self, options: int) -> int:
        """Take the scripted choice at this divergence point (0 by default) and record it."""
        index = len(self.decisions)
        choice = self.script[index] if index < len(self.script) else 0
        self.decisions.append((choice, options))
        return choice

    def diverge(self, message: str) -> None:
        """Report that loaders read this stream differently here (first reading only)."""
        if not self.hard:
            self.diverged = True
            self.event("pickle-frame-violation", message, self.op_at)

    # ---------------------------------------------------------------- stack ---------------------

    @property
    def fence(self) -> int:
        """Stack index of the innermost MARK (items below it cannot be popped)."""
        return self.marks[-1] if self.marks else 0

    def underflow(self) -> Abort:
        """The abort the loader raises when an opcode pops past the innermost MARK."""
        return Abort("parse-error", "unpickling stack underflow", self.op_at)

    def pop(self) -> object:
        """Pop the top of the stack (never below the innermost MARK)."""
        if len(self.stack) <= self.fence:
            raise self.underflow()
        return self.stack.pop()

    def top(self) -> object:
        """The top of the stack, left in place."""
        if len(self.stack) <= self.fence:
            raise self.underflow()
        return self.stack[-1]

    def marker(self) -> int:
        """Pop the innermost MARK and return the stack index it marked."""
        if not self.marks:
            raise Abort("parse-error", "could not find MARK", self.op_at)
        return self.marks.pop()

    def pop_from(self, start: int) -> list[object]:
        """Pop and return every item from stack index ``start`` up."""
        if start < self.fence:
            raise self.underflow()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def tuple_from(self, start: int) -> tuple[object, ...]:
        """Pop the items from ``start`` up as a tuple (bounded, the rest summarised)."""
        items = self.pop_from(start)
        if len(items) > _TUPLE_KEEP:
            return (*items[:_TUPLE_KEEP], Unknown(f"{len(items) - _TUPLE_KEEP} more items"))
        return tuple(items)

    def mutates(self, target: object) -> None:
        """Record that the loader changes ``target`` in a way the VM does not follow.

        APPENDS/SETITEMS/ADDITEMS on anything but the list, dict or set they build (a
        ``bytearray``, an object, a list's items replaced by index) make ``target`` opaque to
        :func:`~.evaluate.evaluate`.
        """
        self.mutated[id(target)] = target

    def memo_put(self, key: int, value: object) -> None:
        """Store ``value`` in memo slot ``key`` (bounded by ``max_memo``)."""
        if key not in self.memo and len(self.memo) >= self.max_memo:
            raise Abort(
                "scan-limit-exceeded",
                f"pickle memo exceeds the limit of {self.max_memo} entries",
                self.op_at,
            )
        self.memo[key] = value

    def memo_get(self, key: int) -> None:
        """Push the value of memo slot ``key``."""
        try:
            self.stack.append(self.memo[key])
        except KeyError:
            raise Abort("parse-error", f"memo value not found at index {key}", self.op_at) from None

    def keep(self, value: object) -> object:
        """Count a new container or call; past the object budget, keep a placeholder instead.

        CPython would build the whole object graph (a chain of 50M one-item tuples is a few
        GB); the scanner keeps at most the budget and reports that evidence stops there.
        Calls are still classified when they happen: only their result is not retained.
        """
        self.kept += 1
        if self.kept <= self.budget:
            return value
        if self.kept == self.budget + 1:
            self.event(
                "scan-limit-exceeded",
                f"more than {self.budget} objects; later objects are not tracked as evidence",
                self.op_at,
            )
        return DEGRADED

    # ---------------------------------------------------------------- constants -----------------

    def push_bytes(self, n: int, kind: str) -> None:
        """Consume ``n`` bytes and push them as a constant of ``kind`` (long ones stay in place)."""
        if n > sys.maxsize:
            raise Abort("parse-error", f"length {n} exceeds the platform maximum", self.op_at)
        if n > INLINE_BYTES:
            at = self.take(n)
            self.stack.append(Blob(at, n, kind))
            return
        raw = self.arg(n)
        value: object
        if kind == "bytes":
            value = raw
        elif kind == "bytearray":
            value = bytearray(raw)
        elif kind == "utf8":
            try:
                value = raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise Abort(
                    "parse-error", f"invalid UTF-8 string: {exc.reason}", self.op_at
                ) from None
        else:  # BINSTRING family: str under the default encoding='ASCII'; latin-1 for evidence
            value = raw.decode("latin-1")
        self.stack.append(value)

    def int_text(self, text: bytes, *, long: bool = False) -> object:
        """The integer a text opcode (INT, LONG) denotes."""
        body = text.strip()
        if long and body.endswith(b"L"):
            body = body[:-1]
        if len(body) > 4000:
            return Unknown("big integer")
        try:
            return int(body, 0)
        except ValueError:
            try:
                return int(body)
            except ValueError:
                raise Abort(
                    "parse-error", f"invalid integer literal {body[:40]!r}", self.op_at
                ) from None

    # ---------------------------------------------------------------- globals and calls ---------

    def find_class(self, module: str, name: str) -> Global:
        """Record ``find_class(module, name)`` and return the global it resolves to.

        ``globals`` keeps the raw names find_class is asked for; the returned global carries
        the names it actually resolves: Python 2 names are mapped for protocols < 3
        (``fix_imports``), exactly when the loader maps them.
        """
        self.globals.add((module, name))
        if self.proto < 3:
            module, name = mapped_name(module, name)
        g = Global(module, name, self.op_at)
        key = (module, name)
        if key not in self.usage:
            if len(self.usage) >= MAX_FINDINGS * 20:
                raise Abort("scan-limit-exceeded", "too many distinct globals", self.op_at)
            self.usage[key] = Usage(self.op_at)
        return g

    def _use(self, g: Global) -> Usage:
        return self.usage[(g.module, g.name)]

    def reconstructs(self, value: object) -> None:
        """Count a class reconstruction of ``value`` when it is a global."""
        if isinstance(value, Global):
            self._use(value).reconstructed += 1

    def call(self, func: object, args: tuple[object, ...], kind: str) -> Call:
        """Record calling ``func(*args)`` (``kind``: call, new, reconstruct); return the result."""
        if needs_snapshot(func, args):
            # the call sees its arguments as they are now, not as later opcodes change them
            args = tuple(freeze(a, self.mutated) for a in args)
        call = Call(func, args, kind, self.op_at)
        if isinstance(func, Global):
            mapped = (func.module, func.name)
            usage = self._use(func)
            if not allowlist.use_is_inert(func.module, func.name, kind, args):
                usage.bad_use = usage.bad_use or call
            if kind == "call" and mapped == ("copyreg", "_reconstructor"):
                call.kind = "reconstruct"
                for arg in args[:2]:
                    self.reconstructs(arg)
            elif kind == "call" and mapped in {
                ("copyreg", "__newobj__"),
                ("copyreg", "__newobj_ex__"),
            }:
                call.kind = "reconstruct"
                self.reconstructs(args[0] if args else None)
            elif kind == "new":
                usage.reconstructed += 1
            else:
                usage.calls += 1
                if usage.call is None:
                    usage.call = call
                indirect = _INDIRECT.get(mapped)
                if indirect is not None:
                    target = indirect(args)
                    if target is not None and not _is_constant(target[0]):
                        # The allowlisted helper calls a callable taken from the pickle.
                        self.call(target[0], target[1], "call")
                if dangerous.is_nested_loader(*mapped):
                    self._nested(call)
        elif kind != "new":
            self._call_value(func, call)
        return call

    def _call_value(self, func: object, call: Call) -> None:
        if (
            isinstance(func, (str, bytes, bytearray, int, float, tuple, SList, SDict))
            or func is None
        ):
            return  # not callable: the loader raises TypeError here
        root = root_global(func)
        evidence = render(call)
        if root is not None and self._danger(root) is not None:
            self.event(
                "pickle-dangerous-call",
                f"calls the result of {root.qualname}, a known-dangerous function",
                call.offset,
                evidence,
            )
        else:
            self.event(
                "pickle-unknown-call",
                "calls an object computed at load time (not a plain import)",
                call.offset,
                evidence,
            )

    def _danger(self, g: Global) -> dangerous.Danger | None:
        if allowlist.is_allowlisted(g.module, g.name, self.allowed):
            return None
        return dangerous.danger_of(g.module, g.name)

    def instance_class(self, value: object) -> Global | None:
        """The class an instance was built from, when the VM knows it."""
        if not isinstance(value, Call):
            return None
        if value.kind == "reconstruct":
            first = value.args[0] if value.args else None
            return first if isinstance(first, Global) else None
        return value.func if isinstance(value.func, Global) else None

    # ---------------------------------------------------------------- nested pickles ------------

    def _nested(self, call: Call) -> None:
        """Scan what a nested deserializer is given; fail closed when it cannot be computed."""
        if not call.args:
            return  # the loader raises TypeError: nothing is deserialized
        if self.ctx.out_of_time():  # each nested scan may fold and scan up to 256 MiB
            raise Abort("scan-limit-exceeded", "time limit reached while scanning", self.op_at)
        source = self._nested_source(call.args[0])
        if isinstance(source, str):
            self.event(
                "pickle-nested-opaque",
                f"passes {source} to a deserializer; what it would load cannot be scanned",
                call.offset,
                render(call),
            )
            return
        buf, lo, hi = source
        where = call.offset - self.origin
        if self.depth + 1 > self.ctx.limits.max_nesting:
            self.event(
                "scan-limit-exceeded",
                f"nested pickle deeper than the limit of {self.ctx.limits.max_nesting}",
                call.offset,
                render(call),
            )
            return
        inner_loc = self.loc.with_member(_NESTED_MEMBER.format(offset=where))
        head = bytes(buf[lo : min(hi, lo + 4)])
        if head.startswith(b"PK"):
            # torch.load of a zip archive: the archive scanner owns that format.
            self.event(
                "pickle-nested",
                f"passes a {hi - lo}-byte zip archive to a deserializer; archives nested in "
                "pickles are not scanned",
                call.offset,
                render(call),
            )
            return
        inner, what = self.nested(buf, inner_loc, self.ctx, lo, hi, self.depth + 1)
        severe = sum(1 for f in inner if f.severity >= Severity.HIGH)
        tensor = (
            what == LEGACY_TORCH
            and isinstance(call.func, Global)
            and (call.func.module, call.func.name) in _TORCH_TENSOR_LOADERS
        )
        self.event(
            "pickle-nested",
            f"passes {hi - lo} bytes to a deserializer; the nested {what} was scanned "
            f"({severe} high or critical findings inside)",
            call.offset,
            render(call),
            severity=None if severe else Severity.LOW if tensor else Severity.MEDIUM,
        )
        self.extra.extend(inner)

    def _nested_source(self, arg: object) -> tuple[Buffer, int, int] | str:
        """The bytes a nested loader reads from ``arg`` (in place if constant), or why not known.

        ``arg`` is bytes or a ``BytesIO`` over bytes, possibly computed at load time (see
        :mod:`.evaluate`); a ``BytesIO`` whose state a BUILD set reads that state's buffer from
        its position.
        """
        start = 0
        if (
            isinstance(arg, Call)
            and arg.kind == "call"
            and isinstance(arg.func, Global)
            and (arg.func.module, arg.func.name) in _BYTES_IO
            and id(arg) not in self.mutated
        ):
            if arg.state is not None:
                # BytesIO.__setstate__((value, position, dict)) replaces the buffer.
                state = arg.state
                if not (isinstance(state, tuple) and len(state) == 3):
                    return "a BytesIO whose state is not a plain (bytes, position, dict) tuple"
                position = evaluate(state[1], self.data, self.mutated)
                if not isinstance(position, int) or isinstance(position, bool) or position < 0:
                    return "a BytesIO with a position computed at load time"
                arg, start = state[0], position
            else:
                arg = arg.args[0] if arg.args else b""
        if (
            isinstance(arg, Blob)
            and arg.kind not in NOT_BYTES_KINDS
            and id(arg) not in self.mutated
        ):
            lo = min(arg.start + start, arg.start + arg.length)
            return self.data, lo, arg.start + arg.length
        value = evaluate(arg, self.data, self.mutated)
        if isinstance(value, (bytes, bytearray)):
            return value, min(start, len(value)), len(value)
        if isinstance(value, str):
            return f"the path or text {render(value, 80)} (not bytes)"
        if value is OPAQUE:
            return (
                f"bytes computed at load time that the scanner cannot evaluate ({render(arg, 120)})"
            )
        return f"a value that is not bytes ({render(arg, 120)})"

    # ---------------------------------------------------------------- joblib --------------------

    def joblib_array(self, state: object) -> None:
        """Follow joblib's NumpyArrayWrapper.read_array after BUILD (see ``joblib_frames``)."""
        # Imported here: it brings numpy's dtype parser, which only joblib streams need.
        from mlchain.scan.pickle import joblib_frames

        self.joblib_arrays += 1
        at = self.op_at
        if self.frame_end is not None and self.pos < self.frame_end:
            raise Abort("parse-error", "joblib array data would start inside a pickle frame", at)
        try:
            frame = joblib_frames.array_frame(
                self.stack[-1], state, self.data, self.pos, self.real_end
            )
        except joblib_frames.FrameError as exc:
            raise Abort("parse-error", f"joblib NumpyArrayWrapper: {exc}", at) from None
        if frame.nested_pickle:
            saved = (self.stack, self.marks, self.proto, self.memo, self.joblib)
            # read_array runs a fresh (plain) Unpickler on the same file for object arrays.
            self.memo, self.joblib = {}, False
            try:
                self._one_pickle()
            finally:
                self.stack, self.marks, self.proto, self.memo, self.joblib = saved
            if self.frame_end is not None and self.pos < self.frame_end:
                # joblib >= 1.6 (a fresh pickle._Unpickler) read that frame whole and goes on
                # after it; pickle.load (older joblib) may go on after STOP instead.
                if not self.hard:
                    self.diverge("an object array's pickle stops inside a FRAME")
                elif self.decide(2) == 0:
                    self.pos = self.frame_end
            self.set_frame(None)
            return
        self.pos = frame.end
        self.end = min(self.real_end, self.end + (self.pos - at))
        self.limit = self.end
        self.set_frame(None)

    # ---------------------------------------------------------------- results -------------------

    def event(
        self,
        rule: str,
        message: str,
        offset: int,
        evidence: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        """Record one piece of evidence; repeats of the same rule and message are counted."""
        key = (rule, message)
        seen = self.events.get(key)
        if seen is not None:
            seen.count += 1
        elif len(self.events) < MAX_FINDINGS:
            self.events[key] = Event(rule, message, offset, evidence, severity)

    def findings(self) -> list[Finding]:
        """Turn the events into findings (deterministic order).

        The driver adds the verdict on the globals (:func:`.verdict.judge_globals`) as events
        first.
        """
        out: list[Finding] = []
        for ev in self.events.values():
            message = ev.message if ev.count == 1 else f"{ev.message} ({ev.count} times)"
            out.append(
                finding(
                    ev.rule,
                    message,
                    self.loc.at(ev.offset - self.origin),
                    evidence=ev.evidence,
                    severity=ev.severity,
                )
            )
        out.extend(self.extra)
        if len(self.events) >= MAX_FINDINGS:
            out.append(
                finding(
                    "scan-limit-exceeded",
                    f"more than {MAX_FINDINGS} distinct findings; the rest were not listed",
                    self.loc.at(None),
                )
            )
        return out


def _rebuild_from_type(args: tuple[object, ...]) -> tuple[object, tuple[object, ...]] | None:
    # torch._tensor._rebuild_from_type_v2(func, new_type, args, state) calls func(*args).
    if len(args) >= 3:
        inner = args[2]
        return args[0], inner if isinstance(inner, tuple) else (inner,)
    return None


def _ctor_with_name(args: tuple[object, ...]) -> tuple[object, tuple[object, ...]] | None:
    # numpy.random._pickle.__randomstate_ctor/__generator_ctor(name, ctor) call ctor(name).
    if len(args) >= 2:
        return args[1], (args[0],)
    return None


_INDIRECT: dict[
    tuple[str, str], Callable[[tuple[object, ...]], tuple[object, tuple[object, ...]] | None]
] = {
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("numpy.random._pickle", "__randomstate_ctor"): _ctor_with_name,
    ("numpy.random._pickle", "__generator_ctor"): _ctor_with_name,
}
"""Allowlisted helpers that call a callable supplied by the pickle; that call is checked too."""


def _is_constant(value: object) -> bool:
    return value is None or isinstance(value, (str, bytes, bytearray, int, float, tuple))
