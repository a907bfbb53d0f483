"""The region block for one address or a START-END range (``symmap map TARGET ADDRESS``).

vmmap's man page (10.14+): with an address, "information is only shown for
the VM region containing that address (if any) and the regions around it".
The block is printed the way Apple prints it in crash reports ("VM Region
Info", reference/vmmap-format.md §9): a first line saying where the address
is, rows indented six columns, the region holding it marked ``--->  ``, and
when no region holds it a ``GAP OF 0x… BYTES`` row in its place.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable

from symmap.model import Region
from symmap.render.vmmap_layout import Layout, column_header, format_row

__all__ = ["INDENT", "MARK", "address_block", "range_rows"]

MARK = "--->  "
INDENT = "      "


def range_rows(regions: list[Region], start: int, end: int) -> list[Region]:
    """The regions overlapping [start, end)."""
    return [r for r in regions if r.start < end and start < r.end]


def address_block(regions: list[Region], addr: int, lay: Layout, size: Callable[[int | None], str]) -> list[str]:
    rows = sorted(regions, key=lambda r: (r.start, r.end))
    starts = [r.start for r in rows]
    i = bisect.bisect_right(starts, addr) - 1
    hit = i >= 0 and rows[i].contains(addr)
    out: list[str] = []
    if hit:
        r = rows[i]
        out.append(f"{addr:#x} is in {r.start:#x}-{r.end:#x};  bytes after start: {addr - r.start}  "
                   f"bytes before end: {r.end - addr - 1}")
    else:
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        out.append(f"{addr:#x} is not in any region."
                   + (f"  Bytes before following region: {nxt.start - addr}" if nxt is not None else ""))
    out.append(INDENT + column_header(lay))
    before = rows[max(0, i - 1):i] if hit else (rows[i:i + 1] if i >= 0 else [])
    for r in before:
        out.append(INDENT + format_row(r, lay, size))
    if hit:
        out.append(MARK + format_row(rows[i], lay, size))
        after = rows[i + 1:i + 2]
    else:
        prev_end = rows[i].end if i >= 0 else 0
        nxt_start = rows[i + 1].start if i + 1 < len(rows) else None
        label = ("UNUSED SPACE AT START" if i < 0 else "UNUSED SPACE AT END" if nxt_start is None
                 else f"GAP OF {nxt_start - prev_end:#x} BYTES")
        out.append(MARK + label)
        after = rows[i + 1:i + 2]
    for r in after:
        out.append(INDENT + format_row(r, lay, size))
    return out
