"""The target's malloc zones, read as data over the task's memory reader (read-only).

Layouts from Apple's libmalloc (apple-oss-distributions/libmalloc @ 81c0f67a,
libmalloc-792.1.1):
- ``malloc_get_all_zones`` (src/malloc.c) reads the globals ``malloc_zones``
  (``malloc_zone_t **``) and ``malloc_num_zones`` (``int32_t``), then
  ``num_zones`` pointers from the array.  We do the same reads.
- ``malloc_zone_t`` (include/malloc/malloc.h), 64-bit offsets: reserved1 0,
  reserved2 8, size 16, malloc 24, calloc 32, valloc 40, free 48, realloc 56,
  destroy 64, ``zone_name`` 72, batch_malloc 80, batch_free 88,
  ``introspect`` 96, ``version`` 104 (unsigned).
- ``malloc_introspection_t``: 16 function pointers, then ``zone_type`` at 128
  ("Present in version >= 14"); src/wrapper_zones.c ``get_zone_type`` reads it
  remotely exactly so, after stripping the pointer's signature
  (``get_introspection_addr``; we keep the low 47 bits, the user VA range).
- vmmap names a zone ``<zone_name>_0x<zone address>`` (fixtures/vmmap/01.txt
  ``DefaultMallocZone_0x105348000``), and the region holding the zone structure
  ``… zone structure``.  The nano allocator's regions lie at
  ``NANOZONE_BASE_REGION_ADDRESS`` = 0x6 << 44 (src/nano_zone_common.h), and
  belong to the default zone (01.txt, 03.txt: ``MALLOC_NANO … DefaultMallocZone_…``).

What a remote reader cannot get: ``malloc_statistics_t`` (blocks_in_use,
size_in_use, …) comes from the zone's ``introspect->statistics`` /
``task_statistics`` *functions*, and the regions of a magazine zone from its
``enumerator`` -- code of the target's libmalloc, which symmap never runs.
Their columns (ALLOCATION COUNT, BYTES ALLOCATED, DIRTY+SWAP FRAG SIZE, % FRAG)
stay unknown (``-``), and a zone's VIRTUAL/RESIDENT/… sum only the regions
attributed to it from data (its zone structure, the nano range).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symmap.formats.libmalloc.zones import (
    INTROSPECT_ZONE_TYPE_OFF,
    ZONE_HEADER_SIZE,
    parse_i32,
    parse_pointers,
    parse_u32,
    parse_u64,
    parse_zone_header,
)
from symmap.model import MemoryReader, Target

__all__ = ["NANO_BASE", "MallocZone", "attach_live", "attach_zone_table", "read_malloc_zones"]

NANO_BASE = 0x6 << 44
NANO_END = 0x7 << 44
MAX_ZONES = 256                 # libmalloc grows its array a page at a time; a real process has a handful
MAX_NAME = 256
_VA_MASK = (1 << 47) - 1


@dataclass
class MallocZone:
    address: int
    name: str | None
    version: int
    zone_type: int | None       # None: version < 14 or unreadable
    regions: list[tuple[int, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name or '???'}_{self.address:#x}"


def _cstr(mem: MemoryReader, addr: int) -> str | None:
    raw = mem.read(addr & _VA_MASK, MAX_NAME) if addr else b""
    if not raw:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def read_malloc_zones(mem: MemoryReader, zones_var: int, num_zones_var: int) -> tuple[list[MallocZone], list[str]]:
    """The zones malloc_get_all_zones would list, and notes for what could not be read."""
    notes: list[str] = []
    arr = parse_u64(mem.read(zones_var, 8))
    n = parse_i32(mem.read(num_zones_var, 4))
    if arr is None or n is None:
        return [], ["malloc zones: malloc_zones / malloc_num_zones unreadable"]
    if n < 0 or n > MAX_ZONES:
        return [], [f"malloc zones: malloc_num_zones = {n} is not a zone count"]
    ptrs = parse_pointers(mem.read(arr & _VA_MASK, 8 * n))
    if len(ptrs) < n:
        notes.append(f"malloc zones: {n} zones, only {len(ptrs)} pointers readable")
    zones: list[MallocZone] = []
    for i, p in enumerate(ptrs):
        za = p & _VA_MASK
        head = parse_zone_header(mem.read(za, ZONE_HEADER_SIZE)) if za else None
        if head is None:
            notes.append(f"malloc zones: zone {i} at {za:#x} unreadable")
            continue
        zone_type = None
        if head.version >= 14:
            intro = head.introspect & _VA_MASK
            zone_type = parse_u32(mem.read(intro + INTROSPECT_ZONE_TYPE_OFF, 4)) if intro else None
        zones.append(MallocZone(za, _cstr(mem, head.name_ptr), head.version, zone_type))
    return zones, notes


def attach_zone_table(t: Target, zones: list[MallocZone]) -> None:
    """Name the regions the data attributes to a zone (vmmap's REGION DETAIL), and keep
    the MALLOC ZONE table's facts in ``t.info["malloc_zones"]`` (plain JSON values)."""
    default = next((z for z in zones if z.name == "DefaultMallocZone"), None)
    for r in t.regions:
        owner = next((z for z in zones if r.contains(z.address)), None)
        if owner is not None and r.type and r.type.startswith("MALLOC"):
            r.detail = f"{owner.label} zone structure"
            continue
        if default is not None and r.type and r.type.startswith("MALLOC_NANO") and NANO_BASE <= r.start < NANO_END:
            r.detail = default.label
    rows = []
    for z in zones:
        mine = [r for r in t.regions if r.detail == z.label]
        rows.append({"name": z.label, "address": z.address, "version": z.version, "zone_type": z.zone_type,
                     "virtual": sum(r.size for r in mine),
                     "resident": _sum([r.resident for r in mine]), "dirty": _sum([r.dirty for r in mine]),
                     "swapped": _sum([r.swapped for r in mine]), "region_count": len(mine),
                     "allocation_count": None, "bytes_allocated": None, "frag": None})
    t.info["malloc_zones"] = rows
    t.notes.append("MALLOC ZONE table: allocation counts and bytes need the zones' statistics functions "
                   "(target code, never run); a zone's sizes cover the regions its data names")


def _sum(xs: list[int | None]) -> int | None:
    return None if any(x is None for x in xs) else sum(x for x in xs if x is not None)


LIBMALLOC = "/usr/lib/system/libsystem_malloc.dylib"
_GLOBALS = ("_malloc_zones", "_malloc_num_zones")
MAX_SCAN = 200_000          # symbols scanned for the two globals (libsystem_malloc has ~2k)


def _globals_of(t: Target) -> tuple[int, int] | str:
    """Runtime addresses of libsystem_malloc's two globals, from its own symbols (the
    same addresses malloc_get_all_zones takes from its own image), or why not."""
    im = next((i for i in t.images if i.path == LIBMALLOC or i.install_name == LIBMALLOC), None)
    if im is None:
        return "libsystem_malloc is not among the loaded images"
    from symmap.symbolize.symbolizer import Symbolizer
    index, _ = Symbolizer(t).index_for(im)
    if index is None:
        return "libsystem_malloc's symbols are unavailable"
    found: dict[str, int] = {}
    for start in index.starts[:MAX_SCAN]:
        name = index.name_of(start)
        if name in _GLOBALS:
            found[name] = start
            if len(found) == 2:
                break
    if len(found) < 2:
        return "libsystem_malloc's symbols do not name malloc_zones / malloc_num_zones"
    slide = im.slide or 0
    return found["_malloc_zones"] + slide, found["_malloc_num_zones"] + slide


def attach_live(t: Target) -> None:
    """The MALLOC ZONE table of a live macOS task (read-only), or a note why it is absent."""
    if t.memory is None:
        t.notes.append("MALLOC ZONE table: absent (no task memory to read the zones from)")
        return
    where = _globals_of(t)
    if isinstance(where, str):
        t.notes.append(f"MALLOC ZONE table: absent ({where})")
        return
    zones, notes = read_malloc_zones(t.memory, *where)
    t.notes.extend(notes)
    if zones:
        attach_zone_table(t, zones)
