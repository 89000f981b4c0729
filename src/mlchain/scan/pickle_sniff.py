"""A cheap "is this a protocol 0/1 pickle?" test for format detection.

Protocol 2+ pickles announce themselves with PROTO; older ones do not, and attackers use them in
``.bin`` files precisely because name- and magic-based checks miss them. This walks the opcodes
of the file's head with their argument sizes and accepts it when the walk reaches STOP (or the end
of a full head) without an invalid opcode. The real analysis happens in the pickle scanner.
"""

from __future__ import annotations

import pickletools
import struct

_BY_CODE: dict[int, pickletools.OpcodeInfo] = {
    op.code.encode("latin-1")[0]: op for op in pickletools.opcodes
}
OPCODE_BYTES = frozenset(_BY_CODE)
"""Every byte that is a pickle opcode (any protocol)."""
_UINT_SIZES = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, "<B"),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, "<i"),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, "<I"),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, "<Q"),
}
_MIN_OPCODES = 3


_CALLS = frozenset(b"Rbio\x81\x92")
"""REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX: opcodes that call what was imported (GLOBAL,
INST and STACK_GLOBAL are the only ways a stream gets hold of a callable)."""


def sniff_pickle(
    head: bytes, *, head_is_whole_file: bool | None = None, total_size: int | None = None
) -> bool:
    """Return True when ``head`` parses as the start of a pickle opcode stream.

    ``total_size`` (the size of the content ``head`` starts) lets an argument that runs past the
    head be judged: one that runs past the end of the content makes the stream invalid there.

    A stream that breaks (an invalid opcode, a truncated argument) after it imported a global
    and called it still counts: the loader runs those opcodes before it fails (the nullifAI
    technique), so the VM must see them.
    """
    pos = 0
    count = 0
    end = len(head)
    imported = armed = False
    while pos < end:
        op = _BY_CODE.get(head[pos])
        if op is None:
            return armed
        pos += 1
        count += 1
        arg = op.arg
        if arg is not None:
            n = arg.n
            if n >= 0:
                pos += n
            elif n == pickletools.UP_TO_NEWLINE:
                newline = head.find(b"\n", pos)
                if newline < 0:
                    return armed or _accept_cut(count, head_is_whole_file)
                line = head[pos:newline]
                if not _line_ok(op.code, line):
                    return armed
                pos = newline + 1
                if op.code in ("c", "i"):  # GLOBAL and INST take two lines: module and name
                    newline = head.find(b"\n", pos)
                    if newline < 0:
                        return armed or _accept_cut(count, head_is_whole_file)
                    name = head[pos:newline]
                    if not name.strip():
                        return armed
                    pos = newline + 1
                    # Only a name the loader can import arms the stream (random bytes do not).
                    imported = imported or (_importable(line) and _importable(name))
            elif n in _UINT_SIZES:
                size, fmt = _UINT_SIZES[n]
                if pos + size > end:
                    return armed or _accept_cut(count, head_is_whole_file)
                (length,) = struct.unpack_from(fmt, head, pos)
                if length < 0:
                    return armed
                pos += size + length
            else:  # pragma: no cover - pickletools has no other kinds
                return False
            if total_size is not None and pos > total_size:
                return armed  # the argument runs past the end of the content
        code = ord(op.code)
        imported = imported or code == 0x93  # STACK_GLOBAL
        armed = armed or (imported and code in _CALLS)
        if op.code == ".":
            return count >= _MIN_OPCODES or (count >= 2 and head[0] != ord("."))
    return armed or _accept_cut(count, head_is_whole_file)


def _importable(name: bytes) -> bool:
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() and not any(c.isspace() for c in text)


_NUMBER_TOKEN = frozenset(b"0123456789abcdefABCDEFxXoObB_+-.nNiItTyY")


def _line_ok(code: str, line: bytes) -> bool:
    if code in {"I", "L", "F", "p", "g", "J"}:
        # Deliberately as loose as the loader: CPython parses these lines with base-0 integer
        # and float conversions, so "0x1f", "0o7", "1_000", "inf" and "nan" are all valid, and a
        # stricter sniff would wave a real protocol-0 pickle through as inert text. One token,
        # no inner whitespace, is all we ask; prose ("I like numbers") still fails.
        text = line.rstrip(b"L").strip()
        return bool(text) and all(c in _NUMBER_TOKEN for c in text)
    if code == "S":
        return len(line) >= 2 and line[:1] in (b"'", b'"') and line[-1:] == line[:1]
    if code in ("c", "i"):
        return bool(line.strip()) and b" " not in line.strip()
    return True


def _accept_cut(count: int, head_is_whole_file: bool | None) -> bool:
    # A stream that runs off the end of the head of a larger file may be a pickle: one opcode
    # with a long argument (BINBYTES8, a long UNICODE line) spans any window, so no count of
    # opcodes seen proves anything (mlchain issue #13, class 2). Without an invalid opcode in
    # the head, the VM decides on the whole file. A whole file must reach STOP.
    return head_is_whole_file is False and count >= 1
