"""Target-supplied strings that reached the text report raw,
size formatting at unit boundaries, JSON that strict parsers reject."""
from __future__ import annotations

import json

import pytest

from symmap.model import Region, SharedCache, Target
from symmap.render import json as rjson
from symmap.render.escape import escape
from symmap.render.text import format_size, render_report

FORGE = "\n__TEXT                      1000-2000         [    4K     4K     0K     0K] r-x/r-x SM=COW  /forged"


def _lines_with(text: str, needle: str) -> list[str]:
    return [ln for ln in text.splitlines() if needle in ln]


def test_share_mode_and_purgeable_cannot_forge_rows():
    # A snapshot stores share_mode / purgeable as free strings.
    r = Region(0x1000, 0x2000, 5, 5, share_mode="COW" + FORGE, purgeable="N" + FORGE, type="t", detail="d")
    out = render_report(Target(kind="snapshot", pid=1, name="n", regions=[r]))
    assert not any(ln.startswith("__TEXT") for ln in out.splitlines())


def test_cache_uuid_and_parent_pid_cannot_forge_header_lines():
    t = Target(kind="snapshot", pid=1, name="n",
               shared_cache=SharedCache(uuid="u\nPath:            /forged", base=0x180000000, slide=0),
               info={"parent": "launchd", "parent_pid": "1]\nIdentifier:      forged"})
    out = render_report(t)
    assert _lines_with(out, "forged") and all(
        not ln.startswith(("Path:            /forged", "Identifier:      forged"))
        for ln in out.splitlines())


@pytest.mark.parametrize("ch", ["\u061c", "\u00ad", "\u180e", "\u0600", "\u0378"])
def test_format_and_unassigned_characters_below_u2000_are_escaped(ch):
    # U+061C ARABIC LETTER MARK is a bidi control like U+200F; all are category Cf/Cn.
    o = ord(ch)
    assert escape(f"a{ch}b") == (f"a\\x{o:02x}b" if o < 0x100 else f"a\\u{o:04x}b")


@pytest.mark.parametrize("n", [int(999.96 * 2 ** 20), 1023 * 2 ** 20, int(999.96 * 2 ** 30)])
def test_sizes_just_below_the_next_unit_fit_the_six_column_field(n):
    s = format_size(n)
    assert len(s) <= 6, s


def test_unit_thresholds():
    assert [format_size(n) for n in (1023, 1024, 4095, 4096, 9999 * 1024, 10000 * 1024)] == [
        "1023", "1024", "4095", "4K", "9999K", "9.8M"]   # 1-3K print as bytes in real reports


def _strict_utf8(v):
    """Every string (keys too) of a parsed JSON document encodes as UTF-8:
    the text held no lone-surrogate escape a strict parser rejects."""
    if isinstance(v, str):
        v.encode("utf-8")
    elif isinstance(v, dict):
        for k, x in v.items():
            _strict_utf8(k)
            _strict_utf8(x)
    elif isinstance(v, list):
        for x in v:
            _strict_utf8(x)
    return True


def test_json_info_keys_and_non_finite_floats_are_strict_json():
    t = Target(kind="crash", info={"k\udcff": {"\ud800": 1}, "f": float("nan"), "g": [float("inf")]})
    text = rjson.dumps(t)

    def reject(name):
        raise ValueError(name)
    d = json.loads(text, parse_constant=reject)
    assert _strict_utf8(d)
    assert d["target"]["info"]["f"] is None and d["target"]["info"]["g"] == [None]


def test_json_every_string_field_is_surrogate_free():
    r = Region(0x1000, 0x2000, 5, 5, share_mode="C\udcffW", purgeable="\udcff", kind="a\ud800")
    t = Target(kind="crash", arch="arm\udcff", os="m\udcff", regions=[r])
    assert _strict_utf8(json.loads(rjson.dumps(t)))
