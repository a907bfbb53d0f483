"""A saved ``vmmap`` text report as a TARGET (kind "snapshot").

The report already names every region, so rows arrive annotated: type,
detail, and for Mach-O segment rows the image (the detail path) and segment.
Images are rebuilt from those rows (no UUIDs: vmmap prints none).  Usage
columns are vmmap's rounded sizes; columns a format lacks (2.3 has only
VSIZE) are unknown (None).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from symmap.errors import CorruptInput
from symmap.formats.vmmap.report import (
    SummaryTable,
    TableRow,
    VmmapReport,
    VmmapRow,
    parse_size,
    parse_vmmap_text,
)
from symmap.model import Image, Region, Segment, Target, parse_prot

if TYPE_CHECKING:
    from symmap.sources import OpenOptions

__all__ = ["open_file", "target_from_report", "carry_summary_text"]

# Detail texts of rows that belong to no single image.
_NOT_IMAGE = ("dyld shared cache combined __LINKEDIT",)
_ARCHS = {"X86-64": "x86_64", "ARM64": "arm64", "ARM64E": "arm64e", "X86": "i386"}


def open_file(path: str, opts: OpenOptions) -> Target:
    try:
        with open(path, "rb") as f:
            data = f.read((64 << 20) + 1)
    except OSError as e:
        raise CorruptInput("vmmap report", e.strerror or str(e), path) from None
    return target_from_report(parse_vmmap_text(data, path), path)


def _tag_of_type() -> dict[str, int]:
    from symmap.darwin.vm_tags import VM_TAG_NAMES
    out: dict[str, int] = {}
    for tag, name in VM_TAG_NAMES.items():
        out.setdefault(name, tag)
    return out


def _kind(type_: str, detail: str, segment_row: bool) -> str:
    """The raw kind a live walk would have recorded, so audit rules apply alike."""
    if segment_row:
        return "image"
    if type_ == "mapped file":
        return "file"
    if type_ == "shared memory":
        return "shm"
    if type_.startswith(("Stack", "STACK GUARD")):
        return "stack"
    if type_.startswith("MALLOC"):
        return "heap"
    return "anon"


def _is_segment_row(type_: str, detail: str) -> bool:
    return type_.startswith("__") and detail.startswith("/") and detail not in _NOT_IMAGE


def target_from_report(rep: VmmapReport, path: str) -> Target:
    h = rep.header
    t = Target(kind="snapshot", name=rep.name, pid=rep.pid, path=h.get("Path"),
               arch=_ARCHS.get(h.get("Code Type", "").split()[0] if h.get("Code Type") else ""),
               page_size=rep.page_size, os="macos", os_version=h.get("OS Version"))
    t.info = {"source_kind": "vmmap", "report_path": path, "report_format": rep.report_format}
    _carry_layout(t, rep)
    for label, key in (("Identifier", "identifier"), ("Version", "version"), ("Code Type", "code_type"),
                       ("Platform", "platform"), ("Date/Time", "date"), ("Launch Time", "launch_time")):
        if h.get(label):
            t.info[key] = h[label]
    if h.get("Parent Process"):
        t.info["parent"] = h["Parent Process"]
    if h.get("Idle exit"):
        t.info["idle_exit"] = h["Idle exit"]
    for label, key in (("Physical footprint", "footprint"), ("Physical footprint (peak)", "footprint_peak")):
        size = parse_size(h.get(label, ""))
        if size is not None:
            t.info[key] = size
    load = h.get("Load Address", "")
    if load.startswith("0x"):
        try:
            t.info["load_address"] = int(load, 16)
        except ValueError:
            pass
    tags = _tag_of_type()
    seen: set[tuple[int, int]] = set()
    prev_end = overlaps = 0
    by_image: dict[str, list[Segment]] = {}
    moved: list[list[object]] = []
    for row in sorted(rep.rows, key=lambda r: (r.start, r.end)):
        if (row.start, row.end) in seen:
            continue
        seen.add((row.start, row.end))
        if row.start < prev_end:            # regions never overlap in a real map
            overlaps += 1
            continue
        prev_end = row.end
        sizes = row.sizes + [None] * (4 - len(row.sizes))
        r = Region(row.start, row.end, parse_prot(row.prot), parse_prot(row.max_prot),
                   share_mode=row.share_mode, resident=sizes[1] if len(row.sizes) >= 2 else None,
                   dirty=sizes[2] if len(row.sizes) >= 3 else None,
                   swapped=sizes[3] if len(row.sizes) >= 4 else None,
                   purgeable=row.purge, type=row.type, detail=row.detail,
                   vsize=_own_vsize(row),
                   shift=row.shift)
        seg_row = _is_segment_row(row.type, row.detail)
        r.kind = _kind(row.type, row.detail, seg_row)
        r.tag = tags.get(row.type.removesuffix(" (reserved)"))
        if r.kind == "file" and row.detail.startswith("/"):
            r.path = row.detail
        if seg_row:
            r.image, r.segment = row.detail, row.type
            by_image.setdefault(row.detail, []).append(
                Segment(row.type, row.start, row.end - row.start, r.prot, r.max_prot or 0))
        t.regions.append(r)
        if row.writable_section is not None and row.writable_section != r.writable:
            moved.append([r.start, row.writable_section])
    for p, segs in by_image.items():
        text = next((s for s in segs if s.name == "__TEXT"), segs[0])
        t.images.append(Image(path=p, load_address=text.address, uuid=None, slide=None, segments=segs))
    if moved:
        # 02.txt (10.10) lists the cache's rw- __DATA under Non-writable: keep vmmap's sections.
        t.info["vmmap_layout"]["section_of"] = moved
    exe = t.path
    t.images.sort(key=lambda i: (i.path != exe, i.load_address))
    if overlaps:
        t.partial = True
        t.notes.append(f"vmmap report: {overlaps} row(s) overlap an earlier row; dropped")
    if rep.skipped:
        t.partial = True
        t.notes.append(f"vmmap report: {rep.skipped} row(s) did not parse (cut lines?)")
    t.annotated = True
    return t


def _own_vsize(row: VmmapRow) -> int | None:
    """vmmap's VSIZE when it is not END-START rounded (vmmap prints its own figure)."""
    from symmap.render.text import format_size
    v: int | None = row.sizes[0] if row.sizes else None
    if v is None or v == row.end - row.start or parse_size(format_size(row.end - row.start)) == v:
        return None
    return v


def _table_json(tb: SummaryTable) -> dict[str, object]:
    def rows(rs: list[TableRow]) -> list[list[object]]:
        return [[r.name, r.cells, r.tail] for r in rs]
    return {"head": tb.head, "rule": tb.rule, "rows": rows(tb.rows), "totals": rows(tb.totals)}


def _carry_layout(t: Target, rep: VmmapReport) -> None:
    """What a re-rendering needs to print the report as vmmap printed it (plain JSON
    values, so a saved snapshot of the report keeps them): its header and preamble
    lines, its layout, its own summary tables (cells as printed: they come from
    vmmap's exact byte counts, which rounded rows no longer hold) and its
    ``-submap`` container rows (kept apart: they overlap the entries inside them)."""
    t.info["vmmap_header"] = rep.header_lines
    t.info["vmmap_preamble"] = rep.preamble
    t.info["vmmap_layout"] = {
        "format": rep.report_format, "interleaved": rep.interleaved, "wide_addresses": rep.wide_addresses,
        "size_columns": rep.size_columns, "trailing_spaces": rep.trailing_spaces,
        "summary_titled": rep.summary_titled, "has_regions": bool(rep.rows)}
    if rep.summary:
        t.info["vmmap_summary"] = [x if isinstance(x, str) else _table_json(x) for x in rep.summary]
    if rep.submaps:
        t.info["submaps"] = [{"start": r.start, "end": r.end, "prot": r.prot, "max_prot": r.max_prot,
                              "share_mode": r.share_mode, "detail": r.detail,
                              "sizes": [s for s in r.sizes]} for r in rep.submaps]


def carry_summary_text(t: Target, text: str, what: str) -> None:
    """Keep a report's own summary (an .ips ``vmSummary``) as the one to print, and say
    so when it disagrees with the regions symmap rebuilt (a crash report lists a few)."""
    from symmap.formats.vmmap.report import parse_summary_text
    items = parse_summary_text(text)
    tables = [x for x in items if isinstance(x, SummaryTable)]
    if not tables:
        return
    t.info["vmmap_summary"] = [x if isinstance(x, str) else _table_json(x) for x in items]
    t.info.setdefault("vmmap_layout", {})["summary_titled"] = True
    total = next((r for r in tables[0].totals if r.name == "TOTAL"), None)
    if total is None or not total.cells:
        return
    from symmap.render.text import format_size
    ours_v, ours_n = format_size(sum(r.size for r in t.regions)), str(len(t.regions))
    theirs_v, theirs_n = total.cells[0], total.cells[-1]
    if (ours_v, ours_n) != (theirs_v, theirs_n):
        t.notes.append(f"the summary is the {what}'s own (TOTAL {theirs_v} in {theirs_n} regions); "
                       f"the regions rebuilt from it hold {ours_v} in {ours_n}")
