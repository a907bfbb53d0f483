"""Reading target memory: one mach_vm_read_overwrite, else page by page around holes.

mach_vm_read_overwrite fails as a whole when any page of the range is unmapped
or unreadable (darwin-facts §3), so a failed read is retried page-wise; Frida
(gummemory-darwin.c gum_darwin_read) and debugserver do the same.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

from symmap.darwin.consts import HOLE_CODES, KernReturnError

if TYPE_CHECKING:
    from symmap.darwin.kernel import Task

__all__ = ["TaskMemory"]

MAX_READ = 64 << 20    # one request never asks for more than this (callers bound sizes)


class TaskMemory:
    """``model.MemoryReader`` over a Task.

    ``read(addr, size)`` returns the readable prefix (b"" if the first byte is
    unreadable).  ``iter_chunks`` yields every readable piece across holes.
    Errors other than "hole" (the task died, port revoked) go to ``on_error``,
    which may raise (macos_live raises ProcessVanished) or return to continue.
    """

    def __init__(self, task: Task, page_size: int,
                 on_error: Callable[[KernReturnError], None] | None = None) -> None:
        self.task = task
        self.page_size = page_size
        self.on_error = on_error

    def _raw(self, addr: int, size: int) -> bytes | None:
        try:
            return self.task.read(addr, size)
        except KernReturnError as e:
            if e.kr not in HOLE_CODES:
                if self.on_error is None:
                    raise
                self.on_error(e)
            return None

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0 or addr < 0:
            return b""
        size = min(size, MAX_READ)
        data = self._raw(addr, size)
        if data is not None:
            return data
        out = bytearray()
        for a, n in self._pages(addr, size):
            piece = self._raw(a, n)
            if piece is None:
                break
            out += piece
        return bytes(out)

    def iter_chunks(self, addr: int, size: int) -> Iterator[tuple[int, bytes]]:
        """(address, bytes) of each readable run in [addr, addr+size), skipping holes."""
        size = min(size, MAX_READ)
        data = self._raw(addr, size)
        if data is not None:
            yield addr, data
            return
        run_start, run = addr, bytearray()
        for a, n in self._pages(addr, size):
            piece = self._raw(a, n)
            if piece is None:
                if run:
                    yield run_start, bytes(run)
                run = bytearray()
                run_start = a + n
                continue
            run += piece
        if run:
            yield run_start, bytes(run)

    def _pages(self, addr: int, size: int) -> Iterator[tuple[int, int]]:
        p = self.page_size
        a, end = addr, addr + size
        while a < end:
            n = min(end, (a // p + 1) * p) - a
            yield a, n
            a += n
