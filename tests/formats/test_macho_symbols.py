"""Mach-O symbol sources against tools nobody here wrote: llvm-nm (nlist),
lief (exports trie), llvm-objdump (function starts)."""
from __future__ import annotations

import struct
import subprocess

import pytest

from symmap.formats.macho.load_commands import iter_slices, parse_macho
from symmap.formats.macho.symbols import (defined_symbols, function_starts, image_symbols,
                                          iter_exports)
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES, need_tool

SHARED_MACHO = sorted((SHARED_FIXTURES / "macho").glob("*")) if (SHARED_FIXTURES / "macho").is_dir() else []
OWN = OWN_FIXTURES / "symbols"
OWN_MACHO = [OWN / n for n in ("symbols-x86_64", "symbols-fat", "libsymbols-arm64.dylib",
                               "libsymbols-x86_64.dylib", "libsymbols-arm64-nolocals.dylib")]


def _slices(path):
    buf = path.read_bytes()
    return buf, [(arch, parse_macho(buf, off, str(path))) for arch, off in iter_slices(buf, str(path))]


def _nm_defined(path, arch):
    """llvm-nm's defined, non-debug symbols (locals included) as (addr, name)."""
    nm = need_tool("llvm-nm")
    out = subprocess.run([nm, "-a", "--defined-only", "-n", f"--arch={arch}", str(path)],
                         capture_output=True, text=True, check=True).stdout
    got = set()
    for line in out.splitlines():
        if len(line) < 19 or line[16] != " " or line[18] != " ":
            continue              # blank or "file (for architecture x):" header
        addr, kind, name = line[:16], line[17:18], line[19:]
        # '-' lines are stabs; 'A'/'a' absolute and 'I' indirect name no section byte.
        if kind in ("-", "A", "a", "I", "U"):
            continue
        got.add((int(addr, 16), name))
    return got


@pytest.mark.parametrize("path", SHARED_MACHO + OWN_MACHO, ids=lambda p: p.name)
def test_nlist_equals_llvm_nm(path):
    if not path.exists():
        pytest.skip(f"absent: {path}")
    buf, slices = _slices(path)
    for arch, m in slices:
        syms = image_symbols(buf, m).symbols
        mine = {(a, n) for a, n, _s, _e in syms}
        assert mine == _nm_defined(path, arch), f"{path.name} [{arch}]"


def test_locals_are_included():
    buf, [(_a, m)] = _slices(OWN / "libsymbols-arm64.dylib")
    syms = image_symbols(buf, m).symbols
    locals_ = {n for _a, n, _s, ext in syms if not ext}
    assert {"_local_helper", "_local_second", "_sym_table"} <= locals_


def _lief_exports(path):
    lief = pytest.importorskip("lief")
    b = lief.MachO.parse(str(path)).at(0)
    if b.has_dyld_exports_trie:
        entries = b.dyld_exports_trie.exports
    elif b.has_dyld_info:
        entries = b.dyld_info.exports
    else:
        return set()
    return {(e.symbol.name, e.address) for e in entries}


@pytest.mark.parametrize("name", ["libsymbols-chained-trieonly.dylib", "libsymbols-arm64.dylib",
                                  "libsymbols-x86_64.dylib"])
def test_exports_trie_equals_lief(name):
    path = OWN / name
    buf, [(_a, m)] = _slices(path)
    eoff, esize = m.exports
    mine = {(n, off) for n, _f, off in iter_exports(buf, m.base + eoff, esize)}
    assert mine == _lief_exports(path)
    assert len(mine) >= 9


@pytest.mark.parametrize("path", [p for p in SHARED_MACHO if "dSYM" not in p.name], ids=lambda p: p.name)
def test_exports_trie_equals_lief_shared(path):
    buf, slices = _slices(path)
    arch, m = slices[0]
    if not m.exports:
        pytest.skip("no exports trie")
    mine = {(n, off) for n, _f, off in iter_exports(buf, m.base + m.exports[0], m.exports[1])
            if off is not None}
    theirs = {(n, a) for n, a in _lief_exports(path)}
    assert mine == theirs


def test_chained_fixups_binary_has_names_from_trie_only():
    buf, [(_a, m)] = _slices(OWN / "libsymbols-chained-trieonly.dylib")
    assert m.chained_fixups is not None
    s = image_symbols(buf, m)
    assert s.symbols == []
    names = {n for _a, n, _f in s.exports}
    assert {"_sym_add", "_sym_mul", "_cxx_entry", "__ZN9symmap_ns11make_widgetEi"} <= names


def _objdump_function_starts(path, arch):
    od = need_tool("llvm-objdump")
    out = subprocess.run([od, "--macho", "--function-starts", f"--arch={arch}", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0], 16) for line in out.splitlines()
            if line[:1] in "0123456789abcdef" and line.strip() and ":" not in line]


@pytest.mark.parametrize("path", SHARED_MACHO + OWN_MACHO, ids=lambda p: p.name)
def test_function_starts_equal_llvm_objdump(path):
    if not path.exists():
        pytest.skip(f"absent: {path}")
    buf, slices = _slices(path)
    for arch, m in slices:
        mine = image_symbols(buf, m).function_starts
        assert mine == _objdump_function_starts(path, arch), f"{path.name} [{arch}]"


# --- hostile input ----------------------------------------------------------

def test_trie_cycle_terminates():
    # Root: no terminal, 1 child "a" -> offset 0 (itself).
    trie = bytes([0, 1]) + b"a\0" + bytes([0])
    assert list(iter_exports(trie, 0, len(trie))) == []
    # Node 0 -> child "x" at 5; node 5 is terminal (flags 0, addr 0x10) and points back to 0.
    trie = bytes([0, 1]) + b"x\0" + bytes([5]) + bytes([2, 0, 0x10, 1]) + b"y\0" + bytes([0])
    assert list(iter_exports(trie, 0, len(trie))) == [("x", 0, 0x10)]


def test_trie_bounded_by_node_budget():
    # A long chain: 300 nodes each with one child; budget cuts the walk short.
    chain = bytearray()
    for i in range(300):
        nxt = (i + 1) * 5
        chain += bytes([0, 1]) + b"a\0" + bytes([nxt & 0x7F if nxt < 128 else 0])
    assert len(list(iter_exports(bytes(chain), 0, len(chain), max_nodes=10))) == 0


def test_trie_garbage_is_not_fatal():
    junk = bytes(range(256)) * 4
    list(iter_exports(junk, 0, len(junk)))          # no exception, terminates
    list(iter_exports(junk, 10_000, 50))            # out of range
    list(iter_exports(b"\xff" * 40, 0, 40))         # uleb never ends


def test_truncated_symtab_is_clamped():
    buf, [(_a, m)] = _slices(OWN / "libsymbols-x86_64.dylib")
    symoff, nsyms, stroff, strsize = m.symtab
    full = defined_symbols(buf, symoff, nsyms, stroff, strsize)
    # A count far larger than the data: clamped, never over-allocated.
    lying = defined_symbols(buf, symoff, 1 << 31, stroff, strsize)
    assert full and set(full) <= set(lying)
    cut = defined_symbols(buf[:symoff + 16 * 2], symoff, nsyms, stroff, strsize)
    assert len(cut) <= 2


def test_function_starts_stop_at_zero_and_bad_uleb():
    data = bytes([0x10, 0x80, 0x01, 0x00, 0x05])
    assert function_starts(data, 0, len(data), 0x1000) == [0x1010, 0x1090]
    assert function_starts(b"\x10\xff\xff", 0, 3, 0) == [0x10]


def test_nlist_32bit_layout():
    # Two nlist (32-bit) entries: a defined N_SECT|N_EXT and a stab.
    strtab = b"\0_f\0_stab\0"
    syms = struct.pack("<IBBhI", 1, 0x0F, 1, 0, 0x1000) + struct.pack("<IBBhI", 4, 0x24, 1, 0, 0x2000)
    buf = syms + strtab
    assert defined_symbols(buf, 0, 2, len(syms), len(strtab), is64=False) == [(0x1000, "_f", 1, True)]
