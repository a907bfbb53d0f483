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
from symmap.formats.vmmap.report import VmmapReport, parse_size, parse_vmmap_text
from symmap.model import Image, Region, Segment, Target, parse_prot

if TYPE_CHECKING:
    from symmap.sources import OpenOptions

__all__ = ["open_file", "target_from_report"]

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
    for label, key in (("Identifier", "identifier"), ("Version", "version"), ("Code Type", "code_type"),
                       ("Platform", "platform"), ("Date/Time", "date"), ("Launch Time", "launch_time")):
        if h.get(label):
            t.info[key] = h[label]
    if h.get("Parent Process"):
        t.info["parent"] = h["Parent Process"]
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
    for row in sorted(rep.rows, key=lambda r: (r.start, r.end)):
        # `-submap` adds a "Submap" row over ranges it also lists entry by
        # entry; the entries are the map, the container row would overlap them.
        if row.type == "Submap" or (row.start, row.end) in seen:
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
                   purgeable=row.purge, type=row.type, detail=row.detail)
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
    for p, segs in by_image.items():
        text = next((s for s in segs if s.name == "__TEXT"), segs[0])
        t.images.append(Image(path=p, load_address=text.address, uuid=None, slide=None, segments=segs))
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
