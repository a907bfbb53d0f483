"""Name thread frames (crash-report frames, core thread pcs) with the symbolizer."""
from __future__ import annotations

from symmap.model import Frame, Target

__all__ = ["name_frames"]


def name_frames(t: Target, search_paths: list[str] | tuple[str, ...] = ()) -> int:
    """Give every frame without a symbol the symbol, offset and image the
    symbolizer finds; a thread with a pc but no frames gets its pc as frame 0.
    Returns how many frames were named."""
    from symmap.symbolize.symbolizer import Symbolizer
    if not t.threads:
        return 0
    for th in t.threads:
        if not th.frames and th.pc is not None:
            th.frames.append(Frame(th.pc))
    s = Symbolizer(t, search_paths)
    named = 0
    for th in t.threads:
        for f in th.frames:
            if f.symbol is not None:
                continue
            lk = s.lookup(f.address)
            if lk.image is not None and f.image is None:
                f.image = lk.image
                if lk.image_obj is not None:
                    f.image_offset = f.address - lk.image_obj.load_address
            if lk.symbol is not None:
                f.symbol, f.offset = lk.symbol, lk.offset
                named += 1
    return named
