"""Name thread frames (crash-report frames, core thread pcs) with the symbolizer."""
from __future__ import annotations

from symmap.model import Frame, Target

__all__ = ["name_frames"]

# A hostile inline tree must not multiply a thread's frames without bound.
_MAX_INLINED = 64


def name_frames(t: Target, search_paths: list[str] | tuple[str, ...] = (), *,
                dsym: str | None = None, use_cache: bool = True) -> int:
    """Give every frame without a symbol the symbol, offset and image the
    symbolizer finds, and every frame debug info knows its file:line and
    inlined frames (inserted before it, ``inlined`` set, innermost first,
    as .ips reports list them); a thread with a pc but no frames gets its
    pc as frame 0.  Returns how many frames were named."""
    from symmap.symbolize.symbolizer import Symbolizer
    if not t.threads:
        return 0
    for th in t.threads:
        if not th.frames and th.pc is not None:
            th.frames.append(Frame(th.pc))
    s = Symbolizer(t, search_paths, dsym=dsym, use_cache=use_cache)
    named = 0
    for th in t.threads:
        out: list[Frame] = []
        for f in th.frames:
            if f.inlined or (f.symbol is not None and f.file is not None):
                out.append(f)
                continue
            lk = s.lookup(f.address)
            if lk.image is not None and f.image is None:
                f.image = lk.image
            if lk.image_obj is not None and f.image_offset is None:
                f.image_offset = f.address - lk.image_obj.load_address
            if lk.symbol_source == "report":
                out.append(f)
                continue
            if lk.frames:
                for sf in lk.frames[:-1][:_MAX_INLINED]:
                    out.append(Frame(f.address, f.image, sf.function, None, f.image_offset,
                                     sf.file, sf.line, True))
                phys = lk.frames[-1]
                f.symbol = phys.function
                f.offset = lk.offset if lk.offset is not None else f.offset
                f.file, f.line = phys.file, phys.line
                named += 1
            elif f.symbol is None and lk.symbol is not None:
                f.symbol, f.offset = lk.symbol, lk.offset
                named += 1
            out.append(f)
        th.frames = out
    t.notes.extend(n for n in s.notes if n not in t.notes)
    return named
