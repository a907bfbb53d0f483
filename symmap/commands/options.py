"""Click options shared by the subcommands (kept free of heavy imports)."""
from __future__ import annotations

from typing import Any, Callable

import click

from symmap.errors import BadTarget

__all__ = ["INT", "target_options", "open_options", "open_annotated"]

from symmap.pipeline import open_annotated  # noqa: E402  (re-exported for the commands)


class IntType(click.ParamType):
    """An integer given as 0x-hex or decimal (addresses, slides)."""

    name = "INT"

    def convert(self, value: Any, param, ctx) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_int(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a decimal or 0x-hex number", param, ctx)


def parse_int(s: str) -> int:
    s = s.strip()
    neg = s.startswith("-")
    body = s[1:] if neg else s
    if body.lower().startswith("0x"):
        v = int(body[2:].replace("_", "").replace("'", ""), 16)
    elif body.isdigit():
        v = int(body)
    else:
        raise ValueError(s)
    return -v if neg else v


INT = IntType()


def target_options(f: Callable) -> Callable:
    """--arch/--slide/--load-address/--cache/--search-path, shared by every command taking a TARGET."""
    opts = [
        click.option("--arch", metavar="ARCH", help="Slice of a fat Mach-O file (default: host arch, else the first)."),
        click.option("--slide", type=INT, metavar="N", help="Slide a cache file or binary by N bytes."),
        click.option("--load-address", type=INT, metavar="ADDR", help="Place a binary's header at ADDR."),
        click.option("--cache", type=click.Path(dir_okay=False), metavar="PATH",
                     help="A dyld shared cache file for cores and crash reports (UUID checked)."),
        click.option("--search-path", "search_paths", multiple=True, type=click.Path(file_okay=False),
                     metavar="DIR", help="Directory searched for binaries and dSYMs by UUID (repeatable)."),
        click.option("--dsym", type=click.Path(exists=True), metavar="PATH",
                     help="A .dSYM bundle, or the DWARF file inside one (UUID checked)."),
        click.option("--no-cache", is_flag=True,
                     help="Neither read nor write symcaches under $XDG_CACHE_HOME/symmap."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def open_options(arch=None, slide=None, load_address=None, cache=None, search_paths=(), dsym=None,
                 no_cache=False, **extra):
    from symmap.sources import OpenOptions
    return OpenOptions(arch=arch, slide=slide, load_address=load_address, cache=cache,
                       search_paths=list(search_paths or ()), dsym=dsym, no_cache=no_cache, **extra)
