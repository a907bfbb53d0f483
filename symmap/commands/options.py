"""Click options shared by the subcommands (kept free of heavy imports)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from symmap.pipeline import open_annotated  # re-exported for the commands
from symmap.sources import OpenOptions

__all__ = ["INT", "target_options", "open_options", "open_annotated"]

F = TypeVar("F", bound=Callable[..., Any])

# click >= 8.4 types ParamType by its value; older ones are not generic at run time.
if TYPE_CHECKING:
    _IntParam = click.ParamType[int]
else:
    _IntParam = click.ParamType


class IntType(_IntParam):
    """An integer given as 0x-hex or decimal (addresses, slides)."""

    name = "INT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
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


# Slice names a fat Mach-O holds (what load_commands.arch_name returns):
# the values `--arch <TAB>` offers.
ARCH_NAMES = ("arm64", "arm64e", "arm64_32", "x86_64", "x86_64h", "i386", "armv7", "armv7s", "armv7k", "armv6")


def _complete_arch(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [a for a in ARCH_NAMES if a.startswith(incomplete)]


def target_options(f: F) -> F:
    """--arch/--slide/--load-address/--cache/--search-path, shared by every command taking a TARGET."""
    opts = [
        click.option("--arch", metavar="ARCH", shell_complete=_complete_arch,
                     help="Slice of a fat Mach-O file (default: host arch, else the first)."),
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


def open_options(arch: str | None = None, slide: int | None = None, load_address: int | None = None,
                 cache: str | None = None, search_paths: tuple[str, ...] | list[str] = (),
                 dsym: str | None = None, no_cache: bool = False,
                 **extra: Any) -> OpenOptions:
    return OpenOptions(arch=arch, slide=slide, load_address=load_address, cache=cache,
                       search_paths=list(search_paths or ()), dsym=dsym, no_cache=no_cache, **extra)
