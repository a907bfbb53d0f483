"""A read-only buffer over target memory, fetched lazily in chunks.

The symbol readers in symmap.formats.macho.symbols need slicing and
``find`` over a linkedit range.  A shared-cache dylib's __LINKEDIT covers
the whole cache's linkedit (hundreds of MB: every dylib's strings), so it
is never read whole: only the chunks a lookup touches (lldb does the same,
ObjectFileMachO "load strings individually from memory").
"""
from __future__ import annotations

from typing import overload

from symmap.model import MemoryReader

__all__ = ["MemoryBuffer"]

_CHUNK = 0x4000
_MAX_CHUNKS = 4096          # 64 MiB of cached target memory at most
# A size read from the target (a __LINKEDIT filesize) is untrusted: no
# real linkedit (a shared cache's included) reaches 4 GiB, and len() must
# fit an index.
_MAX_SIZE = 1 << 32


class MemoryBuffer:
    """``buf[i]``, ``buf[a:b]``, ``len(buf)`` and ``buf.find(sub, a, b)``
    over target memory [address, address+size).  Unreadable bytes read as
    end-of-data: slices come back short, ``find`` stops there."""

    def __init__(self, mem: MemoryReader, address: int, size: int) -> None:
        self.mem = mem
        self.address = address
        self.size = min(max(0, size), _MAX_SIZE)
        # A reader that knows what it holds (a core) bounds the length too.
        readable = getattr(mem, "readable", None)
        if callable(readable):
            self.size = min(self.size, int(readable(address, self.size)))
        self._chunks: dict[int, bytes] = {}

    def __len__(self) -> int:
        return self.size

    def _chunk(self, k: int) -> bytes:
        c = self._chunks.get(k)
        if c is None:
            if len(self._chunks) >= _MAX_CHUNKS:
                self._chunks.clear()
            off = k * _CHUNK
            want = min(_CHUNK, self.size - off)
            try:
                c = bytes(self.mem.read(self.address + off, want)) if want > 0 else b""
            except Exception:
                c = b""
            self._chunks[k] = c
        return c

    def _read(self, start: int, stop: int) -> bytes:
        start = max(0, start)
        stop = min(self.size, stop)
        out = []
        p = start
        while p < stop:
            k, o = divmod(p, _CHUNK)
            c = self._chunk(k)
            piece = c[o: o + (stop - p)]
            if not piece:
                break
            out.append(piece)
            p += len(piece)
            if len(c) < min(_CHUNK, self.size - k * _CHUNK):
                break               # short read: memory ends here
        return b"".join(out)

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ValueError("MemoryBuffer slices must be contiguous")
            return self._read(start, stop)
        if key < 0:
            key += self.size
        b = self._read(key, key + 1)
        if not b:
            raise IndexError("memory not readable")
        return b[0]

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        end = self.size if end is None else min(end, self.size)
        p = max(0, start)
        carry = b""
        while p < end:
            k, o = divmod(p, _CHUNK)
            c = self._chunk(k)[o: o + (end - p)]
            if not c:
                return -1
            hay = carry + c
            i = hay.find(sub)
            if i >= 0:
                return p - len(carry) + i
            carry = hay[-(len(sub) - 1):] if len(sub) > 1 else b""
            p += len(c)
        return -1
