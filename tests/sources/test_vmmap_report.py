"""A saved vmmap text report as a TARGET (../shared/fixtures/vmmap)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmap.cli import cli
from symmap.errors import CorruptInput, SymmapError
from symmap.formats.vmmap.report import parse_row, parse_size, parse_vmmap_text
from symmap.render.text import format_region_row, render_report
from symmap.sources import OpenOptions, open_target, sniff_file
from tests.conftest import shared_fixture


def _rows(text: str):
    return [ln for ln in text.splitlines() if parse_row(ln) and "[ VSIZE" not in ln]


def test_every_row_of_a_macos14_report_is_read_and_renders_back_identically():
    p = shared_fixture("vmmap/01.txt")
    text = p.read_text()
    assert sniff_file(str(p)) == "vmmap"
    t = open_target(str(p), OpenOptions())
    assert (t.kind, t.name, t.pid, t.page_size, t.arch) == ("snapshot", "shared_library_demo", 66814, 16384, "arm64")
    assert t.info["load_address"] == 0x104E98000 and t.info["source_kind"] == "vmmap"
    assert t.info["footprint"] == t.info["footprint_peak"] == 1185 * 1024
    assert "Physical footprint:         1185K\nPhysical footprint (peak):  1185K\n" in render_report(t)
    originals = {(r.start, r.end): ln.rstrip() for ln in _rows(text) for r in [parse_row(ln)] if r}
    assert len(t.regions) == len(originals) == 250
    same = sum(format_region_row(r) == originals[(r.start, r.end)] for r in t.regions)
    assert same == 250
    # Rendering the whole report again keeps every row.
    assert set(_rows(render_report(t))) >= {format_region_row(r) for r in t.regions}


def test_images_are_rebuilt_from_segment_rows():
    t = open_target(str(shared_fixture("vmmap/01.txt")), OpenOptions())
    lib = next(i for i in t.images if i.path == "/tmp/*/liblarge.dylib")
    assert [s.name for s in lib.segments] == ["__TEXT", "__DATA_CONST", "__LINKEDIT"]
    assert lib.load_address == 0x105F6C000 and lib.uuid is None
    assert t.images[0].path == t.path                      # the executable first
    linkedit = next(r for r in t.regions if r.detail == "dyld shared cache combined __LINKEDIT")
    assert linkedit.image is None


def test_old_format_2_3_has_only_vsize():
    t = open_target(str(shared_fixture("vmmap/02.txt")), OpenOptions())
    assert t.regions and all(r.resident is None and r.dirty is None for r in t.regions)
    first = t.regions[0]
    assert (first.start, first.end, first.type, first.detail) == (0x10C4FF000, 0x10C516000, "__TEXT", "/usr/sbin/ocspd")
    assert t.partial and any("did not parse" in n for n in t.notes)   # the "...(snip)..." lines


def test_audit_finds_the_rwx_mapped_file_in_a_pasted_report():
    p = shared_fixture("vmmap/03.txt")
    r = CliRunner().invoke(cli, ["audit", str(p), "--json"])
    assert r.exit_code == 1
    import json
    rules = {(f["rule"], f["start"]) for f in json.loads(r.stdout)["findings"]}
    assert ("wx", 0x7000000000) in rules and ("exec-unloaded-file", 0x7000000000) in rules


def test_lookup_names_the_image_of_an_address():
    p = shared_fixture("vmmap/01.txt")
    r = CliRunner().invoke(cli, ["lookup", str(p), "0x18a25f100", "--json"])
    assert r.exit_code == 0
    import json
    d = json.loads(r.stdout)[0]
    assert (d["image"], d["segment"]) == ("/usr/lib/system/libsystem_malloc.dylib", "__TEXT")


def test_diff_of_a_report_with_itself_is_identical():
    p = str(shared_fixture("vmmap/01.txt"))
    assert CliRunner().invoke(cli, ["diff", p, p]).exit_code == 0


def test_summary_only_report_is_a_target():
    r = CliRunner().invoke(cli, [str(shared_fixture("vmmap/09.txt"))])
    assert r.exit_code == 0, r.stderr
    assert "MALLOC_SMALL                      32.0M" in r.stdout


def test_parse_size_units():
    assert [parse_size(x) for x in ("3856", "0K", "32K", "11.9M", "1.5G", "x")] == [
        3856, 0, 32768, round(11.9 * 2 ** 20), round(1.5 * 2 ** 30), None]


def test_header_without_rows_or_format_is_corrupt():
    with pytest.raises(CorruptInput):
        parse_vmmap_text(b"Virtual Memory Map of process\n==== Legend\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.sampled_from([
    "__TEXT                      104e98000-104ea0000    [   32K    32K     0K     0K] r-x/r-x SM=COW          /a",
    "X ffffffffffffffff-0 [ 1 ] ---/--- SM=NUL", "MALLOC 10-20 [ 9999999999999999G ] rwx/rwx SM=PRV PURGE=V x",
    "Submap 0-ffffffffffffffffff [ 1 ] r--/r-- SM=SHM m", "==== Writable regions for process 1", "", "junk",
    "VM page size:  99999999999999999999 bytes", "Process:  a [99999999999999999999]"]), max_size=30),
    noise=st.text(max_size=200))
def test_hostile_reports_give_a_target_or_one_clean_error(tmp_path, body, noise):
    p = tmp_path / "v.txt"
    p.write_text("Virtual Memory Map of process 1 (x)\nOutput report format:  2.4\n"
                 "==== Non-writable regions for process 1\n" + "\n".join(body) + "\n" + noise,
                 errors="surrogateescape")
    try:
        t = open_target(str(p), OpenOptions())
    except SymmapError as e:
        assert "\n" not in str(e)
        return
    render_report(t)
    starts = [r.start for r in t.regions]
    assert starts == sorted(starts) and all(r.start < r.end for r in t.regions)
