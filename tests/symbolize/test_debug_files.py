"""Stripped ELF files take their .symtab from a detached debug file, found by
build-id or .gnu_debuglink (as gdb and llvm-symbolizer do), never a stale one."""
from __future__ import annotations

import shutil
import subprocess

from symmap.model import Target
from symmap.sources import OpenOptions
from symmap.sources.binary import open_file
from symmap.symbolize import Symbolizer
from symmap.symbolize import elf_symbols as _elf
from symmap.symbolize.demangle import display_name, display_names
from tests.conftest import need_tool

SRC = """
static int __attribute__((noinline)) hidden_helper(int x) { return x * 7 + 1; }
int __attribute__((noinline)) visible(int x) { return hidden_helper(x) + 2; }
int main(int argc, char **argv) { (void)argv; return visible(argc); }
"""


def _build(tmp_path, name="prog", extra=""):
    cc = need_tool("cc", "gcc", "clang")
    objcopy = need_tool("objcopy", "llvm-objcopy")
    src = tmp_path / f"{name}.c"
    src.write_text(SRC + extra)
    exe = tmp_path / name
    subprocess.run([cc, "-O1", "-g0", "-Wl,--build-id", "-o", str(exe), str(src)], check=True)
    addr = _nm_addr(exe, "hidden_helper")
    dbg = tmp_path / f"{name}.debug"
    subprocess.run([objcopy, "--only-keep-debug", str(exe), str(dbg)], check=True)
    subprocess.run([objcopy, "--strip-all", str(exe)], check=True)
    return exe, dbg, addr


def _nm_addr(path, name) -> int:
    nm = need_tool("llvm-nm", "nm")
    out = subprocess.run([nm, str(path)], capture_output=True, text=True, check=True).stdout
    return next(int(ln.split()[0], 16) for ln in out.splitlines() if ln.split()[-1] == name)


def _lookup(exe, addr):
    t = open_file(str(exe), OpenOptions())
    try:
        return Symbolizer(t).lookup(addr)
    finally:
        t.close()


def test_stripped_binary_alone_has_no_local_name(tmp_path):
    exe, _dbg, addr = _build(tmp_path)
    assert _lookup(exe, addr).symbol != "hidden_helper"


def test_debuglink_beside_the_file(tmp_path):
    exe, dbg, addr = _build(tmp_path)
    objcopy = need_tool("objcopy", "llvm-objcopy")
    subprocess.run([objcopy, f"--add-gnu-debuglink={dbg}", str(exe)], cwd=tmp_path, check=True)
    lk = _lookup(exe, addr + 1)
    assert (lk.symbol, lk.offset) == ("hidden_helper", 1)


def test_build_id_directory(tmp_path, monkeypatch):
    exe, dbg, addr = _build(tmp_path)
    from symmap.formats.elf.elffile import parse_elf
    bid = parse_elf(exe.read_bytes()).build_id
    root = tmp_path / "debugroot"
    d = root / ".build-id" / bid[:2]
    d.mkdir(parents=True)
    shutil.copy(dbg, d / f"{bid[2:]}.debug")
    monkeypatch.setattr(_elf, "DEBUG_DIRS", (str(root),))
    assert _elf.debug_file(parse_elf(exe.read_bytes()), str(exe)) is not None
    assert _lookup(exe, addr).symbol == "hidden_helper"


def test_a_debug_file_of_another_build_is_refused(tmp_path, monkeypatch):
    exe, _dbg, addr = _build(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _exe2, dbg2, _ = _build(other, "prog", extra="int extra_symbol_changes_the_build_id;\n")
    from symmap.formats.elf.elffile import parse_elf
    bid = parse_elf(exe.read_bytes()).build_id
    d = tmp_path / "root" / ".build-id" / bid[:2]
    d.mkdir(parents=True)
    shutil.copy(dbg2, d / f"{bid[2:]}.debug")             # right place, wrong build
    monkeypatch.setattr(_elf, "DEBUG_DIRS", (str(tmp_path / "root"),))
    assert _elf.debug_file(parse_elf(exe.read_bytes()), str(exe)) is None
    assert _lookup(exe, addr).symbol != "hidden_helper"


def test_symbol_versions_are_not_part_of_the_shown_name():
    assert display_name("mtx_init@@GLIBC_2.34", macho=False) == "mtx_init"
    assert display_name("memcpy@GLIBC_2.2.5", macho=False) == "memcpy"
    assert display_names(["mtx_init@@GLIBC_2.34", "plain"], macho=False) == {"mtx_init@@GLIBC_2.34": "mtx_init"}
    assert display_name("_foo@bar", macho=True) == "foo@bar"   # Mach-O names carry no versions


def test_empty_target_lookup_is_unmapped():
    assert Symbolizer(Target(kind="binary")).lookup(0x1000).mapped is False
