"""TensorFlow Lite models (``.tflite``): the custom and Flex operators they need.

A TFLite model is a flatbuffer (file identifier ``TFL3``) whose ``operator_codes`` list every
operator its subgraphs run. Builtin operators are kernels of the TFLite runtime itself. Two kinds
are not:

* **custom** operators (``BuiltinOperator.CUSTOM`` plus a ``custom_code`` name) run whatever
  native implementation the application registered under that name: ``tflite-custom-op`` (high),
  except the few the stock ``BuiltinOpResolver`` provides (``TFLite_Detection_PostProcess``,
  ``Mfcc``, ``AudioSpectrogram``);
* **Flex** operators (``custom_code`` ``Flex<TensorFlow op>``) run TensorFlow kernels through the
  Flex delegate: the TensorFlow op is judged like a SavedModel op (``tf-python-op``,
  ``tf-io-op``, ``tf-custom-op``), and an ordinary compute op is ``tflite-flex-op`` (low).

The flatbuffer is read with bounds checks on every offset; a file that does not parse is
``model-unsupported`` (the runtime would refuse it, or read it differently).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

from mlchain.models import Finding, Location
from mlchain.scan.base import Artifact, ScanContext, finding

CUSTOM = 32
"""``BuiltinOperator.CUSTOM``."""
RUNTIME_CUSTOM_OPS = frozenset({"TFLite_Detection_PostProcess", "Mfcc", "AudioSpectrogram"})
"""Custom ops registered by the stock ``BuiltinOpResolver``."""
MAX_OPERATOR_CODES = 100_000
_MODEL_OPERATOR_CODES = 1
_CODE_DEPRECATED, _CODE_CUSTOM, _CODE_BUILTIN = 0, 1, 3


class Malformed(Exception):
    """The flatbuffer does not parse."""


class _Flat:
    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf = buf
        self.size = len(buf)

    def uint(self, pos: int, n: int, *, signed: bool = False) -> int:
        if pos < 0 or pos + n > self.size:
            raise Malformed(f"offset {pos} outside the file")
        return int.from_bytes(self.buf[pos : pos + n], "little", signed=signed)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or ``None``."""
        vtable = table - self.uint(table, 4, signed=True)
        vsize = self.uint(vtable, 2)
        slot = 4 + 2 * index
        if slot + 2 > vsize:
            return None
        rel = self.uint(vtable + slot, 2)
        return table + rel if rel else None

    def deref(self, pos: int) -> int:
        return pos + self.uint(pos, 4)

    def vector(self, pos: int) -> tuple[int, int]:
        vec = self.deref(pos)
        length = self.uint(vec, 4)
        if vec + 4 + 4 * length > self.size:
            raise Malformed("vector runs past the end of the file")
        return vec + 4, length

    def string(self, pos: int, limit: int = 256) -> str:
        start = self.deref(pos)
        length = self.uint(start, 4)
        if start + 4 + length > self.size:
            raise Malformed("string runs past the end of the file")
        return bytes(self.buf[start + 4 : start + 4 + min(length, limit)]).decode(
            "utf-8", "replace"
        )


def operator_codes(buf: mmap.mmap | bytes) -> list[tuple[int, str | None]]:
    """``(builtin code, custom code)`` for every operator code of the model.

    Raises:
        Malformed: when the flatbuffer does not parse.
    """
    flat = _Flat(buf)
    if flat.size < 8 or bytes(buf[4:8]) != b"TFL3":
        raise Malformed("no TFL3 file identifier")
    model = flat.deref(0)
    pos = flat.field(model, _MODEL_OPERATOR_CODES)
    if pos is None:
        return []
    first, count = flat.vector(pos)
    if count > MAX_OPERATOR_CODES:
        raise Malformed(f"{count} operator codes")
    codes: list[tuple[int, str | None]] = []
    for i in range(count):
        table = flat.deref(first + 4 * i)
        deprecated = flat.field(table, _CODE_DEPRECATED)
        builtin = flat.field(table, _CODE_BUILTIN)
        custom = flat.field(table, _CODE_CUSTOM)
        code = max(
            flat.uint(deprecated, 1, signed=True) if deprecated is not None else 0,
            flat.uint(builtin, 4, signed=True) if builtin is not None else 0,
        )
        codes.append((code, flat.string(custom) if custom is not None else None))
    return codes


def judge_custom(name: str, location: Location) -> Iterator[Finding]:
    """Findings for one custom operator name."""
    from mlchain.scan.savedmodel import FILE_OPS, NETWORK_OPS, PATH_OPS, PYTHON_OPS, known_ops

    if name in RUNTIME_CUSTOM_OPS:
        return
    if name.startswith("Flex") and len(name) > 4:
        op = name[4:]
        if op in PYTHON_OPS:
            yield finding(
                "tf-python-op", f"Flex op {name} calls a Python function", location, evidence=name
            )
        elif op in FILE_OPS or op in NETWORK_OPS or op in PATH_OPS:
            yield finding(
                "tf-io-op",
                f"Flex op {name} runs TensorFlow's {op}, which reads or writes files or the "
                "network",
                location,
                evidence=name,
            )
        elif op not in known_ops():
            yield finding(
                "tf-custom-op",
                f"Flex op {name} names a TensorFlow op no stock build registers",
                location,
                evidence=name,
            )
        else:
            yield finding(
                "tflite-flex-op",
                f"model runs the TensorFlow kernel {op} through the Flex delegate",
                location,
                evidence=name,
            )
        return
    yield finding(
        "tflite-custom-op",
        f"model needs the custom operator {name!r}: the application must register a native "
        "implementation for it",
        location,
        evidence=name,
    )


class TfliteScanner:
    """Scans ``.tflite`` flatbuffers for custom and Flex operators."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield operator findings, or ``model-unsupported`` for an unparsable flatbuffer."""
        del ctx
        with (
            artifact.path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            try:
                codes = operator_codes(buf)
            except Malformed as exc:
                yield finding(
                    "model-unsupported",
                    "TFLite flatbuffer does not parse; the runtime may still read it differently",
                    artifact.location,
                    evidence=str(exc),
                )
                return
        seen: set[str] = set()
        for code, custom in codes:
            if code == CUSTOM:
                name = custom or ""
                if name not in seen:
                    seen.add(name)
                    yield from judge_custom(name, artifact.location)


__all__ = ["RUNTIME_CUSTOM_OPS", "Malformed", "TfliteScanner", "judge_custom", "operator_codes"]
