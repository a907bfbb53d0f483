"""`symmap diff A B`: what changed between two snapshots or live targets."""
from __future__ import annotations

import json
from typing import Any

import click

from symmap.commands.html_output import html_option
from symmap.commands.options import open_annotated, open_options, target_options
from symmap.model import Target

EPILOG = """\b
Examples:
  symmap save 1234 -o before.json; ...; symmap diff before.json 1234
  symmap diff before.json after.json --json
  symmap diff before.json after.json >/dev/null && echo unchanged

\b
Exit codes: 0 identical; 1 different; 2 bad target or input;
3 permission denied; 4 the process vanished.
"""


def _check_comparable(ta: Target, tb: Target) -> None:
    """Refuse targets of different OSes or architectures: their addresses
    name unrelated memory, so every region would be "changed" (exit 1) and
    the diff would look like a real, huge change.  Different kinds (a live
    process against its crash report) are compared: same process, same map."""
    from symmap.errors import BadTarget
    for what in ("os", "arch"):
        va, vb = getattr(ta, what), getattr(tb, what)
        if va and vb and va != vb:
            from symmap.render.escape import escape
            raise BadTarget(f"cannot diff targets of different {what}: "
                            f"{escape(va)} and {escape(vb)}")


@click.command("diff", epilog=EPILOG)
@click.argument("a")
@click.argument("b", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--interval", type=click.FloatRange(0, 86400), metavar="SECONDS",
              help="vmmap -d: sample A, wait SECONDS, sample A again, diff the two (no B).")
@html_option
@target_options
@click.pass_context
def command(ctx: click.Context, /, a: str, b: str | None, as_json: bool, interval: float | None = None,
            html_file: str | None = None, **kw: Any) -> None:
    """Compare A (before) with B (after): regions added, removed, resized or
    re-protected, images loaded or unloaded, and new audit findings.

    A and B are snapshots (`symmap save`), PIDs, process names or files.
    Regions are compared by address coverage, so a region split or merged
    by the kernel is not reported; one new mapping is one added region.
    """
    from symmap.audit.diff import diff_targets
    from symmap.errors import BadTarget
    if (b is None) == (interval is None):
        raise BadTarget("give B, or --interval SECONDS to diff two samples of A" if b is None
                        else "--interval samples A twice: give no B")
    opts = open_options(**kw)
    ta = open_annotated(a, opts)
    try:
        if interval is not None:
            import time
            time.sleep(interval)
        tb = open_annotated(a if b is None else b, opts)
        try:
            _check_comparable(ta, tb)
            d = diff_targets(ta, tb)
            if html_file is not None:
                from symmap.audit import audit
                from symmap.commands.html_output import write_html
                write_html(html_file, tb, audit(tb), "diff", diff=d, before=ta)
        finally:
            tb.close()
    finally:
        ta.close()
    if as_json:
        from symmap.render.json import SCHEMA        # strings as in the map document
        click.echo(json.dumps({"schema": SCHEMA, **d.to_dict()}, indent=1, ensure_ascii=True))
    else:
        for line in d.lines():
            click.echo(line)
    if not d.identical:
        ctx.exit(1)
