"""One input through what `symmap map`, `map --json`, `map TARGET ADDR`,
`lookup` (text, --json, --brief) and `audit` do, in-process, through the
library API (no CLI process per input).

Only a SymmapError may escape.  The harness also checks what it can check
cheaply on every input: the JSON parses, and the text outputs hold no raw
control character (target strings must go through render/escape.py).
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

from symmap.annotate.coalesce import coalesce
from symmap.audit import audit
from symmap.pipeline import OpenOptions, open_annotated
from symmap.render.json import write_json
from symmap.render.lookup import JsonRenderer, TextRenderer, brief_lines
from symmap.render.text import render_address, render_report
from symmap.symbolize import Symbolizer

MAX_ADDRESSES = 40      # lookups per input: a bounded sample of the target's own addresses
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


class CheckFailed(AssertionError):
    """An output the harness can tell is wrong (not a symmap exception)."""


def _addresses(t: Any) -> list[int]:
    """Addresses `lookup` gets: starts, middles and ends of a few regions,
    image load addresses, a few bytes into some sections, thread pcs, and
    the edges of the address space."""
    out = [0, (1 << 64) - 1]
    for r in t.regions[:6] + t.regions[-2:]:
        out += [r.start, (r.start + r.end) // 2, max(r.start, r.end - 1)]
    out += [im.load_address for im in t.images[:4]]
    # A little way into a few sections: where symbols and debug info answer.
    secs = [sec for im in t.images[:2] for seg in im.segments[:8] for sec in seg.sections[:8]]
    out += [sec.address + min(4, max(sec.size - 1, 0)) for sec in secs[:12]]
    out += [th.pc for th in t.threads[:4] if th.pc is not None]
    return [a for a in out if isinstance(a, int) and 0 <= a < 1 << 64][:MAX_ADDRESSES]


def _clean(what: str, text: str) -> None:
    m = _RAW_CONTROL.search(text)
    if m:
        raise CheckFailed(f"{what}: raw control character {m.group()!r} at {m.start()}")


def exercise(path: str) -> None:
    t = open_annotated(path, OpenOptions(no_cache=True))
    try:
        # map (text) and map TARGET ADDRESS
        regions = coalesce(t.regions)
        _clean("map", render_report(t, regions=regions))
        addrs = _addresses(t)
        if len(addrs) > 2:
            _clean("map ADDRESS", render_address(t, addrs[2], regions))
        # map --json: streamed as the CLI streams it, and it must parse
        buf = io.StringIO()
        write_json(t, buf)
        try:
            json.loads(buf.getvalue())
        except ValueError as e:
            raise CheckFailed(f"map --json does not parse: {e}") from None
        # lookup, lookup --json, lookup --brief
        sym = Symbolizer(t, [], use_cache=False)
        results = sym.lookup_many(addrs)
        tr, jr = TextRenderer(), JsonRenderer()
        _clean("lookup", "\n\n".join(tr.block(r) for r in results))
        try:
            json.loads("[" + ",".join(jr.obj(r) for r in results) + "]")
        except ValueError as e:
            raise CheckFailed(f"lookup --json does not parse: {e}") from None
        chunks = sym.resolve_many(addrs)
        lines = brief_lines(sym, chunks, sym.chunk_frames(chunks))
        lines.pop(None, None)
        _clean("lookup --brief", "\n".join(str(v) for v in lines.values()))
        # audit (text and --json)
        findings = audit(t, "info")
        _clean("audit", "\n".join(f.line() for f in findings))
        json.dumps([f.to_dict() for f in findings], ensure_ascii=True)
    finally:
        t.close()
