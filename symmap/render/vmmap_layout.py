"""vmmap's row, legend and table layouts, per report format.

Measured on real outputs (../shared/reference/vmmap-format.md §4, §7;
../shared/fixtures/vmmap): format 2.4 with 12-wide addresses (macOS 11+),
2.4 with 16-digit zero-padded addresses (≤ 10.14), and 2.3 (10.10: one
VSIZE column, two spaces before REGION DETAIL).  vmmap itself ends some
lines in blanks (``SM=SHM  `` rows without detail, ``SM=sharing mode:  ``,
summary table lines; fixtures 02, 03, 09); a report whose publisher's editor
stripped them (01) is re-rendered stripped, so ``trailing_spaces`` follows
the report.  A carried summary table (from a saved report) is printed from
its cells in the column layout of its own ``====`` rule.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from symmap.model import Region, Target, prot_str
from symmap.render.escape import escape

__all__ = [
    "WIDE_TYPES",
    "Layout",
    "column_header",
    "dirty_swapped_key",
    "format_row",
    "layout_of",
    "legend_lines",
    "table_lines",
]

HEADER_24 = ("REGION TYPE                    START - END         [ VSIZE  RSDNT  DIRTY   SWAP]"
             " PRT/MAX SHRMOD PURGE    REGION DETAIL")
HEADER_24_WIDE = ("REGION TYPE                      START - END             [ VSIZE  RSDNT  DIRTY   SWAP]"
                  " PRT/MAX SHRMOD PURGE    REGION DETAIL")
HEADER_23 = "REGION TYPE                      START - END             [ VSIZE] PRT/MAX SHRMOD  REGION DETAIL"
# Type names vmmap prints one column wider, shifting the row (reference §4 "Quirks").
WIDE_TYPES = {"IOAccelerator": 1, "CoreAnimation": 1, "ColorSync": 1}


@dataclass(frozen=True)
class Layout:
    format: str = "2.4"             # "2.4" or "2.3"
    wide_addresses: bool = False    # "%016llx" addresses (2.3, and 2.4 before macOS 11)
    trailing_spaces: bool = False


def layout_of(t: Target) -> Layout:
    lay = t.info.get("vmmap_layout")
    if not isinstance(lay, dict):
        return Layout()
    fmt = "2.3" if lay.get("format") == "2.3" else "2.4"
    return Layout(fmt, bool(lay.get("wide_addresses")) or fmt == "2.3", bool(lay.get("trailing_spaces")))


def column_header(lay: Layout) -> str:
    if lay.format == "2.3":
        return HEADER_23
    return HEADER_24_WIDE if lay.wide_addresses else HEADER_24


def format_row(r: Region, lay: Layout, size: Callable[[int | None], str],
               detail_width: int | None = None) -> str:
    detail = escape(r.detail)
    if detail_width is not None and len(detail) > detail_width:
        detail = "..." + detail[len(detail) - detail_width + 3:] if detail_width > 3 else ""
    maxp = "???" if r.max_prot is None else prot_str(r.max_prot)
    sm = escape(r.share_mode) or "???"
    type_ = escape(r.type) or ""
    shift = r.shift or WIDE_TYPES.get(type_, 0)
    vsize = size(r.vsize if r.vsize is not None else r.size)
    if lay.wide_addresses:
        addrs = f"{type_:<{22 + shift}} {r.start:016x}-{r.end:016x} "
    else:
        addrs = f"{type_:<{24 + shift}} {r.start:12x}-{r.end:<12x} "
    if lay.format == "2.3":
        row = f"{addrs}[{vsize:>6}] {prot_str(r.prot)}/{maxp} SM={sm:<3}  {detail}"
        return row if lay.trailing_spaces else row.rstrip()
    purge = f"PURGE={escape(r.purgeable)}" if r.purgeable else ""
    row = (f"{addrs}[{vsize:>6} {size(r.resident):>6} {size(r.dirty):>6} {size(r.swapped):>6}] "
           f"{prot_str(r.prot)}/{maxp} SM={sm:<3} {purge:<8} {detail}")
    if lay.trailing_spaces and not detail and not purge:
        return row.rstrip() + "  "              # fixtures/vmmap/03.txt `shared memory` rows
    return row.rstrip()


def legend_lines(lay: Layout) -> list[str]:
    pad2, pad1 = ("  ", " ") if lay.trailing_spaces else ("", "")
    out = ["==== Legend", "SM=sharing mode:" + pad2,
           "\tCOW=copy_on_write PRV=private NUL=empty ALI=aliased" + pad1,
           "\tSHM=shared ZER=zero_filled S/A=shared_alias"]
    if lay.format != "2.3":
        out += ["PURGE=purgeable mode:", "\tV=volatile N=nonvolatile E=empty   otherwise is unpurgeable"]
    return out


def dirty_swapped_key(cells: list[Any]) -> int:
    """vmmap -s sorts "by size (dirty + swapped)": DIRTY and SWAPPED are the 3rd and 4th cells."""
    from symmap.formats.vmmap.report import parse_size   # saved reports only: not loaded for a live map
    total = 0
    for c in cells[2:4]:
        n = parse_size(str(c)) if c is not None else None
        total += n or 0
    return total


def table_lines(tb: dict[str, Any], sort_by_size: bool = False) -> list[str]:
    """A carried summary / MALLOC ZONE table (sources/vmmap_report.py ``_table_json``)."""
    from symmap.formats.vmmap.report import rule_columns  # saved reports only: not loaded for a live map
    rule = str(tb.get("rule", ""))
    name_w, widths = rule_columns(rule)

    def line(row: Any) -> str:
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[1], list)):
            return ""
        name, cells, tail = row
        return (f"{escape(str(name)):<{name_w}}"
                + "".join(escape(str(c)).rjust(w) for c, w in zip(cells, widths)) + escape(str(tail)))

    rows = list(tb.get("rows") or [])
    if sort_by_size and len(widths) >= 4:
        rows.sort(key=lambda r: -dirty_swapped_key(r[1]) if isinstance(r, list) and len(r) == 3 else 0)
    totals = list(tb.get("totals") or [])
    out = [escape(str(h)) for h in tb.get("head") or []] + [escape(rule)]
    out += [line(r) for r in rows]
    if totals:
        out += [escape(rule)] + [line(r) for r in totals]
    return out
