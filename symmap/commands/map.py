"""`symmap map TARGET [ADDRESS | START-END]`: the vmmap-style report (or --json).

Options follow vmmap's man page (keith.github.io/xcode-man-pages/vmmap.1,
reference/vmmap-format.md §8): ``-v`` = ``-w --submap --all-split-libs
--no-coalesce``; ``--pages``; ``--submap``; ``--all-split-libs``;
``--no-coalesce``; ``-s/--sort-by-size`` ("sorted regions and malloc zones
by size (dirty + swapped)"); an address or range argument.  vmmap users type
single-dash words (``-interleaved``); they are read as symmap's spellings.
"""
from __future__ import annotations

import sys
from typing import Any

import click

from symmap.commands.html_output import html_option
from symmap.commands.options import (
    open_annotated,
    open_options,
    parse_int,
    target_options,
)

EPILOG = """\b
Examples:
  symmap                      map symmap's own process
  symmap 1234                 map process 1234
  symmap 1234 0x104e98000     the region holding an address, and its neighbours
  symmap 1234 0x1000-0x200000 the regions overlapping a range
  symmap firefox --json       map the one process named firefox, as JSON
  symmap ./libfoo.dylib       the segments of a Mach-O or ELF file
  symmap dyld_shared_cache_arm64e --slide 0x4000000
  symmap crash.ips --cache dyld_shared_cache_arm64e
  cat crash.ips | symmap -      a report piped on stdin

\b
Exit codes: 0 ok; 2 bad target or input; 3 permission denied;
4 the process vanished.
"""

# vmmap's single-dash words -> symmap's options (None: always shown since 10.14, accepted and ignored).
VMMAP_SPELLINGS: dict[str, str | None] = {
    "-interleaved": "--interleaved", "-submap": "--submap", "-allSplitLibs": "--all-split-libs",
    "-noCoalesce": "--no-coalesce", "-sortBySize": "--sort-by-size", "-pages": "--pages",
    "-summary": "--summary", "-wide": "--wide", "-verbose": "--verbose",
    "-resident": None, "-dirty": None, "-swapped": None, "-purge": None,
}


class VmmapCommand(click.Command):
    """Reads vmmap's spellings; names symmap's spelling where it has another command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        end = args.index("--") if "--" in args else len(args)
        for i, a in enumerate(args):
            if i < end and a in VMMAP_SPELLINGS:
                new = VMMAP_SPELLINGS[a]
                if new is not None:
                    out.append(new)
                continue
            if i < end and a in ("-d", "-delta"):
                raise click.UsageError("vmmap's -d SECONDS is `symmap diff PID --interval SECONDS` here", ctx)
            out.append(a)
        return super().parse_args(ctx, out)


def parse_where(s: str) -> tuple[int, int | None]:
    """``0x1000`` -> (0x1000, None); ``0x1000-0x2000`` -> (0x1000, 0x2000)."""
    a, sep, b = s.partition("-")
    if sep and a:
        start, end = parse_int(a), parse_int(b)
        if end <= start:
            raise ValueError(s)
        return start, end
    return parse_int(s), None


@click.command("map", epilog=EPILOG, cls=VmmapCommand)
@click.argument("target", required=False)
@click.argument("where", metavar="[ADDRESS|START-END]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema 2).")
@click.option("--interleaved", is_flag=True, help="One list, writable and non-writable interleaved.")
@click.option("-w", "--wide", is_flag=True, help="Never truncate REGION DETAIL.")
@click.option("--summary", "summary_only", is_flag=True, help="Print only the header and the summary.")
@click.option("--symbolicate", is_flag=True, help="Crash reports: name frames from --search-path/--cache.")
@click.option("-v", "--verbose", is_flag=True, help="Same as -w --submap --all-split-libs --no-coalesce.")
@click.option("--pages", is_flag=True, help="Sizes as page counts.")
@click.option("--submap", is_flag=True, help="Also print Submap rows, each before the entries inside it.")
@click.option("--all-split-libs", is_flag=True,
              help="Shared cache: rows for every cached library's segments, not only the loaded ones'.")
@click.option("--no-coalesce", is_flag=True, help="Do not merge adjacent rows of one image segment.")
@click.option("-s", "--sort-by-size", is_flag=True, help="Summary tables sorted by dirty + swapped size.")
@click.option("--modern", is_flag=True, help="A saved older-format (2.3) report: print its rows in format 2.4.")
@html_option
@target_options
def command(target: str | None, where: str | None, as_json: bool, interleaved: bool, wide: bool,
            summary_only: bool, symbolicate: bool, verbose: bool, pages: bool, submap: bool,
            all_split_libs: bool, no_coalesce: bool, sort_by_size: bool, modern: bool = False,
            html_file: str | None = None, **kw: Any) -> None:
    """Map TARGET's memory: every region with its owning image and segment.

    TARGET is a PID, a process name, or a file (Mach-O, ELF, dyld shared
    cache, Mach-O core, .ips/.crash report, saved vmmap report, symmap
    snapshot), or - for such a file on stdin. Without
    TARGET, symmap maps its own process.  With ADDRESS, only the region
    holding it (marked) and its neighbours print; with START-END, the
    regions overlapping the range.
    """
    from symmap.errors import BadTarget
    if verbose:
        wide = submap = all_split_libs = no_coalesce = True
    span = None
    if where is not None:
        try:
            span = parse_where(where)
        except ValueError:
            raise BadTarget(f"{where!r} is not an address (0x-hex or decimal) or a START-END range") from None
    opts = open_options(symbolicate=symbolicate, all_split_libs=all_split_libs, submap=submap, **kw)
    t = open_annotated(target, opts)
    try:
        if html_file is not None:
            # The page replaces the report on stdout (write it with --json/text runs).
            from symmap.audit import audit
            from symmap.commands.html_output import write_html
            write_html(html_file, t, audit(t, "info"), "map")
            return
        if as_json:
            from symmap.render.json import write_json
            write_json(t, sys.stdout)       # streamed: the document is never held whole
            return
        from symmap.render.text import render_address, render_report
        width = None
        if not wide and sys.stdout.isatty():
            import shutil
            width = max(20, shutil.get_terminal_size((200, 24)).columns - 105)
        if pages and isinstance(t.info.get("vmmap_summary"), list):
            t.notes.append("--pages: the report's own summary tables keep the report's units")
        regions = t.regions
        if not no_coalesce:
            from symmap.annotate.coalesce import coalesce
            regions = coalesce(regions)
        if span is not None and span[1] is None:
            click.echo(render_address(t, span[0], regions, pages=pages), nl=False)
            return
        if span is not None:
            from symmap.render.address_block import range_rows
            regions = range_rows(regions, span[0], span[1] or 0)
        text = render_report(t, interleaved=interleaved, detail_width=width, summary_only=summary_only,
                             pages=pages, sort_by_size=sort_by_size, submap=submap, regions=regions,
                             modern=modern)
        from symmap.render import color
        if color.enabled(sys.stdout):
            text = color.highlight_map(text)
        click.echo(text, nl=False)
    finally:
        t.close()
