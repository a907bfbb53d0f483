"""`symmap lookup TARGET ADDRESS...`: whose is this address?"""
from __future__ import annotations

import os
import sys
from itertools import repeat
from typing import TYPE_CHECKING, Any

import click

from symmap.commands.options import open_annotated, open_options, target_options

if TYPE_CHECKING:
    from symmap.model import Target

EPILOG = """\b
Examples:
  symmap lookup 1234 0x7f12a0b3c4d5            an address in process 1234
  symmap lookup ./a.out 0x100003f20 0x100003f64 several at once
  symmap lookup ./libfoo.dylib 0x3f00 --slide 0x100000
  symmap lookup ./fat-binary 0x100003f20 --arch x86_64
  symmap lookup crash.ips 0x1a2b3c4d --cache dyld_shared_cache_arm64e
  symmap lookup crash.ips libsystem_c.dylib+0x108a9   image-relative, as Apple prints it
  symmap lookup ./a.out --name main                 every address named main
  symmap lookup ./a.out 0x1139 --dsym a.out.dSYM    file:line and inlined frames
  cat addrs.txt | symmap lookup 1234 - --json  one address per line

\b
Exit codes: 0 every address mapped; 1 some address not mapped;
2 bad target or input (an unparsable address); 3 permission denied;
4 the process vanished.
"""


# Addresses per write of --brief / --json output.
_BATCH = 4096


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


def _token(t: str) -> int | tuple[str, int]:
    """An absolute address, or ``IMAGE+OFF`` as (image, offset)."""
    if "+" in t[1:]:
        image, off = t.rsplit("+", 1)
        return image.strip(), _checked(off.strip())
    return _checked(t)


def _addresses(tokens: tuple[str, ...]) -> list[Any]:
    """Parse ADDRESS tokens ('-' = one per line from stdin): ints, or
    (image, offset) for ``IMAGE+OFF``.  A token that does not parse is a
    usage error naming it (exit 2)."""
    out: list[Any] = []
    for t in tokens:
        if t != "-":
            out.append(_token(t))
            continue
        data = _stdin_bytes()
        fast = _fast_stdin(data)
        if fast is not None:
            out += fast
            continue
        text = data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
        out += [_token(s) for s in (line.strip() for line in text.split("\n")) if s]
    if not out:
        from symmap.errors import BadTarget
        raise BadTarget("no ADDRESS given (stdin was empty)")
    return out


def _image_relative(t: Target, items: list[Any]) -> list[int]:
    """``IMAGE+OFF`` -> the image's load address + OFF; IMAGE is matched by
    path, then basename (one image must match)."""
    from symmap.errors import BadTarget
    from symmap.render.escape import escape
    if tuple not in map(type, items):
        return items                     # addresses only (stdin's usual case)
    by_path = {im.path: im for im in t.images}
    out: list[int] = []
    for it in items:
        if isinstance(it, int):
            out.append(it)
            continue
        name, off = it
        im = by_path.get(name)
        if im is None:
            hits = [m for m in t.images if os.path.basename(m.path) == name or m.name == name]
            if len({id(m) for m in hits}) > 1:
                raise BadTarget(f"{escape(name)}+{off:#x}: several images are named {escape(name)}; "
                                "give its full path")
            im = hits[0] if hits else None
        if im is None:
            raise BadTarget(f"{escape(name)}+{off:#x}: no image named {escape(name)} in the target")
        a = im.load_address + off
        if a >= 1 << 64:
            raise BadTarget(f"{escape(name)}+{off:#x}: past the end of the address space")
        out.append(a)
    return out


@click.command("lookup", epilog=EPILOG)
@click.argument("target")
@click.argument("addresses", nargs=-1, metavar="ADDRESS...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per address.")
@click.option("--brief", "-b", is_flag=True,
              help="One line per address, atos-like: ADDR SYMBOL + OFFSET (in IMAGE) SEGMENT,SECTION; "
                   "with debug info ADDR FUNC (in IMAGE) (FILE:LINE), one line per inlined frame.")
@click.option("--name", "names", multiple=True, metavar="SYMBOL",
              help="Look up every address of SYMBOL (linkage or demangled name; repeatable).")
@click.option("--no-demangle", is_flag=True, help="Print names as stored (linkage names).")
@target_options
def command(target: str, addresses: tuple[str, ...], as_json: bool, brief: bool,
            names: tuple[str, ...], no_demangle: bool, **kw: Any) -> None:
    """Name the region, image, segment, section, symbol and source line of each ADDRESS.

    TARGET is a PID, a process name or a file (Mach-O, ELF, dyld cache, core,
    crash report, vmmap report, snapshot).  ADDRESS is 0x-hex or decimal, or
    IMAGE+0xOFF (offset in an image named by path or basename); give many, or
    `-` to read one per line from stdin.  --name SYMBOL looks up every
    address of that symbol instead.  Prints the image offset, the unslid
    address (what atos and llvm-symbolizer want), the file offset in the
    image and, where debug info is found (dSYM, DWARF in the file, a
    detached ELF debug file), file:line and inlined frames.
    --brief prints one line per address instead ("??" where no symbol
    is known, "not mapped" outside every region).  Exit status 1 when
    any address is not mapped.
    """
    from symmap.errors import BadTarget
    if brief and as_json:
        raise BadTarget("--brief and --json exclude each other")
    if not addresses and not names:
        raise BadTarget("no ADDRESS given (and no --name)")
    items = _addresses(addresses) if addresses else []
    opts = open_options(**kw)
    t = open_annotated(target, opts)
    try:
        # A batch builds many tuples and no cycles: the collector is paused,
        # and _answer's objects are freed (it returns) before it resumes,
        # so no collection walks them (one took 0.3 s after 100,000 DWARF
        # lookups).
        from symmap.symbolize.symbolizer import no_gc
        with no_gc():
            code = _answer(t, opts, items, names, as_json, brief, no_demangle)
    finally:
        t.close()
    if code:
        click.get_current_context().exit(code)


def _answer(t: Target, opts: Any, items: list[Any], names: tuple[str, ...], as_json: bool, brief: bool,
            no_demangle: bool) -> int:
    """Print the answers; the exit status (1: some address not mapped)."""
    from symmap.errors import BadTarget
    from symmap.render.escape import escape
    from symmap.render.lookup import Brief, JsonRenderer, TextRenderer
    from symmap.symbolize import Symbolizer
    sym = Symbolizer(t, opts.search_paths, dsym=opts.dsym, use_cache=not opts.no_cache,
                     demangle=not no_demangle)
    addrs = _image_relative(t, items)
    for nm in names:
        hits = sym.addresses_of(nm)
        if not hits:
            raise BadTarget(f"--name {escape(nm)}: no symbol of that name in the target")
        addrs += hits
    if brief:
        chunks = sym.resolve_many(addrs)
        b = Brief(sym, chunks, sym.chunk_frames(chunks))
        del chunks
        for n in t.notes + sym.notes:
            click.echo(f"note: {escape(n)}", err=True)
        # A batch of lines at a time: the whole output (100 MB for
        # 100,000 addresses with inlined frames) is never held at once.
        for i in range(0, len(addrs), _BATCH):
            click.echo(b.text(addrs[i:i + _BATCH]))
        return 1 if b.unmapped else 0
    results = sym.lookup_many(addrs)
    # Written a batch of addresses at a time (the JSON of 100,000
    # addresses with inlined frames is 300 MB): the same bytes as one
    # join of every object.
    if as_json:
        j = JsonRenderer()
        for n in sym.notes:          # debug-info notes: on stderr, the JSON stays clean
            click.echo(f"note: {escape(n)}", err=True)
        for i in range(0, len(results), _BATCH):
            click.echo(("[\n " if i == 0 else ",\n ") + ",\n ".join(map(j.obj, results[i:i + _BATCH])),
                       nl=False)
        click.echo("\n]")
    else:
        for n in t.notes + sym.notes:
            click.echo(f"note: {escape(n)}", err=True)
        tr = TextRenderer()
        for i in range(0, len(results), _BATCH):
            click.echo(("" if i == 0 else "\n\n") + "\n\n".join(map(tr.block, results[i:i + _BATCH])),
                       nl=False)
        click.echo("")
    return 0 if all(r.mapped for r in results) else 1
