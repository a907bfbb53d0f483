"""Compare two targets (snapshots or live): region, image and finding changes.

Regions are compared by *address coverage*, not row by row: both maps are
cut at every boundary either has, and each piece is classed by what covers
it before and after.  So a region the kernel split or merged with a
neighbour (same owner, same protection) produces no change at all, one new
mmap produces exactly one ``added`` change, a grown heap one ``resized``
change, and an mprotect of part of a region one ``reprotected`` change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symmap.model import Image, Region, Target, prot_str
from symmap.render.escape import escape, json_safe
from symmap.audit.findings import Finding
from symmap.audit.rules import audit

__all__ = ["RegionChange", "TargetDiff", "diff_targets"]


@dataclass(frozen=True, slots=True)
class RegionChange:
    """One region change.  ``change`` is added, removed, resized or
    reprotected; [start, end) is the range that changed.  ``old``/``new``
    are the (start, end) of the whole region before/after (None when it did
    not exist).  prot/max_prot are the new ones (the old ones for removed);
    old_prot/old_max_prot are set for reprotected."""

    change: str
    start: int
    end: int
    old: tuple[int, int] | None
    new: tuple[int, int] | None
    prot: int | None
    max_prot: int | None
    type: str | None
    image: str | None
    segment: str | None
    path: str | None
    old_prot: int | None = None
    old_max_prot: int | None = None

    def to_dict(self) -> dict[str, Any]:
        def p(v: int | None) -> str | None:
            return None if v is None else prot_str(v)
        return {
            "change": self.change, "start": self.start, "end": self.end,
            "old": None if self.old is None else {"start": self.old[0], "end": self.old[1]},
            "new": None if self.new is None else {"start": self.new[0], "end": self.new[1]},
            "prot": p(self.prot), "max_prot": p(self.max_prot),
            "old_prot": p(self.old_prot), "old_max_prot": p(self.old_max_prot),
            "type": json_safe(self.type), "image": json_safe(self.image),
            "segment": json_safe(self.segment), "path": json_safe(self.path),
        }

    def line(self) -> str:
        what = escape(self.image or self.path or "") or "-"
        if self.image and self.segment:
            what = f"{escape(self.image)} {escape(self.segment)}"
        label = escape(self.type) or "-"
        pm = _pm(self.prot, self.max_prot)
        if self.change == "added":
            return f"+ region      {self.start:x}-{self.end:x} [{_size(self.end - self.start)}] {pm} {label}  {what}"
        if self.change == "removed":
            return f"- region      {self.start:x}-{self.end:x} [{_size(self.end - self.start)}] {pm} {label}  {what}"
        if self.change == "resized":
            o, n = self.old or (0, 0), self.new or (0, 0)
            delta = (n[1] - n[0]) - (o[1] - o[0])
            from symmap.render.text import format_size
            grown = ("+" if delta >= 0 else "-") + format_size(abs(delta))
            return (f"~ resized     {o[0]:x}-{o[1]:x} -> {n[0]:x}-{n[1]:x} [{grown:>7}] "
                    f"{pm} {label}  {what}")
        return (f"~ reprotected {self.start:x}-{self.end:x} [{_size(self.end - self.start)}] "
                f"{_pm(self.old_prot, self.old_max_prot)} -> {pm} {label}  {what}")


def _pm(prot: int | None, maxp: int | None) -> str:
    return f"{prot_str(prot)}/{'???' if maxp is None else prot_str(maxp)}"


def _size(n: int) -> str:
    from symmap.render.text import format_size
    return f"{format_size(n):>6}"


@dataclass
class TargetDiff:
    """Everything that differs between targets A (before) and B (after)."""

    regions: list[RegionChange] = field(default_factory=list)
    images_loaded: list[Image] = field(default_factory=list)
    images_unloaded: list[Image] = field(default_factory=list)
    new_findings: list[Finding] = field(default_factory=list)
    resolved_findings: list[Finding] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.regions or self.images_loaded or self.images_unloaded
                    or self.new_findings or self.resolved_findings)

    def counts(self) -> dict[str, int]:
        c = {k: 0 for k in ("added", "removed", "resized", "reprotected")}
        for r in self.regions:
            c[r.change] += 1
        c.update(images_loaded=len(self.images_loaded), images_unloaded=len(self.images_unloaded),
                 new_findings=len(self.new_findings), resolved_findings=len(self.resolved_findings))
        return c

    def to_dict(self) -> dict[str, Any]:
        def img(i: Image) -> dict[str, Any]:
            return {"path": json_safe(i.path), "load_address": i.load_address, "uuid": json_safe(i.uuid)}
        return {
            "identical": self.identical, "counts": self.counts(),
            "regions": [r.to_dict() for r in self.regions],
            "images_loaded": [img(i) for i in self.images_loaded],
            "images_unloaded": [img(i) for i in self.images_unloaded],
            "new_findings": [f.to_dict() for f in self.new_findings],
            "resolved_findings": [f.to_dict() for f in self.resolved_findings],
        }

    def lines(self) -> list[str]:
        out = [r.line() for r in self.regions]
        out += [f"+ image       {i.load_address:x} {escape(i.path)}" for i in self.images_loaded]
        out += [f"- image       {i.load_address:x} {escape(i.path)}" for i in self.images_unloaded]
        out += ["+ finding     " + f.line() for f in self.new_findings]
        out += ["- finding     " + f.line() for f in self.resolved_findings]
        c = self.counts()
        if self.identical:
            out.append("identical")
        else:
            out.append(f"{c['added']} added, {c['removed']} removed, {c['resized']} resized, "
                       f"{c['reprotected']} reprotected regions; {c['images_loaded']} images loaded, "
                       f"{c['images_unloaded']} unloaded; {c['new_findings']} new findings, "
                       f"{c['resolved_findings']} resolved")
        return out


# --- region coverage diff ------------------------------------------------

def _identity(r: Region, at: int) -> tuple[object, ...]:
    """What a piece of memory *is*, independent of how it is cut into rows.
    The file offset is taken at address ``at`` so that two different windows
    of one file do not compare equal."""
    off = None if r.offset is None or not r.path else r.offset + (at - r.start)
    return (r.image, r.segment, r.path, off, r.kind, r.tag)


def _cover(regions: list[Region], cuts: list[int]) -> list[int | None]:
    """For each piece [cuts[i], cuts[i+1]) the index of the region covering
    it (the smallest one if rows nest, as submap parents do), or None.

    A heap of open regions keyed by size, with ended ones dropped lazily, so
    a snapshot of thousands of nested rows costs O(n log n), not O(n^2)."""
    import heapq
    order = sorted(range(len(regions)), key=lambda i: (regions[i].start, regions[i].end))
    out: list[int | None] = []
    heap: list[tuple[int, int, int]] = []   # (size, rank in order, index)
    j = 0
    for a in cuts[:-1]:
        while j < len(order) and regions[order[j]].start <= a:
            i = order[j]
            heapq.heappush(heap, (regions[i].size, j, i))
            j += 1
        while heap and regions[heap[0][2]].end <= a:
            heapq.heappop(heap)
        out.append(heap[0][2] if heap else None)
    return out


def _region_changes(A: list[Region], B: list[Region]) -> list[RegionChange]:
    cuts = sorted({x for r in A for x in (r.start, r.end)} | {x for r in B for x in (r.start, r.end)})
    if len(cuts) < 2:
        return []
    ca, cb = _cover(A, cuts), _cover(B, cuts)
    # (class, a index, b index, start, end), adjacent pieces of one pair merged.
    pieces: list[list[Any]] = []
    kept_b: set[int] = set()     # B regions that also have a same-identity piece
    kept_a: set[int] = set()
    pair_of_b: dict[int, int] = {}
    pair_of_a: dict[int, int] = {}

    def push(cls: str, ai: int | None, bi: int | None, s: int, e: int) -> None:
        if pieces and pieces[-1][0] == cls and pieces[-1][1] == ai and pieces[-1][2] == bi \
                and pieces[-1][4] == s:
            pieces[-1][4] = e
        else:
            pieces.append([cls, ai, bi, s, e])

    for k in range(len(cuts) - 1):
        s, e = cuts[k], cuts[k + 1]
        ai, bi = ca[k], cb[k]
        if ai is None and bi is None:
            continue
        if ai is None:
            push("added", None, bi, s, e)
            continue
        if bi is None:
            push("removed", ai, None, s, e)
            continue
        ra, rb = A[ai], B[bi]
        if _identity(ra, s) != _identity(rb, s):
            push("removed", ai, None, s, e)
            push("added", None, bi, s, e)
            continue
        kept_a.add(ai)
        kept_b.add(bi)
        pair_of_b.setdefault(bi, ai)
        pair_of_a.setdefault(ai, bi)
        if (ra.prot, ra.max_prot) != (rb.prot, rb.max_prot):
            push("reprotected", ai, bi, s, e)
    # The replaced case pushes removed/added alternately, so merge adjacent
    # ranges per (class, a, b) key, not only consecutive pieces.
    groups: dict[tuple[str, int | None, int | None], list[list[int]]] = {}
    for cls, ai, bi, s, e in pieces:
        rngs = groups.setdefault((cls, ai, bi), [])
        if rngs and rngs[-1][1] == s:
            rngs[-1][1] = e
        else:
            rngs.append([s, e])
    merged = sorted(((k[0], k[1], k[2], s, e) for k, rngs in groups.items() for s, e in rngs),
                    key=lambda p: (p[3], p[0]))

    out: list[RegionChange] = []
    resized: set[tuple[int, int]] = set()
    for cls, ai, bi, s, e in merged:
        # Growth/shrink only at a region's edge; a hole punched in the middle
        # (munmap or MAP_FIXED over a reservation) stays removed/added.
        pair: tuple[int, int] | None
        if cls == "added" and bi is not None and bi in kept_b and (s == B[bi].start or e == B[bi].end):
            pair = (pair_of_b[bi], bi)            # the region grew
        elif cls == "removed" and ai is not None and ai in kept_a and (s == A[ai].start or e == A[ai].end):
            pair = (ai, pair_of_a[ai])            # the region shrank
        else:
            pair = None
        if pair is not None:
            if pair not in resized:
                resized.add(pair)
                ra, rb = A[pair[0]], B[pair[1]]
                out.append(_change("resized", rb, min(ra.start, rb.start), max(ra.end, rb.end),
                                   old=(ra.start, ra.end), new=(rb.start, rb.end)))
            continue
        if cls == "added":
            assert bi is not None                 # an added piece has a B region
            rb = B[bi]
            out.append(_change("added", rb, s, e, old=None, new=(rb.start, rb.end)))
        elif cls == "removed":
            assert ai is not None
            ra = A[ai]
            out.append(_change("removed", ra, s, e, old=(ra.start, ra.end), new=None))
        else:
            assert ai is not None and bi is not None
            ra, rb = A[ai], B[bi]
            out.append(_change("reprotected", rb, s, e, old=(ra.start, ra.end), new=(rb.start, rb.end),
                               old_prot=ra.prot, old_max_prot=ra.max_prot))
    # At one address, what went away is listed before what replaced it.
    order = {"removed": 0, "resized": 1, "reprotected": 2, "added": 3}
    out.sort(key=lambda c: (c.start, order[c.change]))
    return out


def _change(kind: str, r: Region, s: int, e: int, **kw: Any) -> RegionChange:
    return RegionChange(change=kind, start=s, end=e, prot=r.prot, max_prot=r.max_prot, type=r.type,
                        image=r.image, segment=r.segment, path=r.path, **kw)


def diff_targets(a: Target, b: Target) -> TargetDiff:
    """Differences from ``a`` (before) to ``b`` (after); both are annotated
    here if they are not yet."""
    fa, fb = audit(a), audit(b)
    d = TargetDiff()
    d.regions = _region_changes(a.regions, b.regions)
    ka = {(i.path, i.load_address) for i in a.images}
    kb = {(i.path, i.load_address) for i in b.images}
    d.images_loaded = [i for i in b.images if (i.path, i.load_address) not in ka]
    d.images_unloaded = [i for i in a.images if (i.path, i.load_address) not in kb]
    fka = {f.key for f in fa}
    fkb = {f.key for f in fb}
    d.new_findings = [f for f in fb if f.key not in fka]
    d.resolved_findings = [f for f in fa if f.key not in fkb]
    return d
