"""The symbolic pickle VM: emulate CPython's unpickler over the bytes, never execute them.

The machine follows the C unpickler (``Modules/_pickle.c``) opcode by opcode for protocols 0-5:
the object stack with its separate mark stack and fence, the memo (PUT/BINPUT/LONG_BINPUT/MEMOIZE
and the GET family), GLOBAL/STACK_GLOBAL/INST resolution, calls (REDUCE, INST, OBJ), class
reconstruction (NEWOBJ, NEWOBJ_EX, ``copyreg`` helpers), BUILD, persistent ids, EXT codes and
FRAME. Values that only exist at load time are symbolic (:mod:`mlchain.scan.pickle.values`), so a
finding can show the call it would make, e.g. ``os.system('touch /tmp/x')``.

Parsing follows the loader, not ``pickletools``:

* Every pickle of a stream is scanned (``pickle.load`` in a loop, legacy PyTorch's five pickles).
* FRAME: ``pickle.loads`` (and frames a file's ``peek()`` already buffered) read linearly;
  ``pickle.load`` on a file reads a larger frame into its own buffer, and an argument or line that
  runs past the frame's end is then taken from *after* the frame, skipping the rest of it
  (``_Unpickler_ReadImpl``). When a stream crosses a frame boundary the VM reports it and scans
  every combination of those readings (bounded by :data:`MAX_READINGS`), which the differential
  test checks against CPython with plain, unbuffered and buffered files.
* joblib writes raw array bytes after each ``NumpyArrayWrapper`` BUILD; they are skipped exactly
  as ``NumpyArrayWrapper.read_array`` reads them (and the plain-pickle reading is scanned too).
* Where ``pickle._Unpickler`` (joblib's) parses more than the C unpickler (INST imports before
  it looks for its MARK; a FRAME longer than the data is read on), the VM follows it too, and
  Python 2 names are mapped exactly when ``find_class`` maps them (protocols < 3).
* A stream that breaks keeps everything seen before the break and adds a ``parse-error``.

Memory never follows claimed lengths: a length is checked against the bytes present before any
read, long constants stay in the input (:class:`~mlchain.scan.pickle.values.Blob`), containers
keep a bounded prefix, past an object budget new objects are placeholders, and opcodes, memo,
stack, nesting and time are bounded by :class:`~mlchain.scan.base.Limits`.
"""

from __future__ import annotations

import mmap
import struct
import sys
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable
from dataclasses import dataclass, field

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.pickle import allowlist, dangerous
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

MAX_READINGS = 32
"""Readings of a stream whose opcodes cross FRAME boundaries (see ``_scan``)."""

MAX_FINDINGS = 500
"""Distinct findings kept per scanned stream; the rest are summarised in one finding."""

_TUPLE_KEEP = 256
DEGRADED = Unknown("object not tracked (object budget exhausted)")
NOT_BYTES_KINDS = frozenset({"utf8", "ascii", "escape", "raw-unicode"})
_NESTED_MEMBER = "nested-pickle@{offset}"
_INT32 = struct.Struct("<i")
_DOUBLE = struct.Struct(">d")
_BYTES_IO = frozenset({("io", "BytesIO"), ("_io", "BytesIO")})
_MAX_DECODED_NESTED = 256 * 1024 * 1024
"""Largest text constant re-encoded to look for a nested pickle (bytes are scanned in place)."""


@dataclass(slots=True)
class PickleScan:
    """What one call of :func:`scan_pickle` learned."""

    findings: list[Finding]
    end: int
    """Offset just past the last opcode consumed (after the last STOP when the stream is whole)."""
    pickles: int
    """Complete pickles (STOP reached) seen."""
    globals: set[tuple[str, str]] = field(default_factory=set)
    """Every ``(module, name)`` CPython's ``find_class`` would be asked for (raw, unmapped)."""


def scan_pickle(
    data: Buffer,
    location: Location,
    ctx: ScanContext,
    *,
    start: int = 0,
    max_pickles: int | None = None,
    depth: int = 0,
) -> PickleScan:
    """Scan the pickle stream in ``data`` from ``start`` without deserializing anything.

    Args:
        data: The bytes; may be an ``mmap`` of a huge file (only parsed bytes are touched).
        location: Where ``data`` lives; findings use ``location.at(opcode_offset)``.
        ctx: Options and limits.
        start: Offset of the first opcode.
        max_pickles: Stop after this many complete pickles (``None``: keep going while bytes
            remain, reporting leftovers that are no pickle as ``pickle-trailing-data``).
        depth: Nesting depth of this stream (nested pickles and archives), for the limit.

    Returns:
        The findings, where parsing ended, how many pickles completed and every global.
    """
    return _scan(data, location, ctx, start, len(data), max_pickles, depth, origin=0)


def _scan(
    data: Buffer,
    location: Location,
    ctx: ScanContext,
    start: int,
    stop: int,
    max_pickles: int | None,
    depth: int,
    origin: int,
) -> PickleScan:
    first = Machine(data, location, ctx, start, stop, depth, origin)
    end, pickles = first.run(max_pickles)
    findings = first.findings()
    found = set(first.globals)
    keys = {_fkey(f) for f in findings}
    if first.diverged:
        # The stream crosses a frame boundary. pickle.load on a file may then read differently
        # from pickle.loads: at each crossing the C unpickler either drops the rest of a frame
        # it read whole or reads on linearly (when the frame came from peek()). Scan every
        # combination of those choices, up to MAX_READINGS readings.
        queue: list[tuple[int, ...]] = [()]
        readings = 0
        while queue and readings < MAX_READINGS:
            script = queue.pop()
            other = Machine(data, location, ctx, start, stop, depth, origin, script=script)
            other.run(max_pickles)
            readings += 1
            found |= other.globals
            for f in other.findings():
                if _fkey(f) not in keys:
                    keys.add(_fkey(f))
                    findings.append(f)
            for i in range(len(script), len(other.decisions)):
                taken = tuple(choice for choice, _ in other.decisions[:i])
                queue.extend((*taken, alt) for alt in range(1, other.decisions[i][1]))
        if queue:
            findings.append(
                finding(
                    "scan-limit-exceeded",
                    f"more than {MAX_READINGS} ways to read this stream's frames; "
                    "the rest were not scanned",
                    location.at(start - origin),
                )
            )
    if first.joblib_arrays:
        # A plain pickle.load of the same file would parse the array bytes as opcodes.
        plain = Machine(data, location, ctx, start, stop, depth, origin, joblib=False)
        plain.run(max_pickles)
        found |= plain.globals
        for f in plain.findings():
            if f.severity >= Severity.CRITICAL and _fkey(f) not in keys:
                keys.add(_fkey(f))
                findings.append(f)
    return PickleScan(findings, end, pickles, found)


def _fkey(f: Finding) -> tuple[str, int | None, str]:
    return (f.rule_id, f.location.offset, f.message)


class Abort(Exception):
    """Ends the current pickle: the loader would raise here (or a limit was hit)."""

    def __init__(self, rule: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.offset = offset


class _Usage:
    """How one global was used across the stream."""

    __slots__ = ("bad_use", "call", "calls", "offset", "reconstructed")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.calls = 0
        self.call: Call | None = None
        self.reconstructed = 0
        self.bad_use: Call | None = None


class _Event:
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
    """One pass of the VM over one stream (see the module docstring for the passes)."""

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
        script: tuple[int, ...] | None = None,
        joblib: bool = True,
    ) -> None:
        self.data = data
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
        self.usage: dict[tuple[str, str], _Usage] = {}
        self.events: dict[tuple[str, str], _Event] = {}
        self.extra: list[Finding] = []
        self.diverged = False
        self.joblib_arrays = 0
        self.persistent_seen = False

    # ---------------------------------------------------------------- driving -------------------

    def run(self, max_pickles: int | None) -> tuple[int, int]:
        """Scan pickles until the stream ends; return (end offset, complete pickles)."""
        pickles = 0
        last_end = self.pos
        while max_pickles is None or pickles < max_pickles:
            if self.pos >= self.real_end:
                if pickles == 0:
                    self._event("parse-error", "no pickle data: the stream is empty", self.pos)
                break
            try:
                self._one_pickle()
            except Abort as exc:
                if exc.rule == "parse-error" and pickles > 0:
                    self._event(
                        "pickle-trailing-data",
                        f"{self.real_end - last_end} bytes after pickle {pickles} are not a "
                        f"complete pickle ({exc.message})",
                        last_end,
                    )
                    return last_end, pickles
                self._event(exc.rule, exc.message, exc.offset)
                return max(self.pos, exc.offset), pickles
            pickles += 1
            if self.frame_end is not None and self.pos < self.frame_end:
                if not self.hard:
                    self._diverge(
                        "STOP inside a frame; loaders disagree on where the next pickle starts"
                    )
                    self._set_frame(None)
                else:
                    choice = self._decide(3)
                    if choice == 1:
                        # A new Unpickler on the same file starts after the frame read whole.
                        self.pos = self.frame_end
                        self._set_frame(None)
                    elif choice == 2:
                        self._set_frame(None)  # the frame came from peek(): read on linearly
                    # else the same Unpickler keeps its buffer: the frame's rest is read next.
            else:
                self._set_frame(None)
            last_end = self.pos
        return last_end, pickles

    def _one_pickle(self) -> None:
        self.stack = []
        self.marks = []
        self.proto = 0
        ops = _OPS
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
            # each matches its handler below exactly (which also covers every other case).
            if code == 0x71 and pos + 2 <= limit:  # BINPUT
                if len(stack) <= (marks[-1] if marks else 0):
                    raise self._underflow()
                self.pos = pos + 2
                self._memo_put(data[pos + 1], stack[-1])
                continue
            if code == 0x68 and pos + 2 <= limit:  # BINGET
                self.pos = pos + 2
                self._memo_get(data[pos + 1])
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
                    except UnicodeDecodeError:
                        raise Abort("parse-error", "invalid UTF-8 string", pos) from None
                    continue
            elif code == 0x58 and pos + 5 <= limit:  # BINUNICODE
                n = int.from_bytes(data[pos + 1 : pos + 5], "little")
                if n <= inline and pos + 5 + n <= limit:
                    self.pos = pos + 5 + n
                    try:
                        stack.append(
                            bytes(data[pos + 5 : pos + 5 + n]).decode("utf-8", "surrogatepass")
                        )
                    except UnicodeDecodeError:
                        raise Abort("parse-error", "invalid UTF-8 string", pos) from None
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
                    raise self._underflow()
                self._memo_put(len(self.memo), stack[-1])
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
                self._pop()
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

    def _truncated(self, what: str) -> Abort:
        if self.end < self.real_end:
            return Abort(
                "scan-limit-exceeded",
                f"pickle stream exceeds the limit of {self.ctx.limits.max_pickle_bytes} bytes",
                self.op_at,
            )
        return Abort("parse-error", f"pickle data was truncated ({what})", self.op_at)

    def _set_frame(self, frame_end: int | None) -> None:
        self.frame_end = frame_end
        self.limit = self.end if frame_end is None else min(self.end, frame_end)

    def _take(self, n: int) -> int:
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
                    self._diverge("an opcode argument runs past the end of its FRAME")
                elif self._decide(2) == 0:
                    pos, new = fe, fe + n  # the rest of the frame is dropped
            self._set_frame(None)
        if new > self.end:
            raise self._truncated(f"{n} bytes needed at offset {pos}")
        self.pos = new
        return pos

    def _arg(self, n: int) -> bytes:
        at = self._take(n)
        return bytes(self.data[at : at + n])

    def _uint(self, n: int) -> int:
        if n == 1:
            return self.data[self._take(1)]
        return int.from_bytes(self._arg(n), "little")

    def _sint(self, n: int) -> int:
        return int.from_bytes(self._arg(n), "little", signed=True)

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

    def _line(self) -> bytes:
        """Read one line without its newline, as the loader's readline does."""
        start, end = self._line_span()
        return bytes(self.data[start:end])

    def _line_span(self) -> tuple[int, int]:
        """Like :meth:`_line` but return the line's offsets (long lines are never copied)."""
        pos = self.pos
        fe = self.frame_end
        nl = -1
        if fe is not None and pos < fe:
            nl = self._find_nl(pos, fe)
            if nl < 0:
                if not self.hard:
                    self._diverge("a text opcode's line runs past the end of its FRAME")
                elif self._decide(2) == 0:
                    pos = fe  # readline() on the file, after the frame
                self._set_frame(None)
        elif fe is not None:
            self._set_frame(None)
        if nl < 0:
            nl = self._find_nl(pos, self.end)
        if nl < 0:
            raise self._truncated("line without a newline")
        self.pos = nl + 1
        return pos, nl

    def _decide(self, options: int) -> int:
        """Take the scripted choice at this divergence point (0 by default) and record it."""
        index = len(self.decisions)
        choice = self.script[index] if index < len(self.script) else 0
        self.decisions.append((choice, options))
        return choice

    def _diverge(self, message: str) -> None:
        if not self.hard:
            self.diverged = True
            self._event("pickle-frame-violation", message, self.op_at)

    # ---------------------------------------------------------------- stack ---------------------

    @property
    def fence(self) -> int:
        """Stack index of the innermost MARK (items below it cannot be popped)."""
        return self.marks[-1] if self.marks else 0

    def _underflow(self) -> Abort:
        return Abort("parse-error", "unpickling stack underflow", self.op_at)

    def _pop(self) -> object:
        if len(self.stack) <= self.fence:
            raise self._underflow()
        return self.stack.pop()

    def _top(self) -> object:
        if len(self.stack) <= self.fence:
            raise self._underflow()
        return self.stack[-1]

    def _marker(self) -> int:
        if not self.marks:
            raise Abort("parse-error", "could not find MARK", self.op_at)
        return self.marks.pop()

    def _pop_from(self, start: int) -> list[object]:
        if start < self.fence:
            raise self._underflow()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def _tuple_from(self, start: int) -> tuple[object, ...]:
        items = self._pop_from(start)
        if len(items) > _TUPLE_KEEP:
            return (*items[:_TUPLE_KEEP], Unknown(f"{len(items) - _TUPLE_KEEP} more items"))
        return tuple(items)

    def _memo_put(self, key: int, value: object) -> None:
        if key not in self.memo and len(self.memo) >= self.max_memo:
            raise Abort(
                "scan-limit-exceeded",
                f"pickle memo exceeds the limit of {self.max_memo} entries",
                self.op_at,
            )
        self.memo[key] = value

    def _memo_get(self, key: int) -> None:
        try:
            self.stack.append(self.memo[key])
        except KeyError:
            raise Abort("parse-error", f"memo value not found at index {key}", self.op_at) from None

    def _keep(self, value: object) -> object:
        """Count a new container or call; past the object budget, keep a placeholder instead.

        CPython would build the whole object graph (a chain of 50M one-item tuples is a few
        GB); the scanner keeps at most the budget and reports that evidence stops there.
        Calls are still classified when they happen: only their result is not retained.
        """
        self.kept += 1
        if self.kept <= self.budget:
            return value
        if self.kept == self.budget + 1:
            self._event(
                "scan-limit-exceeded",
                f"more than {self.budget} objects; later objects are not tracked as evidence",
                self.op_at,
            )
        return DEGRADED

    # ---------------------------------------------------------------- constants -----------------

    def _push_bytes(self, n: int, kind: str) -> None:
        if n > sys.maxsize:
            raise Abort("parse-error", f"length {n} exceeds the platform maximum", self.op_at)
        if n > INLINE_BYTES:
            at = self._take(n)
            self.stack.append(Blob(at, n, kind))
            return
        raw = self._arg(n)
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

    def _int_text(self, text: bytes, *, long: bool = False) -> object:
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

    def _global(self, module: str, name: str) -> Global:
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
            self.usage[key] = _Usage(self.op_at)
        return g

    def _use(self, g: Global) -> _Usage:
        return self.usage[(g.module, g.name)]

    def _reconstructs(self, value: object) -> None:
        if isinstance(value, Global):
            self._use(value).reconstructed += 1

    def _call(self, func: object, args: tuple[object, ...], kind: str) -> Call:
        call = Call(func, args, kind, self.op_at)
        if isinstance(func, Global):
            mapped = (func.module, func.name)
            usage = self._use(func)
            if not allowlist.use_is_inert(func.module, func.name, kind, args):
                usage.bad_use = usage.bad_use or call
            if kind == "call" and mapped == ("copyreg", "_reconstructor"):
                call.kind = "reconstruct"
                for arg in args[:2]:
                    self._reconstructs(arg)
            elif kind == "call" and mapped in {
                ("copyreg", "__newobj__"),
                ("copyreg", "__newobj_ex__"),
            }:
                call.kind = "reconstruct"
                self._reconstructs(args[0] if args else None)
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
                        self._call(target[0], target[1], "call")
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
            self._event(
                "pickle-dangerous-call",
                f"calls the result of {root.qualname}, a known-dangerous function",
                call.offset,
                evidence,
            )
        else:
            self._event(
                "pickle-unknown-call",
                "calls an object computed at load time (not a plain import)",
                call.offset,
                evidence,
            )

    def _danger(self, g: Global) -> dangerous.Danger | None:
        if allowlist.is_allowlisted(g.module, g.name, self.allowed):
            return None
        return dangerous.danger_of(g.module, g.name)

    def _instance_class(self, value: object) -> Global | None:
        if not isinstance(value, Call):
            return None
        if value.kind == "reconstruct":
            first = value.args[0] if value.args else None
            return first if isinstance(first, Global) else None
        return value.func if isinstance(value.func, Global) else None

    # ---------------------------------------------------------------- nested pickles ------------

    def _nested(self, call: Call) -> None:
        arg = call.args[0] if call.args else None
        if (
            isinstance(arg, Call)
            and isinstance(arg.func, Global)
            and (arg.func.module, arg.func.name) in {("io", "BytesIO"), ("_io", "BytesIO")}
        ):
            arg = arg.args[0] if arg.args else None
        source = self._bytes_of(arg)
        if source is None:
            return
        buf, lo, hi = source
        where = call.offset - self.origin
        if self.depth + 1 > self.ctx.limits.max_nesting:
            self._event(
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
            self._event(
                "pickle-nested",
                f"passes a {hi - lo}-byte zip archive to a deserializer; archives nested in "
                "pickles are not scanned",
                call.offset,
                render(call),
            )
            return
        inner = _scan(buf, inner_loc, self.ctx, lo, hi, None, self.depth + 1, origin=lo)
        severe = sum(1 for f in inner.findings if f.severity >= Severity.HIGH)
        self._event(
            "pickle-nested",
            f"passes {hi - lo} bytes to a deserializer; the nested pickle was scanned "
            f"({severe} high or critical findings inside)",
            call.offset,
            render(call),
            severity=None if severe else Severity.MEDIUM,
        )
        self.extra.extend(inner.findings)

    def _bytes_of(self, value: object) -> tuple[Buffer, int, int] | None:
        if isinstance(value, (bytes, bytearray)):
            return value, 0, len(value)
        if isinstance(value, Blob) and value.kind not in NOT_BYTES_KINDS:
            return self.data, value.start, value.start + value.length
        if (
            isinstance(value, Call)
            and isinstance(value.func, Global)
            and (value.func.module, value.func.name) == ("_codecs", "encode")
            and value.args
        ):
            text = value.args[0]
            if isinstance(text, Blob):
                if text.length > _MAX_DECODED_NESTED:
                    return None
                raw = bytes(self.data[text.start : text.start + text.length])
                text = raw.decode("utf-8" if text.kind == "utf8" else "latin-1", "replace")
            if isinstance(text, str):
                raw = text.encode("latin-1", "replace")
                return raw, 0, len(raw)
        return None

    # ---------------------------------------------------------------- joblib --------------------

    def _joblib_array(self, state: object) -> None:
        """Skip the raw array bytes joblib's NumpyArrayWrapper.read_array reads after BUILD."""
        self.joblib_arrays += 1
        at = self.op_at
        if not isinstance(state, SDict):
            raise Abort("parse-error", "joblib NumpyArrayWrapper without a state dict", at)
        if self.frame_end is not None and self.pos < self.frame_end:
            raise Abort("parse-error", "joblib array data would start inside a pickle frame", at)
        info = _dtype_info(state.get("dtype"))
        shape = state.get("shape")
        if info is None or not isinstance(shape, tuple):
            raise Abort("parse-error", "joblib NumpyArrayWrapper with an unreadable dtype", at)
        itemsize, hasobject = info
        if hasobject:
            saved = (self.stack, self.marks, self.proto, self.memo, self.joblib)
            # read_array runs a fresh (plain) Unpickler on the same file for object arrays.
            self.memo, self.joblib = {}, False
            try:
                self._one_pickle()
            finally:
                self.stack, self.marks, self.proto, self.memo, self.joblib = saved
            self._set_frame(None)
            return
        count = 1
        for dim in shape:
            if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
                raise Abort("parse-error", "joblib array shape is not a tuple of sizes", at)
            count *= dim
        pos = self.pos
        if state.has("numpy_array_alignment_bytes") and (
            state.get("numpy_array_alignment_bytes") is not None
        ):
            if pos >= self.real_end:
                raise Abort("parse-error", "joblib array padding byte missing", at)
            pos += 1 + self.data[pos]
        nbytes = count * itemsize
        if pos + nbytes > self.real_end:
            raise Abort("parse-error", f"joblib array data ({nbytes} bytes) runs past the end", at)
        self.pos = pos + nbytes
        self.end = min(self.real_end, self.end + (self.pos - at))
        self.limit = self.end
        self._set_frame(None)

    # ---------------------------------------------------------------- results -------------------

    def _event(
        self,
        rule: str,
        message: str,
        offset: int,
        evidence: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        key = (rule, message)
        seen = self.events.get(key)
        if seen is not None:
            seen.count += 1
        elif len(self.events) < MAX_FINDINGS:
            self.events[key] = _Event(rule, message, offset, evidence, severity)

    def findings(self) -> list[Finding]:
        """Turn usage records and events into findings (deterministic order)."""
        self._judge_globals()
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

    def _judge_globals(self) -> None:
        for (module, name), use in self.usage.items():
            mod, nm = module, name
            qual = raw = f"{mod}.{nm}"
            offset = use.call.offset if use.call is not None else use.offset
            evidence = render(use.call) if use.call is not None else raw
            if qual in self.allowed:
                continue
            if allowlist.is_allowlisted(mod, nm):
                if use.bad_use is not None:
                    misuse = dangerous.misuse_of(mod, nm)
                    self._event(
                        "pickle-dangerous-call" if misuse else "pickle-unknown-call",
                        f"calls {qual}: {misuse}"
                        if misuse
                        else f"uses {qual} in a shape the allowlist did not review as inert",
                        use.bad_use.offset,
                        render(use.bad_use),
                    )
                continue
            danger = dangerous.danger_of(mod, nm)
            if danger is not None:
                if use.calls:
                    self._event(
                        "pickle-dangerous-call",
                        f"calls {qual}: {danger.reason} (matched {danger.matched})",
                        offset,
                        evidence,
                    )
                else:
                    self._event(
                        "pickle-dangerous-import",
                        f"imports {qual}: {danger.reason} (matched {danger.matched})",
                        use.offset,
                        raw,
                    )
            elif use.reconstructed and not use.calls and allowlist.known_library(mod):
                self._event(
                    "pickle-class-reconstruction",
                    f"rebuilds an instance of {qual}, a {allowlist.known_library(mod)} class "
                    "that is not on the reviewed allowlist",
                    offset,
                    evidence,
                )
            elif use.calls:
                self._event(
                    "pickle-unknown-call",
                    f"calls {qual}, which is not on the allowlist",
                    offset,
                    evidence,
                )
            else:
                self._event(
                    "pickle-unknown-import",
                    f"imports {qual}, which is not on the allowlist",
                    use.offset,
                    raw,
                )


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


def _dtype_info(value: object) -> tuple[int, bool] | None:
    """Item size and ``hasobject`` of a symbolic ``numpy.dtype(...)`` with its BUILD state."""
    if not isinstance(value, Call) or not isinstance(value.func, Global):
        return None
    if (value.func.module, value.func.name) != ("numpy", "dtype") or not value.args:
        return None
    code = value.args[0]
    if not isinstance(code, str) or not code:
        return None
    code = code.lstrip("<>|=")
    kind, digits = code[:1], code[1:]
    state = value.state if isinstance(value.state, tuple) else ()
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    if kind == "O" or flags & 1:
        return 0, True
    if elsize > 0:
        return elsize, False
    if digits.isdigit() and int(digits) > 0:
        size = int(digits)
        return (size * 4 if kind == "U" else size), False
    return None


# The opcode handlers live in their own module; it imports this one, so it comes last.
from mlchain.scan.pickle.opcodes import OPS as _OPS  # noqa: E402
