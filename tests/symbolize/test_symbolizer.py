"""Symbolizer results against llvm-symbolizer (symbol-table mode) on every
byte of each image's code, plus slides, function-starts-only names, the
memory source and lazy lief."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symmap.formats.macho.load_commands import iter_slices
from symmap.model import Target
from symmap.sources import OpenOptions, open_target
from symmap.symbolize import Symbolizer
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES, need_tool

OWN = OWN_FIXTURES / "symbols"
SHARED_MACHO = (sorted(p for p in (SHARED_FIXTURES / "macho").glob("*") if "dSYM" not in p.name)
                if (SHARED_FIXTURES / "macho").is_dir() else [])
OWN_FILES = [OWN / n for n in ("symbols-x86_64", "symbols-fat", "libsymbols-arm64.dylib",
                               "libsymbols-x86_64.dylib", "symbols-elf")]


def _llvm_symbolize(path, addrs, arch=None):
    """FunctionName per address ('' = none) from llvm-symbolizer, symbol-table
    mode (no DWARF in these files; --no-demangle keeps linkage names)."""
    tool = need_tool("llvm-symbolizer")
    cmd = [tool, f"--obj={path}", "--no-inlines", "--functions=linkage", "--no-demangle",
           "--output-style=JSON"]
    if arch:
        cmd.append(f"--default-arch={arch}")
    out = subprocess.run(cmd, input="\n".join(hex(a) for a in addrs), capture_output=True,
                         text=True, check=True).stdout
    names = {}
    for line in out.splitlines():
        for rec in json.loads(line) if line.startswith("[") else [json.loads(line)]:
            names[int(rec["Address"], 16)] = rec["Symbol"][0]["FunctionName"]
    return names


def _code_ranges(t):
    """(start, end) of every executable section, runtime addresses."""
    out = []
    for im in t.images:
        for seg in im.segments:
            if seg.prot & 4:
                for s in seg.sections:
                    # Only sections symbols describe: llvm-symbolizer lets a
                    # size-0 symbol run on into .plt; symmap ends extents
                    # at section ends.
                    if s.name in ("__text", ".text", ".fini") and s.size:
                        out.append((s.address, s.address + s.size))
    return out


def _nm_names(path, arch):
    nm = need_tool("llvm-nm")
    cmd = [nm, "-a", "--defined-only", str(path)] + ([f"--arch={arch}"] if arch else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {line[19:] for line in out.splitlines() if len(line) > 19 and line[16] == " "}


def _compare(path, arch=None, slide=0, step=1, limit=40000):
    t = open_target(str(path), OpenOptions(arch=arch, slide=slide or None))
    nlist_names = _nm_names(path, t.arch if t.os == "macos" else None)
    s = Symbolizer(t)
    macho = t.os == "macos"
    addrs = []
    for lo, hi in _code_ranges(t):
        addrs += range(lo, hi, step)
    addrs = addrs[:limit]
    assert addrs, "no code to compare"
    # llvm-symbolizer takes unslid (file) addresses.
    theirs = _llvm_symbolize(path, [a - slide for a in addrs], t.arch if macho else None)
    mism = []
    synthetic = 0
    for a in addrs:
        r = s.lookup(a)
        assert r.mapped and r.unslid_address == a - slide
        if r.symbol is not None and r.linkage_name is None:
            synthetic += 1       # a function-starts-only name llvm-symbolizer can't give
            continue
        if r.linkage_name and r.linkage_name not in nlist_names:
            synthetic += 1       # named by the exports trie, which llvm-symbolizer ignores
            continue
        mine = r.linkage_name or ""
        if macho and mine.startswith("_"):
            mine = mine[1:]       # llvm-symbolizer drops the Mach-O C underscore too
        if mine != theirs[a - slide]:
            mism.append((hex(a), mine, theirs[a - slide]))
    assert not mism, f"{len(mism)} of {len(addrs)} differ, e.g. {mism[:5]}"
    return len(addrs), synthetic


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.name)
def test_own_fixtures_equal_llvm_symbolizer(path):
    n, synthetic = _compare(path)
    assert n > 100 and synthetic == 0


def test_fat_slices_equal_llvm_symbolizer():
    for arch in ("x86_64", "arm64"):
        _compare(OWN / "symbols-fat", arch=arch)


def test_slid_lookup_equals_llvm_symbolizer_unslid():
    _compare(OWN / "libsymbols-x86_64.dylib", slide=0x7000_0000)
    _compare(OWN / "symbols-elf", slide=0x5555_0000_0000)


@pytest.mark.parametrize("path", SHARED_MACHO, ids=lambda p: p.name)
def test_shared_fixtures_equal_llvm_symbolizer(path):
    buf = path.read_bytes()
    for arch, _off in iter_slices(buf, str(path)):
        _compare(path, arch=arch, step=3)


def test_known_symbols_and_offsets():
    t = open_target(str(OWN / "libsymbols-arm64.dylib"), OpenOptions(slide=0x1_0000_0000))
    s = Symbolizer(t)
    nm = need_tool("llvm-nm")
    out = subprocess.run([nm, "-n", str(OWN / "libsymbols-arm64.dylib")], capture_output=True,
                         text=True, check=True).stdout
    addr = {line.split()[2]: int(line.split()[0], 16) for line in out.splitlines()
            if len(line.split()) == 3}
    r = s.lookup(0x1_0000_0000 + addr["_sym_mul"] + 8)
    assert (r.symbol, r.offset, r.segment, r.section) == ("sym_mul", 8, "__TEXT", "__text")
    assert r.unslid_address == addr["_sym_mul"] + 8
    assert r.file_offset == addr["_sym_mul"] + 8           # __TEXT starts at file offset 0
    r = s.lookup(0x1_0000_0000 + addr["_local_helper"])
    assert (r.symbol, r.offset) == ("local_helper", 0)      # a local (static) function
    r = s.lookup(0x1_0000_0000 + addr["_sym_table"] + 12)
    assert (r.symbol, r.offset, r.section) == ("sym_table", 12, "__data")
    assert r.image.endswith("libsymbols-arm64.dylib") and len(r.uuid) == 32


def test_function_starts_only_names():
    """Locals stripped: the static functions are known only from
    LC_FUNCTION_STARTS and get image+0x… names; they still bound the
    symbol before them."""
    path = OWN / "libsymbols-arm64-nolocals.dylib"
    full = OWN / "libsymbols-arm64.dylib"
    nm = need_tool("llvm-nm")
    out = subprocess.run([nm, "-n", str(full)], capture_output=True, text=True, check=True).stdout
    addr = {line.split()[2]: int(line.split()[0], 16) for line in out.splitlines()
            if len(line.split()) == 3}
    s = Symbolizer(open_target(str(path), OpenOptions()))
    r = s.lookup(addr["_local_second"] + 4)
    assert r.symbol == f"{path.name}+{addr['_local_second']:#x}" and r.offset == 4
    assert r.linkage_name is None
    r = s.lookup(addr["_sym_add"] + 4)
    assert r.symbol == "sym_add"
    # The unnamed C++ method after make_widget ends make_widget's extent.
    r = s.lookup(addr["__ZNK9symmap_ns6Widget5twiceEi"] + 2)
    assert r.symbol == f"{path.name}+{addr['__ZNK9symmap_ns6Widget5twiceEi']:#x}"


def test_chained_trie_only_binary():
    lief = pytest.importorskip("lief")
    path = OWN / "libsymbols-chained-trieonly.dylib"
    b = lief.MachO.parse(str(path)).at(0)
    exports = {e.symbol.name: e.address for e in b.dyld_exports_trie.exports}
    s = Symbolizer(open_target(str(path), OpenOptions(load_address=0x2_0000_0000)))
    r = s.lookup(0x2_0000_0000 + exports["_sym_big"] + 16)
    assert (r.symbol, r.offset) == ("sym_big", 16)
    r = s.lookup(0x2_0000_0000 + exports["__ZN9symmap_ns11make_widgetEi"])
    assert r.linkage_name == "__ZN9symmap_ns11make_widgetEi" and r.offset == 0


def test_memory_source_matches_file_source():
    """With no file to read, the index comes from the header and __LINKEDIT
    as mapped (target.memory) and gives the same answers."""
    path = OWN / "libsymbols-x86_64.dylib"
    t1 = open_target(str(path), OpenOptions(slide=0x10000))
    t2 = open_target(str(path), OpenOptions(slide=0x10000))
    t2.images[0].file_path = None
    t2.images[0].path = "/nonexistent/libsymbols.dylib"
    s1, s2 = Symbolizer(t1), Symbolizer(t2)
    lo, hi = _code_ranges(t1)[0]
    for a in range(lo, hi):
        r1, r2 = s1.lookup(a), s2.lookup(a)
        assert (r1.symbol, r1.offset) == (r2.symbol, r2.offset)
    assert r2.symbol_source == "memory" and r1.symbol_source.startswith("file:")


def test_path_with_wrong_uuid_is_not_used(tmp_path):
    """Image.path exists but is another build: its symbols must not be used."""
    path = OWN / "libsymbols-x86_64.dylib"
    t = open_target(str(path), OpenOptions())
    im = t.images[0]
    im.file_path = None
    im.path = str(OWN / "symbols-x86_64")       # a different Mach-O, different UUID
    t.memory = None
    r = Symbolizer(t).lookup(_code_ranges(t)[0][0])
    assert r.symbol is None and r.symbol_source is None


def test_search_path_finds_file_by_name_and_uuid(tmp_path):
    path = OWN / "libsymbols-x86_64.dylib"
    t = open_target(str(path), OpenOptions())
    im = t.images[0]
    im.file_path = None
    im.path = "/usr/lib/libsymbols-x86_64.dylib"
    t.memory = None
    r = Symbolizer(t, [str(OWN)]).lookup(_code_ranges(t)[0][0] + 1)
    assert r.symbol is not None and r.symbol_source == f"file:{OWN / 'libsymbols-x86_64.dylib'}"


def test_unmapped_gives_nearest_regions():
    t = open_target(str(OWN / "symbols-x86_64"), OpenOptions())
    s = Symbolizer(t)
    r = s.lookup(0x10)
    assert not r.mapped and r.before is None and r.after == t.regions[0]
    assert r.image is None and r.symbol is None
    last = max(t.regions, key=lambda x: x.end)
    r = s.lookup(last.end + 0x100000)
    assert not r.mapped and r.before == last and r.after is None


def test_lief_not_imported_without_mangled_names():
    code = (
        "import sys\n"
        "from symmap.sources import open_target, OpenOptions\n"
        "from symmap.symbolize import Symbolizer\n"
        f"t = open_target({str(OWN / 'symbols-elf')!r}, OpenOptions())\n"
        "s = Symbolizer(t)\n"
        "lo = t.images[0].segments[1].address\n"
        "rs = s.lookup_many(range(lo, lo + 0x200))\n"
        "assert any(r.symbol for r in rs)\n"
        "print('lief' in sys.modules, 'macholib' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(OWN_FIXTURES.parent)).stdout.split()
    assert out == ["False", "False"]


def test_mangled_names_demangle_in_process():
    from symmap.symbolize.demangle import demangle, display_name, looks_mangled
    assert looks_mangled("_ZN3foo3barEv") and not looks_mangled("main")
    # The underscore Mach-O adds goes first, then the name is demangled.
    assert display_name("__ZN9symmap_ns11make_widgetEi", macho=True) == "symmap_ns::make_widget(int)"
    assert demangle("plain_c_name") == "plain_c_name"


def test_crash_style_image_without_slide_uses_file_by_uuid():
    """Crash reports know load address + UUID only; a --search-path file
    with that UUID gives the unslid address and the symbols."""
    from symmap.model import Image, Region, Segment
    path = OWN / "libsymbols-x86_64.dylib"
    ref = open_target(str(path), OpenOptions())
    im0 = ref.images[0]
    text = next(s for s in im0.segments if s.name == "__TEXT")
    load = 0x7FF8_1234_0000
    im = Image(path="/usr/lib/libsymbols-x86_64.dylib", load_address=load, uuid=im0.uuid, slide=None,
               segments=[Segment("__TEXT", load, text.size, 5, 5)])
    t = Target(kind="crash", images=[im], regions=[Region(load, load + text.size, 5)])
    nm_out = subprocess.run([need_tool("llvm-nm"), "-n", str(path)], capture_output=True, text=True,
                            check=True).stdout
    addr = {w[2]: int(w[0], 16) for w in (l.split() for l in nm_out.splitlines()) if len(w) == 3}
    r = Symbolizer(t, [str(OWN)]).lookup(load + addr["_sym_big"] + 6)
    assert (r.symbol, r.offset, r.unslid_address) == ("sym_big", 6, addr["_sym_big"] + 6)
    # Without the search path nothing tells the slide: no symbol, no guess.
    r = Symbolizer(t).lookup(load + addr["_sym_big"] + 6)
    assert r.symbol is None and r.unslid_address is None
