"""Highlighting applied to finished text lines: RWX region rows and audit
findings, on a terminal only.

A layer over the renderers' output, not inside them: the text stays the
same bytes with colour off.  Colour is on only when the stream is a tty,
``NO_COLOR`` is unset (https://no-color.org) and TERM is not ``dumb``.  The
lines are symmap's own, already escaped (render/escape.py turns every ESC
from the target into ``\\x1b``), so the only escape codes are the ones
added here.
"""
from __future__ import annotations

import os
import re
from typing import IO

__all__ = ["enabled", "highlight_map", "highlight_finding"]

_RESET = "\x1b[0m"
_RED_BOLD = "\x1b[1;31m"
_SEVERITY = {
    "critical": "\x1b[1;31m",   # bold red
    "high": "\x1b[31m",         # red
    "medium": "\x1b[33m",       # yellow
    "low": "\x1b[36m",          # cyan
    "info": "\x1b[2m",          # dim
}
# A map row's PRT/MAX column with current protection rwx ("rwx/rwx", "rwx/???").
_RWX_ROW = re.compile(r"\] rwx/(?:[r-][w-][x-]|\?\?\?) ")


def enabled(stream: IO[str] | None) -> bool:
    """Colour for this stream?  Never for pipes, files, NO_COLOR or TERM=dumb."""
    if stream is None or "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def highlight_map(text: str) -> str:
    """Bold red for each region row whose current protection is rwx."""
    if "rwx/" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _RWX_ROW.search(line):
            lines[i] = f"{_RED_BOLD}{line}{_RESET}"
    return "\n".join(lines)


def highlight_finding(line: str, severity: str) -> str:
    """A finding row in its severity's colour."""
    code = _SEVERITY.get(severity.lower())
    return f"{code}{line}{_RESET}" if code else line
