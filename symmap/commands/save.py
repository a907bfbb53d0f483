"""`symmap save TARGET -o FILE.json`: write the annotated report as a snapshot."""
from __future__ import annotations

import os
from typing import Any

import click

from symmap.errors import BadTarget
from symmap.commands.options import open_annotated, open_options, target_options

EPILOG = """\b
Examples:
  symmap save 1234 -o before.json       snapshot process 1234
  symmap save 1234 -o -                 write the snapshot to stdout
  symmap map before.json                the report, later, from the snapshot
  symmap diff before.json 1234          what changed since

\b
Exit codes: 0 saved; 2 bad target or input (or FILE not writable);
3 permission denied; 4 the process vanished.
"""


@click.command("save", epilog=EPILOG)
@click.argument("target", required=False)
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Snapshot file to write ('-' for stdout).")
@target_options
def command(target: str | None, output: str, **kw: Any) -> None:
    """Save TARGET's annotated map (regions, images, cache, threads) as JSON.

    The snapshot is a TARGET for every command (map, lookup, audit, diff)
    and reproduces the same report byte for byte.
    """
    from symmap.render.json import dumps
    t = open_annotated(target, open_options(**kw))
    try:
        text = dumps(t) + "\n"
    finally:
        t.close()
    if output == "-":
        click.echo(text, nl=False)
        return
    # Write beside the destination and rename, so a failed save never leaves
    # a truncated snapshot where a good one was.
    tmp = f"{output}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, output)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise BadTarget(f"cannot write {output}: {e.strerror}") from None
