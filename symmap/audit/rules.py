"""Audit rules: memory that is writable and executable, or executable with no
image behind it.  One engine for Linux and macOS: rules read the raw source
facts (Region.kind/tag/path/share_mode) and the annotator's joins
(Region.image/segment), so the target must be annotated first.

Rule ids (stable, used by scripts and by ``symmap diff``):

=====================  ========  ==============================================
rule                   severity  fires on
=====================  ========  ==============================================
cache-text-writable    critical  a dyld shared cache __TEXT page made writable
image-text-writable    high      an image's text segment whose current prot has w
image-exec-added       high      an image segment mapped x that the file says is not
wx                     high      current protection r/w/x all at once (not JIT)
exec-stack             high      an executable stack
exec-heap              high      an executable heap / malloc region
exec-memfd             high      code mapped from a memfd (file-less code)
exec-unloaded-file     high      an x file mapping that no loaded image owns
exec-image-remapped    low       an x mapping of a loaded image's file outside that image
exec-deleted           medium    an x mapping of a file deleted since it was mapped
anon-exec              medium    executable anonymous memory no image owns (shared
                                 anonymous and SysV shm too: ``is_anon_shared``)
wx-max                 medium    max protection allows w+x on non-image code
jit                    info/low  a JIT region (tag or Apple-silicon MAP_JIT)
=====================  ========  ==============================================
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from symmap.model import PROT_EXEC, PROT_WRITE, Image, Region, Segment, Target
from symmap.audit.findings import Finding, finding_for, severity_rank

__all__ = ["audit", "RULES", "AuditContext", "JIT_TAGS", "MALLOC_TAGS", "STACK_TAG"]

WX = PROT_WRITE | PROT_EXEC

# osfmk/mach/vm_statistics.h (apple-oss-distributions/xnu @ xnu-11417), darwin-facts.md §1.6.
VM_MEMORY_STACK = 30
STACK_TAG = VM_MEMORY_STACK
MALLOC_TAGS = frozenset(range(1, 14))            # MALLOC .. MALLOC_PROB_GUARD
VM_MEMORY_SHARED_PMAP = 32
VM_MEMORY_UNSHARED_PMAP = 35
VM_MEMORY_JAVASCRIPT_JIT_EXECUTABLE_ALLOCATOR = 64
VM_MEMORY_ROSETTA_EXECUTABLE_HEAP = 234          # vmmap "Rosetta JIT"
JIT_TAGS = frozenset({VM_MEMORY_JAVASCRIPT_JIT_EXECUTABLE_ALLOCATOR, VM_MEMORY_ROSETTA_EXECUTABLE_HEAP})

# Segments that hold an image's code: Mach-O __TEXT, the ELF "text" kind.
TEXT_SEGMENTS = frozenset({"__TEXT", "text"})

# Kernel-provided code pages that no image owns and the process cannot write:
# Linux vdso/vsyscall/uprobes XOL area.
_KERNEL_KINDS = frozenset({"vdso", "vvar", "vsyscall"})
_KERNEL_PATHS = frozenset({"[vdso]", "[vvar]", "[vsyscall]", "[uprobes]", "[vectors]", "[sigpage]"})


@dataclass
class AuditContext:
    """Per-target lookups the rules share (built once per audit)."""

    target: Target
    images: dict[str, Image] = field(default_factory=dict)
    cache_ranges: list[tuple[int, int, bool]] = field(default_factory=list)  # (start, end, is_text)
    # Lookups built from the lists above so that each rule query is a dict hit
    # or a bisect: a snapshot may hold thousands of segments or cache mappings,
    # and scanning them for each of 20,000 regions took minutes.
    _segs: dict[tuple[str, str], tuple[list[int], list[int], list[Segment]]] = field(
        default_factory=dict)
    _cache_all: tuple[list[int], list[int]] = ([], [])
    _cache_text: tuple[list[int], list[int]] = ([], [])

    @classmethod
    def build(cls, t: Target) -> "AuditContext":
        ctx = cls(t)
        for img in t.images:
            ctx.images.setdefault(img.path, img)
        sc = t.shared_cache
        if sc is not None:
            for m in sc.mappings:
                if m.size > 0:
                    is_text = bool(m.init_prot & PROT_EXEC) or m.name == "__TEXT"
                    ctx.cache_ranges.append((m.address, m.address + m.size, is_text))
            if not ctx.cache_ranges and sc.size:
                ctx.cache_ranges.append((sc.base, sc.base + sc.size, False))
        for path, img in ctx.images.items():
            by_name: dict[str, list[Segment]] = {}
            for seg in img.segments:
                by_name.setdefault(seg.name, []).append(seg)
            for name, segs in by_name.items():
                segs.sort(key=lambda g: g.address)
                ctx._segs[(path, name)] = ([g.address for g in segs], _running_max(segs), segs)
        ctx._cache_all = _merged((a, b) for a, b, _ in ctx.cache_ranges)
        ctx._cache_text = _merged((a, b) for a, b, t in ctx.cache_ranges if t)
        return ctx

    @property
    def is_macos(self) -> bool:
        return self.target.os == "macos"

    @property
    def apple_silicon(self) -> bool:
        return self.is_macos and (self.target.arch or "").startswith("arm64")

    def image_of(self, r: Region) -> Image | None:
        return self.images.get(r.image) if r.image is not None else None

    def segment_of(self, r: Region) -> Segment | None:
        """The image's segment named r.segment that overlaps r (else the
        lowest one of that name)."""
        if r.image is None or r.segment is None:
            return None
        hit = self._segs.get((r.image, r.segment))
        if hit is None:
            return None
        starts, max_ends, segs = hit
        k = bisect.bisect_left(starts, r.end) - 1
        # Walk down while an earlier segment could still reach r.start; the
        # step cap only matters for hostile nested segments of one name.
        for i in range(k, max(k - 64, -1), -1):
            if max_ends[i] <= r.start:
                break
            if segs[i].end > r.start:
                return segs[i]
        return segs[0]

    def cache_hit(self, r: Region) -> tuple[bool, bool]:
        """(inside the shared cache, inside a cache text mapping)."""
        inside = _overlaps(self._cache_all, r.start, r.end)
        text = _overlaps(self._cache_text, r.start, r.end)
        if r.tag in (VM_MEMORY_SHARED_PMAP, VM_MEMORY_UNSHARED_PMAP) and self.is_macos:
            inside = True
        img = self.image_of(r)
        if img is not None and img.in_shared_cache:
            inside = True
        return inside, text


def _running_max(segs: list[Segment]) -> list[int]:
    out, m = [], -1
    for g in segs:
        m = max(m, g.end)
        out.append(m)
    return out


def _merged(ranges: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Disjoint sorted (starts, ends) covering the same addresses as ranges."""
    starts: list[int] = []
    ends: list[int] = []
    for a, b in sorted(ranges):
        if starts and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _overlaps(merged: tuple[list[int], list[int]], start: int, end: int) -> bool:
    starts, ends = merged
    k = bisect.bisect_left(starts, end) - 1   # last range starting before end
    return k >= 0 and ends[k] > start


# --- region classifiers --------------------------------------------------

def _x(r: Region) -> bool:
    return r.prot is not None and bool(r.prot & PROT_EXEC)


def _w(r: Region) -> bool:
    return r.prot is not None and bool(r.prot & PROT_WRITE)


def is_stack(r: Region, ctx: AuditContext) -> bool:
    if ctx.is_macos:
        return r.tag == VM_MEMORY_STACK or (r.type or "").lower().startswith("stack")
    return r.kind == "stack" or (r.path or "").startswith("[stack")


def is_heap(r: Region, ctx: AuditContext) -> bool:
    if ctx.is_macos:
        return r.tag in MALLOC_TAGS or (r.type or "").startswith("MALLOC")
    return r.kind == "heap" or r.path == "[heap]"


def is_jit(r: Region, ctx: AuditContext) -> bool:
    """A JIT region: tagged by its allocator, or (Apple silicon) any non-image
    rwx memory, because there the kernel refuses W+X to everything but MAP_JIT
    mappings ("Porting just-in-time compilers to Apple silicon", Apple
    developer documentation; the per-thread write/execute switch is
    pthread_jit_write_protect_np)."""
    if not ctx.is_macos:
        return False
    if r.tag in JIT_TAGS:
        return True
    return (ctx.apple_silicon and r.image is None and r.prot is not None
            and (r.prot & WX) == WX and not ctx.cache_hit(r)[0])


def is_memfd(r: Region) -> bool:
    return r.kind == "memfd" or (r.path or "").startswith("/memfd:")


def is_deleted(r: Region) -> bool:
    return r.kind == "deleted" or (r.path or "").endswith(" (deleted)")


def is_kernel_code(r: Region, ctx: AuditContext) -> bool:
    """Code the kernel maps and the process cannot change (vdso, commpage)."""
    if r.kind in _KERNEL_KINDS or (r.path or "") in _KERNEL_PATHS:
        return True
    if ctx.is_macos and r.share_mode == "SHM" and not r.path and not r.tag and not _w(r):
        # The commpage text page ("shared memory" r-x/r-x SM=SHM in vmmap,
        # fixtures/vmmap/02.txt and 03.txt): kernel code shared by every task.
        return r.max_prot is None or not (r.max_prot & PROT_WRITE)
    return False


def is_anon_shared(r: Region) -> bool:
    """Anonymous shared memory that Linux names like a file (kind "shm"):
    MAP_SHARED|MAP_ANONYMOUS and /dev/zero mappings ("/dev/zero (deleted)"),
    SysV segments ("/SYSV0000002a (deleted)") and "[anon_shmem:NAME]".  No
    file on disk holds it, so its code is anon-exec, not exec-unloaded-file.
    A memfd (exec-memfd) and a /dev/shm file (a real tmpfs file) are not."""
    p = r.path or ""
    return r.kind == "shm" and (p in ("/dev/zero", "/dev/zero (deleted)")
                                or p.startswith(("/SYSV", "[anon_shmem:")))


def is_file_backed(r: Region) -> bool:
    if is_anon_shared(r):
        return False
    if r.kind in ("file", "deleted", "memfd", "shm"):
        return True
    if r.kind is None or r.kind == "anon":
        return r.path is not None and r.path != "" and not r.path.startswith("[")
    return False


# --- rules ---------------------------------------------------------------
# Each rule: (region, ctx) -> iterable of Finding.  Rules are independent;
# a region may hit several (rwx heap: wx and exec-heap), except that JIT
# regions are reported only as JIT and the cache rule replaces the image one.

def rule_text_writable(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if r.image is None or not _w(r):
        return
    seg = ctx.segment_of(r)
    is_text = (r.segment in TEXT_SEGMENTS) or (seg is not None and bool(seg.prot & PROT_EXEC))
    if not is_text:
        return
    inside, _ = ctx.cache_hit(r)
    if inside:
        yield finding_for(r, "critical", "cache-text-writable",
                          "shared-cache code page is writable: cache text is mapped read-only "
                          "for every process, so this page was re-protected (a debugger, "
                          "hooking or code injection)")
    else:
        yield finding_for(r, "high", "image-text-writable",
                          f"the image's {r.segment} segment is writable: code can be patched "
                          "in place (hooking, text relocations or injection)")


def rule_cache_unowned_writable(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    # A cache text page that no loaded image owns ("unused __TEXT") made writable.
    if r.image is not None or not _w(r):
        return
    inside, text = ctx.cache_hit(r)
    if inside and text:
        yield finding_for(r, "critical", "cache-text-writable",
                          "a page of the shared cache's text mapping is writable: cache "
                          "text is read-only for every process, so it was re-protected")


def rule_exec_added(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if r.image is None or not _x(r):
        return
    seg = ctx.segment_of(r)
    if seg is None or seg.prot & PROT_EXEC:
        return
    yield finding_for(r, "high", "image-exec-added",
                      f"the image's {r.segment} segment is executable but the file maps it "
                      "without x: data was made runnable")


def rule_wx(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if r.prot is None or (r.prot & WX) != WX or is_jit(r, ctx):
        return
    yield finding_for(r, "high", "wx",
                      "writable and executable at once: anything that can write here can "
                      "run code (W^X violated)")


def rule_wx_max(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    # Linux: smaps VmFlags gives max protection, but every private mapping has
    # VM_MAYWRITE|VM_MAYEXEC (mw me) unless the mount is noexec, so W+X max is
    # the norm and the anon-exec / exec-* rules already name such code.  On macOS
    # rwx is the max protection of ordinary anonymous memory (every MALLOC and
    # Stack row of a real vmmap is rw-/rwx, fixtures/vmmap/01.txt), and of
    # images and the cache too, so it only matters for memory that is already
    # executable, has no image, is not JIT and is not yet W+X: code that can
    # be made writable (or W+X on Intel) whenever its owner likes.
    if r.max_prot is None or r.prot is None or (r.max_prot & WX) != WX or not _x(r):
        return
    if ctx.target.os == "linux":
        return
    if (r.prot & WX) == WX or r.image is not None or is_jit(r, ctx) or ctx.cache_hit(r)[0]:
        return
    if is_kernel_code(r, ctx):
        return
    yield finding_for(r, "medium", "wx-max",
                      "executable memory whose maximum protection allows w+x: it can be "
                      "re-protected writable and executable at any time")


def rule_jit(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if not is_jit(r, ctx):
        return
    eff = (r.prot or 0) | (r.max_prot or 0)
    if not eff & PROT_EXEC:
        return
    if ctx.apple_silicon:
        yield finding_for(r, "info", "jit",
                          "JIT code region: rwx/rwx by design on Apple silicon, where each "
                          "thread sees it either writable or executable (MAP_JIT)")
    else:
        yield finding_for(r, "low", "jit",
                          "JIT code region: generated code, writable and executable by design")


def rule_stack_heap(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if not _x(r) or r.image is not None or is_jit(r, ctx):
        return
    if is_stack(r, ctx):
        yield finding_for(r, "high", "exec-stack",
                          "executable stack: stack buffer overflows can run injected code")
    elif is_heap(r, ctx):
        yield finding_for(r, "high", "exec-heap",
                          "executable heap: heap data can be run as code")


def rule_anon_exec(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if not _x(r) or r.image is not None or is_file_backed(r) or is_jit(r, ctx):
        return
    if is_stack(r, ctx) or is_heap(r, ctx) or is_kernel_code(r, ctx) or ctx.cache_hit(r)[0]:
        return
    if r.kind == "submap" or (r.type or "") == "Submap":
        return  # a submap parent row repeats its children
    yield finding_for(r, "medium", "anon-exec",
                      "executable anonymous memory that no image owns: generated or "
                      "injected code")


def rule_exec_file(r: Region, ctx: AuditContext) -> Iterator[Finding]:
    if not _x(r) or is_kernel_code(r, ctx) or is_jit(r, ctx):
        return
    if is_memfd(r):
        yield finding_for(r, "high", "exec-memfd",
                          "code mapped from a memfd: an executable with no file on disk")
        return
    if is_deleted(r):
        yield finding_for(r, "medium", "exec-deleted",
                          "code mapped from a file deleted since: a library replaced by an "
                          "upgrade, or a dropped payload that removed itself")
        return
    if r.image is None and is_file_backed(r) and not ctx.cache_hit(r)[0]:
        if r.path is not None and r.path in ctx.images:
            # The same file the loader loaded, mapped again (V8 remaps node's
            # built-in code next to its JIT heap): code already trusted, but
            # outside the image's own range.
            yield finding_for(r, "low", "exec-image-remapped",
                              "a second executable mapping of a loaded image's file, outside "
                              "the image: the same code, relocated by the process itself")
            return
        yield finding_for(r, "high", "exec-unloaded-file",
                          "an executable file mapping that the loader did not load: "
                          "a file mapped and made executable by hand")


RULES: tuple[Callable[[Region, AuditContext], Iterable[Finding]], ...] = (
    rule_text_writable, rule_cache_unowned_writable, rule_exec_added, rule_wx, rule_wx_max,
    rule_jit, rule_stack_heap, rule_anon_exec, rule_exec_file,
)


def audit(target: Target, min_severity: str = "info") -> list[Finding]:
    """Run every rule over ``target`` (annotating it first if needed).

    Returns findings at or above ``min_severity`` sorted by address, then
    most severe first.  Raises ValueError for an unknown severity.
    """
    floor = severity_rank(min_severity)
    if not target.annotated:
        from symmap.annotate import annotate
        annotate(target)
    ctx = AuditContext.build(target)
    out: list[Finding] = []
    for r in target.regions:
        for rule in RULES:
            for f in rule(r, ctx):
                if f.rank >= floor:
                    out.append(f)
    out.sort(key=lambda f: (f.start, -f.rank, f.rule))
    return out
