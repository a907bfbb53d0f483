"""`symmap lookup TARGET ADDRESS...`: whose is this address?"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import compress, count, repeat
from operator import is_
from typing import TYPE_CHECKING, Any, Callable, cast

import click

from symmap.commands.options import open_annotated, open_options, target_options

if TYPE_CHECKING:
    from symmap.model import Region
    from symmap.symbolize.symbolizer import Chunk, Lookup, Symbolizer

EPILOG = """\b
Examples:
  symmap lookup 1234 0x7f12a0b3c4d5            an address in process 1234
  symmap lookup ./a.out 0x100003f20 0x100003f64 several at once
  symmap lookup ./libfoo.dylib 0x3f00 --slide 0x100000
  symmap lookup ./fat-binary 0x100003f20 --arch x86_64
  symmap lookup crash.ips 0x1a2b3c4d --cache dyld_shared_cache_arm64e
  cat addrs.txt | symmap lookup 1234 - --json  one address per line

\b
Exit codes: 0 every address mapped; 1 some address not mapped;
2 bad target or input (an unparsable address); 3 permission denied;
4 the process vanished.
"""


def _stdin_bytes() -> bytes:
    src = getattr(sys.stdin, "buffer", None)
    if src is not None:
        return bytes(src.read())
    return sys.stdin.read().encode("utf-8", "surrogateescape")


# Bytes a fast-path stdin may hold: hex digits, the 'x' of 0x, line ends.
# No blanks inside a line, so bytes.split() yields exactly one token per
# non-empty line (what the checked path sees).
_FAST_CHARS = b"0123456789abcdefABCDEFxX\r\n"


def _fast_stdin(data: bytes) -> list[int] | None:
    """All of stdin as 0x-hex (or all decimal) addresses, parsed at C speed,
    or None when any line is odd (the checked path then names the token).

    With only hex digits, x/X and line ends present, every token holds an
    'x' iff it is 0x-prefixed (x count == token count == "0x" count and
    ``int(t, 16)`` rejects any other 'x' placement), so ``int(t, 16)`` on
    each is exactly the checked path's answer."""
    if data.translate(None, _FAST_CHARS):
        return None
    toks = data.split()
    if not toks:
        return []
    nx = data.count(b"x") + data.count(b"X")
    try:
        if nx == len(toks) and data.count(b"0x") + data.count(b"0X") == nx:
            vals = list(map(int, toks, repeat(16)))
        elif nx == 0 and not data.translate(None, b"0123456789\r\n"):
            vals = list(map(int, toks))
        else:
            return None
    except ValueError:
        return None
    return vals if max(vals) < 1 << 64 else None


def _checked(t: str) -> int:
    # 0x-hex or decimal digits (underscores allowed); int() alone would
    # also take blanks, "+" and "-".
    v = -1
    if t.isascii() and t.replace("_", "").isalnum():
        try:
            if t[:2] in ("0x", "0X"):
                # int(.., 16) would also take a second "0x" prefix.
                v = -1 if "x" in t[2:].lower() else int(t[2:], 16)
            else:
                v = int(t, 10)
        except ValueError:
            v = -1
    if v < 0 or v >= 1 << 64:
        from symmap.errors import BadTarget
        from symmap.render.escape import escape
        raise BadTarget(f"bad ADDRESS {escape(t)!r}: not a 0x-hex or decimal address")
    return v


def _addresses(tokens: tuple[str, ...]) -> list[int]:
    """Parse ADDRESS tokens ('-' = one per line from stdin).  A token that
    does not parse is a usage error naming it (exit 2)."""
    out: list[int] = []
    for t in tokens:
        if t != "-":
            out.append(_checked(t))
            continue
        data = _stdin_bytes()
        fast = _fast_stdin(data)
        if fast is not None:
            out += fast
            continue
        text = data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
        out += [_checked(s) for s in (line.strip() for line in text.split("\n")) if s]
    if not out:
        from symmap.errors import BadTarget
        raise BadTarget("no ADDRESS given (stdin was empty)")
    return out


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


class _Text:
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
            img = self._images[key] = f"  image:   {self.escape(r.image)} ({r.uuid or 'no uuid'})"
        key = (r.segment, r.section)
        where = self._where.get(key)
        if where is None:
            where = self._where[key] = "  segment: " + self.escape(r.segment) + (
                "," + self.escape(r.section) if r.section else "")
        lines.append(img)
        lines.append(where)
        if r.symbol is not None:
            lines.append(f"  symbol:  {self.escape(r.symbol)} + {r.offset}")
        else:
            lines.append("  symbol:  -" + ("" if r.symbol_source else " (no symbols found)"))
        lines.append(f"  unslid:  {_hex(r.unslid_address)}")
        lines.append(f"  file offset: {_hex(r.file_offset)}")
        return "\n".join(lines)


class _Json:
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

    def s(self, v: str | None) -> str:
        if v is None:
            return "null"
        out = self._strs.get(v)
        if out is None:
            out = self.dumps(self.json_safe(v))
            if len(self._strs) < 100_000:
                self._strs[v] = out
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
        sym = "null" if r.symbol is None else self.dumps(self.json_safe(r.symbol))
        return (f'{{"address": {r.address}, "image": {self.s(r.image)}, "uuid": {self.s(r.uuid)}, '
                f'"segment": {self.s(r.segment)}, "section": {self.s(r.section)}, '
                f'"symbol": {sym}, "offset": {n(r.offset)}, '
                f'"unslid_address": {n(r.unslid_address)}, "file_offset": {n(r.file_offset)}, '
                f'"mapped": {"true" if r.mapped else "false"}, "region": {self.region(r.region)}, '
                f'"nearest": {nearest}}}')


def _needs_escape(strings: Iterable[str]) -> bool:
    # One test over all strings at C speed; escape() is per string.
    joined = "".join(strings)
    return not (joined.isascii() and joined.isprintable() and "\\" not in joined)


def _brief_lines(sym: Symbolizer, chunks: list[Chunk]) -> dict[int | None, Any]:
    """address -> one atos-like line (see ``--brief``), per distinct address;
    key None -> True when some address is not mapped.

    A chunk whose addresses all have a symbol (the usual case) is formatted
    by one C-level ``map`` of ``str.__mod__``; others line by line."""
    from symmap.render.escape import escape
    display = sym.display_names(map(sym.chunk_names, chunks))
    for shown in display.values():
        if _needs_escape(shown.values()):
            for name, v in shown.items():
                shown[name] = escape(v)
    no_regions = not sym._regions
    out: dict[int | None, Any] = {}
    for c in chunks:
        info = c.info
        if info is None:
            for a, reg in zip(c.addrs, c.regions):
                if reg is None:
                    out[a] = f"{a:#x} not mapped"
                    out[None] = True
                else:
                    out[a] = f"{a:#x} ?? (no image) {escape(reg.type or reg.kind or '-')}"
            continue
        where = escape(info[6]) + ("," + escape(c.section) if c.section else "")
        suffix = f" (in {escape(info[5].name)}) {where}"
        shown = display[info[4]]
        # Identity tests only: ``None in regions`` would call Region.__eq__
        # (a dataclass's, in Python) once per address.
        if not any(c.synthetic) and (no_regions or not any(map(is_, c.regions, repeat(None)))):
            # dict.get(name, name) at C speed; a None name maps to None.
            get = cast("Callable[[str | None, str | None], str | None]", shown.get)
            names = list(map(get, c.names, c.names)) if shown else c.names
            if _needs_escape(filter(None, names)):
                names = [nm if nm is None or nm in shown else escape(nm) for nm in names]
            fmt = "%#x %s + %s" + suffix.replace("%", "%%")
            lines = list(map(fmt.__mod__, zip(c.addrs, names, c.offsets)))
            if any(map(is_, c.names, repeat(None))):
                # Addresses past their symbol's extent: "??" lines instead.
                for k in compress(count(), map(is_, c.names, repeat(None))):
                    lines[k] = f"{c.addrs[k]:#x} ??{suffix}"
            out.update(zip(c.addrs, lines))
            continue
        for a, nm, off, syn, reg in zip(c.addrs, c.names, c.offsets, c.synthetic, c.regions):
            if reg is None and not no_regions:
                out[a] = f"{a:#x} not mapped"
                out[None] = True
            elif nm is None:
                out[a] = f"{a:#x} ??{suffix}"
            else:
                out[a] = f"{a:#x} {escape(nm) if syn or nm not in shown else shown[nm]} + {off}{suffix}"
    return out


@click.command("lookup", epilog=EPILOG)
@click.argument("target")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per address.")
@click.option("--brief", "-b", is_flag=True,
              help="One line per address, atos-like: ADDR SYMBOL + OFFSET (in IMAGE) SEGMENT,SECTION.")
@target_options
def command(target: str, addresses: tuple[str, ...], as_json: bool, brief: bool, **kw: Any) -> None:
    """Name the region, image, segment, section and symbol of each ADDRESS.

    TARGET is a PID, a process name or a file (Mach-O, ELF, dyld cache, core,
    crash report, vmmap report, snapshot).  ADDRESS is 0x-hex or decimal; give many, or
    `-` to read one per line from stdin.  Prints the unslid address (what
    atos and llvm-symbolizer want) and the file offset in the image.
    --brief prints one line per address instead ("??" where no symbol
    is known, "not mapped" outside every region).  Exit status 1 when
    any address is not mapped.
    """
    if brief and as_json:
        from symmap.errors import BadTarget
        raise BadTarget("--brief and --json exclude each other")
    addrs = _addresses(addresses)
    opts = open_options(**kw)
    t = open_annotated(target, opts)
    try:
        from symmap.symbolize import Symbolizer
        sym = Symbolizer(t, opts.search_paths)
        if brief:
            from symmap.render.escape import escape
            for n in t.notes:
                click.echo(f"note: {escape(n)}", err=True)
            lines = _brief_lines(sym, sym.resolve_many(addrs))
            unmapped = lines.pop(None, False)
            click.echo("\n".join(map(lines.__getitem__, addrs)))
            if unmapped:
                click.get_current_context().exit(1)
            return
        results = sym.lookup_many(addrs)
        if as_json:
            j = _Json()
            click.echo("[\n " + ",\n ".join(map(j.obj, results)) + "\n]")
        else:
            from symmap.render.escape import escape
            for n in t.notes:
                click.echo(f"note: {escape(n)}", err=True)
            click.echo("\n\n".join(map(_Text().block, results)))
    finally:
        t.close()
    if not all(r.mapped for r in results):
        click.get_current_context().exit(1)
