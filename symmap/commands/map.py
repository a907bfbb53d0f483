"""`symmap map TARGET`: the vmmap-style report (or --json)."""
from __future__ import annotations

import shutil
import sys
from typing import Any

import click

from symmap.commands.options import open_annotated, open_options, target_options

EPILOG = """\b
Examples:
  symmap                      map symmap's own process
  symmap 1234                 map process 1234
  symmap firefox --json       map the one process named firefox, as JSON
  symmap ./libfoo.dylib       the segments of a Mach-O or ELF file
  symmap dyld_shared_cache_arm64e --slide 0x4000000
  symmap crash.ips --cache dyld_shared_cache_arm64e
  cat crash.ips | symmap -      a report piped on stdin

\b
Exit codes: 0 ok; 2 bad target or input; 3 permission denied;
4 the process vanished.
"""


@click.command("map", epilog=EPILOG)
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema 1).")
@click.option("--interleaved", is_flag=True, help="One list, writable and non-writable interleaved.")
@click.option("-w", "--wide", is_flag=True, help="Never truncate REGION DETAIL.")
@click.option("--summary", "summary_only", is_flag=True, help="Print only the header and the summary.")
@click.option("--symbolicate", is_flag=True, help="Crash reports: name frames from --search-path/--cache.")
@target_options
def command(target: str | None, as_json: bool, interleaved: bool, wide: bool, summary_only: bool,
            symbolicate: bool, **kw: Any) -> None:
    """Map TARGET's memory: every region with its owning image and segment.

    TARGET is a PID, a process name, or a file (Mach-O, ELF, dyld shared
    cache, Mach-O core, .ips/.crash report, saved vmmap report, symmap
    snapshot), or - for such a file on stdin. Without
    TARGET, symmap maps its own process.
    """
    opts = open_options(symbolicate=symbolicate, **kw)
    t = open_annotated(target, opts)
    try:
        if as_json:
            from symmap.render.json import write_json
            write_json(t, sys.stdout)       # streamed: the document is never held whole
            return
        from symmap.render.text import render_report
        width = None
        if not wide and sys.stdout.isatty():
            width = max(20, shutil.get_terminal_size((200, 24)).columns - 105)
        text = render_report(t, interleaved=interleaved, detail_width=width,
                             summary_only=summary_only)
        from symmap.render import color
        if color.enabled(sys.stdout):
            text = color.highlight_map(text)
        click.echo(text, nl=False)
    finally:
        t.close()
