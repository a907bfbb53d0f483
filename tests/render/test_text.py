"""The text renderer against real vmmap output (../shared/fixtures/vmmap)."""
from __future__ import annotations

import re

import pytest

from symmap.model import Region, Target, parse_prot
from symmap.render.text import COLUMN_HEADER, format_region_row, format_size, render_report
from tests.conftest import shared_fixture

ROW_RE = re.compile(
    r"^(?P<type>.+?)\s+(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+)\s+\[(?P<sizes>[^\]]*)\]\s"
    r"(?P<cur>[-rwx]{3})/(?P<max>[-rwx]{3})\sSM=(?P<sm>\S+)(?:\s+PURGE=(?P<purge>\S))?(?:\s+(?P<detail>.*))?$")


def _sample_rows(name: str):
    text = shared_fixture(f"vmmap/{name}").read_text()
    rows = []
    for line in text.splitlines():
        m = ROW_RE.match(line)
        if m and "[ VSIZE" not in line:
            rows.append((line, m))
    return rows


def _unformat(tok: str) -> int:
    """Inverse of vmmap's size format where exact (bytes and whole K)."""
    if tok.endswith("K"):
        return int(tok[:-1]) * 1024
    if tok.endswith("M"):
        return round(float(tok[:-1]) * 1024 * 1024)
    if tok.endswith("G"):
        return round(float(tok[:-1]) * 1024 ** 3)
    return int(tok)


def test_vsize_column_formats_like_vmmap_for_every_sample_row():
    rows = _sample_rows("01.txt")
    assert len(rows) >= 240
    for line, m in rows:
        vsize = m["sizes"].split()[0]
        size = int(m["end"], 16) - int(m["start"], 16)
        assert format_size(size) == vsize, line


@pytest.mark.parametrize("sample", ["01.txt", "03.txt"])
def test_rows_rerender_byte_for_byte(sample):
    """Rebuild each sample row from its parsed fields; the rendering must equal vmmap's line."""
    checked = 0
    for line, m in _sample_rows(sample):
        sizes = m["sizes"].split()
        if len(sizes) != 4 or len(m["type"]) > 24 or line.endswith(" "):
            continue
        res, dirty, swap = (_unformat(s) for s in sizes[1:])
        if [format_size(x) for x in (res, dirty, swap)] != sizes[1:]:
            continue
        r = Region(int(m["start"], 16), int(m["end"], 16), parse_prot(m["cur"]), parse_prot(m["max"]),
                   share_mode=m["sm"], resident=res, dirty=dirty, swapped=swap, purgeable=m["purge"],
                   type=m["type"], detail=m["detail"] or "")
        assert format_region_row(r) == line.rstrip()
        checked += 1
    assert checked >= 20


def test_format_size_units():
    assert format_size(0) == "0K"
    assert format_size(3856) == "3856"
    assert format_size(4) == "4"
    assert format_size(4096) == "4K"
    assert format_size(1024 * 1024) == "1024K"
    assert format_size(8192 * 1024) == "8192K"
    assert format_size(56 * 1024 * 1024) == "56.0M"
    assert format_size(int(1.5 * 1024 ** 3)) == "1.5G"
    assert format_size(None) == "-"


def test_column_positions_match_reference():
    r = Region(0x104E98000, 0x104EA0000, 5, 5, share_mode="COW", resident=32768, dirty=0, swapped=0,
               type="__TEXT", detail="/x/y")
    row = format_region_row(r)
    assert row.index("104e98000") + len("104e98000") == 37
    assert row.index("[") == COLUMN_HEADER.index("[") == 51
    assert row.index("]") == 79
    assert row.index("r-x/r-x") == COLUMN_HEADER.index("PRT/MAX") == 81
    assert row.index("SM=COW") == COLUMN_HEADER.index("SHRMOD") == 89
    assert row.index("/x/y") == COLUMN_HEADER.index("REGION DETAIL") == 105


def test_forged_row_name_is_escaped():
    evil = "x\n__TEXT                      1000-2000    [    4K     4K     0K     0K] r-x/r-x SM=COW  /forged"
    t = Target(kind="live", pid=7, name="evil\nname", os="linux", page_size=4096,
               regions=[Region(0x1000, 0x2000, 3, None, share_mode="PRV", resident=0, dirty=0, swapped=0,
                               type="mapped file", detail=evil, path=evil)])
    text = render_report(t)
    rows = [ln for ln in text.splitlines() if ROW_RE.match(ln) and "[ VSIZE" not in ln]
    assert len(rows) == 1
    assert "\\n__TEXT" in rows[0]
    assert "Process:         evil\\nname [7]" in text


def test_unknown_sizes_print_dash_and_summary_is_not_a_guess():
    t = Target(kind="crash", pid=1, name="p", os="macos",
               regions=[Region(0x1000, 0x3000, 5, 5, share_mode="COW", type="__TEXT", detail="/a")])
    text = render_report(t)
    row = [ln for ln in text.splitlines() if ln.startswith("__TEXT ")][0]
    assert "[    8K      -      -      -]" in row
    total = [ln for ln in text.splitlines() if ln.startswith("TOTAL")][0]
    assert total.split()[1:4] == ["8K", "-", "-"]


def test_split_and_interleaved_sections():
    regs = [Region(0x1000, 0x2000, 5, 5, type="A", detail=""), Region(0x2000, 0x3000, 3, 3, type="B", detail="")]
    t = Target(kind="live", pid=3, name="n", os="linux", regions=regs)
    text = render_report(t)
    nw = text.index("==== Non-writable regions for process 3")
    w = text.index("==== Writable regions for process 3")
    assert nw < text.index("A  ") < w < text.index("B  ")
    inter = render_report(t, interleaved=True)
    assert "==== regions for process 3  (non-writable and writable regions are interleaved)" in inter
    assert "==== Legend" in inter and "==== Summary for process 3" in inter


def test_summary_rows_match_sample_columns():
    text = shared_fixture("vmmap/01.txt").read_text().splitlines()
    for name in ("Stack", "MALLOC guard page", "dyld private memory"):
        line = next(ln for ln in text if ln.startswith(name + " ") and "[" not in ln)
        virt, res, dirty, swap = (_unformat(x) for x in line[32:].split()[:4])
        count = int(line.split()[-1])
        regs = [Region(0x1000 * (i + 1) * 0x100000, 0x1000 * (i + 1) * 0x100000 + virt // count, 3, 7,
                       resident=res // count, dirty=dirty // count, swapped=swap // count, type=name, detail="")
                for i in range(count)]
        t = Target(kind="live", pid=1, name="x", os="macos", regions=regs)
        out = render_report(t).splitlines()
        got = next(ln for ln in out if ln.startswith(name + " ") and "[" not in ln)
        assert got == line.rstrip()


def test_readonly_libraries_line_matches_vmmap_on_a_real_report():
    """Rebuilt from the rows of fixtures/vmmap/01.txt, the Summary's two
    lines give vmmap's own totals (the rows' sizes are vmmap's rounded ones,
    so only totals and the exactly-summable resident figures are compared)."""
    from symmap.sources import OpenOptions, open_target
    t = open_target(str(shared_fixture("vmmap/01.txt")), OpenOptions())
    lines = render_report(t).splitlines()
    ro = next(ln for ln in lines if ln.startswith("ReadOnly portion"))
    assert ro.startswith("ReadOnly portion of Libraries: Total=903.9M resident=28.9M(3%) ")
    w = next(ln for ln in lines if ln.startswith("Writable regions:"))
    assert w.startswith("Writable regions: Total=537.4M ") and " resident=288K(0%) " in w
    assert w.endswith(" unallocated=536.8M(100%)")


def test_summary_table_rebuilt_from_a_real_report_matches_vmmaps():
    """Every summary row of fixtures/vmmap/01.txt: same types, VIRTUAL, purgeable
    columns and REGION COUNT (RESIDENT/DIRTY/SWAPPED are sums of rounded
    row sizes, so they may differ by rounding and are not compared)."""
    from symmap.sources import OpenOptions, open_target
    text = shared_fixture("vmmap/01.txt").read_text().splitlines()

    def table(lines):
        i = next(k for k, ln in enumerate(lines) if ln.startswith("REGION TYPE") and "COUNT" in ln)
        rows = {}
        for ln in lines[i + 2:]:
            if ln.startswith("====="):
                break
            name, cells = ln[:32].rstrip(), ln[32:].split()
            rows[name] = (cells[0], cells[4:8])
        return rows

    ours = table(render_report(open_target(str(shared_fixture("vmmap/01.txt")), OpenOptions())).splitlines())
    assert ours == table(text)
