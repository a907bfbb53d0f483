"""JSON rendering of a Target: one object, ``schema`` 1.

Every model fact is emitted so that a snapshot (``symmap save``) can be
loaded back into the same Target (see symmap/sources/snapshot.py).  Unknown
facts are ``null``.  Addresses and sizes are integers; protections are
``"r-x"`` strings.
"""
from __future__ import annotations

import json
import math
from typing import Any

from symmap import __version__
from symmap.model import Image, Region, Segment, SharedCache, Target, Thread, prot_str
from symmap.render.escape import json_safe

SCHEMA = 1
GENERATOR = f"symmap {__version__}"

__all__ = ["SCHEMA", "to_dict", "dumps", "region_dict", "image_dict"]


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
        "regions": [region_dict(r) for r in t.regions],
        "images": [image_dict(i) for i in t.images],
        "shared_cache": cache_dict(t.shared_cache) if t.shared_cache else None,
        "threads": [thread_dict(th) for th in t.threads],
    }


_encode = json.JSONEncoder(ensure_ascii=True).encode


def dumps(t: Target) -> str:
    """The report as JSON text: one top-level key per line and one list element
    (region, image, ...) per line.  ``json.dumps(indent=...)`` runs in pure
    Python and costs 3x the C encoder on 10,000 regions, so each element is
    encoded compactly by the C encoder and only the outer layout is ours."""
    return layout(to_dict(t))


def layout(d: dict[str, Any]) -> str:
    """Lay out a JSON object of lists the way ``dumps`` does."""
    enc = _encode
    lines = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(v, list) and v:
            lines.append(f" {enc(k)}: [")
            lines.append(",\n".join("  " + enc(x) for x in v))
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {enc(k)}: {enc(v)}{comma}")
    lines.append("}")
    return "\n".join(lines)
