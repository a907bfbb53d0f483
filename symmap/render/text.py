"""vmmap-style text report, macOS 11+ "report format 2.4", column for column.

Layout measured on real vmmap outputs (../shared/reference/vmmap-format.md
§2-§7): header block, Non-writable / Writable sections (or one interleaved
list), Legend, Summary.  Every string taken from the target goes through
``escape`` so a crafted path cannot forge a row.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from symmap import __version__
from symmap.model import Frame, Region, Target, prot_str
from symmap.render.escape import escape
from symmap.render.summary import SummaryRow, summarize

__all__ = ["format_size", "format_region_row", "render_report", "COLUMN_HEADER"]

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
    """vmmap's size units: ``0K``; sub-4K non-multiples of 1K in bytes
    (``3856``); whole K below 10000K (``8192K``); then ``11.9M``, ``1.5G``."""
    if n is None:
        return "-"
    if n == 0:
        return "0K"
    if n < 4096 and n % 1024:
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


def format_region_row(r: Region, detail_width: int | None = None) -> str:
    """One region row; ``detail_width`` truncates the detail (tty only)."""
    detail = escape(r.detail)
    if detail_width is not None and len(detail) > detail_width:
        detail = "..." + detail[len(detail) - detail_width + 3:] if detail_width > 3 else ""
    maxp = "???" if r.max_prot is None else prot_str(r.max_prot)
    purge = f"PURGE={escape(r.purgeable)}" if r.purgeable else ""
    row = (f"{escape(r.type) or '':<24} {r.start:12x}-{r.end:<12x} "
           f"[{format_size(r.size):>6} {format_size(r.resident):>6} {format_size(r.dirty):>6} "
           f"{format_size(r.swapped):>6}] {prot_str(r.prot)}/{maxp} SM={escape(r.share_mode) or '???':<3} "
           f"{purge:<8} {detail}")
    return row.rstrip()


def _label(name: str, value: object, width: int = 17) -> str:
    return f"{name + ':':<{width}}{value}"


def _header(t: Target) -> list[str]:
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
    out.append(_label("Target Type", TARGET_TYPES.get(t.kind, escape(t.kind))))
    out.append("")
    date = info.get("date")
    out.append(_label("Date/Time", _vmmap_date(date) if date else "???"))
    if info.get("launch_time"):
        out.append(_label("Launch Time", _vmmap_date(info["launch_time"])))
    osv = t.os_version or info.get("os_version")
    out.append(_label("OS Version", escape(str(osv)) if osv else "???"))
    out.append(_label("Report Version", "7"))
    out.append(_label("Analysis Tool", f"symmap {__version__}"))
    c = t.shared_cache
    if c is not None:
        slide = "unknown" if c.slide is None else f"{c.slide:#x}"
        out.append(_label("Shared Cache", f"{escape(c.uuid) or '???'} base {c.base:#x} slide {slide}"
                          + (f" ({escape(c.path)})" if c.path else "")))
    out.extend(_crash_lines(t))
    for n in t.notes:
        out.append(_label("Note", escape(n)))
    if t.partial:
        out.append(_label("Note", "partial: some data could not be read; rows may be missing"))
    out.append("")
    fp = info.get("footprint")
    if isinstance(fp, int):
        out.append(f"{'Physical footprint:':<28}{format_size(fp)}")
        peak = info.get("footprint_peak")
        if isinstance(peak, int):
            out.append(f"{'Physical footprint (peak):':<28}{format_size(peak)}")
    out.append("----")
    out.append("")
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


def _summary(t: Target) -> list[str]:
    s = summarize(t)
    out = [f"==== Summary for process {t.pid if t.pid is not None else '-'}"]
    if s.readonly_total is not None:
        out.append(f"ReadOnly portion of Libraries: Total={format_size(s.readonly_total)} "
                   + _pct("resident", s.readonly_resident, s.readonly_total)
                   + " " + _pct("swapped_out_or_unallocated", s.readonly_other, s.readonly_total))
    if s.writable_total is not None:
        out.append(f"Writable regions: Total={format_size(s.writable_total)} "
                   + _pct("written", s.writable_dirty, s.writable_total) + " "
                   + _pct("resident", s.writable_resident, s.writable_total) + " "
                   + _pct("swapped_out", s.writable_swapped, s.writable_total) + " "
                   + _pct("unallocated", s.writable_unallocated, s.writable_total))
    out.append("")
    out.append(SUMMARY_HEAD)
    for row in s.rows:
        out.append(_summary_row(row.name, row))
    out.append(SUMMARY_RULE)
    out.append(_summary_row("TOTAL", s.total))
    out.append("")
    return out


def _pct(label: str, part: int | None, total: int) -> str:
    if part is None:
        return f"{label}=-"
    pct = round(100 * part / total) if total else 0
    return f"{label}={format_size(part)}({pct}%)"


def _summary_row(name: str, row: SummaryRow) -> str:
    cells = [row.virtual, row.resident, row.dirty, row.swapped, row.volatile, row.nonvol, row.empty]
    return (f"{escape(name):<32}{format_size(cells[0]):>7}"
            + "".join(f"{format_size(c):>9}" for c in cells[1:]) + f"{row.count:>9}")


def render_report(t: Target, *, interleaved: bool = False, detail_width: int | None = None,
                  summary_only: bool = False) -> str:
    """The whole report as one string ending in a newline."""
    out = _header(t)
    pid = t.pid if t.pid is not None else "-"
    if not summary_only:
        regions = sorted(t.regions, key=lambda r: (r.start, r.end))
        sections: Iterable[tuple[str, list[Region]]]
        if interleaved:
            sections = [(f"==== regions for process {pid}  (non-writable and writable regions are interleaved)",
                         regions)]
        else:
            sections = [(f"==== Non-writable regions for process {pid}", [r for r in regions if not r.writable]),
                        (f"==== Writable regions for process {pid}", [r for r in regions if r.writable])]
        for title, rows in sections:
            out.append(title)
            out.append(COLUMN_HEADER)
            out.extend(format_region_row(r, detail_width) for r in rows)
            out.append("")
        out.extend(_threads(t))
    out.append(LEGEND)
    out.append("")
    out.extend(_summary(t))
    return "\n".join(out)


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
