"""`symmap lookup --brief`: one atos-like line per address, names equal to
llvm-symbolizer's (demangled) function names, same facts as --json,
input order and duplicates kept, unmapped lines and exit 1, escaping."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from symmap.sources import OpenOptions, open_target
from tests.conftest import OWN_FIXTURES, need_tool

OWN = OWN_FIXTURES / "symbols"
LINE = re.compile(r"^(0x[0-9a-f]+) (?:(.+) \+ (\d+)|\?\?) \(in (.+)\) (\S+)$")


def _run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def _text_addrs(path, step=1, limit=6000):
    t = open_target(str(path), OpenOptions())
    out = []
    for im in t.images:
        for seg in im.segments:
            for s in seg.sections:
                if s.name in (".text", "__text") and s.size:
                    out += range(s.address, s.address + s.size, step)
    return out[:limit]


def _llvm_names(path, addrs):
    cmd = [need_tool("llvm-symbolizer"), f"--obj={path}", "--no-inlines", "--output-style=JSON"]
    out = subprocess.run(cmd, input="\n".join(map(hex, addrs)), capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line)["Symbol"][0]["FunctionName"] for line in out.splitlines() if line]


@pytest.mark.parametrize("name", ["symbols-elf", "libsymbols-x86_64.dylib", "libsymbols-arm64.dylib"])
def test_brief_names_equal_llvm_symbolizer(name):
    """Default llvm-symbolizer output demangles C++ names: so must --brief
    (Mach-O: underscore dropped, then llvm-cxxfilt/c++filt)."""
    need_tool("llvm-cxxfilt", "c++filt")
    path = OWN / name
    addrs = _text_addrs(path)
    r = _run("lookup", str(path), "-", "--brief", input="\n".join(map(hex, addrs)))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == len(addrs)
    theirs = _llvm_names(path, addrs)
    mism = []
    for a, line, th in zip(addrs, lines, theirs):
        m = LINE.match(line)
        assert m and int(m[1], 16) == a, line
        unknown = th in ("", "<invalid>")             # llvm-symbolizer: no symbol here
        if (m[2] is None) != unknown or (m[2] is not None and m[2] != th):
            mism.append((hex(a), m[2], th))
    assert not mism, mism[:5]
    assert any("::" in line for line in lines) == (name != "symbols-elf")   # C++ names demangled


def test_brief_agrees_with_json_and_keeps_order_and_duplicates():
    path = OWN / "libsymbols-x86_64.dylib"
    addrs = _text_addrs(path, step=7)[:300]
    addrs = addrs + addrs[::-3] + [0x7FFF_0000_0000, addrs[5]]
    text = "\n".join(map(hex, addrs))
    rb = _run("lookup", str(path), "-", "-b", input=text)
    rj = _run("lookup", str(path), "-", "--json", input=text)
    assert rb.exit_code == rj.exit_code == 1                    # one unmapped address
    lines = rb.stdout.splitlines()
    rows = json.loads(rj.stdout)
    assert len(lines) == len(rows) == len(addrs)
    for a, line, row in zip(addrs, lines, rows):
        assert line.startswith(f"{a:#x} ")
        if not row["mapped"]:
            assert line == f"{a:#x} not mapped"
            continue
        m = LINE.match(line)
        assert m, line
        assert m[4] == path.name
        assert m[5] == row["segment"] + ("," + row["section"] if row["section"] else "")
        if row["symbol"] is None:
            assert m[2] is None
        else:
            assert (m[2], int(m[3])) == (row["symbol"], row["offset"])


def test_brief_without_symbol_and_outside_sections():
    path = OWN / "libsymbols-arm64-nolocals.dylib"
    t = open_target(str(path), OpenOptions())
    seg = next(s for s in t.images[0].segments if s.name == "__TEXT")
    r = _run("lookup", str(path), hex(seg.address), hex(seg.address + 1), "--brief")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"{seg.address:#x} ?? (in {path.name}) __TEXT",
                                     f"{seg.address + 1:#x} ?? (in {path.name}) __TEXT"]


def test_brief_escapes_target_strings(tmp_path):
    p = tmp_path / "evil\nname.dylib"
    p.write_bytes((OWN / "libsymbols-x86_64.dylib").read_bytes())
    a = _text_addrs(OWN / "libsymbols-x86_64.dylib")[0]
    r = _run("lookup", str(p), hex(a), "--brief")
    assert r.exit_code == 0, r.output
    assert "(in evil\\nname.dylib)" in r.stdout and len(r.stdout.splitlines()) == 1


def test_brief_and_json_exclude_each_other():
    r = _run("lookup", str(OWN / "symbols-elf"), "0x1000", "--brief", "--json")
    assert r.exit_code == 2 and "exclude" in r.stderr


def test_brief_lines_process_like_target():
    """Regions without an image (heap), an image region, a gap: the
    ``?? (no image) TYPE``, symbol and ``not mapped`` forms; exit flag."""
    from symmap.render.lookup import brief_lines as _brief_lines
    from symmap.model import Region, Target
    from symmap.symbolize import Symbolizer
    src = open_target(str(OWN / "symbols-elf"), OpenOptions(slide=0x5555_0000_0000))
    im = src.images[0]
    regions = [Region(s.address, s.end, s.prot) for s in im.segments if s.size]
    heap = Region(0x7000_0000_0000, 0x7000_0001_0000, 3, kind="heap", type="MALLOC")
    t = Target(kind="file", images=[im], regions=regions + [heap])
    s = Symbolizer(t)
    text = next(sec for seg in im.segments for sec in seg.sections if sec.name == ".text")
    addrs = [text.address + 3, heap.start + 8, 0x10, text.address + 3]
    lines = _brief_lines(s, s.resolve_many(addrs))
    assert lines.pop(None) is True
    want = s.lookup_many(addrs)
    assert lines[heap.start + 8] == f"{heap.start + 8:#x} ?? (no image) MALLOC"
    assert lines[0x10] == "0x10 not mapped"
    r = want[0]
    assert lines[addrs[0]] == f"{addrs[0]:#x} {r.symbol} + {r.offset} (in symbols-elf) {r.segment},.text"
