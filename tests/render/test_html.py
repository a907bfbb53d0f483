"""The HTML renderer without a browser: JSON safe inside <script>, hostile
strings escaped, CSP hashes match the inline blocks, the gzip payload
round-trips."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re

from symmap.model import Image, Region, Segment, Target
from symmap.render import html as h

HOSTILE = "</script><script>alert(1)</script><!--\u2028\u2029<img src=x>&amp;\u202e"


def _target(n: int = 3) -> Target:
    im = Image(path="/lib/" + HOSTILE, load_address=0x10000,
               segments=[Segment("__TEXT", 0x10000, 0x4000, 5, 5)])
    regs = [Region(0x10000, 0x14000, 5, 5, type="__TEXT", detail=im.path, image=im.path, segment="__TEXT")]
    regs += [Region(0x100000 + k * 0x2000, 0x101000 + k * 0x2000, 3, path=HOSTILE, type="mapped file",
                    detail=HOSTILE) for k in range(n)]
    return Target(kind="live", name=HOSTILE, pid=1, os="linux", regions=regs, images=[im], annotated=True)


def _payload(page: str) -> dict:
    m = re.search(r'<script type="application/(json|octet-stream)" id="symmap-data" data-enc="(\w+)">(.*?)</script>',
                  page, re.S)
    assert m
    if m.group(2) == "gzip":
        return json.loads(gzip.decompress(base64.b64decode(m.group(3))))
    return json.loads(m.group(3))


def test_script_json_cannot_close_the_script():
    s = h.script_json({"k": HOSTILE})
    assert "<" not in s and ">" not in s and "&" not in s
    assert "\u2028" not in s and "\u2029" not in s
    assert json.loads(s) == {"k": HOSTILE}


def test_hostile_strings_stay_inside_the_data_block():
    page = h.render_html(_target(), [])
    assert page.count("</script>") == 2          # the data block and the app script
    assert "<img" not in page and "<!--" not in page
    p = _payload(page)
    # Target strings arrive escaped for display: U+2028 and U+202E made visible.
    assert p["i"][0]["p"].endswith("\\u2028\\u2029<img src=x>&amp;\\u202e")
    assert any("\\u2028" in r[5] for r in p["r"])


def test_csp_hashes_the_inline_blocks_only():
    page = h.render_html(_target(), [])
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    js = re.search(r"<script>(.*)</script>\n</body>", page, re.S).group(1)
    css = re.search(r"<style>(.*)</style>", page, re.S).group(1)
    for block in (js, css):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_large_payload_is_gzipped_and_round_trips():
    page = h.render_html(_target(4000), [])
    assert 'data-enc="gzip"' in page
    p = _payload(page)
    assert len(p["r"]) == 4001 and p["r"][-1][0] == f"{0x100000 + 3999 * 0x2000:x}"
