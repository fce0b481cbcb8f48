"""NDJSON framing: one JSON-RPC object per line, each line at most ``max_size`` bytes.

This is the only place that knows how messages are delimited. Reading never buffers more
than the cap plus the stream reader's own limit: a line that grows past the cap raises
:class:`MessageTooLarge` as soon as the cap is crossed (not after the whole line has
arrived), and a connection closed in the middle of a line raises :class:`TruncatedMessage`.
Both leave the stream mid-line, so the caller answers (if it can) and closes the connection.

The reader may be created with any ``limit`` (asyncio's default is 64 KiB): longer lines are
gathered in limit-sized pieces, so the cap, not the reader, decides what is too large.

:class:`LineSplitter` applies the same rules to a stream that arrives in pieces without a
reader (the daemon's server is an asyncio Protocol: its ``data_received`` gets the bytes).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from mozart_protocol.errors import ProtocolError

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""16 MiB: far above any real request or reply, far below memory trouble."""

_NEWLINE = b"\n"
_encoder = msgspec.json.Encoder()


class FramingError(ProtocolError):
    """A line could not be read as one whole message."""


class MessageTooLarge(FramingError):
    """A line (or an outgoing message) is longer than the size cap."""

    def __init__(self, size: int, max_size: int) -> None:
        self.size = size
        self.max_size = max_size
        super().__init__(f"message exceeds the {max_size}-byte limit (at least {size} bytes)")


class TruncatedMessage(FramingError):
    """The connection closed in the middle of a line."""

    def __init__(self, partial: int) -> None:
        self.partial = partial
        super().__init__(f"connection closed after {partial} bytes of an unfinished message")


def encode_message(obj: Any, max_size: int | None = None) -> bytes:
    """One message as a line: compact JSON plus ``\\n`` (JSON text never contains a raw one).

    With ``max_size`` an oversized message raises :class:`MessageTooLarge` instead of being
    sent to a peer that would refuse it.
    """
    line = _encoder.encode(obj) + _NEWLINE
    if max_size is not None and len(line) - 1 > max_size:
        raise MessageTooLarge(len(line) - 1, max_size)
    return line


async def read_message(
    reader: asyncio.StreamReader, max_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> bytes | None:
    """The next non-empty line without its newline, or ``None`` at a clean end of stream.

    Raises :class:`MessageTooLarge` when a line passes ``max_size`` bytes and
    :class:`TruncatedMessage` when the stream ends inside a line.
    """
    if max_size < 1:
        raise ValueError("max_size must be positive")
    while True:
        line = await _read_line(reader, max_size)
        if line is None:
            return None
        # Blank lines carry no message; tolerating them keeps hand-typed sessions (nc) working.
        if line.strip():
            return line


async def _read_line(reader: asyncio.StreamReader, max_size: int) -> bytes | None:
    pieces: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await reader.readuntil(_NEWLINE)
        except asyncio.LimitOverrunError as exc:
            # The reader's buffer holds `consumed` bytes of this line and no newline within
            # its limit: take them out and keep going, counting against our own cap.
            chunk = await reader.readexactly(exc.consumed)
            size += len(chunk)
            if size > max_size:
                raise MessageTooLarge(size, max_size) from None
            pieces.append(chunk)
            continue
        except asyncio.IncompleteReadError as exc:
            size += len(exc.partial)
            if size == 0:
                return None
            if size > max_size:
                raise MessageTooLarge(size, max_size) from None
            raise TruncatedMessage(size) from None
        size += len(chunk) - 1
        if size > max_size:
            raise MessageTooLarge(size, max_size)
        pieces.append(chunk[:-1])
        return b"".join(pieces)


class LineSplitter:
    """:func:`read_message`'s rules for bytes fed as they arrive: :meth:`feed` returns the
    complete non-blank lines (without their newline) of what has arrived so far and holds
    back an unfinished one. A line longer than ``max_size`` sets ``too_large`` (its size so
    far) as soon as the cap is crossed: the lines before it are returned, nothing after
    (the stream cannot be re-synchronised), and nothing of it is kept. ``partial``: the
    bytes of the unfinished line held (at the end of the stream, a truncated message)."""

    __slots__ = ("_pieces", "max_size", "partial", "too_large")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self.partial = 0
        self.too_large: int | None = None
        self._pieces: list[bytes] = []  # of the unfinished line: joined once it ends

    def feed(self, data: bytes) -> list[bytes]:
        if self.too_large is not None:
            return []
        lines = data.split(_NEWLINE)
        rest = lines.pop()
        pieces = self._pieces
        if not lines:  # no newline: the unfinished line grows
            self.partial += len(rest)
            if self.partial > self.max_size:
                return self._refuse([], self.partial)
            pieces.append(rest)
            return []
        if pieces:
            pieces.append(lines[0])
            lines[0] = b"".join(pieces)
            pieces.clear()
        if rest:
            pieces.append(rest)
        self.partial = len(rest)
        if max(map(len, lines)) > self.max_size or self.partial > self.max_size:
            for index, line in enumerate(lines):
                if len(line) > self.max_size:
                    return self._refuse(lines[:index], len(line))
            return self._refuse(lines, self.partial)
        # Blank lines carry no message (see read_message).
        return list(filter(bytes.strip, lines))

    def _refuse(self, before: list[bytes], size: int) -> list[bytes]:
        self.too_large = size
        self.partial = 0
        self._pieces = []
        return list(filter(bytes.strip, before))


def decode_message(line: bytes) -> Any:
    """A line's JSON value (raises ``msgspec.DecodeError`` on malformed JSON)."""
    return msgspec.json.decode(line)
