"""A saved vmmap report prints again as vmmap printed it: one test per real output
in ../shared/fixtures/vmmap.  Lines that may differ: those naming the tool that
printed the report (``Analysis Tool:``), symmap's own ``Note:`` lines (an excerpt
has cut lines), and the shell prompt lines a publisher pasted above the report."""
from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from symmap.cli import cli
from symmap.formats.vmmap.report import parse_row, parse_vmmap_text
from tests.conftest import shared_fixture

CUT = ("...(snip)...", "[... lines omitted ...]", "[... gap")


def _run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.stderr
    return r.stdout


def _ours(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if not ln.startswith(("Analysis Tool:", "Note:"))]


def _theirs(text: str) -> list[str]:
    lines = text.split("\n")
    first = next(i for i, ln in enumerate(lines) if ln.startswith("Process:"))
    return [ln for ln in lines[first:] if not ln.startswith(("Analysis Tool:", *CUT))]


def test_01_macos14_complete_report_rerenders_byte_for_byte():
    p = shared_fixture("vmmap/01.txt")
    assert _ours(_run("map", "-w", str(p))) == _theirs(p.read_text())


def test_02_format_2_3_renders_in_its_own_format():
    p = shared_fixture("vmmap/02.txt")
    out = _run("map", "-w", str(p))
    assert "Output report format:  2.3  -- 64-bit process" in out and "[ VSIZE]" in out
    # Everything but the author's "...(snip)..." lines: header, both sections (the cache's
    # rw- __DATA rows stay under Non-writable, where 10.10 listed them), legend, summary, zones.
    assert _ours(out) == _theirs(p.read_text())


def test_03_interleaved_submap_excerpt_every_row_matches():
    p = shared_fixture("vmmap/03.txt")
    src = p.read_text().split("\n")
    out = _run("map", "-w", "--interleaved", "--submap", str(p)).split("\n")
    # A row just above an "[... lines omitted ...]" marker was cut by the excerpt (its detail
    # or its sizes are missing); every other row must come back exactly, in order.
    rows = [ln for i, ln in enumerate(src) if parse_row(ln) and not src[i + 1].startswith(CUT)]
    ours = [ln for ln in out if parse_row(ln)]
    assert len(rows) == 29 and [ln for ln in ours if ln in rows] == rows
    assert sum(ln.startswith("Submap ") for ln in ours) == 3
    # The header and preamble, through the section title and column header.
    assert _ours("\n".join(out))[:26] == _theirs("\n".join(src))[:26]


def test_03_submap_rows_only_with_submap():
    out = _run("map", "-w", "--interleaved", str(shared_fixture("vmmap/03.txt")))
    assert "Submap " not in out


def test_09_summary_table_alone_rerenders_byte_for_byte():
    p = shared_fixture("vmmap/09.txt")
    assert _run("map", str(p)) == p.read_text()


def test_report_summary_is_vmmaps_own_not_recomputed_from_rounded_rows():
    out = _run("map", str(shared_fixture("vmmap/01.txt")))
    assert "written=32K(0%) resident=288K(0%) swapped_out=320K(0%)" in out      # rows would say 288K, 304K
    assert "__AUTH                              46K      43K" in out
    assert "__LINKEDIT                       886.7M    23.8M" in out
    assert "DefaultMallocZone_0x105348000     512.0M        96K" in out


def test_report_layout_survives_a_snapshot(tmp_path):
    p = shared_fixture("vmmap/02.txt")
    snap = tmp_path / "s.json"
    _run("save", str(p), "-o", str(snap))
    assert _ours(_run("map", "-w", str(snap))) == _ours(_run("map", "-w", str(p)))


def test_sort_by_size_orders_summary_and_zone_rows_by_dirty_plus_swapped():
    out = _run("map", "-s", str(shared_fixture("vmmap/01.txt"))).split("\n")
    i = out.index("===========                     ======= ========    =====  ======= ========   ======    =====  =======")
    names = []
    for ln in out[i + 1:]:
        if ln.startswith("====="):
            break
        names.append(ln)
    from symmap.formats.vmmap.report import parse_size

    def key(ln: str) -> int:
        cells = ln[32:].split()
        return (parse_size(cells[2]) or 0) + (parse_size(cells[3]) or 0)
    assert [key(n) for n in names] == sorted((key(n) for n in names), reverse=True)
    assert names[0].startswith("MALLOC_NANO")      # 96K + 176K: the largest; 01.txt lists it 4th


def test_row_parser_is_linear_in_the_line_length():
    """Issue 12: a row of 20k spaces took 2.9 s, 40k about 54 s (quadratic backtracking)."""
    for line in ("x" + " " * 40_000 + "y", "__TEXT" + " " * 40_000 + "1-2 [ 1K ] r-x/r-x SM=COW" + " " * 40_000 + "z",
                 "a 1-2 [" + " ]" * 40_000, "a " + "[" * 80_000, "__TEXT 1-2 [ ] r-x/r-x SM=COW" + " \t" * 40_000):
        t0 = time.process_time()
        parse_row(line)
        assert time.process_time() - t0 < 0.05
    report = ("Virtual Memory Map of process 1 (x)\nOutput report format:  2.4\n"
              "==== Non-writable regions for process 1\n" + ("a" + " " * 400_000 + "b\n") * 4).encode()
    t0 = time.process_time()
    parse_vmmap_text(report)
    assert time.process_time() - t0 < 0.5


def test_address_argument_prints_the_marked_block():
    p = str(shared_fixture("vmmap/01.txt"))
    out = _run("map", p, "0x105320010").split("\n")
    i = next(k for k, ln in enumerate(out) if ln.startswith("0x105320010 is in 0x105320000-0x105324000"))
    assert out[i + 2].startswith("      MALLOC metadata             105318000-105320000")
    assert out[i + 3].startswith("--->  MALLOC guard page           105320000-105324000")
    assert out[i + 4].startswith("      MALLOC guard page           105324000-105328000")
    gap = _run("map", p, "0x105350000").split("\n")
    assert any(ln.startswith("--->  GAP OF 0x") for ln in gap)


def test_range_argument_prints_the_overlapping_regions():
    out = _run("map", "--interleaved", str(shared_fixture("vmmap/01.txt")), "0x105318000-0x105328000")
    import re
    rows = [re.search(r"[0-9a-f]+-[0-9a-f]+", ln)[0] for ln in out.split("\n") if parse_row(ln)]
    assert rows == ["105318000-105320000", "105320000-105324000", "105324000-105328000"]


def test_vmmap_single_dash_spellings_are_read_and_d_names_symmaps_spelling():
    p = str(shared_fixture("vmmap/03.txt"))
    assert _run("map", "-interleaved", "-submap", "-w", p) == _run("map", "--interleaved", "--submap", "-w", p)
    assert _run(p, "-interleaved") == _run("map", "--interleaved", p)
    r = CliRunner().invoke(cli, ["map", p, "-d", "5"])
    assert r.exit_code == 2 and "symmap diff PID --interval SECONDS" in r.stderr


def test_pages_prints_page_counts():
    out = _run("map", "--pages", "--interleaved", str(shared_fixture("vmmap/01.txt")))
    row = next(ln for ln in out.split("\n") if ln.startswith("STACK GUARD "))
    assert "[  3585      0      0      0]" in row                         # 56.0M + 16K in 16K pages
    assert "__DATA_DIRTY                1e1721838-1e1721858    [     1      0      0      1]" in out


def test_verbose_is_wide_submap_all_split_libs_no_coalesce():
    p = str(shared_fixture("vmmap/03.txt"))
    assert _run("map", "-v", "--interleaved", p) == _run("map", "-w", "--submap", "--all-split-libs",
                                                           "--no-coalesce", "--interleaved", p)


def test_json_of_a_report_carries_its_summary_tables():
    d = json.loads(_run("map", "--json", str(shared_fixture("vmmap/01.txt"))))
    zones = [x for x in d["target"]["info"]["vmmap_summary"] if isinstance(x, dict)][1]
    assert zones["rows"][0][:2] == ["DefaultMallocZone_0x105348000",
                                    ["512.0M", "96K", "96K", "176K", "173", "6K", "266K", "98%", "1"]]


# Built here in vmmap -summary's layout (not a saved real output): see fixtures/vmmap/README.md.
SUMMARY_ONLY = (Path(__file__).parents[2] / "fixtures/vmmap/summary-only-built.txt").read_text()


def test_vmmap_summary_output_with_its_header_is_a_target_and_prints_back(tmp_path):
    """`vmmap -summary` (layout as a macOS 26 output found quoting it: header, "----", the
    summary, no region list); built here, not a saved real file (its source had no provenance)."""
    p = tmp_path / "summary.txt"
    p.write_text(SUMMARY_ONLY)
    out = _run("map", str(p))
    assert _ours(out) == [ln for ln in SUMMARY_ONLY.split("\n") if not ln.startswith("Analysis Tool:")]
    assert "Memory Tag 22                     64.0M" in out          # a number in the name is not a cell


def test_a_2_3_report_prints_in_2_4_when_asked():
    out = _run("map", "--modern", "-w", str(shared_fixture("vmmap/02.txt")))
    assert "Output report format:  2.4  -- 64-bit process" in out and "[ VSIZE]" not in out
    assert ("__TEXT                      10c4ff000-10c516000    [   92K      -      -      -] r-x/rwx SM=COW"
            "          /usr/sbin/ocspd") in out


def test_summary_tables_parse_in_time_linear_in_the_input():
    rule = "===========" + " =======" * 2000
    row = "MALLOC" + " " * 30 + " 1K" * 2000 + "\n"
    data = ("VIRTUAL\n" + rule + "\n" + row * 600).encode()            # 3.6 MB: under MAX_BYTES
    t0 = time.process_time()
    rep = parse_vmmap_text(data)
    assert time.process_time() - t0 < 5
    assert len(rep.summary[0].rows) == 600 and len(rep.summary[0].rows[0].cells) == 16
