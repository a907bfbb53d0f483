"""The one target model every source fills in and every renderer reads.

Facts a source cannot know are ``None`` (rendered ``-`` / ``null``), never a
guessed 0.  Addresses are always *runtime* (slid) addresses unless a field
says ``unslid``.  Protections are Mach VM_PROT bit sets (r=1, w=2, x=4), the
same bits Linux uses in /proc/PID/maps order.

Sources build ``Region``/``Image`` lists; ``symmap.annotate`` joins them
(fills ``Region.image``, ``segment``, ``section``-free ``type`` and
``detail``) and may split regions (the shared cache, per library segment).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Protocol, TypeVar

__all__ = [
    "PROT_READ", "PROT_WRITE", "PROT_EXEC", "prot_str", "parse_prot",
    "Section", "Segment", "Image", "Region", "CacheMapping", "SharedCache",
    "Frame", "Thread", "Target", "MemoryReader", "TARGET_KINDS", "Record",
]

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

TARGET_KINDS = ("live", "core", "crash", "cache", "binary", "snapshot")


def prot_str(prot: int | None) -> str:
    """VM_PROT bits -> ``"r-x"``; None -> ``"???"``."""
    if prot is None:
        return "???"
    return ("r" if prot & PROT_READ else "-") + ("w" if prot & PROT_WRITE else "-") + (
        "x" if prot & PROT_EXEC else "-")


def parse_prot(s: str) -> int:
    """``"r-x"`` -> 5.  Raises ValueError on anything else."""
    if len(s) < 3 or any(c not in "rwxps-" for c in s[:3]):
        raise ValueError(f"bad protection string {s!r}")
    return ((PROT_READ if s[0] == "r" else 0) | (PROT_WRITE if s[1] == "w" else 0)
            | (PROT_EXEC if s[2] == "x" else 0))


_R = TypeVar("_R", bound="Record")


class Record:
    """Base of the model's plain slotted classes (not dataclasses: each
    ``@dataclass`` compiles its methods at import, ~0.5 ms a class on every
    start-up).  Same semantics as a ``@dataclass(slots=True)``: ``==``
    compares the ``_CMP`` fields of two objects of the same class, ``repr``
    shows them, instances are unhashable, ``replace`` is
    ``dataclasses.replace``."""

    __slots__ = ()
    _CMP: ClassVar[tuple[str, ...]] = ()     # compared and shown by repr, in field order

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, k) for k in self._CMP) == tuple(getattr(other, k) for k in self._CMP)

    __hash__ = None  # type: ignore[assignment]   # mutable and compared by value, as a dataclass

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._CMP)})"

    def replace(self: _R, **changes: Any) -> _R:
        """A copy with ``changes`` applied (unknown names raise TypeError)."""
        cls = type(self)
        new = cls.__new__(cls)
        names: tuple[str, ...] = cls.__slots__      # every field (Region's uncompared ones too)
        for k in names:
            setattr(new, k, changes.pop(k) if k in changes else getattr(self, k))
        if changes:
            raise TypeError(f"{cls.__qualname__} has no field {', '.join(changes)}")
        return new


class Section(Record):
    """A section inside a segment; ``address`` is runtime (slid)."""

    __slots__ = _CMP = ("name", "segment", "address", "size", "file_offset")

    def __init__(self, name: str, segment: str, address: int, size: int,
                 file_offset: int | None = None) -> None:
        self.name = name                # "__text", ".rodata"
        self.segment = segment          # "__TEXT"; on ELF the segment-like kind ("text")
        self.address = address
        self.size = size
        self.file_offset = file_offset


class Segment(Record):
    """One segment of an image at its runtime address range [address, address+size)."""

    __slots__ = _CMP = ("name", "address", "size", "prot", "max_prot", "file_offset", "file_size", "sections")

    def __init__(self, name: str, address: int, size: int, prot: int, max_prot: int,
                 file_offset: int | None = None, file_size: int | None = None,
                 sections: list[Section] | None = None) -> None:
        self.name = name                # "__TEXT", "__DATA_CONST"; ELF: "text", "rodata", "data", "bss", "relro"
        self.address = address
        self.size = size
        self.prot = prot                # initprot
        self.max_prot = max_prot
        self.file_offset = file_offset
        self.file_size = file_size
        self.sections: list[Section] = [] if sections is None else sections

    @property
    def end(self) -> int:
        return self.address + self.size


class Image(Record):
    """An executable, library, bundle or dyld itself as loaded in the target.

    ``load_address`` is the runtime address of the Mach-O header (the first
    PT_LOAD's runtime address on ELF); ``slide`` = runtime - unslid address.
    ``uuid`` is lowercase hex without dashes (ELF: the GNU build-id).
    """

    __slots__ = _CMP = ("path", "load_address", "uuid", "slide", "segments", "in_shared_cache", "filetype",
                        "arch", "size", "install_name", "file_path", "slice_offset")

    def __init__(self, path: str, load_address: int, uuid: str | None = None, slide: int | None = 0,
                 segments: list[Segment] | None = None, in_shared_cache: bool = False,
                 filetype: str | None = None, arch: str | None = None, size: int | None = None,
                 install_name: str | None = None, file_path: str | None = None,
                 slice_offset: int | None = None) -> None:
        self.path = path
        self.load_address = load_address
        self.uuid = uuid
        self.slide = slide
        self.segments: list[Segment] = [] if segments is None else segments
        self.in_shared_cache = in_shared_cache
        self.filetype = filetype        # "execute", "dylib", "dylinker", "bundle", "elf-exec", "elf-dyn"
        self.arch = arch
        self.size = size                # when only a range is known (crash reports)
        self.install_name = install_name
        # Not serialized: where a symbolizer may find the bytes (file path on disk,
        # or a callable returning a buffer).  Sources fill it when they know.
        self.file_path = file_path
        # A fat file's slice holding this image: its offset in file_path
        # (Segment.file_offset values are relative to it); None when thin.
        self.slice_offset = slice_offset

    @property
    def end(self) -> int:
        if self.segments:
            return max(s.end for s in self.segments)
        return self.load_address + (self.size or 0)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class Region(Record):
    """One VM region [start, end).

    Raw facts (set by sources): start, end, prot, max_prot, share_mode
    ("COW","PRV","NUL","ALI","SHM","ZER","S/A", or None), tag (Mach user_tag),
    kind (a source hint: "file","anon","heap","stack","vdso","vvar","guard","stack_guard",
    "shm","deleted","memfd","submap","cache"...), resident/dirty/swapped
    bytes (None if unknown), path and offset of the backing file.

    Joined facts (set by symmap.annotate): type (vmmap REGION TYPE), detail
    (REGION DETAIL), image (path of owning Image), segment (its name).
    """

    _CMP = ("start", "end", "prot", "max_prot", "share_mode", "tag", "kind", "resident", "dirty", "swapped",
            "path", "offset", "purgeable", "depth", "type", "detail", "image", "segment")
    # pages, vsize, shift and object_id are neither compared nor shown by repr.
    __slots__ = (*_CMP, "pages", "vsize", "shift", "object_id")

    def __init__(self, start: int, end: int, prot: int, max_prot: int | None = None,
                 share_mode: str | None = None, tag: int | None = None, kind: str | None = None,
                 resident: int | None = None, dirty: int | None = None, swapped: int | None = None,
                 path: str | None = None, offset: int | None = None, purgeable: str | None = None,
                 depth: int | None = None, type: str | None = None, detail: str | None = None,
                 image: str | None = None, segment: str | None = None, pages: Any = None,
                 vsize: int | None = None, shift: int = 0, object_id: int | None = None) -> None:
        self.start = start
        self.end = end
        self.prot = prot
        self.max_prot = max_prot
        self.share_mode = share_mode
        self.tag = tag
        self.kind = kind
        self.resident = resident
        self.dirty = dirty
        self.swapped = swapped
        self.path = path
        self.offset = offset
        self.purgeable = purgeable      # "N", "V", "E" or None
        self.depth = depth              # submap nesting depth (macOS)
        self.type = type
        self.detail = detail
        self.image = image
        self.segment = segment
        # Not serialized: per-page VM_PAGE_QUERY_PAGE_* dispositions (macOS live source, shared
        # region only), one int per ``Target.page_size`` page from the page holding ``start``;
        # lets symmap.annotate.shared_cache give sub-page rows exact counts.
        self.pages = pages
        # Not serialized: a saved vmmap report's own VSIZE figure for the row (vmmap prints its own,
        # not always END-START), and how many columns right of the usual layout vmmap printed it.
        self.vsize = vsize
        self.shift = shift
        # Not serialized: the kernel's VM object id (macOS live walk), for vmmap's coalescing.
        self.object_id = object_id

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def writable(self) -> bool:
        return bool(self.prot & PROT_WRITE)

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end


class CacheMapping(Record):
    """A dyld shared cache mapping at its runtime address."""

    __slots__ = _CMP = ("address", "size", "file_offset", "max_prot", "init_prot", "name", "subcache")

    def __init__(self, address: int, size: int, file_offset: int, max_prot: int, init_prot: int,
                 name: str | None = None, subcache: int = 0) -> None:
        self.address = address
        self.size = size
        self.file_offset = file_offset
        self.max_prot = max_prot
        self.init_prot = init_prot
        self.name = name                # "__TEXT", "__DATA_CONST", "__AUTH", "__LINKEDIT"...
        self.subcache = subcache        # index into SharedCache.subcaches, 0 = main file


class SharedCache(Record):
    """The dyld shared cache as seen by the target.  ``base`` is the runtime
    (slid) address of the cache header; ``slide`` = base - unslid base."""

    __slots__ = _CMP = ("uuid", "base", "slide", "size", "path", "mappings", "subcaches", "reader")

    def __init__(self, uuid: str | None, base: int, slide: int | None, size: int | None = None,
                 path: str | None = None, mappings: list[CacheMapping] | None = None,
                 subcaches: list[dict[str, Any]] | None = None, reader: Any = None) -> None:
        self.uuid = uuid
        self.base = base
        self.slide = slide
        self.size = size
        self.path = path
        self.mappings: list[CacheMapping] = [] if mappings is None else mappings
        self.subcaches: list[dict[str, Any]] = [] if subcaches is None else subcaches
        # Not serialized: an opened symmap.formats.dyld_cache.reader reader, if any.
        self.reader = reader


class Frame(Record):
    __slots__ = _CMP = ("address", "image", "symbol", "offset", "image_offset", "file", "line", "inlined")

    def __init__(self, address: int, image: str | None = None, symbol: str | None = None,
                 offset: int | None = None, image_offset: int | None = None, file: str | None = None,
                 line: int | None = None, inlined: bool = False) -> None:
        self.address = address
        self.image = image
        self.symbol = symbol
        self.offset = offset            # address - symbol start
        self.image_offset = image_offset  # address - image load address
        self.file = file                # source file:line, from the report or debug info
        self.line = line
        self.inlined = inlined          # an inlined frame (same address as the next one)


class Thread(Record):
    __slots__ = _CMP = ("index", "name", "pc", "sp", "crashed", "frames")

    def __init__(self, index: int, name: str | None = None, pc: int | None = None, sp: int | None = None,
                 crashed: bool = False, frames: list[Frame] | None = None) -> None:
        self.index = index
        self.name = name
        self.pc = pc
        self.sp = sp
        self.crashed = crashed
        self.frames: list[Frame] = [] if frames is None else frames


class MemoryReader(Protocol):
    """Reads target memory; returns b"" or fewer bytes where unreadable."""

    def read(self, address: int, size: int) -> bytes: ...


class Target(Record):
    """Everything symmap knows about one target.

    ``info`` holds header facts for the report (parent, identifier, os
    version, date, fault address...).  ``notes`` are one-line caveats shown
    in the report header ("no task port: ...", "partial: ...").
    """

    __slots__ = _CMP = ("kind", "name", "pid", "path", "arch", "page_size", "os", "os_version", "regions",
                        "images", "shared_cache", "threads", "info", "notes", "partial", "annotated",
                        "memory", "closers")

    def __init__(self, kind: str, name: str | None = None, pid: int | None = None, path: str | None = None,
                 arch: str | None = None, page_size: int | None = None, os: str | None = None,
                 os_version: str | None = None, regions: list[Region] | None = None,
                 images: list[Image] | None = None, shared_cache: Optional[SharedCache] = None,
                 threads: list[Thread] | None = None, info: dict[str, Any] | None = None,
                 notes: list[str] | None = None, partial: bool = False, annotated: bool = False,
                 memory: Optional[MemoryReader] = None,
                 closers: list[Callable[[], None]] | None = None) -> None:
        self.kind = kind                # one of TARGET_KINDS
        self.name = name
        self.pid = pid
        self.path = path
        self.arch = arch
        self.page_size = page_size
        self.os = os                    # "linux", "macos"
        self.os_version = os_version
        self.regions: list[Region] = [] if regions is None else regions
        self.images: list[Image] = [] if images is None else images
        self.shared_cache = shared_cache
        self.threads: list[Thread] = [] if threads is None else threads
        self.info: dict[str, Any] = {} if info is None else info
        self.notes: list[str] = [] if notes is None else notes
        self.partial = partial
        self.annotated = annotated
        # Not serialized: live or file-backed memory access, when the source has it.
        self.memory = memory
        # Not serialized: cleanup hooks (close mmaps, ports).
        self.closers: list[Callable[[], None]] = [] if closers is None else closers

    def close(self) -> None:
        for c in self.closers:
            try:
                c()
            except Exception:
                pass
        self.closers.clear()

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
