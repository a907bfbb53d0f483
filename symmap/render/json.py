"""JSON rendering of a Target: one object, ``schema`` 2 (strings: escape.json_safe).

Every model fact is emitted so that a snapshot (``symmap save``) can be
loaded back into the same Target (see symmap/sources/snapshot.py).  Unknown
facts are ``null``.  Addresses and sizes are integers; protections are
``"r-x"`` strings.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from itertools import islice
from typing import Any, TextIO

from symmap import __version__
from symmap.model import Image, Region, Segment, SharedCache, Target, Thread, prot_str
from symmap.render.escape import json_safe

SCHEMA = 2
GENERATOR = f"symmap {__version__}"

__all__ = ["SCHEMA", "dumps", "image_dict", "iter_json", "region_dict", "to_dict", "write_json"]


def _p(prot: int | None) -> str | None:
    return None if prot is None else prot_str(prot)


def region_dict(r: Region) -> dict[str, Any]:
    return {
        "start": r.start, "end": r.end, "prot": _p(r.prot), "max_prot": _p(r.max_prot),
        "type": json_safe(r.type), "detail": json_safe(r.detail),
        "share_mode": json_safe(r.share_mode), "image": json_safe(r.image), "segment": json_safe(r.segment),
        "tag": r.tag, "kind": json_safe(r.kind), "resident": r.resident, "dirty": r.dirty,
        "swapped": r.swapped, "path": json_safe(r.path), "offset": r.offset,
        "purgeable": json_safe(r.purgeable), "depth": r.depth,
    }


def segment_dict(s: Segment) -> dict[str, Any]:
    return {
        "name": json_safe(s.name), "address": s.address, "size": s.size,
        "prot": _p(s.prot), "max_prot": _p(s.max_prot),
        "file_offset": s.file_offset, "file_size": s.file_size,
        "sections": [{"name": json_safe(c.name), "segment": json_safe(c.segment),
                      "address": c.address, "size": c.size, "file_offset": c.file_offset}
                     for c in s.sections],
    }


def image_dict(i: Image) -> dict[str, Any]:
    return {
        "path": json_safe(i.path), "uuid": json_safe(i.uuid), "load_address": i.load_address,
        "slide": i.slide, "in_shared_cache": i.in_shared_cache, "filetype": json_safe(i.filetype),
        "arch": json_safe(i.arch), "size": i.size, "install_name": json_safe(i.install_name),
        "segments": [segment_dict(s) for s in i.segments],
    }


def cache_dict(c: SharedCache) -> dict[str, Any]:
    return {
        "uuid": json_safe(c.uuid), "base": c.base, "slide": c.slide, "size": c.size, "path": json_safe(c.path),
        "mappings": [{"address": m.address, "size": m.size, "file_offset": m.file_offset,
                      "max_prot": _p(m.max_prot), "init_prot": _p(m.init_prot),
                      "name": json_safe(m.name), "subcache": m.subcache} for m in c.mappings],
        "subcaches": [{json_safe(str(k)): (json_safe(v) if isinstance(v, str) else v) for k, v in s.items()}
                      for s in c.subcaches],
    }


def thread_dict(t: Thread) -> dict[str, Any]:
    return {
        "index": t.index, "name": json_safe(t.name), "pc": t.pc, "sp": t.sp, "crashed": t.crashed,
        "frames": [{"address": f.address, "image": json_safe(f.image), "symbol": json_safe(f.symbol),
                    "offset": f.offset, "image_offset": f.image_offset, "file": json_safe(f.file),
                    "line": f.line, "inlined": f.inlined} for f in t.frames],
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, str):
        return json_safe(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {json_safe(str(k)): _jsonable(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return None     # NaN/Infinity (Python's json.loads accepts them in a crash report) are not JSON
    if v is None or isinstance(v, (int, float, bool)):
        return v
    return json_safe(str(v))


def to_dict(t: Target) -> dict[str, Any]:
    """The whole report as plain JSON types (key order is stable)."""
    return {k: (list(v) if isinstance(v, Iterator) else v) for k, v in _parts(t).items()}


def _parts(t: Target, encoded: bool = False) -> dict[str, Any]:
    """``to_dict`` with the long lists (regions, images, threads) as iterators,
    so ``iter_json`` can encode them a batch at a time."""
    return {
        "schema": SCHEMA,
        "generator": GENERATOR,
        "target": {
            "kind": json_safe(t.kind), "pid": t.pid, "name": json_safe(t.name), "path": json_safe(t.path),
            "arch": json_safe(t.arch), "page_size": t.page_size, "os": json_safe(t.os),
            "os_version": json_safe(t.os_version), "partial": t.partial,
            "info": _jsonable(t.info),
        },
        "notes": [json_safe(n) for n in t.notes],
        "regions": _Encoded(region_rows(t.regions)) if encoded else map(region_dict, t.regions),
        "images": map(image_dict, t.images),
        "shared_cache": cache_dict(t.shared_cache) if t.shared_cache else None,
        "threads": map(thread_dict, t.threads),
    }


_encode = json.JSONEncoder(ensure_ascii=True).encode
BATCH = 1000


def dumps(t: Target) -> str:
    """The report as JSON text: one top-level key per line and one list element
    (region, image, ...) per line.  ``json.dumps(indent=...)`` runs in pure
    Python and costs 3x the C encoder on 10,000 regions, so each element is
    encoded compactly by the C encoder and only the outer layout is ours."""
    return "".join(iter_json(t))


def write_json(t: Target, out: TextIO) -> None:
    """``dumps(t)`` and a newline written to ``out`` a batch of elements at a
    time: the document is never built whole (at 60,000 regions it is 19 MB
    of text, plus a dict per region)."""
    out.writelines(iter_json(t))
    out.write("\n")


def iter_json(t: Target) -> Iterator[str]:
    """The text of ``dumps(t)`` in pieces of at most BATCH list elements."""
    return _iter_layout(_parts(t, encoded=True))


def layout(d: dict[str, Any]) -> str:
    """Lay out a JSON object of lists the way ``dumps`` does."""
    return "".join(_iter_layout(d))


def _iter_layout(d: dict[str, Any]) -> Iterator[str]:
    enc = _encode
    yield "{\n"
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if not isinstance(v, (list, Iterator)):
            yield f" {enc(k)}: {enc(v)}{comma}\n"
            continue
        it = iter(v)
        first = next(it, _END)
        if first is _END:
            yield f" {enc(k)}: []{comma}\n"
            continue
        raw = isinstance(v, _Encoded)       # elements already JSON text
        yield f" {enc(k)}: [\n  {first if raw else enc(first)}"
        while True:
            batch = list(islice(it, BATCH))
            if not batch:
                break
            yield ",\n  " + ",\n  ".join(batch if raw else map(enc, batch))
        yield f"\n ]{comma}\n"
    yield "}"


_END = object()


class _Encoded(Iterator[str]):
    """An iterator of list elements that are JSON text already."""

    def __init__(self, it: Iterator[str]) -> None:
        self.it = it

    def __next__(self) -> str:
        return next(self.it)


# region_dict's keys, in its order: the numbers are copied from the attribute of the
# same name; the rest (strings and protections) are what region_dict makes of them,
# computed once per distinct combination and kept as JSON text.
_STRS = ("prot", "max_prot", "type", "detail", "share_mode", "image", "segment", "kind", "path", "purgeable")
_ORDER = ("start", "end", "prot", "max_prot", "type", "detail", "share_mode", "image", "segment", "tag",
          "kind", "resident", "dirty", "swapped", "path", "offset", "purgeable", "depth")
_ROW = "{" + ", ".join(f"{json.dumps(k)}: %s" for k in _ORDER) + "}"
_fast_ok: bool | None = None


def _fast_rows_match() -> bool:
    """The row template reproduces ``_encode(region_dict(r))`` (checked once, on
    probes with every field set and every field unknown); if region_dict ever
    changes shape, rows are encoded through it instead."""
    probes = [Region(0x7F0000001000, 0x7F0000003000, 5, 7, "PRV", 64, "file", 8192, 4096, 0,
                     "/p\u00e9\udcff\x1b\"q", 0x2000, "N", 1, "__TEXT", "d\u2028", "/i", "__TEXT"),
              Region(0, 1, 0)]
    for r in probes:
        if list(region_dict(r)) != list(_ORDER) or next(_fast(iter([r]))) != _encode(region_dict(r)):
            return False
    return True


def region_rows(regions: list[Region]) -> Iterator[str]:
    """Each region as the JSON text of ``region_dict(r)``, with few allocations per row."""
    global _fast_ok
    if _fast_ok is None:
        _fast_ok = _fast_rows_match()
    return _fast(iter(regions)) if _fast_ok else map(_encode, map(region_dict, regions))


def _fast(regions: Iterator[Region]) -> Iterator[str]:
    cache: dict[tuple[Any, ...], tuple[str, ...]] = {}
    row, enc = _ROW, _encode
    for r in regions:
        key = (r.prot, r.max_prot, r.type, r.detail, r.share_mode, r.image, r.segment, r.kind, r.path,
               r.purgeable)
        s = cache.get(key)
        if s is None:
            d = region_dict(r)
            s = cache[key] = tuple(enc(d[k]) for k in _STRS)
        p, mp, ty, de, sh, im, se, ki, pa, pu = s
        tag, res, dirty, sw, off, dep = r.tag, r.resident, r.dirty, r.swapped, r.offset, r.depth
        yield row % (int(r.start), int(r.end), p, mp, ty, de, sh, im, se, "null" if tag is None else int(tag), ki,
                     "null" if res is None else int(res), "null" if dirty is None else int(dirty),
                     "null" if sw is None else int(sw), pa, "null" if off is None else int(off), pu,
                     "null" if dep is None else int(dep))
