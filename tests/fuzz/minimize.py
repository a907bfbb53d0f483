"""A small, time-bounded reproducer minimizer: delete chunks (lines first
for text), halving the chunk size, then zero what remains of a binary, as
long as the input still fails with the same signature."""
from __future__ import annotations

import time
from typing import Callable


def _delete_chunks(units: list[bytes], fails: Callable[[list[bytes]], bool], deadline: float) -> list[bytes]:
    chunk = max(1, len(units) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = len(units) - chunk          # from the end: trailing data is the likeliest to go
        while i >= 0 and time.monotonic() < deadline:
            cand = units[:i] + units[i + chunk:]
            if cand and fails(cand):
                units = cand
            i -= chunk
        chunk //= 2
    return units


def _zero_chunks(data: bytes, fails: Callable[[bytes], bool], deadline: float) -> bytes:
    chunk = max(1, len(data) // 8)
    while chunk >= 4 and time.monotonic() < deadline:
        for i in range(0, len(data), chunk):
            if time.monotonic() >= deadline:
                break
            if not any(data[i:i + chunk]):
                continue
            cand = data[:i] + bytes(len(data[i:i + chunk])) + data[i + chunk:]
            if fails(cand):
                data = cand
        chunk //= 2
    return data


def minimize(data: bytes, fails: Callable[[bytes], bool], seconds: float, text: bool) -> bytes:
    """The smallest input found within ``seconds`` for which ``fails`` holds
    (``data`` itself must fail)."""
    deadline = time.monotonic() + seconds
    if text:
        lines = data.split(b"\n")
        data = b"\n".join(_delete_chunks(lines, lambda ls: fails(b"\n".join(ls)), deadline))
    # Byte deletion in blocks of at least 64 bytes for big binaries: offsets
    # shift on every deletion, so small blocks rarely keep a binary failing.
    units = [data[i:i + 64] for i in range(0, len(data), 64)] if len(data) > 65536 else [bytes([c]) for c in data]
    data = b"".join(_delete_chunks(units, lambda us: fails(b"".join(us)), deadline))
    if not text:
        data = _zero_chunks(data, fails, deadline)
    return data
