"""The ELF symbol index, checked against
llvm-symbolizer --obj on files built here (symbol-table names only: the
files carry no DWARF)."""
from __future__ import annotations

import json
import subprocess

import pytest

from symmap.formats.elf.elffile import parse_elf
from tests.support.elf_symbols_reference import iter_symbols
from symmap.model import Image
from symmap.symbolize.elf_symbols import elf_index
from tests.conftest import need_tool

LABELS = r"""
__asm__(".data\n.globl data_label\ndata_label: .long 1\n.long 2\n"
        "local_label: .quad 3\n.text\n");
int sized_obj[4] = {1, 2, 3, 4};
__attribute__((noinline)) int f(int x) { return x + sized_obj[1]; }
int main(void) { return f(1); }
"""


def llvm_names(path: str, addrs: list[int]) -> list[str | None]:
    tool = need_tool("llvm-symbolizer", "llvm-symbolizer-14")
    out = subprocess.run([tool, "--obj", path, "--output-style=JSON", "--functions=linkage"]
                         + [hex(a) for a in addrs], capture_output=True, text=True, check=True).stdout
    names = []
    for rec in json.loads(out):
        fr = (rec.get("Symbol") or [{}])[0]
        n = fr.get("FunctionName")
        names.append(None if n in (None, "", "??") else n)
    return names


def test_notype_labels_in_data_are_named_like_llvm_symbolizer(tmp_path):
    """Assembly labels (STT_NOTYPE) in .data name their bytes, as llvm's
    SymbolizableObjectFile::addSymbol keeps NOTYPE symbols of any section:
    they were dropped outside executable sections, so the bytes after
    data_label were '__dso_handle+8' (a size-0 object before it)."""
    cc = need_tool("cc", "gcc", "clang")
    (tmp_path / "l.c").write_text(LABELS)
    exe = tmp_path / "labels"
    subprocess.run([cc, "-O1", "-o", str(exe), str(tmp_path / "l.c")], check=True)
    buf = exe.read_bytes()
    e = parse_elf(buf, str(exe))
    idx = elf_index(buf, Image(path=str(exe), load_address=0), str(exe), True)
    syms = {s.name: s.value for s in iter_symbols(e, tables=("symtab",))}
    addrs = [syms["data_label"], syms["data_label"] + 4, syms["local_label"], syms["local_label"] + 4]
    theirs = llvm_names(str(exe), addrs)
    assert theirs == ["data_label", "data_label", "local_label", "local_label"]
    ours = [(idx.find(a) or (None,))[0] for a in addrs]
    assert ours == theirs


def test_cross_32bit_big_endian_dynamic_label(tmp_path):
    """lld defines _DYNAMIC as a local NOTYPE symbol in .dynamic (i386 and
    big-endian ppc32): llvm-symbolizer names it, so do we."""
    clang = need_tool("clang", "clang-14")
    lld = need_tool("ld.lld", "ld.lld-14")
    src = tmp_path / "t.c"
    src.write_text("int counter = 3;\nint exported_fn(int x) { return x + counter; }\n")
    for triple in ("i386-linux-gnu", "powerpc-linux-gnu"):
        obj, lib = tmp_path / f"{triple}.o", tmp_path / f"lib{triple}.so"
        r = subprocess.run([clang, f"--target={triple}", "-fPIC", "-c", str(src), "-o", str(obj)],
                           capture_output=True)
        if r.returncode:
            pytest.skip(f"clang cannot target {triple}")
        subprocess.run([lld, "-shared", "-o", str(lib), str(obj)], check=True, capture_output=True)
        buf = lib.read_bytes()
        e = parse_elf(buf, str(lib))
        dyn = e.section(".dynamic")
        addrs = [dyn.addr, dyn.addr + 8]
        idx = elf_index(buf, Image(path=str(lib), load_address=0), str(lib), True)
        theirs = llvm_names(str(lib), addrs)
        assert theirs == ["_DYNAMIC", "_DYNAMIC"], triple
        assert [(idx.find(a) or (None,))[0] for a in addrs] == theirs, triple
