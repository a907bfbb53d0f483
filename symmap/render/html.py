"""One self-contained HTML page of a Target (``--html FILE``): a strip of the
whole address space (gaps collapsed, sizes marked), regions coloured by type,
findings marked, hover/click/search, and the region table as text.

Nothing is fetched at view time: CSS and JS are inline, and a Content
Security Policy with the hashes of exactly those two blocks forbids anything
else (no network, no injected script even if escaping failed).  Every target
string goes through ``escape`` and then ``script_json``, which makes JSON safe
inside ``<script>`` (``</script>``, ``<!--``, U+2028/9 cannot break out).
Large payloads are gzip+base64 (decoded with DecompressionStream), so a
60,000-region target stays within a few MB.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import zlib
from importlib import resources
from typing import Any, Sequence

from symmap import __version__
from symmap.audit.findings import Finding
from symmap.audit.rules import TEXT_SEGMENTS, AuditContext, is_heap, is_stack
from symmap.model import PROT_EXEC, Region, Target
from symmap.render.escape import escape
from symmap.render.text import format_region_row, format_size

__all__ = ["render_html", "script_json", "CATEGORIES", "SYMBOLS_PER_IMAGE", "SYMBOLS_TOTAL"]

# Region categories, in legend order (index = the number in the payload).
CATEGORIES = ("image text", "image data", "shared cache text", "shared cache data", "heap", "stack",
              "JIT", "mapped file", "anonymous", "guard / reserved", "removed (diff)")
SYMBOLS_PER_IMAGE = 50_000
SYMBOLS_TOTAL = 250_000
GZIP_ABOVE = 256 * 1024          # raw payload bytes above which it is compressed


def script_json(obj: Any) -> str:
    """JSON that can sit inside <script>: ASCII only (U+2028/9 escaped) and no
    ``<``, ``>``, ``&`` (so no ``</script>`` or ``<!--``)."""
    s = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _category(r: Region, ctx: AuditContext, jit: set[int]) -> int:
    if r.start in jit:
        return 6
    if is_stack(r, ctx):
        return 5
    if is_heap(r, ctx):
        return 4
    img = ctx.image_of(r)
    cached = ctx.cache_hit(r)[0]
    if r.image is not None:
        text = (r.segment in TEXT_SEGMENTS) or bool(r.prot & PROT_EXEC)
        if img is not None and img.in_shared_cache:
            return 2 if text else 3
        return 0 if text else 1
    if cached:
        return 2 if r.prot & PROT_EXEC else 3
    if not r.prot:
        return 9
    if r.path and not r.path.startswith("["):
        return 7
    return 8


def _images(t: Target, symbols: dict[int, tuple[list[int], list[str]]] | None) -> list[Any]:
    out = []
    for k, im in enumerate(t.images):
        segs = [[escape(s.name), f"{s.address:x}", s.size, s.prot, s.max_prot,
                 [[escape(c.name), c.address - s.address, c.size] for c in s.sections]]
                for s in im.segments]
        sym = (symbols or {}).get(k)
        out.append({"p": escape(im.path), "u": escape(im.uuid), "l": f"{im.load_address:x}",
                    "c": im.in_shared_cache, "g": segs,
                    "s": None if sym is None else [sym[0], [escape(n) for n in sym[1]]]})
    return out


def _regions(regions: Sequence[Region], ctx: AuditContext, jit: set[int],
             flagged: dict[int, int], img_ix: dict[str, int], cat: int | None = None) -> list[Any]:
    out = []
    for r in regions:
        c = _category(r, ctx, jit) if cat is None else cat
        out.append([f"{r.start:x}", f"{r.end:x}", c, r.prot, -1 if r.max_prot is None else r.max_prot,
                    format_region_row(r), img_ix.get(r.image, -1) if r.image else -1,
                    escape(r.segment), flagged.get(r.start, -1), escape(r.type)])
    return out


def _finding(f: Finding) -> list[Any]:
    return [f.severity, f.rule, f"{f.start:x}", f"{f.end:x}", f.line()]


def render_html(t: Target, findings: Sequence[Finding], *, symbols: dict[int, tuple[list[int], list[str]]] | None = None,
                symbol_notes: Sequence[str] = (), diff: Any = None, before: Target | None = None,
                command: str = "map") -> str:
    """The page for ``t`` (for ``diff``: ``t`` is B, ``before`` is A and
    ``diff`` the TargetDiff).  ``symbols``: image index -> (offsets from the
    load address, names)."""
    from symmap.audit.findings import severity_rank
    ctx = AuditContext.build(t)
    jit = {f.start for f in findings if f.rule == "jit"}
    flagged: dict[int, int] = {}
    for f in findings:
        flagged[f.start] = max(flagged.get(f.start, -1), severity_rank(f.severity))
    img_ix: dict[str, int] = {}
    for k, im in enumerate(t.images):
        img_ix.setdefault(im.path, k)
    regions = sorted(t.regions, key=lambda r: (r.start, r.end))
    rows = _regions(regions, ctx, jit, flagged, img_ix)
    changes: list[Any] = []
    if diff is not None:
        removed = [c for c in diff.regions if c.change == "removed"]
        ghosts = [Region(c.start, c.end, c.prot or 0, c.max_prot, type=c.type, image=c.image,
                         segment=c.segment, path=c.path, detail=f"removed: {c.image or c.path or c.type or ''}")
                  for c in removed]
        rows += _regions(ghosts, ctx, set(), {}, {}, cat=10)
        rows.sort(key=lambda x: (int(x[0], 16), x[2] == 10))
        changes = [[c.change, f"{c.start:x}", f"{c.end:x}", c.line()] for c in diff.regions]
    mapped = sum(r.size for r in t.regions)
    meta: dict[str, Any] = {
        "title": f"{escape(t.name) or '?'} [{t.pid if t.pid is not None else '-'}]",
        "kind": t.kind, "path": escape(t.path), "arch": escape(t.arch), "os": escape(t.os),
        "page": t.page_size or 4096, "notes": [escape(n) for n in t.notes], "command": command,
        "mapped": format_size(mapped), "nregions": len(t.regions), "nimages": len(t.images),
        "generator": f"symmap {__version__}",
        "symnote": (f"Symbol names are embedded for images with at most {SYMBOLS_PER_IMAGE:,} symbols, "
                    f"{SYMBOLS_TOTAL:,} in all. " + " ".join(escape(n) for n in symbol_notes)),
    }
    payload = {"meta": meta, "cats": CATEGORIES, "r": rows, "i": _images(t, symbols),
               "f": [_finding(f) for f in findings], "d": changes,
               "dl": diff.lines() if diff is not None else None}
    raw = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    if len(raw) > GZIP_ABOVE:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        blob = base64.b64encode(z.compress(raw.encode()) + z.flush()).decode()
        data = f'<script type="application/octet-stream" id="symmap-data" data-enc="gzip">{blob}</script>'
    else:
        data = f'<script type="application/json" id="symmap-data" data-enc="json">{script_json(payload)}</script>'
    return _page(str(meta["title"]), data)


def _asset(name: str) -> str:
    return resources.files("symmap.render").joinpath("html_assets").joinpath(name).read_text("utf-8")


def _sha(s: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()


def _page(title: str, data: str) -> str:
    css, js = _asset("page.css"), _asset("page.js")
    csp = (f"default-src 'none'; script-src '{_sha(js)}'; style-src '{_sha(css)}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    body = _asset("page.html")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>symmap: {html.escape(title)}</title><style>{css}</style></head>\n<body>\n"
            f"{body}\n{data}\n<script>{js}</script>\n</body></html>\n")
