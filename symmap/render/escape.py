"""Escaping of every string that comes from a target (paths, names, symbols).

A mapped file may be named ``x\\n__TEXT 0-1 [...]``; printed raw it would
forge a report row.  ``escape`` turns control, separator and format
characters, backslashes and undecodable bytes (kept as surrogate escapes by
the parsers) into visible ``\\n`` / ``\\xNN`` / ``\\u2028`` sequences.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["escape", "json_safe", "json_unescape"]

_SIMPLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _needs(c: str) -> bool:
    o = ord(c)
    if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
        return True
    if 0xDC80 <= o <= 0xDCFF:          # surrogate-escaped raw byte
        return True
    if c == "\\":
        return True
    # Format characters exist below U+2000 too: U+061C ARABIC LETTER MARK is a
    # bidi control like U+200F, U+00AD / U+180E are invisible; Cn = unassigned.
    return unicodedata.category(c) in ("Zl", "Zp", "Cf", "Cs", "Co", "Cn")


def escape(s: str | None) -> str:
    """Printable, single-line rendering of a target-supplied string ('' for None)."""
    if not s:
        return ""
    if s.isprintable() and "\\" not in s and s.isascii():
        return s
    out = []
    for c in s:
        if not _needs(c):
            out.append(c)
            continue
        o = ord(c)
        if c in _SIMPLE:
            out.append(_SIMPLE[c])
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        else:
            out.append(f"\\u{o:04x}")
    return "".join(out)


# JSON (schema 2): a backslash in a string value is an escape, so any str
# (undecodable bytes kept as surrogate escapes included) round-trips exactly
# and the document stays valid UTF-8 for strict parsers.
_JSON_NEEDS = re.compile("[\\\\\ud800-\udfff]")
_JSON_ESC = re.compile(r"\\(\\|x[89a-f][0-9a-f]|ud[89a-f][0-9a-f]{2}|.?)", re.S)


def _json_esc(m: re.Match[str]) -> str:
    o = ord(m.group())
    if o == 0x5C:
        return "\\\\"
    if 0xDC80 <= o <= 0xDCFF:
        return f"\\x{o - 0xDC00:02x}"
    return f"\\u{o:04x}"


def json_safe(s: str | None) -> str | None:
    """A target string as a JSON string value, losslessly: a backslash becomes
    ``\\\\``, an undecodable byte (surrogate escape U+DC80..U+DCFF) ``\\xNN``,
    any other lone surrogate ``\\udXXX``.  ``json_unescape`` inverts it."""
    if s is None or ((s.isascii() or _utf8_ok(s)) and "\\" not in s):
        return s        # fast path: almost every string, checked in C
    return _JSON_NEEDS.sub(_json_esc, s)


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_unesc(m: re.Match[str]) -> str:
    e = m.group(1)
    if e == "\\":
        return e
    if len(e) == 3:
        return chr(0xDC00 + int(e[1:], 16))
    if len(e) == 5:
        return chr(int(e[1:], 16))
    raise ValueError(f"bad escape {chr(0x5C) + e!r}")


def json_unescape(s: str) -> str:
    """The string ``json_safe`` encoded; ValueError on a malformed escape."""
    if "\\" not in s:
        return s
    return _JSON_ESC.sub(_json_unesc, s)
