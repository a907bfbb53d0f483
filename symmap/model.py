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

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

__all__ = [
    "PROT_READ", "PROT_WRITE", "PROT_EXEC", "prot_str", "parse_prot",
    "Section", "Segment", "Image", "Region", "CacheMapping", "SharedCache",
    "Frame", "Thread", "Target", "MemoryReader", "TARGET_KINDS",
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


@dataclass(slots=True)
class Section:
    """A section inside a segment; ``address`` is runtime (slid)."""

    name: str                   # "__text", ".rodata"
    segment: str                # "__TEXT"; on ELF the segment-like kind ("text")
    address: int
    size: int
    file_offset: int | None = None


@dataclass(slots=True)
class Segment:
    """One segment of an image at its runtime address range [address, address+size)."""

    name: str                   # "__TEXT", "__DATA_CONST"; ELF: "text", "rodata", "data", "bss", "relro"
    address: int
    size: int
    prot: int                   # initprot
    max_prot: int
    file_offset: int | None = None
    file_size: int | None = None
    sections: list[Section] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass(slots=True)
class Image:
    """An executable, library, bundle or dyld itself as loaded in the target.

    ``load_address`` is the runtime address of the Mach-O header (the first
    PT_LOAD's runtime address on ELF); ``slide`` = runtime - unslid address.
    ``uuid`` is lowercase hex without dashes (ELF: the GNU build-id).
    """

    path: str
    load_address: int
    uuid: str | None = None
    slide: int | None = 0
    segments: list[Segment] = field(default_factory=list)
    in_shared_cache: bool = False
    filetype: str | None = None      # "execute", "dylib", "dylinker", "bundle", "elf-exec", "elf-dyn"
    arch: str | None = None
    size: int | None = None          # when only a range is known (crash reports)
    install_name: str | None = None
    # Not serialized: where a symbolizer may find the bytes (file path on disk,
    # or a callable returning a buffer).  Sources fill it when they know.
    file_path: str | None = None
    # A fat file's slice holding this image: its offset in file_path
    # (Segment.file_offset values are relative to it); None when thin.
    slice_offset: int | None = None

    @property
    def end(self) -> int:
        if self.segments:
            return max(s.end for s in self.segments)
        return self.load_address + (self.size or 0)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(slots=True)
class Region:
    """One VM region [start, end).

    Raw facts (set by sources): start, end, prot, max_prot, share_mode
    ("COW","PRV","NUL","ALI","SHM","ZER","S/A", or None), tag (Mach user_tag),
    kind (a source hint: "file","anon","heap","stack","vdso","vvar","guard","stack_guard",
    "shm","deleted","memfd","submap","cache"...), resident/dirty/swapped
    bytes (None if unknown), path and offset of the backing file.

    Joined facts (set by symmap.annotate): type (vmmap REGION TYPE), detail
    (REGION DETAIL), image (path of owning Image), segment (its name).
    """

    start: int
    end: int
    prot: int
    max_prot: int | None = None
    share_mode: str | None = None
    tag: int | None = None
    kind: str | None = None
    resident: int | None = None
    dirty: int | None = None
    swapped: int | None = None
    path: str | None = None
    offset: int | None = None
    purgeable: str | None = None     # "N", "V", "E" or None
    depth: int | None = None         # submap nesting depth (macOS)
    type: str | None = None
    detail: str | None = None
    image: str | None = None
    segment: str | None = None
    # Not serialized: per-page VM_PAGE_QUERY_PAGE_* dispositions (macOS live source, shared
    # region only), one int per ``Target.page_size`` page from the page holding ``start``;
    # lets symmap.annotate.shared_cache give sub-page rows exact counts.
    pages: Any = field(default=None, compare=False, repr=False)
    # Not serialized: a saved vmmap report's own VSIZE figure for the row (vmmap prints its own,
    # not always END-START), and how many columns right of the usual layout vmmap printed it.
    vsize: int | None = field(default=None, compare=False, repr=False)
    shift: int = field(default=0, compare=False, repr=False)
    # Not serialized: the kernel's VM object id (macOS live walk), for vmmap's coalescing.
    object_id: int | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def writable(self) -> bool:
        return bool(self.prot & PROT_WRITE)

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end


@dataclass(slots=True)
class CacheMapping:
    """A dyld shared cache mapping at its runtime address."""

    address: int
    size: int
    file_offset: int
    max_prot: int
    init_prot: int
    name: str | None = None          # "__TEXT", "__DATA_CONST", "__AUTH", "__LINKEDIT"...
    subcache: int = 0                # index into SharedCache.subcaches, 0 = main file


@dataclass(slots=True)
class SharedCache:
    """The dyld shared cache as seen by the target.  ``base`` is the runtime
    (slid) address of the cache header; ``slide`` = base - unslid base."""

    uuid: str | None
    base: int
    slide: int | None
    size: int | None = None
    path: str | None = None
    mappings: list[CacheMapping] = field(default_factory=list)
    subcaches: list[dict[str, Any]] = field(default_factory=list)
    # Not serialized: an opened symmap.formats.dyld_cache.reader reader, if any.
    reader: Any = None


@dataclass(slots=True)
class Frame:
    address: int
    image: str | None = None
    symbol: str | None = None
    offset: int | None = None        # address - symbol start
    image_offset: int | None = None  # address - image load address
    file: str | None = None          # source file:line, from the report or debug info
    line: int | None = None
    inlined: bool = False            # an inlined frame (same address as the next one)


@dataclass(slots=True)
class Thread:
    index: int
    name: str | None = None
    pc: int | None = None
    sp: int | None = None
    crashed: bool = False
    frames: list[Frame] = field(default_factory=list)


class MemoryReader(Protocol):
    """Reads target memory; returns b"" or fewer bytes where unreadable."""

    def read(self, address: int, size: int) -> bytes: ...


@dataclass(slots=True)
class Target:
    """Everything symmap knows about one target.

    ``info`` holds header facts for the report (parent, identifier, os
    version, date, fault address...).  ``notes`` are one-line caveats shown
    in the report header ("no task port: ...", "partial: ...").
    """

    kind: str                        # one of TARGET_KINDS
    name: str | None = None
    pid: int | None = None
    path: str | None = None
    arch: str | None = None
    page_size: int | None = None
    os: str | None = None            # "linux", "macos"
    os_version: str | None = None
    regions: list[Region] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    shared_cache: Optional[SharedCache] = None
    threads: list[Thread] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    partial: bool = False
    annotated: bool = False
    # Not serialized: live or file-backed memory access, when the source has it.
    memory: Optional[MemoryReader] = None
    # Not serialized: cleanup hooks (close mmaps, ports).
    closers: list[Callable[[], None]] = field(default_factory=list)

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
