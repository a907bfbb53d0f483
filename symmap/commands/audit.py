"""`symmap audit TARGET`: flag writable+executable and image-less code memory."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from symmap.commands.html_output import html_option
from symmap.commands.options import open_annotated, open_options, target_options

EPILOG = """\b
Examples:
  symmap audit 1234                     findings of severity low and up
  symmap audit 1234 --min-severity high only high and critical (CI gate)
  symmap audit firefox --json           findings as one JSON object
  symmap audit before.json              audit a saved snapshot
  symmap audit 1234 --min-severity info also JIT regions (by design on Apple silicon)

\b
Exit codes: 0 no finding at or above --min-severity; 1 findings;
2 bad target or input; 3 permission denied; 4 the process vanished.
"""

_LEVELS = ("info", "low", "medium", "high", "critical")


@click.command("audit", epilog=EPILOG)
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a findings list.")
@click.option("--min-severity", type=click.Choice(_LEVELS, case_sensitive=False), default="low", show_default=True,
              help="Report (and fail on) findings at or above this level.")
@html_option
@target_options
@click.pass_context
def command(ctx: click.Context, /, target: str | None, as_json: bool, min_severity: str,
            html_file: str | None = None, **kw: Any) -> None:
    """Audit TARGET's memory for code that should not be there.

    Flags memory that is writable and executable (current or maximum
    protection), executable memory no image owns (anonymous, stack, heap,
    memfd, deleted or hand-mapped files), an image's code made writable,
    and shared-cache code pages made writable. JIT regions are reported as
    JIT. TARGET is a PID, process name, or file (a snapshot works too).
    """
    from symmap.audit import audit
    t = open_annotated(target, open_options(**kw))
    try:
        findings = audit(t, min_severity)
        if html_file is not None:
            from symmap.commands.html_output import write_html
            write_html(html_file, t, findings, "audit")
        if as_json:
            from symmap import __version__
            from symmap.render.escape import json_safe
            from symmap.render.json import SCHEMA
            doc = {
                "schema": SCHEMA, "generator": f"symmap {__version__}",
                "target": {"kind": t.kind, "pid": t.pid, "name": json_safe(t.name),
                           "path": json_safe(t.path), "os": json_safe(t.os), "arch": json_safe(t.arch)},
                "min_severity": min_severity,
                "findings": [f.to_dict() for f in findings],
            }
            click.echo(json.dumps(doc, indent=1, ensure_ascii=True))
        else:
            from symmap.render import color
            paint = color.enabled(sys.stdout)
            for f in findings:
                click.echo(color.highlight_finding(f.line(), f.severity) if paint else f.line())
            if not findings:
                click.echo(f"no findings at or above {min_severity}", err=True)
    finally:
        t.close()
    if findings:
        ctx.exit(1)
