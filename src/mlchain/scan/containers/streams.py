"""Streaming decompression with bounded memory, size and ratio limits.

Compressed input is fed in chunks and output is produced with ``max_length`` bounds, so a
decompression bomb never materialises in memory. Output that must be scanned is spooled to an
anonymous temporary file and memory-mapped (:class:`Spool`): memory use does not grow with the
data. A limit hit stops decompression and is reported by the caller as ``archive-bomb``.
"""

from __future__ import annotations

import bz2
import lzma
import mmap
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

OUT_CHUNK = 1 << 20
RATIO_FLOOR = 1 << 20
"""Ratios are judged only once this much output exists: tiny files compress absurdly well."""
IN_MEMORY = 4 << 20
"""Spools up to this size stay in memory; larger ones go to an anonymous temporary file."""

CODECS = frozenset({"stored", "deflate", "zlib", "gzip", "bz2", "xz"})


class CorruptStream(Exception):
    """The compressed data is corrupt or truncated."""


class LimitHit(Exception):
    """Decompression stopped at a size or ratio limit."""

    def __init__(self, message: str, produced: int) -> None:
        super().__init__(message)
        self.produced = produced


class TimeUp(LimitHit):
    """Decompression stopped because the file's time budget is spent."""


def _new(codec: str) -> Any:
    if codec == "deflate":
        return zlib.decompressobj(-15)
    if codec == "zlib":
        return zlib.decompressobj(15)
    if codec == "gzip":
        return zlib.decompressobj(31)
    if codec == "bz2":
        return bz2.BZ2Decompressor()
    if codec == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_AUTO)
    raise ValueError(f"unknown codec {codec}")


@dataclass(slots=True)
class Inflater:
    """Decompress one stream (or a run of concatenated streams) incrementally.

    Attributes:
        codec: ``stored``, ``deflate`` (raw), ``zlib``, ``gzip``, ``bz2`` or ``xz`` (xz and the
            raw ``.lzma`` "alone" format).
        multi_stream: continue with the bytes after the end of a stream as a new stream, as
            ``gzip``/``bz2``/``xz`` command-line tools and Python's modules do.
    """

    codec: str
    multi_stream: bool = False
    bytes_in: int = 0
    bytes_out: int = 0
    trailing: int = 0
    """Bytes after the end of the (last) stream that were not decompressed."""
    finished: bool = False
    """Whether the end-of-stream marker was seen (always true for ``stored``)."""

    def run(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield decompressed output for the compressed ``chunks``.

        Raises:
            CorruptStream: when the data is not valid for the codec.
        """
        if self.codec == "stored":
            for data in chunks:
                self.bytes_in += len(data)
                self.bytes_out += len(data)
                yield data
            self.finished = True
            return
        try:
            yield from self._run(chunks)
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            raise CorruptStream(str(exc)) from exc

    def _run(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        dec = _new(self.codec)
        is_zlib = self.codec in {"deflate", "zlib", "gzip"}
        for data in chunks:
            self.bytes_in += len(data)
            pending = data
            while pending:
                if self.finished and not self.multi_stream:
                    self.trailing += len(pending)
                    break
                if dec.eof:
                    dec = _new(self.codec)
                try:
                    out = dec.decompress(pending, OUT_CHUNK)
                except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
                    if not self.finished:
                        raise
                    # Garbage after a complete stream: Python's gzip/bz2/lzma readers (and
                    # joblib through them) stop there too; it is counted as trailing data.
                    self.trailing += len(pending)
                    self.multi_stream = False
                    break
                pending = b""
                self.bytes_out += len(out)
                if out:
                    yield out
                while not dec.eof:
                    if is_zlib:
                        if not dec.unconsumed_tail:
                            break
                        out = dec.decompress(dec.unconsumed_tail, OUT_CHUNK)
                    else:
                        if dec.needs_input:
                            break
                        out = dec.decompress(b"", OUT_CHUNK)
                    self.bytes_out += len(out)
                    if out:
                        yield out
                    elif not is_zlib:
                        break
                if dec.eof:
                    self.finished = True
                    pending = dec.unused_data
                    if pending and self.multi_stream and not pending.strip(b"\x00"):
                        # gzip/bz2 tools tolerate zero padding after the last member
                        self.trailing += len(pending)
                        pending = b""
        if is_zlib and not dec.eof:
            out = dec.flush()
            self.bytes_out += len(out)
            if out:
                yield out


class Spool:
    """Decompressed bytes kept in memory when small or in an mmap'ed anonymous temp file."""

    def __init__(self) -> None:
        self._mem: bytearray | None = bytearray()
        self._file: IO[bytes] | None = None
        self._map: mmap.mmap | None = None
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self.size += len(data)
        if self._mem is not None:
            self._mem += data
            if len(self._mem) <= IN_MEMORY:
                return
            import tempfile  # only for members past IN_MEMORY; it costs a few ms to import

            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            self._file.write(self._mem)
            self._mem = None
            return
        assert self._file is not None
        self._file.write(data)

    def view(self) -> bytes | mmap.mmap:
        """The whole content (call once writing is done)."""
        if self._mem is not None:
            return bytes(self._mem)
        assert self._file is not None
        self._file.flush()
        if self._map is None:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def close(self) -> None:
        """Release the map and the temporary file."""
        if self._map is not None:
            with suppress(BufferError):  # a view is still referenced somewhere; GC frees it
                self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._mem = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spool(
    inflater: Inflater,
    chunks: Iterable[bytes],
    *,
    max_bytes: int,
    max_ratio: int,
    stop_after: int | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> Spool:
    """Decompress ``chunks`` into a :class:`Spool`, enforcing the limits as data arrives.

    ``stop_after`` ends early (without error) once that many bytes exist: used to sniff a
    member's head. ``out_of_time`` is polled once per output chunk.

    Raises:
        LimitHit: when the output exceeds ``max_bytes`` or the ratio exceeds ``max_ratio``
            (:class:`TimeUp` when ``out_of_time`` says so).
        CorruptStream: when the data is corrupt.
    """
    out = Spool()
    try:
        for data in inflater.run(chunks):
            out.write(data)
            produced = inflater.bytes_out
            if produced > max_bytes:
                raise LimitHit(f"decompresses past the limit of {max_bytes} bytes", produced)
            if produced > RATIO_FLOOR and produced > max_ratio * max(inflater.bytes_in, 1):
                raise LimitHit(
                    f"expands more than {max_ratio}:1 ({inflater.bytes_in} bytes in, "
                    f"{produced} bytes out so far)",
                    produced,
                )
            if stop_after is not None and produced >= stop_after:
                break
            if out_of_time is not None and out_of_time():
                raise TimeUp("time limit reached while decompressing", produced)
    except BaseException:
        out.close()
        raise
    return out


def head_of(inflater: Inflater, chunks: Iterable[bytes], size: int, *, max_ratio: int) -> bytes:
    """Decompress just enough of ``chunks`` for ``size`` bytes of output (for sniffing).

    Raises:
        LimitHit: on an extreme ratio (tiny input, huge output).
        CorruptStream: when the data is corrupt.
    """
    with spool(inflater, chunks, max_bytes=1 << 62, max_ratio=max_ratio, stop_after=size) as sp:
        data = sp.view()
        return bytes(data[:size])
