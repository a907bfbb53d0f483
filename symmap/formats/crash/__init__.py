"""Crash reports: one model (model.py), one parser per dialect (ips.py,
text.py), and the dispatch between them here."""
from __future__ import annotations

import os

from symmap.errors import AccessDenied, BadTarget, CorruptInput
from symmap.formats.crash.ips import header_facts, ips_text_body, parse_ips
from symmap.formats.crash.model import MAX_JSON_VALUES, MAX_REPORT_BYTES, WHAT, CrashReport, bound_report
from symmap.formats.crash.text import parse_text

# --- entry points -------------------------------------------------------

def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "replace")


def parse_crash_report(data: bytes | str, path: str | None = None) -> CrashReport:
    """Parse an .ips or text crash report held in memory.

    Raises CorruptInput("crash report", …) when the data is neither.  A
    report missing pieces comes back with ``partial`` set and ``notes``.
    """
    if len(data) > MAX_REPORT_BYTES:
        raise CorruptInput(WHAT, f"{len(data)} bytes is larger than any crash report "
                           f"({MAX_REPORT_BYTES} bytes at most)", path)
    text = _decode(data).lstrip("\ufeff")
    head = text.lstrip()[:1]
    if head == "{" and text.count(",") + text.count("{") + text.count("[") > MAX_JSON_VALUES:
        raise CorruptInput(WHAT, f"more than {MAX_JSON_VALUES} JSON values, the most symmap reads", path)
    if head == "{":
        split = ips_text_body(text)
        if split is None:
            return bound_report(parse_ips(text, path))
        # bug_type 109 (iOS <= 14, macOS 11): the .ips metadata line is
        # followed by a TEXT report, not a JSON body (pycrashreport's
        # tests/user_mode_crash_report_ios14_*.ips; blacktop/ipsw
        # pkg/crashlog: "older text-based crash logs (BugType 109)").
        meta, body = split
        rep = parse_text(body, path)
        header_facts(rep, meta, fill_only=True)
        return bound_report(rep)
    return bound_report(parse_text(text, path))


def read_crash_report(path: str) -> CrashReport:
    """Read and parse the report at ``path`` (size-bounded)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_REPORT_BYTES:      # refused unread
                raise CorruptInput(WHAT, f"{size} bytes is larger than any crash report "
                                   f"({MAX_REPORT_BYTES} bytes at most)", path)
            data = f.read(MAX_REPORT_BYTES + 1)
    except PermissionError as e:
        raise AccessDenied(None, f"{path}: {e.strerror}") from None
    except OSError as e:
        raise BadTarget(f"{path}: {e.strerror}") from None
    return parse_crash_report(data, path)
