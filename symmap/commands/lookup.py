"""`symmap lookup TARGET ADDRESS...`: whose is this address?"""
from __future__ import annotations

import json
import sys

import click

from ._common import open_annotated, open_options, parse_int, target_options

EPILOG = """\b
Examples:
  symmap lookup 1234 0x7f12a0b3c4d5            an address in process 1234
  symmap lookup ./a.out 0x100003f20 0x100003f64 several at once
  symmap lookup ./libfoo.dylib 0x3f00 --slide 0x100000
  symmap lookup ./fat-binary 0x100003f20 --arch x86_64
  symmap lookup crash.ips 0x1a2b3c4d --cache dyld_shared_cache_arm64e
  cat addrs.txt | symmap lookup 1234 - --json  one address per line
"""


def _addresses(tokens: tuple[str, ...]) -> list[int]:
    """Parse ADDRESS tokens ('-' = one per line from stdin).  A token that
    does not parse is a usage error naming it (exit 2)."""
    raw: list[str] = []
    for t in tokens:
        if t == "-":
            raw += [line.strip() for line in sys.stdin if line.strip()]
        else:
            raw.append(t)
    out = []
    for t in raw:
        try:
            v = parse_int(t)
        except ValueError:
            v = -1
        if v < 0 or v >= 1 << 64:
            from ..errors import BadTarget
            from ..render.escape import escape
            raise BadTarget(f"bad ADDRESS {escape(t)!r}: not a 0x-hex or decimal address")
        out.append(v)
    if not out:
        from ..errors import BadTarget
        raise BadTarget("no ADDRESS given (stdin was empty)")
    return out


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def _text(r, escape, format_region_row) -> list[str]:
    lines = [f"{r.address:#x}"]
    if not r.mapped:
        lines.append("  not mapped")
        for label, reg in (("before", r.before), ("after", r.after)):
            if reg is not None:
                lines.append(f"  {label + ':':<8}{format_region_row(reg)}")
        if r.image is None:
            return lines
    else:
        lines.append(f"  region:  {format_region_row(r.region)}" if r.region is not None
                     else "  region:  -")
    if r.image is None:
        lines.append("  image:   - (no image owns this address)")
        return lines
    lines.append(f"  image:   {escape(r.image)} ({r.uuid or 'no uuid'})")
    where = escape(r.segment) + ("," + escape(r.section) if r.section else "")
    lines.append(f"  segment: {where}")
    if r.symbol is not None:
        lines.append(f"  symbol:  {escape(r.symbol)} + {r.offset}")
    else:
        lines.append("  symbol:  -" + ("" if r.symbol_source else " (no symbols found)"))
    lines.append(f"  unslid:  {_hex(r.unslid_address)}")
    lines.append(f"  file offset: {_hex(r.file_offset)}")
    return lines


def _json(r, json_safe, region_dict) -> dict:
    return {
        "address": r.address, "image": json_safe(r.image), "uuid": r.uuid,
        "segment": json_safe(r.segment), "section": json_safe(r.section),
        "symbol": json_safe(r.symbol), "offset": r.offset,
        "unslid_address": r.unslid_address, "file_offset": r.file_offset,
        "mapped": r.mapped, "region": region_dict(r.region) if r.region is not None else None,
        "nearest": None if r.mapped else {
            "before": region_dict(r.before) if r.before is not None else None,
            "after": region_dict(r.after) if r.after is not None else None},
    }


@click.command("lookup", epilog=EPILOG)
@click.argument("target")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per address.")
@target_options
def command(target, addresses, as_json, **kw):
    """Name the region, image, segment, section and symbol of each ADDRESS.

    TARGET is a PID, a process name or a file (Mach-O, ELF, dyld cache, core,
    crash report, snapshot).  ADDRESS is 0x-hex or decimal; give many, or
    `-` to read one per line from stdin.  Prints the unslid address (what
    atos and llvm-symbolizer want) and the file offset in the image.  Exit
    status 1 when any address is not mapped.
    """
    addrs = _addresses(addresses)
    opts = open_options(**kw)
    t = open_annotated(target, opts)
    try:
        from ..symbolize import Symbolizer
        results = Symbolizer(t, opts.search_paths).lookup_many(addrs)
        if as_json:
            from ..render.escape import json_safe
            from ..render.json import region_dict
            click.echo(json.dumps([_json(r, json_safe, region_dict) for r in results], indent=1))
        else:
            from ..render.escape import escape
            from ..render.text import format_region_row
            lines: list[str] = []
            for i, r in enumerate(results):
                if i:
                    lines.append("")
                lines += _text(r, escape, format_region_row)
            for n in t.notes:
                click.echo(f"note: {escape(n)}", err=True)
            click.echo("\n".join(lines))
    finally:
        t.close()
    if not all(r.mapped for r in results):
        click.get_current_context().exit(1)
