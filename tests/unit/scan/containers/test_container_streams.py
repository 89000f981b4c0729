"""Streaming decompression: multi-stream, trailing data, limits, spooling to disk."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

import pytest

from mlchain.scan.containers import streams
from mlchain.scan.containers.streams import CorruptStream, Inflater, LimitHit, spool


def run(codec: str, data: bytes, *, multi: bool = False) -> tuple[bytes, Inflater]:
    inflater = Inflater(codec, multi_stream=multi)
    out = b"".join(inflater.run([data[i : i + 7] for i in range(0, len(data), 7)]))
    return out, inflater


@pytest.mark.parametrize(
    ("codec", "compress"),
    [
        ("zlib", zlib.compress),
        ("gzip", gzip.compress),
        ("bz2", bz2.compress),
        ("xz", lzma.compress),
        ("xz", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
    ],
)
def test_round_trip_in_small_chunks(codec: str, compress: object) -> None:
    data = bytes(range(256)) * 50
    out, inflater = run(codec, compress(data))  # type: ignore[operator]
    assert out == data
    assert inflater.finished


def test_concatenated_gzip_members_are_all_read() -> None:
    out, inflater = run("gzip", gzip.compress(b"one") + gzip.compress(b"two"), multi=True)
    assert out == b"onetwo"
    assert inflater.trailing == 0


def test_trailing_bytes_after_zlib_stream_are_counted() -> None:
    out, inflater = run("zlib", zlib.compress(b"abc") + b"JUNK")
    assert out == b"abc"
    assert inflater.trailing == 4


def test_truncated_stream_is_not_finished() -> None:
    data = zlib.compress(bytes(range(256)) * 20)
    _, inflater = run("zlib", data[:-10])
    assert not inflater.finished


def test_corrupt_stream_raises_corrupt() -> None:
    with pytest.raises(CorruptStream):
        run("bz2", b"BZh9" + b"\xff" * 40)


def test_ratio_limit_stops_early() -> None:
    bomb = bz2.compress(bytes(50 << 20))
    with pytest.raises(LimitHit) as info:
        spool(Inflater("bz2"), [bomb], max_bytes=1 << 40, max_ratio=100)
    assert info.value.produced < 50 << 20


def test_size_limit_stops_early() -> None:
    data = zlib.compress(bytes(range(256)) * 10_000)
    with pytest.raises(LimitHit):
        spool(Inflater("zlib"), [data], max_bytes=100_000, max_ratio=10**9)


def test_large_output_goes_to_a_mapped_temp_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "IN_MEMORY", 1000)
    data = bytes(range(256)) * 100
    with spool(Inflater("zlib"), [zlib.compress(data)], max_bytes=1 << 30, max_ratio=1000) as sp:
        view = sp.view()
        assert not isinstance(view, bytes)
        assert view[:] == data
        del view
