"""`symmap diff A B`: what changed between two snapshots or live targets."""
from __future__ import annotations

import json
from typing import Any

import click

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
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@target_options
@click.pass_context
def command(ctx: click.Context, /, a: str, b: str, as_json: bool, **kw: Any) -> None:
    """Compare A (before) with B (after): regions added, removed, resized or
    re-protected, images loaded or unloaded, and new audit findings.

    A and B are snapshots (`symmap save`), PIDs, process names or files.
    Regions are compared by address coverage, so a region split or merged
    by the kernel is not reported; one new mapping is one added region.
    """
    from symmap.audit.diff import diff_targets
    opts = open_options(**kw)
    ta = open_annotated(a, opts)
    try:
        tb = open_annotated(b, opts)
        try:
            _check_comparable(ta, tb)
            d = diff_targets(ta, tb)
        finally:
            tb.close()
    finally:
        ta.close()
    if as_json:
        click.echo(json.dumps({"schema": 1, **d.to_dict()}, indent=1, ensure_ascii=True))
    else:
        for line in d.lines():
            click.echo(line)
    if not d.identical:
        ctx.exit(1)
