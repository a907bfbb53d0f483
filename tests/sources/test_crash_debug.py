"""Crash reports and debug info: the report's own frame names, image
offsets, unslid shared-cache addresses, Apple's unsymbolicated frame form,
--symbolicate with a dSYM, images known only from frame lines, page-aligned
image regions."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import OWN_FIXTURES, shared_fixture

REPORT = OWN_FIXTURES / "crash" / "crash_macos-dsym.crash"


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_lookup_uses_report_frame_names():
    ips = shared_fixture("crash/pycrashreport-monterey-x86_64.ips")
    r = _run("lookup", ips, "0x7ff80c66c8a9", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)[0]
    assert (got["symbol"], got["offset"], got["symbol_source"]) == ("nanosleep", 196, "report")
    assert got["image_offset"] == 0x108A9
    # Cache base 0x7ff80c477000 in the report, x86_64 caches link at 0x7ff800000000.
    assert got["unslid_address"] == 0x7FF80C66C8A9 - 0xC477000
    text = _run("lookup", ips, "libsystem_c.dylib+0x108a9").stdout
    assert "nanosleep + 196 (from the report)" in text and "image offset: 0x108a9" in text
    # --brief names it the same way (atos's form); an address no frame names stays "??".
    brief = _run("lookup", ips, "0x7ff80c66c8a9", "0x7ff80c66c8a0", "--brief").stdout.splitlines()
    assert brief == ["0x7ff80c66c8a9 nanosleep + 196 (in libsystem_c.dylib) __TEXT",
                     "0x7ff80c66c8a0 ?? (in libsystem_c.dylib) __TEXT"]


def test_map_prints_unsymbolicated_frames_apples_way():
    ips = shared_fixture("crash/pycrashreport-monterey-x86_64.ips")
    out = _run("map", ips).stdout
    assert "0x105857000 + 15826" in out
    assert "sleep + 15826" not in out


def test_symbolicate_with_dsym_fills_file_line():
    binary = shared_fixture("macho/symbolic-crash_macos-x86_64")
    dsym = shared_fixture("macho/symbolic-crash_macos-x86_64.dSYM-DWARF")
    r = _run("map", REPORT, "--symbolicate", "--dsym", dsym)
    assert r.exit_code == 0, r.output
    assert "(anonymous namespace)::crash() + 1 (crash_macos.cpp:17)" in r.stdout
    # --search-path with the binary's folder finds the dSYM file by UUID too.
    r = _run("map", REPORT, "--symbolicate", "--search-path", binary.parent)
    assert "(crash_macos.cpp:17)" in r.stdout
    r = _run("lookup", REPORT, "0x10a001391", "--dsym", dsym, "--search-path", binary.parent)
    assert " at /Users/jauer/Coding/breakpad/examples/crash_macos.cpp:17" in r.stdout


def test_image_only_on_a_frame_line_owns_its_address():
    r = _run("lookup", REPORT, "0x7fff70001234", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)[0]
    assert got["image"] == "libmissing.dylib" and got["image_offset"] == 0x234


def test_image_regions_page_aligned():
    r = _run("lookup", REPORT, "0x10a029f12", "--json")
    reg = json.loads(r.stdout)[0]["region"]
    assert reg["start"] % 4096 == 0 and reg["end"] % 4096 == 0 and reg["end"] == 0x10A02A000


def test_map_keeps_report_source_lines_and_inlined_markers(tmp_path):
    rep = tmp_path / "inl.crash"
    rep.write_text(REPORT.read_text().replace(
        "0   crash_macos                         0x000000010a001391 0x10a000000 + 5009",
        "0   crash_macos                         0x000000010a001391 helper + 5 (main.m:12) [inlined]\n"
        "1   crash_macos                         0x000000010a001391 main + 20 (main.m:16)"))
    out = _run("map", rep).stdout
    assert "helper + 5 (main.m:12) [inlined]" in out
    assert "main + 20 (main.m:16)" in out
