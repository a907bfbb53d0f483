"""Source: a macOS crash report (.ips or text) as a Target of kind "crash".

A report is not a memory map: it knows the images (their __TEXT extent),
the shared cache's range, and, near the fault, a few rows of the VM map.
Regions are built from exactly that, and nothing is guessed:

- VM Region Info rows become regions with their own type/detail/prot/SM;
- each image's __TEXT extent (r-x; ``max_prot`` unknown) where no row covers it;
- the rest of the shared cache range: without ``--cache`` one region per gap
  with prot ``r--`` (every cache mapping is readable; finer protections
  are unknown, said in ``notes``), with ``--cache`` one region per cache
  mapping with its real protections (the annotator splits them per library).

Resident/dirty/swapped are None.  ``info`` carries the header facts (see
``open_file``).  ``--symbolicate`` finds binaries by UUID under
``--search-path`` dirs and names frames through ``symmap.symbolize``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from symmap.errors import BadTarget
from symmap.formats.crash import read_crash_report
from symmap.formats.crash.model import CrashImage, CrashReport, VMRow
from symmap.model import (PROT_EXEC, PROT_READ, CacheMapping, Frame, Image, Region, Segment,
                     SharedCache, Target, Thread)

if TYPE_CHECKING:
    from symmap.formats.macho.load_commands import MachO
    from symmap.sources import OpenOptions

__all__ = ["open_file", "target_from_report", "find_binaries_by_uuid", "attach_binaries",
           "symbolicate"]

_PAGE_SIZES = {"arm64": 16384, "arm64e": 16384, "x86_64": 4096, "i386": 4096}
# Bounds for the --search-path walk: a bug report's dSYM/binary folder, not a disk.
P = TypeVar("P")

MAX_WALK_FILES = 20000
MAX_WALK_DEPTH = 12
_MAX_HEADER = 1 << 20


def open_file(path: str, opts: OpenOptions) -> Target:
    """Open a crash report.

    ``info`` keys: report_path, report_format, identifier, version,
    code_type, date, parent, parent_pid, incident, bug_type, exception
    (dict: type, signal, codes, subtype ...), termination, fault_address,
    crashed_thread, fault_region ({start, end, type, detail} of the region
    the report marks, or None), fault_gap ({after, before} when the fault
    lies between regions), vm_region_info (the report's summary sentence),
    vm_summary (the report's text table), registers (crashed thread),
    translated (Rosetta: True/False/None), role, is_corpse, app_specific
    (Application Specific Information lines).
    """
    rep = read_crash_report(path)
    t = target_from_report(rep, path)
    if opts is not None and opts.cache:
        _attach_cache(t, rep, opts.cache)
    _build_regions(t, rep)
    if rep.vm_summary:
        from symmap.sources.vmmap_report import carry_summary_text
        carry_summary_text(t, rep.vm_summary, "crash report")
    paths = list(getattr(opts, "search_paths", None) or []) if opts is not None else []
    dsym = getattr(opts, "dsym", None) if opts is not None else None
    if opts is not None and getattr(opts, "symbolicate", False):
        symbolicate(t, paths, dsym, not getattr(opts, "no_cache", False))
    elif paths or dsym:
        attach_binaries(t, paths, dsym)
    return t


def target_from_report(rep: CrashReport, report_path: str | None = None) -> Target:
    """Target header, images, shared cache and threads (no regions yet)."""
    t = Target(kind="crash", name=rep.process, pid=rep.pid, path=rep.path, arch=rep.arch,
               os="macos", os_version=rep.os_version, partial=rep.partial)
    t.page_size = _PAGE_SIZES.get(rep.arch or "")
    t.notes.extend(f"partial: {n}" for n in rep.notes)
    info = t.info
    info["report_path"] = report_path
    info["report_format"] = rep.report_format
    for k in ("identifier", "version", "code_type", "date", "parent", "parent_pid", "incident",
              "bug_type", "termination", "fault_address", "crashed_thread", "translated", "role",
              "is_corpse"):
        info[k] = getattr(rep, k)
    info["app_specific"] = list(rep.app_specific)
    info["exception"] = dict(rep.exception)
    info["vm_summary"] = rep.vm_summary
    vmi = rep.vm_region_info
    info["vm_region_info"] = vmi.summary if vmi is not None else None

    sc_range = None
    if rep.shared_cache is not None:
        base, size, uuid = rep.shared_cache
        t.shared_cache = SharedCache(uuid=uuid, base=base, slide=None, size=size)
        if size:
            sc_range = (base, base + size)
    for im in rep.images:
        t.images.append(_model_image(im, sc_range))
    _frame_only_images(t, rep, sc_range)
    _cache_image_slides(t)
    # The executable first (renderers take images[0] as the load address);
    # .ips usedImages are in backtrace order, not load order.
    main = next((i for i, im in enumerate(t.images) if rep.path and im.path == rep.path), None)
    if main:
        t.images.insert(0, t.images.pop(main))

    for th in rep.threads:
        name = th.name
        if th.queue:
            name = f"{name}  Dispatch queue: {th.queue}" if name else f"Dispatch queue: {th.queue}"
        mt = Thread(th.index, name, th.pc, th.sp, th.crashed)
        for f in th.frames:
            img = rep.images[f.image_index] if f.image_index is not None else None
            mt.frames.append(Frame(f.address, (img.path or img.name) if img else f.image_name,
                                   f.symbol, f.symbol_offset, f.image_offset, f.source_file,
                                   f.source_line, f.inline))
        t.threads.append(mt)
        if th.crashed and th.registers:
            info["registers"] = dict(th.registers)
    return t


# Where dyld shared caches are linked (unslid base), newest first per
# arch: x86_64 caches of macOS 12+ at 0x7ff800000000, macOS 11 at
# 0x7fff20000000 (dyld's cache builder, SharedCacheBuilder / MachOFile
# arch layouts); arm64/arm64e at 0x180000000.
_UNSLID_CACHE_BASES = {"x86_64": (0x7FF800000000, 0x7FFF20000000, 0x7FFF80000000),
                       "x86_64h": (0x7FF800000000, 0x7FFF20000000, 0x7FFF80000000),
                       "arm64": (0x180000000,), "arm64e": (0x180000000,)}
_MAX_CACHE_SLIDE = 1 << 32


def _cache_image_slides(t: Target) -> None:
    """The report gives the cache's slid base; the slide is that minus the
    arch's unslid cache base, so shared-cache images get unslid addresses
    (what atos -l and a symbolicated cache want)."""
    sc = t.shared_cache
    if sc is None or not sc.base:
        return
    for ub in _UNSLID_CACHE_BASES.get(t.arch or "", ()):
        slide = sc.base - ub
        if 0 <= slide < _MAX_CACHE_SLIDE and slide % 4096 == 0:
            for im in t.images:
                if im.in_shared_cache and im.slide is None:
                    im.slide = slide
            t.info["shared_cache_slide"] = slide
            t.notes.append(f"shared cache: slide {slide:#x} = the report's base {sc.base:#x} - "
                           f"the {t.arch} cache's unslid base {ub:#x}")
            return


def _frame_only_images(t: Target, rep: CrashReport, sc_range: tuple[int, int] | None) -> None:
    """An image named on frame lines (``libfoo.dylib 0xADDR 0xLOAD + OFF``)
    but missing from Binary Images still owns those addresses: an image at
    the load address the frame line gives, its __TEXT extent reaching past
    its highest frame (rounded up to a page; the real size is unknown)."""
    known = {im.path for im in t.images} | {im.name for im in t.images}
    page = t.page_size or 4096
    spans: dict[tuple[str, int], int] = {}
    for th in rep.threads:
        for f in th.frames:
            if f.image_index is not None or not f.image_name or f.image_offset is None:
                continue
            if f.image_name in known or not 0 <= f.image_offset <= f.address:
                continue
            key = (f.image_name, f.address - f.image_offset)
            spans[key] = max(spans.get(key, 0), f.image_offset + 1)
    for (name, load), top in sorted(spans.items(), key=lambda kv: kv[0][1]):
        if len(t.images) > 10000:
            break
        size = -(-top // page) * page
        in_cache = bool(sc_range and sc_range[0] <= load < sc_range[1])
        t.images.append(Image(path=name, load_address=load, slide=None,
                              segments=[Segment("__TEXT", load, size, PROT_READ | PROT_EXEC,
                                                PROT_READ | PROT_EXEC)],
                              in_shared_cache=in_cache, size=size))
        t.notes.append(f"{name}: not in Binary Images; placed at {load:#x} from its frame lines")


def _model_image(im: CrashImage, sc_range: tuple[int, int] | None) -> Image:
    """The report knows an image's load address and __TEXT extent; its
    slide (needs the file's __TEXT vmaddr) is unknown until a binary is found."""
    in_cache = bool(sc_range and sc_range[0] <= im.base < sc_range[1])
    segs = [Segment("__TEXT", im.base, im.size, PROT_READ | PROT_EXEC, PROT_READ | PROT_EXEC)] if im.size else []
    return Image(path=im.path or im.name or f"image@{im.base:#x}", load_address=im.base, uuid=im.uuid,
                 slide=None, segments=segs, in_shared_cache=in_cache, arch=im.arch, size=im.size)


# --- regions ----------------------------------------------------------------

def _vm_kind(row: VMRow) -> str | None:
    t = row.type
    if t.startswith("__"):
        return "image"
    if t.upper().startswith("STACK GUARD") or "guard" in t:
        return "guard"
    if t.startswith("Stack"):
        return "stack"
    if t.startswith("MALLOC"):
        return "heap"
    if t == "mapped file":
        return "file"
    if t == "shared memory":
        return "shm"
    return None


def _carve(cands: list[tuple[int, int, P]], taken: list[tuple[int, int]]
           ) -> list[tuple[int, int, P]]:
    """Pieces of each candidate [lo, hi) not in ``taken`` (sorted, disjoint)
    nor in an earlier candidate.  One sweep: O((n + m) log n), whatever a
    hostile report lists."""
    out: list[tuple[int, int, P]] = []
    j, floor = 0, 0
    for lo, hi, payload in sorted(cands, key=lambda c: (c[0], c[1])):
        lo = max(lo, floor)
        if lo >= hi:
            continue
        while j < len(taken) and taken[j][1] <= lo:
            j += 1
        k, cur = j, lo
        while cur < hi:
            if k < len(taken) and taken[k][0] < hi:
                a, b = taken[k]
                if a > cur:
                    out.append((cur, a, payload))
                cur = max(cur, b)
                k += 1
            else:
                out.append((cur, hi, payload))
                cur = hi
        floor = hi
    return out


def _merge(taken: list[tuple[int, int]], pieces: Sequence[tuple[int, int, object]]) -> list[tuple[int, int]]:
    return sorted(taken + [(lo, hi) for lo, hi, _p in pieces])


def _build_regions(t: Target, rep: CrashReport) -> None:
    regions: list[Region] = []
    taken: list[tuple[int, int]] = []
    fault_row = None
    vmi = rep.vm_region_info
    if vmi is not None:
        floor = 0
        rows = [(r.start, r.end, r) for r in vmi.rows if not r.pseudo and r.start is not None and r.end is not None]
        for start, end, row in sorted(rows, key=lambda x: x[0]):
            if start < floor:
                t.notes.append(f"partial: VM row {start:#x}-{end:#x} overlaps another; skipped")
                t.partial = True
                continue
            r = Region(start, end, row.prot or 0, row.max_prot, row.share_mode,
                       kind=_vm_kind(row), type=row.type, detail=row.detail or "")
            regions.append(r)
            taken.append((start, end))
            floor = end
            if row.fault:
                fault_row = r
    # The report's images: their __TEXT extent is known even inside the
    # shared cache (unless a cache file describes those mappings).
    with_reader = t.shared_cache is not None and t.shared_cache.reader is not None
    page = t.page_size or 4096
    # A report gives an image's byte extent; the VM holds whole pages.
    cands = [(im.load_address - im.load_address % page,
              -(-(im.load_address + im.size) // page) * page, im) for im in t.images
             if im.size and im.size > 0 and not (with_reader and im.in_shared_cache)]
    pieces = _carve(cands, taken)
    for lo, hi, im in pieces:
        regions.append(Region(lo, hi, PROT_READ | PROT_EXEC, None, None, kind="image",
                              path=im.path, type="__TEXT", detail=im.path, image=im.path,
                              segment="__TEXT"))
    taken = _merge(taken, pieces)
    _cache_regions(t, taken, regions)
    regions.sort(key=lambda r: r.start)
    t.regions = regions
    _fault_info(t, rep, fault_row)


def _cache_regions(t: Target, taken: list[tuple[int, int]], regions: list[Region]) -> None:
    sc = t.shared_cache
    if sc is None:
        return
    if sc.mappings:
        for lo, hi, m in _carve([(m.address, m.address + m.size, m) for m in sc.mappings], taken):
            regions.append(Region(lo, hi, m.init_prot, m.max_prot, None, kind="cache", path=sc.path))
        return
    if not sc.size:
        return
    t.notes.append("shared cache: the report gives only its range; parts outside the listed "
                   "images are shown r-- (pass --cache for the real mappings)")
    detail = f"uuid {sc.uuid}" if sc.uuid else ""
    for lo, hi, _p in _carve([(sc.base, sc.base + sc.size, None)], taken):
        regions.append(Region(lo, hi, PROT_READ, None, None, kind="cache",
                              type="dyld shared cache", detail=detail))


def _fault_info(t: Target, rep: CrashReport, fault_row: Region | None) -> None:
    info = t.info
    info["fault_region"] = None
    info["fault_gap"] = None
    addr = rep.fault_address
    hit = fault_row
    if hit is None and addr is not None:
        hit = next((r for r in t.regions if r.contains(addr)), None)
    if hit is not None:
        info["fault_region"] = {"start": hit.start, "end": hit.end, "type": hit.type,
                                "detail": hit.detail}
        return
    vmi = rep.vm_region_info
    if vmi is not None and vmi.marker_after is not None:
        real = [(i, r) for i, r in enumerate(vmi.rows)]
        before = [r for i, r in real if i <= vmi.marker_after and not r.pseudo]
        after = [r for i, r in real if i > vmi.marker_after and not r.pseudo]
        info["fault_gap"] = {"after": before[-1].end if before else None,
                             "before": after[0].start if after else None}


# --- --cache -----------------------------------------------------------------

def _attach_cache(t: Target, rep: CrashReport, cache_path: str) -> None:
    """Use a dyld cache file: its UUID must be the report's; its mappings
    and images (at the report's slide) replace the bare cache range."""
    from symmap.formats.dyld_cache.reader import open_cache
    sc = t.shared_cache
    if sc is None:
        raise BadTarget(f"--cache {cache_path}: the report names no shared cache")
    if not os.path.isfile(cache_path):
        raise BadTarget(f"--cache {cache_path}: no such file")
    reader = open_cache(cache_path)
    t.closers.append(reader.close)
    if sc.uuid is not None and reader.uuid != sc.uuid:
        t.close()
        raise BadTarget(f"--cache {cache_path}: cache UUID {reader.uuid} does not match the "
                        f"report's shared cache UUID {sc.uuid}")
    slide = sc.base - reader.unslid_base
    sc.slide, sc.path, sc.reader = slide, cache_path, reader
    sc.size = sc.size or reader.size or None
    sc.mappings = [CacheMapping(m.address + slide, m.size, m.file_offset, m.max_prot, m.init_prot,
                                m.name or None, m.subcache) for m in reader.mappings]
    cache_images = reader.model_images(slide)
    by_uuid = {im.uuid: im for im in cache_images if im.uuid}
    by_path = {im.path: im for im in cache_images}
    used = set()
    for i, im in enumerate(t.images):
        if not im.in_shared_cache:
            continue
        full = (by_uuid.get(im.uuid) if im.uuid else None) or by_path.get(im.path)
        if full is None:
            continue
        if full.load_address != im.load_address:
            t.notes.append(f"--cache: {im.path} is at {im.load_address:#x} in the report but "
                           f"{full.load_address:#x} in the cache at slide {slide:#x}")
        t.images[i] = full
        used.add(id(full))
    t.images.extend(im for im in cache_images if id(im) not in used)
    for n in getattr(reader, "notes", []) or []:
        t.notes.append(f"cache: {n}")


# --- --symbolicate ----------------------------------------------------------

def _read_header(path: str) -> list[MachO]:
    """Parsed Mach-O headers of a thin or fat file (empty if not Mach-O).
    Reads only the headers (at most _MAX_HEADER bytes per slice)."""
    from symmap.errors import SymmapError
    from symmap.formats.macho import load_commands as _m
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            if _m.is_fat_magic(head):
                out = []
                for sl in _m.parse_fat(head, path, os.fstat(f.fileno()).st_size)[:16]:
                    f.seek(sl.offset)
                    out += _thin(f.read(_MAX_HEADER), path)
                return out
            if _m.is_macho_magic(head):
                f.seek(0)
                return _thin(f.read(_MAX_HEADER), path)
    except (OSError, SymmapError):
        return []
    return []


def _thin(buf: bytes, path: str) -> list[MachO]:
    from symmap.errors import SymmapError
    from symmap.formats.macho import load_commands as _m
    try:
        return [_m.parse_macho(buf, 0, path)]
    except SymmapError:
        return []


def find_binaries_by_uuid(uuids: Iterable[str], dirs: Iterable[str]) -> dict[str, tuple[str, MachO]]:
    """uuid -> (file path, parsed MachO) for Mach-O files under ``dirs``
    whose LC_UUID is wanted.  The walk is bounded (MAX_WALK_FILES files,
    MAX_WALK_DEPTH levels) and stops once every UUID is found."""
    want = {u for u in uuids if u}
    found: dict[str, tuple[str, MachO]] = {}
    seen = 0
    for d in dirs:
        if not os.path.isdir(d):
            if os.path.isfile(d):
                _match(d, want, found)
            continue
        root_depth = d.rstrip(os.sep).count(os.sep)
        for root, subdirs, files in os.walk(d):
            if root.count(os.sep) - root_depth >= MAX_WALK_DEPTH:
                subdirs[:] = []
            for fn in files:
                seen += 1
                if seen > MAX_WALK_FILES or want <= found.keys():
                    return found
                p = os.path.join(root, fn)
                if os.path.isfile(p) and not os.path.islink(p):
                    _match(p, want, found)
    return found


def _match(p: str, want: set[str], found: dict[str, tuple[str, MachO]]) -> None:
    for m in _read_header(p):
        if m.uuid in want and m.uuid not in found:
            found[m.uuid] = (p, m)


def _follow_install_names(t: Target, want: set[str], found: dict[str, tuple[str, MachO]],
                          roots: list[str]) -> None:
    """Find what the UUID walk missed the way dyld found it: each found
    binary's LC_LOAD_DYLIBs resolved through its LC_RPATHs, @loader_path and
    @executable_path (the found main executable), then each report path
    under every search directory.  A file counts only when its UUID is one
    the report wants.  Bounded: each wanted UUID is found once."""
    from symmap.symbolize.install_names import LoadContext, Rpath, resolve

    def take(path: str | None) -> tuple[str, MachO] | None:
        if path is None:
            return None
        for m in _read_header(path):
            if m.uuid in want and m.uuid not in found:
                found[m.uuid] = (path, m)
                return path, m
        return None

    exe, exe_m = next(((p, m) for p, m in found.values() if m.filetype == 2), (None, None))
    main_rpaths = [Rpath(r, exe) for r in exe_m.rpaths] if exe and exe_m else []
    queue = list(found.values())
    while queue and not want <= found.keys():
        path, m = queue.pop()
        rpaths = ([Rpath(r, path) for r in m.rpaths] if path != exe else []) + main_rpaths
        ctx = LoadContext(executable=exe, loader=path, rpaths=rpaths)
        for dep in m.dylibs:
            got = take(resolve(dep, ctx, roots))
            if got is not None:
                queue.append(got)
    for im in t.images:
        if im.uuid in want and im.uuid not in found and im.path.startswith("/"):
            take(resolve(im.path, LoadContext(executable=exe, fallbacks=False), roots))


def attach_binaries(t: Target, search_paths: list[str], dsym: str | None = None) -> dict[str, tuple[str, MachO]]:
    """Give images found on disk by UUID (under ``search_paths``, or the
    ``--dsym`` file or bundle) their real segments and file_path, so their
    slide, symbols and debug info are known.  Returns uuid -> (path, MachO)."""
    from symmap.formats.macho.load_commands import to_image
    need = [im.uuid for im in t.images if im.uuid and im.file_path is None and not im.in_shared_cache]
    dirs = list(search_paths) + ([dsym] if dsym else [])
    found = find_binaries_by_uuid(need, dirs) if dirs and need else {}
    if search_paths and need:
        _follow_install_names(t, set(need), found, search_paths)
    for i, im in enumerate(t.images):
        hit = found.get(im.uuid or "")
        if hit is None:
            continue
        fpath, m = hit
        new = to_image(m, im.path, im.load_address, in_shared_cache=im.in_shared_cache)
        new.file_path = fpath
        new.uuid = im.uuid
        t.images[i] = new
    return found


def symbolicate(t: Target, search_paths: list[str], dsym: str | None = None,
                use_cache: bool = True) -> None:
    """Attach binaries found on disk, then name every frame the report left
    without a symbol (and give file:line and inlined frames where debug
    info is found)."""
    from symmap.symbolize.frames import name_frames
    found = attach_binaries(t, search_paths, dsym)
    named = name_frames(t, search_paths, dsym=dsym, use_cache=use_cache)
    t.info["symbolicated_frames"] = named
    if found:
        t.info["symbol_files"] = {u: p for u, (p, _m) in found.items()}
