"""Source: a Mach-O core file (MH_CORE) -> an un-annotated Target.

Regions are the core's segments; memory is read lazily through an mmap of
the file (cores run to gigabytes; nothing here reads one whole).  Images
come, in lldb's order of preference (ProcessMachCore.cpp
``LoadBinariesAndSetDYLD``), from the "all image infos" / "load binary"
LC_NOTEs, else from dyld's ``dyld_all_image_infos`` read out of core memory
with the same reader the macOS live source uses (symmap.darwin.dyld_image_list).
Each image's header and segments are parsed from the bytes in the core.
"""
from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING, Callable

from symmap.errors import BadTarget, CorruptInput, SymmapError
from symmap.formats.macho import core as mc
from symmap.formats.macho.load_commands import (CPU_TYPE_ARM, MH_DYLINKER, MachO, parse_macho, peek_header,
                                                to_image)
from symmap.model import CacheMapping, Image, Region, SharedCache, Target, Thread

if TYPE_CHECKING:
    from symmap.darwin.dyld_image_list import DyldState
    from symmap.formats.dyld_cache.reader import CacheImage, DyldCache
    from symmap.sources import OpenOptions

__all__ = ["open_file", "MAX_HEADER", "find_dyld"]

MAX_HEADER = 0x10000           # mach_header + load commands read from memory, at most
MAX_LINKEDIT = 64 << 20        # dyld's __LINKEDIT read to find its symbol, at most
MAX_SCAN = 100_000             # segment starts probed for dyld's header
MH_DYLIB_IN_CACHE = 0x80000000
# Upper end of the shared region: arm64 0x180000000 + 0x180000000; x86_64 the
# larger of 0x7FFF00000000 + 0xFFE00000 (macOS 10.13-11) and 0x7FF800000000 + 0x7FE000000.
_SHARED_REGION_END = {"arm64": 0x300000000, "arm64e": 0x300000000, "x86_64": 0x7FFFFFE00000,
                      "x86_64h": 0x7FFFFFE00000}
_AII_SYMBOLS = ("_dyld_all_image_infos", "__ZN5dyld419dyld_all_image_infosE")


def open_file(path: str, opts: OpenOptions) -> Target:
    """Open ``path`` as an MH_CORE; raises CorruptInput("core", ...) when unusable."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise BadTarget(f"{path}: {e.strerror}") from None
    try:
        size = os.fstat(f.fileno()).st_size
        if size < 28:
            raise CorruptInput("core", "file too short for a mach header", path, 0)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
            # Small scattered reads (headers, pointers): no multi-MB readahead per fault.
            mm.madvise(mmap.MADV_RANDOM)
    except BaseException:
        f.close()
        raise
    t = Target(kind="core", os="macos", path=path, name=os.path.basename(path))
    t.closers += [mm.close, f.close]
    try:
        _fill(t, mm, f.fileno(), path, opts)
    except BaseException:
        t.close()
        raise
    return t


def _fill(t: Target, mm: mmap.mmap, fd: int, path: str, opts: OpenOptions) -> None:
    core = mc.parse_core(mm, path)
    t.arch = core.arch
    # Apple arm64 (and arm64_32) user space runs on 16 KiB pages, Intel on 4 KiB.
    t.page_size = 16384 if core.cputype & 0xFFFFFF == CPU_TYPE_ARM else 4096
    t.info["code_type"] = {"arm64": "ARM64", "arm64e": "ARM64E", "x86_64": "X86-64",
                           "x86_64h": "X86-64", "i386": "X86"}.get(core.arch, core.arch)
    mem = mc.CoreMemory(mm, core.segments, fd)
    t.memory = mem
    for s in core.segments:
        resident = s.present if s.filesize > 0 else None
        t.regions.append(Region(s.vmaddr, s.end, s.initprot, s.maxprot, kind="core",
                                resident=resident, dirty=None, swapped=None))
    bits = None
    for n in core.note("addrable bits"):
        bits = mc.parse_addrable_bits(mm, n) or bits
    t.info["addressing_bits"] = bits
    # PAC/tag bits sit above the addressable bits; without a note assume the
    # macOS user VA size (47 bits, darwin-facts 4.3), which no user pointer exceeds.
    from symmap.darwin.dyld_image_list import pointer_mask
    mask = pointer_mask(bits, core.is64)
    # A core does not say which thread faulted (every LC_THREAD may carry an
    # exception state), so none is marked crashed.
    for ct in core.threads:
        t.threads.append(Thread(ct.index, pc=None if ct.pc is None else ct.pc & mask,
                                sp=None if ct.sp is None else ct.sp & mask))
    t.info["threads"] = [{"index": th.index, "pc": th.pc, "sp": th.sp} for th in t.threads]
    for p in core.problems:
        t.notes.append(f"core: {p}")
    if core.problems:
        t.partial = True
    _images(t, core, mm, mem, mask, path, opts)


# ---- images ---------------------------------------------------------------

def _read_macho(mem: mc.CoreMemory, addr: int, path: str) -> MachO | None:
    """Parse the mach_header + load commands at ``addr`` in core memory, or None."""
    hdr = peek_header(mem.read(addr, 32))
    if hdr is None:
        return None
    buf = mem.read(addr, min(32 + hdr.sizeofcmds, MAX_HEADER))
    try:
        return parse_macho(buf, 0, path)
    except CorruptInput:
        return None


def _image_at(t: Target, mem: mc.CoreMemory, addr: int, path: str | None, uuid: str | None,
              cache: SharedCache | None = None, cache_images: dict[int, CacheImage] | None = None) -> Image:
    label = path or f"image@{addr:#x}"
    in_cache = cache is not None and _in_cache(cache, addr, t.arch)
    slide = cache.slide if cache is not None and in_cache else None
    m = _read_macho(mem, addr, label)
    if m is None and cache is not None and in_cache and cache_images and slide is not None:
        m = _macho_from_cache(cache.reader, cache_images.get(addr - slide))
    if m is None:
        if not in_cache:    # for cache images the one "pages not in the core" note says it
            _note_capped(t, f"core: no Mach-O header in the core at {addr:#x} ({label})")
        return Image(path=label, load_address=addr, uuid=uuid, slide=slide,
                     in_shared_cache=in_cache)
    if uuid and m.uuid and uuid != m.uuid:
        _note_capped(t, f"core: {label}: UUID {m.uuid} in memory differs from {uuid} listed")
    img = to_image(m, label, addr, in_shared_cache=in_cache or bool(m.flags & MH_DYLIB_IN_CACHE),
                   slide=slide)
    img.install_name = img.install_name or m.dylinker
    img.file_path = None
    return img


def _in_cache(cache: SharedCache, addr: int, arch: str | None) -> bool:
    if cache.size:
        return cache.base <= addr < cache.base + cache.size
    # No cache tables (pages not saved, no --cache): above the cache base and
    # inside the shared region (osfmk/mach/shared_region.h; darwin-facts 1.7).
    return cache.base <= addr < _SHARED_REGION_END.get(arch or "", 0)


def _macho_from_cache(reader: DyldCache | None, ci: CacheImage | None) -> MachO | None:
    if ci is None or reader is None:
        return None
    try:
        return reader.image_macho(ci)
    except CorruptInput:
        return None


MAX_IMAGE_NOTES = 20


def _note_capped(t: Target, msg: str) -> None:
    """Per-image notes, at most MAX_IMAGE_NOTES (a hostile list can name 8192 images)."""
    n = t.info.get("_image_notes", 0) + 1
    t.info["_image_notes"] = n
    if n <= MAX_IMAGE_NOTES:
        t.notes.append(msg)
    elif n == MAX_IMAGE_NOTES + 1:
        t.notes.append("core: more image problems not shown")


def _images(t: Target, core: mc.CoreFile, mm: mmap.mmap, mem: mc.CoreMemory, mask: int, path: str,
            opts: OpenOptions) -> None:
    note_imgs: list[mc.NoteImage] = []
    segs = 0
    for n in core.notes:
        # Many notes may name one payload: the caps hold for all of them together.
        if len(note_imgs) > mc.MAX_NOTE_IMAGES:
            break
        try:
            if n.owner == "all image infos":
                got = mc.parse_all_image_infos(mm, n, path, max_images=mc.MAX_NOTE_IMAGES + 1 - len(note_imgs),
                                               max_segments=mc.MAX_NOTE_SEGMENTS_TOTAL - segs)
                segs += sum(len(ni.segments) for ni in got)
                note_imgs += got
            elif n.owner == "load binary":
                note_imgs.append(mc.parse_load_binary(mm, n, path))
        except CorruptInput as e:
            t.notes.append(f"core: {e.reason}; note ignored")
            t.partial = True
    if len(note_imgs) > mc.MAX_NOTE_IMAGES:
        t.notes.append(f"core: image notes list more than {mc.MAX_NOTE_IMAGES} images; the rest ignored")
        t.partial = True
        del note_imgs[mc.MAX_NOTE_IMAGES:]
    # dyld's all_image_infos also carries the shared cache's UUID/base/slide,
    # which the notes do not, so it is read even when a note lists the images.
    state = None
    dyld_addr = _main_bin_dyld(core, mm)
    if dyld_addr is None:
        dyld_addr = find_dyld(core, mem)
    if dyld_addr is not None:
        state = _dyld_state(t, mem, dyld_addr, mask, core.is64)
    cache = _shared_cache(t, core, mem, state, opts)
    if note_imgs:
        t.info["images_from"] = "LC_NOTE"
        listed = []
        for ni in note_imgs:
            addr = ni.load_address
            if addr is None:
                addr = next((a for nm, a in ni.segments if nm == "__TEXT"), None)
            if addr is not None:    # a slide alone, without the file, places nothing
                listed.append((addr & mask, ni.path, ni.uuid))
    elif state is not None and state.images:
        t.info["images_from"] = "dyld_all_image_infos"
        listed = [(im.load_address, im.path, im.uuid) for im in state.images]
        if not state.complete:
            t.partial = True
    elif dyld_addr is not None:
        listed = [(dyld_addr, None, None)]
        t.notes.append("core: dyld found but its image list is unreadable; only dyld is listed")
        t.partial = True
    else:
        listed = []
        t.notes.append("core: no image list (no 'all image infos' note and no dyld in the core)")
        t.partial = True
    by_addr = None
    if cache is not None and cache.reader is not None:
        try:
            by_addr = {ci.address: ci for ci in cache.reader.images}
        except SymmapError as e:
            t.notes.append(f"core: shared cache image table unreadable: {e}")
    seen = set()
    for addr, p, uuid in listed:
        if addr in seen:        # lldb's note and dyld's list may both name an image
            continue
        seen.add(addr)
        t.images.append(_image_at(t, mem, addr, p, uuid, cache, by_addr))
    t.info.pop("_image_notes", None)
    _order_main_first(t)


def _dyld_state(t: Target, mem: mc.CoreMemory, dyld_addr: int, mask: int, is64: bool) -> DyldState | None:
    from symmap.darwin.dyld_image_list import read_dyld_state
    addr = _all_image_infos_addr(mem, dyld_addr)
    if addr is None:
        t.notes.append(f"core: dyld at {dyld_addr:#x} has no dyld_all_image_infos")
        return None
    t.info["all_image_infos"] = addr
    # A core never changes: one attempt, no sleeping between retries.
    st = read_dyld_state(mem.read, addr, 0, 1 if is64 else 0, mask, retries=1,
                         sleep=lambda _s: None, page_size=t.page_size or 4096)
    for n in st.notes:
        t.notes.append(f"core: {n}")
    return st


def _order_main_first(t: Target) -> None:
    """The main executable first (the report's Path/Load Address come from images[0])."""
    for k, im in enumerate(t.images):
        if im.filetype == "execute":
            if k:
                t.images.insert(0, t.images.pop(k))
            t.info.setdefault("load_address", im.load_address)
            t.info.setdefault("executable", im.path)
            t.name = im.name     # the process name, as vmmap shows for a core
            return


def _main_bin_dyld(core: mc.CoreFile, mm: mmap.mmap) -> int | None:
    for n in core.note("main bin spec"):
        typ, addr, _uuid = mc.parse_main_bin_spec(mm, n)
        if typ == 2 and addr is not None:       # user process: address of dyld's header
            return addr
    return None


def find_dyld(core: mc.CoreFile, mem: mc.CoreMemory) -> int | None:
    """Address of an MH_DYLINKER header at a segment start, or None.

    lldb probes every 4 KiB of every segment; a user core's dyld always
    starts a segment (its __TEXT), so segment starts suffice and keep this
    O(segments) on multi-GB cores.
    """
    from symmap.progress import progress
    segs = core.segments[:MAX_SCAN]
    # Each probe may fault in a page of a multi-GB core: a bar on a terminal.
    with progress("reading core segments", len(segs), min_total=256) as step:
        for s in segs:
            step(1)
            if s.present < 32 or not mem.may_hold_data(s.vmaddr):
                continue
            hdr = peek_header(mem.read(s.vmaddr, 28))
            if hdr is not None and hdr.filetype == MH_DYLINKER:
                return s.vmaddr
    return None


def _all_image_infos_addr(mem: mc.CoreMemory, dyld_addr: int) -> int | None:
    """Runtime address of dyld_all_image_infos in dyld at ``dyld_addr``:
    section __all_image_info, else the symbol (lldb DynamicLoaderMacOSXDYLD)."""
    m = _read_macho(mem, dyld_addr, "dyld")
    if m is None or m.text_vmaddr is None:
        return None
    slide = dyld_addr - m.text_vmaddr
    for seg in m.segments:
        for sec in seg.sections:
            if sec.name == "__all_image_info":
                return sec.addr + slide
    le = m.segment("__LINKEDIT")
    if le is None:
        return None
    from symmap.formats.macho.symbols import image_symbols
    buf = mem.read(le.vmaddr + slide, min(le.vmsize, MAX_LINKEDIT))
    syms = image_symbols(buf, m, -le.fileoff)
    for addr, name, *_ in syms.exports:
        if name in _AII_SYMBOLS:
            return addr + slide
    for addr, name, *_ in syms.symbols:
        if name in _AII_SYMBOLS:
            return addr + slide
    return None


# ---- shared cache ---------------------------------------------------------

def _shared_cache(t: Target, core: mc.CoreFile, mem: mc.CoreMemory, state: DyldState | None,
                  opts: OpenOptions) -> SharedCache | None:
    """The shared cache: UUID/base/slide from dyld's state, else a cache header
    found at a segment start; its tables from the core's cache pages, or from
    ``opts.cache`` (a cache file whose UUID must match)."""
    uuid = base = slide = None
    if state is not None and state.cache_uuid:
        uuid, base, slide = state.cache_uuid, state.cache_base, state.cache_slide
    if not base and state is None:      # dyld's state says "no cache": believe it
        base = _scan_cache_header(core, mem)
    cache_file = getattr(opts, "cache", None) if opts is not None else None
    if base is None and not cache_file:
        return None
    from symmap.formats.dyld_cache.reader import DyldCache, open_cache
    reader = None
    if base is not None and len(mem.read(base, 0x200)) == 0x200:
        try:
            reader = DyldCache.from_memory(mem.read, base, path=cache_file)
        except SymmapError as e:
            t.notes.append(f"core: shared cache at {base:#x} unreadable from the core: {e}")
            t.partial = True
    if reader is not None:
        if uuid is not None and reader.uuid != uuid:
            t.notes.append(f"core: cache header UUID {reader.uuid} differs from dyld's {uuid}")
        uuid = uuid or reader.uuid
        slide = reader.slide if slide is None else slide
    if cache_file:
        file_reader = _open_cache_file(cache_file, uuid, open_cache)
        t.closers.append(file_reader.close)
        if reader is None:
            reader = file_reader
            uuid = uuid or file_reader.uuid
            if base is None:
                if slide is None:
                    raise BadTarget(f"--cache {cache_file}: the core does not say where the "
                                    "shared cache was mapped (no dyld state, no cache header)")
                base = file_reader.unslid_base + slide
            if slide is None:
                slide = base - file_reader.unslid_base
    if base is not None and reader is None:
        t.notes.append("core: the shared cache's pages are not in the core; pass --cache "
                       "to name its libraries")
    assert base is not None     # a reader (memory or --cache) exists only with a base
    sc = SharedCache(uuid=uuid, base=base, slide=slide, path=cache_file, reader=reader)
    if reader is not None:
        s = slide or 0
        sc.size = reader.size or None
        sc.mappings = [CacheMapping(m.address + s, m.size, m.file_offset, m.max_prot, m.init_prot,
                                    m.name or None, m.subcache) for m in reader.mappings]
        sc.subcaches = [{"index": c.index, "uuid": c.uuid, "path": c.path, "vm_offset": c.vm_offset}
                        for c in reader.subcaches]
        for n in reader.notes:
            t.notes.append(f"core: cache: {n}")
    t.shared_cache = sc
    return sc


def _scan_cache_header(core: mc.CoreFile, mem: mc.CoreMemory) -> int | None:
    for s in core.segments[:MAX_SCAN]:
        if s.present >= 0x200 and mem.may_hold_data(s.vmaddr) and mem.read(s.vmaddr, 7) == b"dyld_v1":
            return s.vmaddr
    return None


def _open_cache_file(cache_path: str, uuid: str | None, open_cache: Callable[[str], DyldCache]) -> DyldCache:
    if not os.path.isfile(cache_path):
        raise BadTarget(f"--cache {cache_path}: no such file")
    reader = open_cache(cache_path)
    if uuid is not None and reader.uuid != uuid:
        reader.close()
        raise BadTarget(f"--cache {cache_path}: cache UUID {reader.uuid} does not match the "
                        f"core's shared cache UUID {uuid}")
    return reader
