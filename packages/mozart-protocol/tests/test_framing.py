"""NDJSON framing: line boundaries, the size cap, truncation and clean EOF."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from mozart_protocol import framing
from mozart_protocol.errors import ProtocolError
from mozart_protocol.framing import LineSplitter, MessageTooLarge, TruncatedMessage, read_message


def reader_with(data: bytes, *, limit: int = 2**16, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def read_all(reader: asyncio.StreamReader, max_size: int = 1024) -> list[bytes]:
    out = []
    while (line := await read_message(reader, max_size)) is not None:
        out.append(line)
    return out


def test_encode_is_one_compact_line() -> None:
    line = framing.encode_message({"a": "x\ny", "b": [1, 2]})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1  # the newline inside the string is escaped
    assert msgspec.json.decode(line) == {"a": "x\ny", "b": [1, 2]}


def test_encode_refuses_oversized_message() -> None:
    with pytest.raises(MessageTooLarge):
        framing.encode_message({"x": "a" * 100}, max_size=50)
    assert framing.encode_message({"x": "a"}, max_size=50).endswith(b"\n")


def test_default_cap_is_16_mib() -> None:
    assert framing.DEFAULT_MAX_MESSAGE_SIZE == 16 * 1024 * 1024


async def test_many_messages_in_one_chunk() -> None:
    data = b"".join(framing.encode_message({"i": i}) for i in range(100))
    lines = await read_all(reader_with(data))
    assert [msgspec.json.decode(line)["i"] for line in lines] == list(range(100))


async def test_messages_split_across_chunks_at_every_boundary() -> None:
    data = framing.encode_message({"first": 1}) + framing.encode_message({"second": 2})
    for cut in range(1, len(data)):
        reader = asyncio.StreamReader()
        reader.feed_data(data[:cut])

        async def feed_rest(r: asyncio.StreamReader = reader, rest: bytes = data[cut:]) -> None:
            await asyncio.sleep(0)
            r.feed_data(rest)
            r.feed_eof()

        feeder = asyncio.create_task(feed_rest())
        lines = await read_all(reader)
        await feeder
        assert lines == [b'{"first":1}', b'{"second":2}'], cut


async def test_blank_lines_are_skipped() -> None:
    assert await read_all(reader_with(b'\n\r\n{"a":1}\n\n')) == [b'{"a":1}']


async def test_clean_eof_returns_none() -> None:
    assert await read_message(reader_with(b"")) is None


async def test_truncated_line_raises() -> None:
    reader = reader_with(b'{"a":1}\n{"b":')
    assert await read_message(reader) == b'{"a":1}'
    with pytest.raises(TruncatedMessage) as info:
        await read_message(reader)
    assert info.value.partial == 5
    assert isinstance(info.value, ProtocolError)


async def test_line_at_the_cap_is_accepted_one_more_byte_is_not() -> None:
    exact = b"x" * 100 + b"\n"
    assert await read_message(reader_with(exact), max_size=100) == b"x" * 100
    with pytest.raises(MessageTooLarge) as info:
        await read_message(reader_with(b"x" * 101 + b"\n"), max_size=100)
    assert info.value.max_size == 100


async def test_cap_above_the_reader_limit() -> None:
    # asyncio's reader limit is 64 KiB by default; the cap must win, not the reader.
    big = b"y" * 300_000
    assert await read_message(reader_with(big + b"\n", limit=1024), max_size=400_000) == big
    with pytest.raises(MessageTooLarge):
        await read_message(reader_with(big + b"\n", limit=1024), max_size=200_000)


async def test_oversized_line_fails_before_it_ends() -> None:
    # No newline ever arrives and the stream stays open: reading must not wait for the
    # rest or buffer it, it must fail once the cap is crossed.
    reader = reader_with(b"z" * 10_000, limit=512, eof=False)
    with pytest.raises(MessageTooLarge):
        await asyncio.wait_for(read_message(reader, max_size=4096), timeout=5)


async def test_oversized_then_eof_is_too_large_not_truncated() -> None:
    with pytest.raises(MessageTooLarge):
        await read_message(reader_with(b"q" * 200), max_size=100)


async def test_invalid_max_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        await read_message(reader_with(b"{}\n"), max_size=0)


def test_decode_message() -> None:
    assert framing.decode_message(b'{"jsonrpc":"2.0"}') == {"jsonrpc": "2.0"}
    with pytest.raises(msgspec.DecodeError):
        framing.decode_message(b"{nope")


def split_all(chunks: list[bytes], max_size: int = 1024) -> tuple[list[bytes], LineSplitter]:
    splitter = LineSplitter(max_size)
    lines = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    return lines, splitter


def test_splitter_gives_what_read_message_gives_at_every_cut() -> None:
    data = b'{"first":1}\n\n  \r\n{"second":2}\r\n{"third":'
    for cut in range(len(data) + 1):
        for second in range(cut, len(data) + 1):
            chunks = [data[:cut], data[cut:second], data[second:]]
            lines, splitter = split_all(chunks)
            assert lines == [b'{"first":1}', b'{"second":2}\r'], (cut, second)
            assert splitter.partial == len(b'{"third":') and splitter.too_large is None


def test_splitter_many_lines_in_one_piece() -> None:
    data = b"".join(framing.encode_message({"i": i}) for i in range(100))
    lines, splitter = split_all([data])
    assert [msgspec.json.decode(line)["i"] for line in lines] == list(range(100))
    assert splitter.partial == 0


def test_splitter_line_at_the_cap_is_accepted_one_more_byte_is_not() -> None:
    lines, splitter = split_all([b"x" * 50, b"x" * 50 + b"\n"], max_size=100)
    assert lines == [b"x" * 100] and splitter.too_large is None
    lines, splitter = split_all([b"ok\n" + b"x" * 50, b"x" * 51 + b"\nafter\n"], max_size=100)
    assert lines == [b"ok"] and splitter.too_large == 101
    assert splitter.feed(b"more\n") == []  # nothing after it: the stream is lost


def test_splitter_oversized_line_fails_before_it_ends() -> None:
    splitter = LineSplitter(4096)
    for _ in range(4):
        assert splitter.feed(b"z" * 1000) == [] and splitter.too_large is None
    assert splitter.feed(b"z" * 1000) == [] and splitter.too_large == 5000
    assert splitter.partial == 0  # nothing of it is kept
    lines, splitter = split_all([b"a\n" + b"z" * 200], max_size=100)
    assert lines == [b"a"] and splitter.too_large == 200


def test_splitter_invalid_max_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        LineSplitter(0)
