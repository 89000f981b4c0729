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

The parts: :mod:`.machine` is one pass over a stream (state and the primitives the handlers
use), :mod:`.opcodes` the handlers, :mod:`.verdict` the grading of the globals a pass saw, and
this module the driver that runs the passes, merges their findings and recurses into nested
pickles.

Memory never follows claimed lengths: a length is checked against the bytes present before any
read, long constants stay in the input (:class:`~mlchain.scan.pickle.values.Blob`), containers
keep a bounded prefix, past an object budget new objects are placeholders, and opcodes, memo,
stack, nesting and time are bounded by :class:`~mlchain.scan.base.Limits`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.pickle.machine import LEGACY_TORCH, Buffer, Machine
from mlchain.scan.pickle.opcodes import OPS
from mlchain.scan.pickle.verdict import judge_globals

__all__ = ["MAX_READINGS", "PickleScan", "TorchFileScan", "scan_pickle"]

MAX_READINGS = 32
"""Readings of a stream whose opcodes cross FRAME boundaries (see ``_scan``)."""

TorchFileScan = Callable[[memoryview, Location, ScanContext, int], "list[Finding] | None"]
"""``(buf, location, ctx, depth) -> findings``: scan ``buf`` as a legacy ``torch.save`` file,
or ``None`` when ``buf`` is not one. Handed in by the scanner that owns the container reader."""


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
    torch_file: TorchFileScan | None = None,
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
        torch_file: How to read bytes handed to a nested ``torch.load`` as a legacy torch
            file (``torch.storage._load_from_bytes`` of pickled tensors), handed in by the
            caller that owns that reader; without it such bytes are scanned as a pickle stream.

    Returns:
        The findings, where parsing ended, how many pickles completed and every global.
    """
    return _scan(data, location, ctx, start, len(data), max_pickles, depth, 0, torch_file)


def _scan(
    data: Buffer,
    location: Location,
    ctx: ScanContext,
    start: int,
    stop: int,
    max_pickles: int | None,
    depth: int,
    origin: int,
    torch_file: TorchFileScan | None,
) -> PickleScan:
    def _machine(*, script: tuple[int, ...] | None = None, joblib: bool = True) -> Machine:
        return Machine(
            data,
            location,
            ctx,
            start,
            stop,
            depth,
            origin,
            ops=OPS,
            nested=functools.partial(_scan_nested, torch_file=torch_file),
            script=script,
            joblib=joblib,
        )

    first = _machine()
    end, pickles = first.run(max_pickles)
    findings = _findings(first)
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
            other = _machine(script=script)
            other.run(max_pickles)
            readings += 1
            found |= other.globals
            for f in _findings(other):
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
        plain = _machine(joblib=False)
        plain.run(max_pickles)
        found |= plain.globals
        for f in _findings(plain):
            if f.severity >= Severity.CRITICAL and _fkey(f) not in keys:
                keys.add(_fkey(f))
                findings.append(f)
    return PickleScan(findings, end, pickles, found)


def _fkey(f: Finding) -> tuple[str, int | None, str]:
    return (f.rule_id, f.location.offset, f.message)


def _scan_nested(
    buf: Buffer,
    location: Location,
    ctx: ScanContext,
    lo: int,
    hi: int,
    depth: int,
    *,
    torch_file: TorchFileScan | None,
) -> tuple[list[Finding], str]:
    """The recursion handed to each machine: scan ``buf[lo:hi]`` as the nested loader reads it.

    A legacy torch serialization (pickled tensors) goes to ``torch_file`` when the caller
    handed one in; everything else is a pickle stream for this VM.
    """
    if torch_file is not None:
        with memoryview(buf) as whole, whole[lo:hi] as view:
            found = torch_file(view, location, ctx, depth)
        if found is not None:
            return found, LEGACY_TORCH
    return _scan(buf, location, ctx, lo, hi, None, depth, lo, torch_file).findings, "pickle"


def _findings(machine: Machine) -> list[Finding]:
    """The verdict on the globals a pass saw, then every event of the pass, as findings."""
    for ev in judge_globals(machine.usage, machine.allowed):
        machine.event(ev.rule, ev.message, ev.offset, ev.evidence)
    return machine.findings()
