"""`symmap save TARGET -o FILE.json`: write the annotated report as a snapshot."""
from __future__ import annotations

from typing import Any

import click

from symmap.commands.options import open_annotated, open_options, target_options

EPILOG = """\b
Examples:
  symmap save 1234 -o before.json       snapshot process 1234
  symmap save 1234 -o -                 write the snapshot to stdout
  symmap map before.json                the report, later, from the snapshot
  symmap diff before.json 1234          what changed since

\b
FILE is replaced atomically and keeps its mode; a read-only FILE (no write
bit for you, or none at all when you are root) is refused unless --force.
A symlink is written through to its target by the same rules.

\b
Exit codes: 0 saved; 2 bad target or input (or FILE not writable or read-only);
3 permission denied; 4 the process vanished.
"""


@click.command("save", epilog=EPILOG)
@click.argument("target", required=False)
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Snapshot file to write ('-' for stdout).")
@click.option("--force", is_flag=True,
              help="Replace FILE even if it is read-only (its mode is kept).")
@target_options
def command(target: str | None, output: str, force: bool, **kw: Any) -> None:
    """Save TARGET's annotated map (regions, images, cache, threads) as JSON.

    The snapshot is a TARGET for every command (map, lookup, audit, diff)
    and reproduces the same report byte for byte.
    """
    from symmap.commands.safe_write import check, write_text
    from symmap.render.json import dumps
    if output != "-":
        check(output, force)            # refuse before the walk, not after
    t = open_annotated(target, open_options(**kw))
    try:
        text = dumps(t) + "\n"
    finally:
        t.close()
    if output == "-":
        click.echo(text, nl=False)
        return
    write_text(output, text, force)
