"""Escaping of every string that comes from a target (paths, names, symbols).

A mapped file may be named ``x\\n__TEXT 0-1 [...]``; printed raw it would
forge a report row.  ``escape`` turns control, separator and format
characters, backslashes and undecodable bytes (kept as surrogate escapes by
the parsers) into visible ``\\n`` / ``\\xNN`` / ``\\u2028`` sequences.
"""
from __future__ import annotations

import unicodedata

__all__ = ["escape", "json_safe"]

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


def json_safe(s: str | None) -> str | None:
    """For JSON: keep the text (json escapes controls itself) but replace the
    lone surrogates that stand for undecodable bytes, which strict JSON
    parsers reject, by a visible ``\\xNN``."""
    if s is None or s.isascii():     # fast path: most strings, checked in C
        return s
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else
                   ("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c) for c in s)
