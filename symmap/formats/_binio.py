"""Bounds-checked reads over bytes, memoryview or mmap.

Every parser reads through these so a truncated or hostile file raises
``CorruptInput`` (never ``struct.error``/``IndexError``) and so loop bounds
come from the real data size, not from counts read out of the input.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import mmap

from symmap.errors import CorruptInput

Buffer = Union[bytes, bytearray, memoryview, "mmap.mmap"]  # noqa: F821

__all__ = ["Buffer", "unpack_at", "cstring_at", "check_range", "bounded_count",
           "read_uleb128"]


def check_range(buf_len: int, off: int, size: int, what: str, path: str | None = None,
                fmt: str = "file") -> None:
    """Raise CorruptInput unless [off, off+size) lies inside a buffer of buf_len."""
    if off < 0 or size < 0 or off + size > buf_len:
        raise CorruptInput(fmt, f"{what} [{off:#x}+{size:#x}] lies outside the data "
                           f"({buf_len:#x} bytes)", path)


def unpack_at(st: struct.Struct, buf: Buffer, off: int, what: str = "record",
              path: str | None = None, fmt: str = "file") -> tuple[Any, ...]:
    """``st.unpack_from(buf, off)`` with a bounds check that names what failed."""
    if off < 0 or off + st.size > len(buf):
        raise CorruptInput(fmt, f"truncated {what} ({st.size} bytes needed, "
                           f"{max(0, len(buf) - max(off, 0))} left)", path, off)
    return st.unpack_from(buf, off)


def cstring_at(buf: Buffer, off: int, limit: int = 4096, end: int | None = None) -> str:
    """NUL-terminated string at off, at most `limit` bytes, never past `end`.

    Undecodable bytes are kept as surrogate escapes so renderers can escape
    them; a missing terminator yields the bytes up to the bound.
    """
    n = len(buf) if end is None else min(end, len(buf))
    if off < 0 or off >= n:
        return ""
    stop = min(n, off + limit)
    if isinstance(buf, (bytes, bytearray)):
        i = buf.find(b"\0", off, stop)
        raw = bytes(buf[off: stop if i < 0 else i])
    else:
        chunk = bytes(buf[off:stop])
        i = chunk.find(b"\0")
        raw = chunk if i < 0 else chunk[:i]
    return raw.decode("utf-8", "surrogateescape")


def bounded_count(count: int, item_size: int, avail: int) -> int:
    """Clamp an untrusted element count to what `avail` bytes can hold."""
    if count <= 0 or item_size <= 0 or avail <= 0:
        return 0
    return min(count, avail // item_size)


def read_uleb128(buf: Buffer, off: int, end: int) -> tuple[int, int]:
    """Decode ULEB128 at off; returns (value, new_off).  Raises ValueError past end."""
    result = 0
    shift = 0
    while True:
        if off >= end:
            raise ValueError("uleb128 runs past its data")
        b = buf[off]
        off += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, off
        shift += 7
        if shift > 70:
            raise ValueError("uleb128 too long")
