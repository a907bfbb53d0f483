"""Per-region-type totals for the Summary table (shared by text and JSON).

A total is None (printed ``-``) as soon as one contributing region's value
is unknown: a crash report has no resident sizes, and a sum that silently
treats unknown as 0 would lie.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symmap.model import Region, Target

__all__ = ["RESERVED_SUFFIX", "UNUSED_SUMMARY", "Summary", "SummaryRow", "summarize", "summary_type"]

# vmmap folds every "unused <seg>" row of the shared cache into one summary line.
UNUSED_SUMMARY = "unused but dirty shlib __DATA"
RESERVED_SUFFIX = " (reserved)"
COMBINED_LINKEDIT = "dyld shared cache combined __LINKEDIT"
# The two summary lines of vmmap, as measured on fixtures/vmmap/01.txt:
# "ReadOnly portion of Libraries" totals the __TEXT and __LINKEDIT rows
# (17.3M + 886.7M = 903.9M; __OBJC_RO and __DATA_CONST are not in it), and
# "Writable regions" totals writable memory that no library owns (537.4M;
# resident 288K and swapped_out 320K are the MALLOC/Stack/dyld rows' sums).
_MACOS_READONLY_LIB = frozenset({"__TEXT", "__LINKEDIT"})


@dataclass
class SummaryRow:
    name: str
    virtual: int = 0
    resident: int | None = 0
    dirty: int | None = 0
    swapped: int | None = 0
    volatile: int | None = 0
    nonvol: int | None = 0
    empty: int | None = 0
    count: int = 0

    def add(self, r: Region, purge_known: bool) -> None:
        self.virtual += r.size
        self.count += 1
        self.resident = _add(self.resident, r.resident)
        self.dirty = _add(self.dirty, r.dirty)
        self.swapped = _add(self.swapped, r.swapped)
        if not purge_known:
            self.volatile = self.nonvol = self.empty = None
            return
        p = r.purgeable
        self.volatile = _add(self.volatile, r.size if p == "V" else 0)
        self.nonvol = _add(self.nonvol, r.size if p == "N" else 0)
        self.empty = _add(self.empty, r.size if p == "E" else 0)


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


@dataclass
class Summary:
    rows: list[SummaryRow] = field(default_factory=list)
    total: SummaryRow = field(default_factory=lambda: SummaryRow("TOTAL"))
    readonly_total: int | None = None
    readonly_resident: int | None = None
    readonly_other: int | None = None
    writable_total: int | None = None
    writable_dirty: int | None = None
    writable_resident: int | None = None
    writable_swapped: int | None = None
    writable_unallocated: int | None = None
    # vmmap's "TOTAL, minus reserved VM space": VIRTUAL less the "(reserved)" rows; the
    # region count stays (a real pair: TOTAL 276.5M 110 / minus reserved 276.4M 110).
    minus_reserved: SummaryRow | None = None


def summary_type(r: Region) -> str:
    """vmmap folds the shared cache's unused *data* rows (on dirty pages) into one line;
    an unused text row (a cache file target, -allSplitLibs) keeps its own segment's name."""
    t = r.type or "???"
    return UNUSED_SUMMARY if t.startswith("unused ") and r.writable else t


def summarize(t: Target) -> Summary:
    # Purgeable sizes are known on live targets (Linux has none; macOS reports
    # them) and in vmmap reports, whose rows print PURGE= when it applies.
    purge_known = t.kind == "live" or t.info.get("source_kind") in ("live", "vmmap")
    macos = t.os == "macos"
    by: dict[str, SummaryRow] = {}
    s = Summary()
    ro_total = 0
    ro_res: int | None = 0
    w_total = 0
    w_dirty: int | None = 0
    w_res: int | None = 0
    w_swap: int | None = 0
    for r in t.regions:
        key = summary_type(r)
        row = by.get(key)
        if row is None:
            row = by[key] = SummaryRow(key)
        row.add(r, purge_known)
        s.total.add(r, purge_known)
        library = r.image is not None or key == UNUSED_SUMMARY or r.detail == COMBINED_LINKEDIT
        if r.writable:
            if library:
                continue
            w_total += r.size
            w_dirty = _add(w_dirty, r.dirty)
            w_res = _add(w_res, r.resident)
            w_swap = _add(w_swap, r.swapped)
        elif library and (not macos or r.type in _MACOS_READONLY_LIB):
            ro_total += r.size
            ro_res = _add(ro_res, r.resident)
    s.rows = [by[k] for k in sorted(by)]
    reserved = sum(row.virtual for k, row in by.items() if k.endswith(RESERVED_SUFFIX))
    if reserved:
        from dataclasses import replace
        s.minus_reserved = replace(s.total, name="TOTAL, minus reserved VM space",
                                   virtual=s.total.virtual - reserved)
    if ro_total:
        s.readonly_total, s.readonly_resident = ro_total, ro_res
        s.readonly_other = None if ro_res is None else ro_total - ro_res
    if w_total:
        s.writable_total, s.writable_dirty, s.writable_resident, s.writable_swapped = (
            w_total, w_dirty, w_res, w_swap)
        s.writable_unallocated = (None if w_res is None or w_swap is None
                                  else max(0, w_total - w_res - w_swap))
    return s
