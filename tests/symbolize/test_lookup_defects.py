"""Issue 11's two lookup defects: a fat Mach-O's file offset is the offset
in the file (with the slice's offset beside it), and ELF symbols of
sections that are not loaded (SHF_ALLOC unset) name no address."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import OWN_FIXTURES, need_tool

SYM = OWN_FIXTURES / "symbols"


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_fat_file_offset_is_in_the_file():
    fat, thin = SYM / "symbols-fat", SYM / "symbols-x86_64"
    r = _run("lookup", fat, "--name", "main", "--arch", "x86_64", "--json")
    got = json.loads(r.stdout)[0]
    so, fo = got["slice_offset"], got["file_offset"]
    assert so == 0x1000 and fo > so
    data, tdata = fat.read_bytes(), thin.read_bytes()
    # The x86_64 slice is symbols-x86_64 byte for byte: main's bytes are at
    # fo in the fat file and fo - slice offset in the thin one.
    assert data[so:so + len(tdata)] == tdata
    assert data[fo:fo + 16] == tdata[fo - so:fo - so + 16]
    text = _run("lookup", fat, "--name", "main", "--arch", "x86_64").stdout
    assert f"file offset: {fo:#x} (slice at {so:#x}; {fo - so:#x} in the slice)" in text
    thin_json = json.loads(_run("lookup", thin, "--name", "main", "--json").stdout)[0]
    assert thin_json["slice_offset"] is None and thin_json["file_offset"] == fo - so


def test_unloaded_section_symbols_name_nothing():
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(libc):
        pytest.skip("no x86_64 glibc")
    tool = need_tool("llvm-symbolizer")
    import subprocess
    theirs = subprocess.run([tool, f"--obj={libc}", "0x0"], capture_output=True, text=True).stdout
    assert theirs.startswith("??")
    got = json.loads(_run("lookup", libc, "0x0", "--json").stdout)[0]
    assert got["symbol"] is None
    assert "__evoke_link_warning" not in _run("lookup", libc, "0x0", "-b").stdout
