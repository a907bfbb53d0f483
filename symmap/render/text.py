"""vmmap-style text report, macOS 11+ "report format 2.4", column for column.

Layout measured on real vmmap outputs (../shared/reference/vmmap-format.md
§2-§7): header block, Non-writable / Writable sections (or one interleaved
list), Legend, Summary.  Every string taken from the target goes through
``escape`` so a crafted path cannot forge a row.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from symmap import __version__
from symmap.model import Frame, Region, Target
from symmap.render.escape import escape
from symmap.render.summary import RESERVED_SUFFIX, SummaryRow, summarize
from symmap.render.vmmap_layout import (
    Layout,
    column_header,
    format_row,
    layout_of,
    legend_lines,
    table_lines,
)

__all__ = [
    "COLUMN_HEADER",
    "format_region_row",
    "format_size",
    "page_counter",
    "render_address",
    "render_report",
]

COLUMN_HEADER = ("REGION TYPE                    START - END         [ VSIZE  RSDNT  DIRTY   SWAP]"
                 " PRT/MAX SHRMOD PURGE    REGION DETAIL")
LEGEND = ("==== Legend\nSM=sharing mode:\n\tCOW=copy_on_write PRV=private NUL=empty ALI=aliased\n"
          "\tSHM=shared ZER=zero_filled S/A=shared_alias\nPURGE=purgeable mode:\n"
          "\tV=volatile N=nonvolatile E=empty   otherwise is unpurgeable")
SUMMARY_HEAD = (
    "                                VIRTUAL RESIDENT    DIRTY  SWAPPED VOLATILE   NONVOL    EMPTY   REGION\n"
    "REGION TYPE                        SIZE     SIZE     SIZE     SIZE     SIZE     SIZE     SIZE    COUNT (non-coalesced)\n"
    "===========                     ======= ========    =====  ======= ========   ======    =====  =======")
SUMMARY_RULE = "===========                     ======= ========    =====  ======= ========   ======    =====  ======="
TARGET_TYPES = {"live": "live task", "core": "core file", "crash": "crash report",
                "cache": "dyld shared cache file", "binary": "binary file", "snapshot": "snapshot"}
CODE_TYPES = {"x86_64": "X86-64", "x86_64h": "X86-64", "arm64": "ARM64", "arm64e": "ARM64E",
              "aarch64": "ARM64", "i386": "X86", "arm64_32": "ARM64_32"}


def format_size(n: int | None) -> str:
    """vmmap's size units: ``0K``; below 4K in bytes (``3856``, and ``1024``:
    real reports print 1-3K as bytes); whole K below 10000K (``8192K``);
    then ``11.9M``, ``1.5G``."""
    if n is None:
        return "-"
    if n == 0:
        return "0K"
    if n < 4096:
        return str(n)
    k = (n + 512) // 1024
    if k < 10000:
        return f"{k}K"
    # Compare the *rounded* value: 999.96M would print "1000.0M", 7 chars in a
    # 6-wide column, shifting the rest of the row.
    for unit, div in (("M", 1024 ** 2), ("G", 1024 ** 3)):
        v = f"{n / div:.1f}"
        if len(v) <= 5:
            return v + unit
    return f"{n / 1024 ** 4:.1f}T"


def format_region_row(r: Region, detail_width: int | None = None, layout: Layout | None = None,
                      size: Callable[[int | None], str] = format_size) -> str:
    """One region row (format 2.4 unless ``layout`` says otherwise); ``detail_width``
    truncates the detail (tty only)."""
    return format_row(r, layout or Layout(), size, detail_width)


def page_counter(page_size: int | None) -> Callable[[int | None], str]:
    """``--pages``: sizes as page counts (a partial page counts as one)."""
    page = page_size or 4096

    def size(n: int | None) -> str:
        return "-" if n is None else str(-(-n // page))
    return size


def _label(name: str, value: object, width: int = 17) -> str:
    return f"{name + ':':<{width}}{value}"


def _header(t: Target) -> list[str]:
    raw = t.info.get("vmmap_header")
    if isinstance(raw, list) and raw:
        return _report_header(t, raw)
    info = t.info
    name = escape(t.name) or "???"
    pid = t.pid if t.pid is not None else "-"
    # vmmap's Path is the executable; a core's own file path goes on its own line.
    exe = info.get("executable") if isinstance(info.get("executable"), str) else None
    out = [_label("Process", f"{name} [{pid}]"), _label("Path", escape(exe or t.path) or "???")]
    if exe and t.path and exe != t.path:
        out.append(_label("Target File", escape(t.path)))
    load = info.get("load_address")
    if load is None and t.images:
        load = t.images[0].load_address
    if load is not None:
        out.append(_label("Load Address", f"{load:#x}"))
    out.append(_label("Identifier", escape(str(info.get("identifier") or t.name or "???"))))
    if info.get("version") or t.os != "linux":      # an ELF file has no version to print
        out.append(_label("Version", escape(str(info.get("version") or "???"))))
    code = info.get("code_type") or CODE_TYPES.get(t.arch or "", t.arch or "???")
    out.append(_label("Code Type", escape(str(code))))
    plat = info.get("platform") or {"macos": "macOS", "linux": "Linux"}.get(t.os or "", "???")
    out.append(_label("Platform", escape(str(plat))))
    parent = info.get("parent")
    if isinstance(parent, str) and info.get("parent_pid") is not None:
        parent = (info["parent_pid"], parent)
    if isinstance(parent, (list, tuple)) and len(parent) == 2:
        out.append(_label("Parent Process", f"{escape(str(parent[1]))} [{escape(str(parent[0]))}]"))
    elif parent:
        out.append(_label("Parent Process", escape(str(parent))))
    out.append("")
    date = info.get("date")
    out.append(_label("Date/Time", _vmmap_date(date) if date else "???"))
    if info.get("launch_time"):
        out.append(_label("Launch Time", _vmmap_date(info["launch_time"])))
    osv = t.os_version or info.get("os_version")
    out.append(_label("OS Version", escape(str(osv)) if osv else "???"))
    out.append(_label("Report Version", "7"))
    tool = len(out)
    c = t.shared_cache
    if c is not None:
        slide = "unknown" if c.slide is None else f"{c.slide:#x}"
        out.append(_label("Shared Cache", f"{escape(c.uuid) or '???'} base {c.base:#x} slide {slide}"
                          + (f" ({escape(c.path)})" if c.path else "")))
    out.extend(_crash_lines(t))
    out[tool:tool] = _tool_and_notes(t)[:1]
    out.extend(_tool_and_notes(t)[1:])
    out.append("")
    fp = info.get("footprint")
    if isinstance(fp, int):
        out.append(f"{'Physical footprint:':<28}{format_size(fp)}")
        peak = info.get("footprint_peak")
        if isinstance(peak, int):
            out.append(f"{'Physical footprint (peak):':<28}{format_size(peak)}")
        idle = info.get("idle_exit")
        if isinstance(idle, str):
            out.append(f"{'Idle exit:':<28}{escape(idle)}")
    out.append("----")
    return out


def _tool_and_notes(t: Target) -> list[str]:
    out = [_label("Analysis Tool", f"symmap {__version__}")]
    for n in t.notes:
        out.append(_label("Note", escape(n)))
    if t.partial:
        out.append(_label("Note", "partial: some data could not be read; rows may be missing"))
    return out


def _report_header(t: Target, raw: list[Any]) -> list[str]:
    """A saved report's own header lines, as printed; only the lines naming the tool
    that printed them change (symmap's, with symmap's notes after it)."""
    out: list[str] = []
    placed = False
    for ln in raw:
        ln = str(ln)
        if ln.startswith("Analysis Tool Version:"):
            continue
        if ln.startswith("Analysis Tool:") and not placed:
            out.extend(_tool_and_notes(t))
            placed = True
            continue
        out.append(escape(ln))
    if not placed:
        out.extend(_tool_and_notes(t))
    out.append("----")
    return out


def _preamble(t: Target, modern: bool = False) -> list[str]:
    raw = t.info.get("vmmap_preamble")
    if isinstance(raw, list) and raw and not modern:
        return [escape(str(x)) for x in raw] + [""]
    name = escape(t.name) or "???"
    pid = t.pid if t.pid is not None else "-"
    out = [""]
    out.append(f"Virtual Memory Map of process {pid} ({name})")
    bits = "32-bit" if (t.arch or "") in ("i386", "arm", "armv7", "arm64_32") else "64-bit"
    out.append(f"Output report format:  2.4  -- {bits} process")
    if t.page_size:
        out.append(f"VM page size:  {t.page_size} bytes")
    out.append("")
    return out


def _crash_lines(t: Target) -> list[str]:
    """Exception, fault address and its region, for cores and crash reports."""
    info = t.info
    out = []
    exc = info.get("exception")
    if isinstance(exc, dict):
        parts = [str(exc[k]) for k in ("type", "signal", "subtype") if exc.get(k)]
        codes = exc.get("codes")
        if codes:
            parts.append(f"codes {codes}")
        if parts:
            out.append(_label("Exception", escape(" / ".join(parts))))
    elif exc:
        out.append(_label("Exception", escape(str(exc))))
    fault = info.get("fault_address")
    if isinstance(fault, int):
        where = ""
        fr = info.get("fault_region")
        gap = info.get("fault_gap")
        if isinstance(fr, dict) and isinstance(fr.get("start"), int) and isinstance(fr.get("end"), int):
            where = f" in {escape(str(fr.get('type') or '?'))} {fr['start']:x}-{fr['end']:x}"
            if fr.get("detail"):
                where += f" {escape(str(fr['detail']))}"
        elif isinstance(gap, dict):
            where = " is not in any region"
        out.append(_label("Fault Address", f"{fault:#x}{where}"))
    for th in t.threads:
        if th.crashed:
            out.append(_label("Crashed Thread", f"{th.index}"))
    return out


def _frame_text(f: Frame) -> str:
    """A frame as Apple's reports print it: ``sym + off (file:line)``, an
    unsymbolicated one as ``LOAD_ADDRESS + OFFSET`` (decimal offset; never
    the image name, which would read as a symbol), ``[inlined]`` kept."""
    if f.symbol:
        s = escape(f.symbol) + (f" + {f.offset}" if f.offset else "")
        if f.file:
            s += f" ({escape(f.file.rsplit('/', 1)[-1])}" + (f":{f.line})" if f.line else ")")
    elif f.image_offset is not None:
        s = f"{f.address - f.image_offset:#x} + {f.image_offset}"
    else:
        s = ""
    return s + (" [inlined]" if f.inlined else "")


def _threads(t: Target) -> list[str]:
    if not t.threads:
        return []
    out = [f"==== Threads for process {t.pid if t.pid is not None else '-'}"]
    for th in t.threads:
        head = f"Thread {th.index}" + (" Crashed" if th.crashed else "")
        if th.name:
            head += f" ({escape(th.name)})"
        regs = []
        if th.pc is not None:
            regs.append(f"pc {th.pc:#x}")
        if th.sp is not None:
            regs.append(f"sp {th.sp:#x}")
        out.append(head + ":" + ("  " + "  ".join(regs) if regs else ""))
        for i, f in enumerate(th.frames):
            where = escape(f.image.rsplit("/", 1)[-1]) if f.image else "???"
            out.append(f"{i:<3} {where:<30} {f.address:#018x} {_frame_text(f)}".rstrip())
    out.append("")
    return out


def _summary(t: Target, size: Callable[[int | None], str] = format_size, sort_by_size: bool = False,
             zones: list[str] | None = None) -> list[str]:
    pid = t.pid if t.pid is not None else "-"
    carried = t.info.get("vmmap_summary")
    raw_lay = t.info.get("vmmap_layout")
    lay: dict[str, Any] = raw_lay if isinstance(raw_lay, dict) else {}
    if isinstance(carried, list):
        # A saved report's own summary, from vmmap's exact byte counts: rebuilt from its rounded
        # rows it would differ (01.txt: written=32K, not the rows' 288K).
        out = [f"==== Summary for process {pid}"] if lay.get("summary_titled") else []
        for item in carried:
            out.extend(table_lines(item, sort_by_size) if isinstance(item, dict) else [escape(str(item))])
        out.append("")
        return out
    if zones is None:
        zones = _zone_table(t, size, sort_by_size)
    s = summarize(t)
    out = [f"==== Summary for process {pid}"]
    if s.readonly_total is not None:
        out.append(f"ReadOnly portion of Libraries: Total={size(s.readonly_total)} "
                   + _pct("resident", s.readonly_resident, s.readonly_total, size)
                   + " " + _pct("swapped_out_or_unallocated", s.readonly_other, s.readonly_total, size))
    if s.writable_total is not None:
        out.append(f"Writable regions: Total={size(s.writable_total)} "
                   + _pct("written", s.writable_dirty, s.writable_total, size) + " "
                   + _pct("resident", s.writable_resident, s.writable_total, size) + " "
                   + _pct("swapped_out", s.writable_swapped, s.writable_total, size) + " "
                   + _pct("unallocated", s.writable_unallocated, s.writable_total, size))
    out.append("")
    out.append(SUMMARY_HEAD)
    rows = s.rows
    if sort_by_size:
        rows = sorted(rows, key=lambda r: -((r.dirty or 0) + (r.swapped or 0)))
    zoned = bool(zones)
    for row in rows:
        tail = ""
        if row.name.endswith(RESERVED_SUFFIX):
            tail = "         reserved VM address space (unallocated)"
        elif zoned and row.name.startswith("MALLOC_"):
            tail = "         see MALLOC ZONE table below"
        out.append(_summary_row(row.name, row, size) + tail)
    out.append(SUMMARY_RULE)
    out.append(_summary_row("TOTAL", s.total, size))
    if s.minus_reserved is not None:
        out.append(_summary_row("TOTAL, minus reserved VM space", s.minus_reserved, size))
    out.append("")
    if zones:
        out.extend(zones)
        out.append("")
    return out


ZONE_HEAD = (
    "                                 VIRTUAL   RESIDENT      DIRTY    SWAPPED ALLOCATION      BYTES DIRTY+SWAP"
    "          REGION\n"
    "MALLOC ZONE                         SIZE       SIZE       SIZE       SIZE      COUNT  ALLOCATED  FRAG SIZE"
    "  % FRAG   COUNT")
ZONE_RULE = ("===========                      =======  =========  =========  =========  =========  =========  "
             "=========  ======  ======")


def _zone_table(t: Target, size: Callable[[int | None], str], sort_by_size: bool) -> list[str] | None:
    """vmmap's MALLOC ZONE table from ``info["malloc_zones"]`` (symmap/darwin/malloc_zones.py);
    columns a remote reader cannot know print ``-``."""
    rows = t.info.get("malloc_zones")
    if not isinstance(rows, list) or not rows:
        return None
    rows = [r for r in rows if isinstance(r, dict)]
    if sort_by_size:
        rows = sorted(rows, key=lambda r: -((r.get("dirty") or 0) + (r.get("swapped") or 0)))

    def num(v: Any) -> str:
        return str(v) if isinstance(v, int) else "-"

    def line(name: str, r: dict[str, Any]) -> str:
        frag = r.get("frag")
        return (f"{escape(name):<33}{size(r.get('virtual')):>7}" + "".join(
            f"{size(r.get(k)):>11}" for k in ("resident", "dirty", "swapped"))
            + f"{num(r.get('allocation_count')):>11}{size(r.get('bytes_allocated')):>11}{size(frag):>11}"
            + f"{'-':>8}{num(r.get('region_count')):>8}")

    def total(k: str) -> int | None:
        vals = [r.get(k) for r in rows]
        return None if any(not isinstance(v, int) for v in vals) else sum(vals)
    out = [ZONE_HEAD, ZONE_RULE] + [line(str(r.get("name")), r) for r in rows] + [ZONE_RULE]
    out.append(line("TOTAL", {k: total(k) for k in ("virtual", "resident", "dirty", "swapped", "allocation_count",
                                                      "bytes_allocated", "frag", "region_count")}))
    return out


def _pct(label: str, part: int | None, total: int, size: Callable[[int | None], str] = format_size) -> str:
    if part is None:
        return f"{label}=-"
    pct = round(100 * part / total) if total else 0
    return f"{label}={size(part)}({pct}%)"


def _summary_row(name: str, row: SummaryRow, size: Callable[[int | None], str] = format_size) -> str:
    cells = [row.virtual, row.resident, row.dirty, row.swapped, row.volatile, row.nonvol, row.empty]
    return (f"{escape(name):<32}{size(cells[0]):>7}"
            + "".join(f"{size(c):>9}" for c in cells[1:]) + f"{row.count:>9}")


def render_report(t: Target, *, interleaved: bool = False, detail_width: int | None = None,
                  summary_only: bool = False, pages: bool = False, sort_by_size: bool = False,
                  submap: bool = False, regions: list[Region] | None = None,
                  zones: list[str] | None = None, modern: bool = False) -> str:
    """The whole report as one string ending in a newline.

    A saved vmmap report prints in its own format (2.3 stays 2.3) with its own
    summary; ``regions`` replaces the rows (coalesced, or an address block)."""
    lay = Layout() if modern else layout_of(t)
    size = page_counter(t.page_size) if pages else format_size
    pid = t.pid if t.pid is not None else "-"
    has_rows = bool(t.regions) or not isinstance(t.info.get("vmmap_summary"), list)
    if has_rows:
        out = _header(t) + _preamble(t, modern)
    elif t.info.get("vmmap_header"):
        out = _header(t) + [""]             # `vmmap -summary`: the summary follows the header
    else:
        out = []                            # a summary table pasted alone
    if not summary_only and has_rows:
        rows = sorted(t.regions if regions is None else regions, key=lambda r: (r.start, r.end))
        if submap:
            rows = _with_submaps(t, rows)
        head = column_header(lay)
        sections: Iterable[tuple[str, list[Region]]]
        if interleaved:
            sections = [(f"==== regions for process {pid}  (non-writable and writable regions are interleaved)",
                         rows)]
        else:
            listed = _sections_of(t)
            w = [listed.get(r.start, r.writable) for r in rows]
            sections = [(f"==== Non-writable regions for process {pid}", [r for r, x in zip(rows, w) if not x]),
                        (f"==== Writable regions for process {pid}", [r for r, x in zip(rows, w) if x])]
        for i, (title, sect) in enumerate(sections):
            out.append(title)
            if lay.format == "2.3" and i == 0:
                out.append("")                  # 02.txt: a blank line under the first title only
            out.append(head)
            out.extend(format_row(r, lay, size, detail_width) for r in sect)
            out.append("")
        out.extend(_threads(t))
    if has_rows:
        out.extend(legend_lines(lay))
        out.append("")
    out.extend(_summary(t, size, sort_by_size, zones))
    return "\n".join(out)


def render_address(t: Target, addr: int, regions: list[Region] | None = None, *, pages: bool = False) -> str:
    """``symmap map TARGET ADDRESS``: the header, then the block around ADDRESS."""
    from symmap.render.address_block import address_block
    size = page_counter(t.page_size) if pages else format_size
    out = _header(t) + _preamble(t)
    out.extend(address_block(t.regions if regions is None else regions, addr, layout_of(t), size))
    out.append("")
    return "\n".join(out)


def _sections_of(t: Target) -> dict[int, bool]:
    """Rows a saved report listed in the other section than their protection says."""
    lay = t.info.get("vmmap_layout")
    moved = lay.get("section_of") if isinstance(lay, dict) else None
    out: dict[int, bool] = {}
    for m in moved if isinstance(moved, list) else []:
        if isinstance(m, list) and len(m) == 2 and isinstance(m[0], int):
            out[m[0]] = bool(m[1])
    return out


def _with_submaps(t: Target, rows: list[Region]) -> list[Region]:
    """``--submap``: a report's ``Submap`` container rows, each before the entries inside it;
    live regions carry their nesting ``depth`` instead (no container rows)."""
    subs = t.info.get("submaps")
    if not isinstance(subs, list):
        return rows
    from symmap.model import parse_prot
    extra: list[Region] = []
    for d in subs:
        try:
            sizes = list(d.get("sizes") or []) + [None] * 4
            extra.append(Region(int(d["start"]), int(d["end"]), parse_prot(str(d["prot"])),
                                parse_prot(str(d["max_prot"])), share_mode=str(d["share_mode"]),
                                resident=sizes[1], dirty=sizes[2], swapped=sizes[3], kind="submap",
                                type="Submap", detail=str(d.get("detail") or ""),
                                vsize=sizes[0] if sizes[0] != int(d["end"]) - int(d["start"]) else None))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return sorted(rows + extra, key=lambda r: (r.start, r.kind != "submap", r.end))


def _vmmap_date(value: object) -> str:
    """ISO-8601 dates from sources print as vmmap's ``2025-04-14 23:26:23.826 +0800``;
    anything else (a crash report's own text) prints escaped, as given."""
    s = str(value)
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return escape(s)
    out = d.strftime("%Y-%m-%d %H:%M:%S.") + f"{d.microsecond // 1000:03d}"
    return out + (" " + d.strftime("%z") if d.tzinfo else "")
