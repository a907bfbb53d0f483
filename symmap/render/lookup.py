"""Rendering of `symmap lookup` answers: text blocks, JSON objects, --brief lines.

Text: one block per address; with debug info the symbol line gains
``at FILE:LINE[:COL]`` (the physical function's location) and one
``inlined:`` line per inlined frame, innermost first.  --brief: atos's
line (``0xADDR SYMBOL + OFF (in IMAGE) SEGMENT,SECTION``); with debug info
``0xADDR FUNC (in IMAGE) (FILE:LINE)`` for the innermost frame and one such
line (no address) per enclosing frame, as ``atos -i`` prints them.  JSON:
see README "lookup --json".
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from itertools import compress, count, repeat
from operator import is_, mod
from typing import TYPE_CHECKING, Any, Callable, cast

if TYPE_CHECKING:
    from symmap.model import Region
    from symmap.symbolize.source_lines import SourceFrame
    from symmap.symbolize.symbolizer import Chunk, Lookup, Symbolizer

__all__ = ["TextRenderer", "JsonRenderer", "Brief", "brief_lines", "source_at"]


def source_at(file: str | None, line: int | None, column: int | None) -> str:
    """FILE:LINE[:COL] (the column only when known; symbolic gives none)."""
    s = file or "??"
    if line is not None:
        s += f":{line}"
        if column is not None:
            s += f":{column}"
    return s


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


class TextRenderer:
    """Text blocks; the strings shared by many addresses (region row, image
    line, segment line) are formatted and escaped once per object."""

    def __init__(self) -> None:
        from symmap.render.escape import escape
        from symmap.render.text import format_region_row
        self.escape = escape
        self.row = format_region_row
        self._rows: dict[int, str] = {}
        self._images: dict[tuple[str | None, str | None], str] = {}
        self._where: dict[tuple[str | None, str | None], str] = {}

    def region(self, reg: Region) -> str:
        s = self._rows.get(id(reg))
        if s is None:
            s = self._rows[id(reg)] = self.row(reg)
        return s

    def block(self, r: Lookup) -> str:
        lines = [f"{r.address:#x}"]
        if not r.mapped:
            lines.append("  not mapped")
            for label, reg in (("before", r.before), ("after", r.after)):
                if reg is not None:
                    lines.append(f"  {label + ':':<8}{self.region(reg)}")
        else:
            lines.append(f"  region:  {self.region(r.region)}" if r.region is not None
                         else "  region:  -")
        if r.image is None:
            if r.mapped:
                lines.append("  image:   - (no image owns this address)")
            return "\n".join(lines)
        key: tuple[str | None, str | None] = (r.image, r.uuid)
        img = self._images.get(key)
        if img is None:
            img = self._images[key] = f"  image:   {self.escape(r.image)} ({self.escape(r.uuid) or 'no uuid'})"
        key = (r.segment, r.section)
        where = self._where.get(key)
        if where is None:
            where = self._where[key] = "  segment: " + self.escape(r.segment) + (
                "," + self.escape(r.section) if r.section else "")
        lines.append(img)
        lines.append(where)
        at = ""
        if r.frames:
            f = r.frames[-1]
            at = " at " + self.escape(source_at(f.file, f.line, f.column))
        if r.symbol is not None:
            src = " (from the report)" if r.symbol_source == "report" else ""
            off = f" + {r.offset}" if r.offset is not None else ""
            lines.append(f"  symbol:  {self.escape(r.symbol)}{off}{at}{src}")
        elif r.frames:
            lines.append(f"  symbol:  {self.escape(r.frames[-1].function)}{at}")
        else:
            lines.append("  symbol:  -" + ("" if r.symbol_source else " (no symbols found)"))
        for f in r.frames[:-1]:
            lines.append(f"    inlined: {self.escape(f.function)} at "
                         f"{self.escape(source_at(f.file, f.line, f.column))}")
        lines.append(f"  image offset: {_hex(r.image_offset)}")
        lines.append(f"  unslid:  {_hex(r.unslid_address)}")
        fo = f"  file offset: {_hex(r.file_offset)}"
        so = _slice_offset(r)
        if so and r.file_offset is not None:
            fo += f" (slice at {so:#x}; {r.file_offset - so:#x} in the slice)"
        lines.append(fo)
        return "\n".join(lines)


class JsonRenderer:
    """One JSON object per address, encoded by hand around cached pieces:
    the standard encoder with indent runs in pure Python (20 s for 100,000
    addresses); this keeps a large lookup about as fast as the text form."""

    def __init__(self) -> None:
        import json as _json_mod
        from symmap.render.escape import json_safe
        from symmap.render.json import region_dict
        self.dumps = _json_mod.dumps
        self.json_safe = json_safe
        self.region_dict = region_dict
        self._regions: dict[int, str] = {}
        self._strs: dict[str, str] = {}
        self._frames: dict[int, str] = {}
        self._alive: list[SourceFrame] = []

    def s(self, v: str | None) -> str:
        if v is None:
            return "null"
        out = self._strs.get(v)
        if out is None:
            out = self.dumps(self.json_safe(v))
            if len(self._strs) < 100_000:
                self._strs[v] = out
        return out

    def _frame(self, f: SourceFrame) -> str:
        line = "null" if f.line is None else str(f.line)
        column = "null" if f.column is None else str(f.column)
        out = (f'{{"function": {self.s(f.function)}, "linkage_name": {self.s(f.linkage_name)}, '
               f'"file": {self.s(f.file)}, "line": {line}, "column": {column}}}')
        if len(self._frames) < 1 << 20:
            self._frames[id(f)] = out
            self._alive.append(f)
        return out

    def region(self, reg: Region | None) -> str:
        if reg is None:
            return "null"
        out = self._regions.get(id(reg))
        if out is None:
            out = self._regions[id(reg)] = self.dumps(self.region_dict(reg))
        return out

    def obj(self, r: Lookup) -> str:
        def n(v: int | None) -> str:
            return "null" if v is None else str(v)
        nearest = "null" if r.mapped else (
            f'{{"before": {self.region(r.before)}, "after": {self.region(r.after)}}}')
        sym = self.s(r.symbol)            # encoded once per distinct name (s caches)
        link = self.s(r.linkage_name)
        frames = "[]"
        if r.frames:
            # One frame's object is encoded once, kept by the frame's
            # identity (LineTable shares frames; _alive keeps their ids).
            got = list(map(self._frames.get, map(id, r.frames)))
            if None in got:
                got = [g if g is not None else self._frame(f) for g, f in zip(got, r.frames)]
            frames = "[" + ", ".join(cast("list[str]", got)) + "]"
        so = _slice_offset(r)
        return (f'{{"address": {r.address}, "image": {self.s(r.image)}, "uuid": {self.s(r.uuid)}, '
                f'"segment": {self.s(r.segment)}, "section": {self.s(r.section)}, '
                f'"symbol": {sym}, "linkage_name": {link}, "offset": {n(r.offset)}, '
                f'"symbol_source": {self.s(r.symbol_source)}, '
                f'"image_offset": {n(r.image_offset)}, '
                f'"unslid_address": {n(r.unslid_address)}, "file_offset": {n(r.file_offset)}, '
                f'"slice_offset": {n(so)}, '
                f'"file": {self.s(r.file)}, "line": {n(r.line)}, "column": {n(r.column)}, '
                f'"frames": {frames}, "debug_file": {self.s(r.debug_file)}, '
                f'"mapped": {"true" if r.mapped else "false"}, "region": {self.region(r.region)}, '
                f'"nearest": {nearest}}}')


def _needs_escape(strings: Iterable[str]) -> bool:
    # One test over all strings at C speed; escape() is per string.
    joined = "".join(strings)
    return not (joined.isascii() and joined.isprintable() and "\\" not in joined)


def brief_lines(sym: Symbolizer, chunks: list[Chunk],
                frames: dict[int, tuple[str, tuple[SourceFrame, ...]]] | None = None
                ) -> dict[int | None, Any]:
    """address -> one atos-like line (see ``--brief``), per distinct address;
    key None -> True when some address is not mapped.  ``frames``: address
    -> (image name, source frames), from ``Symbolizer.chunk_frames``."""
    b = Brief(sym, chunks, frames)
    out: dict[int | None, Any] = {a: b.line(a) for a in b.addresses()}
    if b.unmapped:
        out[None] = True
    return out


class Brief:
    """The --brief answers of a batch, formatted when written: ``text``
    formats a run of addresses at a time, so a large lookup never holds
    its whole output (nor one string per address).

    Addresses are kept as columns (distinct addresses ascending, their
    shown names, offsets and a line format per chunk), found by bisect and
    formatted by C-level maps of ``str.__mod__``; ``lines`` holds the
    others: an address's finished line (no symbol, not mapped, ...) or, for
    an address with source frames, (rows of the image, image name,
    frames), each frame's row formatted and escaped once and shared by
    every address under it."""

    def __init__(self, sym: Symbolizer, chunks: list[Chunk],
                 frames: dict[int, tuple[str, tuple[SourceFrame, ...]]] | None = None) -> None:
        from symmap.render.escape import escape
        self.escape = escape
        self.unmapped = False
        frames = frames or {}
        self.lines: dict[int, str] = {}
        self._frames = frames
        # Per image: id(frame) -> its row; _alive keeps those frames (and
        # so their ids) for as long as the rows are kept.
        self._rows: dict[str, dict[int, str]] = {}
        self._alive: list[SourceFrame] = []
        self._esc: dict[str, str] = {}
        # Columns over every distinct address (ascending): shown name,
        # offset, index of the chunk's format in _fmts.  Addresses in
        # ``lines`` have placeholders there.
        self._u: list[int] = []
        self._names: list[Any] = []
        self._offs: list[Any] = []
        self._fmt: list[int] = []
        self._fmts: list[str] = ["%#x %s%s"]
        out = self.lines
        for c in chunks:
            self._u += c.addrs
        if frames:
            # Symbol lines only for the addresses debug info does not answer
            # (an unmapped one among those still sets the flag).
            kept = []
            for c in chunks:
                if not any(map(frames.__contains__, c.addrs)):
                    kept.append(c)
                    continue
                # Identity tests first (Region.__eq__ is a dataclass's, in Python).
                if (sym._regions and any(map(is_, c.regions, repeat(None)))
                        and any(reg is None for a, reg in zip(c.addrs, c.regions) if a in frames)):
                    self.unmapped = True
                kept.append(_without(c, frames))
            chunks = kept
        display = sym.display_names(map(sym.chunk_names, chunks))
        for shown in display.values():
            if _needs_escape(shown.values()):
                for name, v in shown.items():
                    shown[name] = escape(v)
        no_regions = not sym._regions
        report = bool(sym.target.threads)
        # Columns for every address first (placeholders), then the chunks
        # the fast path formats fill theirs in, in place.
        n_all = len(self._u)
        self._names = [None] * n_all
        self._offs = [None] * n_all
        self._fmt = [0] * n_all
        p = 0
        for c in chunks:
            n = len(c.addrs)
            if not n:
                continue
            if frames:
                p = bisect_left(self._u, c.addrs[0])
            info = c.info
            if info is None:
                for a, reg in zip(c.addrs, c.regions):
                    if reg is None:
                        out[a] = f"{a:#x} not mapped"
                        self.unmapped = True
                    else:
                        out[a] = f"{a:#x} ?? (no image) {escape(reg.type or reg.kind or '-')}"
                p += n
                continue
            where = escape(info[6]) + ("," + escape(c.section) if c.section else "")
            suffix = f" (in {escape(info[5].name)}) {where}"
            shown = display[info[4]]
            # Identity tests only: ``None in regions`` would call Region.__eq__
            # (a dataclass's, in Python) once per address.
            fast = not any(c.synthetic) and (no_regions or not any(map(is_, c.regions, repeat(None))))
            if fast and report and any(map(is_, c.names, repeat(None))):
                fast = False            # a crash report may name what no symbol file does
            if fast and (not frames or c.addrs == self._u[p:p + n]):
                # dict.get(name, name) at C speed; a None name maps to None.
                get = cast("Callable[[str | None, str | None], str | None]", shown.get)
                names = list(map(get, c.names, c.names)) if shown else c.names
                if _needs_escape(filter(None, names)):
                    names = [nm if nm is None or nm in shown else escape(nm) for nm in names]
                sfx = suffix.replace("%", "%%")
                j = len(self._fmts)
                self._fmts.append("%#x %s + %s" + sfx)
                self._names[p:p + n] = names
                self._offs[p:p + n] = c.offsets
                if any(map(is_, c.names, repeat(None))):
                    # No symbol covers these: "??" lines (%.0s prints
                    # nothing of the name and offset columns).
                    self._fmts.append("%#x ??%.0s%.0s" + sfx)
                    self._fmt[p:p + n] = map((j, j + 1).__getitem__, map(is_, c.names, repeat(None)))
                else:
                    self._fmt[p:p + n] = repeat(j, n)
                p += n
                continue
            for a, nm, off, syn, reg in zip(c.addrs, c.names, c.offsets, c.synthetic, c.regions):
                if reg is None and not no_regions:
                    out[a] = f"{a:#x} not mapped"
                    self.unmapped = True
                elif nm is None:
                    rf = sym.report_frames(a) if report else None
                    out[a] = f"{a:#x} {escape(rf[-1].symbol)} + {rf[-1].offset}{suffix}" if rf else f"{a:#x} ??{suffix}"
                else:
                    out[a] = f"{a:#x} {escape(nm) if syn or nm not in shown else shown[nm]} + {off}{suffix}"
            p += n

    def addresses(self) -> list[int]:
        """The distinct addresses, ascending."""
        return self._u

    def _row(self, rows: dict[int, str], image_name: str, f: SourceFrame) -> str:
        # escape() works character by character, so the escaped
        # ``FILE:LINE`` is the escaped file plus ``:LINE``; escaped names,
        # paths and image names are kept per string.
        esc = self._esc
        fn, path = f.function, f.file or "??"
        e_fn = esc.get(fn)
        if e_fn is None:
            e_fn = esc[fn] = self.escape(fn)
        e_path = esc.get(path)
        if e_path is None:
            e_path = esc[path] = self.escape(path)
        e_img = esc.get(image_name)
        if e_img is None:
            e_img = esc[image_name] = self.escape(image_name)
        if f.line is not None:
            e_path += f":{f.line}" if f.column is None else f":{f.line}:{f.column}"
        row = f"{e_fn} (in {e_img}) ({e_path})"
        if len(rows) < 1 << 20:
            rows[id(f)] = row
            self._alive.append(f)
        if len(esc) > 1 << 20:
            esc.clear()
        return row

    def line(self, a: int) -> str:
        """The line(s) of a distinct address of the batch (KeyError for another)."""
        got = self._frames.get(a)
        if got is not None:
            image_name, fr = got
            rows = self._rows.get(image_name)
            if rows is None:
                rows = self._rows[image_name] = {}
            # Rows keyed by identity: LineTable shares one SourceFrame per
            # (function, file, line); a namedtuple's hash would be
            # recomputed on every lookup.
            texts = list(map(rows.get, map(id, fr)))
            if None in texts:
                texts = [t if t is not None else self._row(rows, image_name, f) for t, f in zip(texts, fr)]
            return f"{a:#x} " + "\n".join(cast("list[str]", texts))
        v = self.lines.get(a)
        if v is not None:
            return v
        k = bisect_left(self._u, a)
        if k == len(self._u) or self._u[k] != a:
            raise KeyError(a)
        return self._fmts[self._fmt[k]] % (a, self._names[k], self._offs[k])

    def _frame_text(self, addrs: list[int]) -> str:
        """``text`` for a batch answered mostly by source frames: ``line``'s
        work inlined (100,000 addresses: a method call each was a fifth
        of the time)."""
        get = self._frames.get
        out: list[str] = []
        add = out.append
        last_image, rows = None, cast("dict[int, str]", {})
        for a in addrs:
            got = get(a)
            if got is None:
                add(self.line(a))
                continue
            image_name, fr = got
            if image_name is not last_image:
                rows = self._rows.get(image_name) or self._rows.setdefault(image_name, {})
                last_image = image_name
            texts = list(map(rows.get, map(id, fr)))
            if None in texts:
                texts = [t if t is not None else self._row(rows, image_name, f) for t, f in zip(texts, fr)]
            add(f"{a:#x} " + "\n".join(cast("list[str]", texts)))
        return "\n".join(out)

    def _special(self, a: int) -> bool:
        return a in self.lines or a in self._frames

    def text(self, addrs: list[int]) -> str:
        """The lines of ``addrs`` (any order, repeats allowed; each one of
        the batch's) joined by newlines."""
        if (len(self.lines) + len(self._frames)) * 2 > len(self._u):
            return self._frame_text(addrs)
        # Mostly columns: every line by C-level maps, then the few others.
        u = self._u
        ks = list(map(bisect_left, repeat(u), addrs))
        try:
            ok = list(map(u.__getitem__, ks)) == addrs
        except IndexError:
            ok = False
        if not ok:
            raise KeyError("an address not of this batch")
        lines = list(map(mod, map(self._fmts.__getitem__, map(self._fmt.__getitem__, ks)),
                         zip(addrs, map(self._names.__getitem__, ks), map(self._offs.__getitem__, ks))))
        if self.lines or self._frames:
            for i in compress(count(), map(self._special, addrs)):
                lines[i] = self.line(addrs[i])
        return "\n".join(lines)


def _without(c: Chunk, frames: dict[int, Any]) -> Chunk:
    """``c`` less the addresses ``frames`` answers."""
    keep = bytes(map(frames.__contains__, c.addrs)).translate(_FLIP)
    def pick(col: list[Any]) -> list[Any]:
        return list(compress(col, keep))
    return c._replace(addrs=pick(c.addrs), regions=pick(c.regions), names=pick(c.names),
                      offsets=pick(c.offsets), synthetic=pick(c.synthetic))


_FLIP = bytes([1, 0] + [0] * 254)


def _slice_offset(r: Any) -> int | None:
    """Offset of a fat file's slice holding the image (None when thin)."""
    im = r.image_obj
    return getattr(im, "slice_offset", None) if im is not None else None


