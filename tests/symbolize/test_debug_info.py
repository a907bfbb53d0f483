"""File:line and inlined frames from debug info (symbolic), against
``llvm-symbolizer --inlines``: own C++ programs built -g -O2 (fixtures/dwarf),
a -fPIC shared library, a detached debug file by .gnu_debuglink, glibc with
Debian's libc6-dbg (build-id), and the dSYM fixture.  Bad input: a
mismatched dSYM, a corrupt symcache file, truncated DWARF."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from symmap.pipeline import open_annotated
from symmap.sources import OpenOptions
from symmap.symbolize import Symbolizer
from tests.conftest import need_tool, shared_fixture
from tests.symbolize.dwarf_oracle import agreement, llvm_frames, text_addresses

pytest.importorskip("symbolic")


@pytest.fixture(scope="module")
def built(dwarf_programs: Path) -> Path:
    return dwarf_programs


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _lookups(path: str, n: int = 1000, **kw):
    t = open_annotated(path, OpenOptions())
    s = Symbolizer(t, **kw)
    addrs = text_addresses(t, n)
    return s, addrs, s.lookup_many(addrs)


@pytest.mark.parametrize("name", ["prog-gcc", "prog-clang", "libtext.so", "prog-gcc.stripped"])
def test_agrees_with_llvm_symbolizer_on_own_programs(built, name):
    """Function, file, line and the whole inline chain, for 1,000 random
    .text addresses; names demangled the same way on both sides.
    prog-gcc.stripped has its DWARF in prog-gcc.debug (.gnu_debuglink)."""
    tool = need_tool("llvm-symbolizer")
    path = built / name
    if not path.exists():
        pytest.skip(f"{name} not built (no clang++)")
    s, addrs, lks = _lookups(str(path))
    assert sum(1 for lk in lks if len(lk.frames) > 1) > 50     # inlining is exercised
    assert all(lk.column is None for lk in lks)                # symbolic gives no columns
    if name.endswith(".stripped"):
        assert any(lk.debug_file and lk.debug_file.endswith("prog-gcc.debug") for lk in lks)
    ok, diffs = agreement(lks, llvm_frames(tool, str(path), addrs))
    assert ok >= 990, diffs[:5]


def test_cold_split_named_like_llvm_symbolizer(built):
    """GCC's main/main.cold: symbolic names both parts by the lower symbol;
    symmap names the part holding the address, as llvm-symbolizer 14 does."""
    t = open_annotated(str(built / "prog-gcc"), OpenOptions())
    s = Symbolizer(t)
    cold = s.addresses_of("main.cold")
    hot = s.addresses_of("main")
    assert cold and hot
    assert s.lookup(cold[0] + 1).frames[-1].linkage_name == "main.cold"
    assert s.lookup(hot[0] + 1).frames[-1].linkage_name == "main"


def _libc() -> str:
    for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"):
        if os.path.exists(p):
            return p
    pytest.skip("no glibc here")


def test_distro_debug_package_libc():
    """glibc with libc6-dbg (found by build-id under /usr/lib/debug).
    Remaining differences, each of a known kind:
    - "unknown": llvm-symbolizer says ?? for code with no DWARF and no
      .dynsym symbol (libgcc's soft-float __addtf3 ...); symmap names it
      from the debug file's .symtab;
    - "alias": only the name differs, and both names are symbols at one
      address (hand-written assembly such as __memmove/__memcpy_avx512…,
      whose DWARF has no function entry: the two pick different aliases)."""
    tool = need_tool("llvm-symbolizer", "llvm-nm")
    path = _libc()
    s, addrs, lks = _lookups(path)
    if not any(lk.frames for lk in lks):
        pytest.skip("no debug info for libc here (install libc6-dbg)")
    ok, diffs = agreement(lks, llvm_frames(tool, path, addrs))
    nm = need_tool("llvm-nm")
    dbg = next(lk.debug_file for lk in lks if lk.debug_file)
    addr_of: dict[str, set[int]] = {}
    for line in subprocess.run([nm, "--defined-only", dbg, "-D" if dbg == path else "-n"],
                               capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3:
            addr_of.setdefault(f[2].split("@")[0], set()).add(int(f[0], 16))
    kinds: dict[str, int] = {}
    for a, mine, theirs in diffs:
        if theirs == [("", "", 0)]:
            kind = "unknown"
        elif len(mine) == len(theirs) and all(
                m[1:] == t[1:] and (m[0] == t[0] or addr_of.get(m[0], set()) & addr_of.get(t[0], {-1}))
                for m, t in zip(mine, theirs)):
            kind = "alias"
        else:
            kind = "other"
        kinds[kind] = kinds.get(kind, 0) + 1
        assert kind != "other", (hex(a), mine, theirs)
    assert ok >= 970, kinds


def test_dsym_fixture_every_function():
    """The dSYM fixture: at every function of the binary (its start and a
    byte inside), symmap's frames equal llvm-symbolizer --obj=DWARF's."""
    tool = need_tool("llvm-symbolizer", "llvm-nm")
    binary = shared_fixture("macho/symbolic-crash_macos-x86_64")
    dsym = shared_fixture("macho/symbolic-crash_macos-x86_64.dSYM-DWARF")
    t = open_annotated(str(binary), OpenOptions(dsym=str(dsym)))
    s = Symbolizer(t, dsym=str(dsym))
    starts = sorted({int(f.split()[0], 16) for f in subprocess.run(
        [need_tool("llvm-nm"), "--defined-only", str(binary)], capture_output=True, text=True
    ).stdout.splitlines() if len(f.split()) == 3 and f.split()[1] in "tT"})
    assert len(starts) > 20
    addrs = sorted({a + d for a in starts for d in (0, 1)})
    lks = s.lookup_many(addrs)
    assert sum(1 for lk in lks if lk.frames) > len(addrs) // 2
    ok, diffs = agreement(lks, llvm_frames(tool, str(dsym), addrs), macho=True)
    assert not diffs, diffs[:5]


def _run(*args, env=None):
    from click.testing import CliRunner
    from symmap.cli import cli
    return CliRunner().invoke(cli, list(args), env=env)


def test_mismatched_dsym_refused_with_note():
    binary = shared_fixture("macho/symbolic-crash_macos-x86_64")
    other = shared_fixture("macho/gimli-base-x86_64")
    r = _run("lookup", str(binary), "0x100001391", "--dsym", str(other))
    assert r.exit_code == 0, r.output
    assert "3f58bc3deabe3361b5fb52a676298598" in r.stderr and "does not match" in r.stderr
    assert "aba4a9905c2830b484b3898e5d6704be" in r.stderr
    assert " at " not in r.stdout and "crash() + 1" in r.stdout


def test_corrupt_cache_file_rebuilt(built, tmp_path):
    from symmap.symbolize.symcache_store import cache_dir
    path = str(built / "prog-gcc")
    first = _run("lookup", path, "0x1175", "--json")
    assert first.exit_code == 0
    files = os.listdir(cache_dir())
    assert len(files) == 1 and files[0].endswith(".symcache")
    f = os.path.join(cache_dir(), files[0])
    data = bytearray(open(f, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(f, "wb").write(bytes(data))
    again = _run("lookup", path, "0x1175", "--json")
    assert again.exit_code == 0
    assert again.stdout == first.stdout
    assert "rebuilt" in again.stderr or "rebuilt" in again.output
    assert open(f, "rb").read() != bytes(data)
    # Garbage in place of the whole file: rebuilt too.
    open(f, "wb").write(b"garbage")
    assert _run("lookup", path, "0x1175", "--json").stdout == first.stdout


def test_no_cache_writes_nothing(built):
    from symmap.symbolize.symcache_store import cache_dir
    r = _run("lookup", str(built / "prog-gcc"), "0x1175", "--no-cache")
    assert r.exit_code == 0 and " at " in r.stdout
    assert not os.path.exists(cache_dir())


def test_cache_bounded(tmp_path):
    from symmap.symbolize import symcache_store as st
    d = tmp_path / "c"
    d.mkdir()
    for i in range(5):
        p = d / f"{i}.symcache"
        p.write_bytes(b"x" * 100)
        os.utime(p, ns=(i * 10**9, i * 10**9))
    st._trim(str(d), keep=str(d / "4.symcache"), limit=250)
    assert sorted(os.listdir(d)) == ["3.symcache", "4.symcache"]


def test_truncated_dwarf_note_and_symbol_only(built, tmp_path):
    from symmap.formats.elf.elffile import parse_elf
    buf = bytearray((built / "prog-gcc").read_bytes())
    sec = next(s for s in parse_elf(bytes(buf)).sections if s.name == ".debug_info")
    buf[sec.offset:sec.offset + 4] = (0xFFFFFFF0).to_bytes(4, "little")  # length past the section
    bad = tmp_path / "prog-bad"
    bad.write_bytes(bytes(buf))
    r = _run("lookup", str(bad), "0x1175", "--json")
    assert r.exit_code == 0, r.output
    assert "unreadable" in r.stderr and "symbol-only" in r.stderr
    import json
    got = json.loads(r.stdout)[0]
    assert got["symbol"] and got["frames"] == [] and got["file"] is None


def test_address_forms(built):
    import json
    path = str(built / "prog-gcc")
    absolute = json.loads(_run("lookup", path, "0x1175", "--json").stdout)[0]
    by_base = json.loads(_run("lookup", path, "prog-gcc+0x1175", "--json").stdout)[0]
    by_path = json.loads(_run("lookup", path, f"{path}+0x1175", "--json").stdout)[0]
    assert absolute == by_base == by_path
    assert absolute["image_offset"] == 0x1175
    assert absolute["frames"][-1]["function"] == absolute["frames"][-1]["linkage_name"]
    r = _run("lookup", path, "nosuch.so+0x10")
    assert r.exit_code == 2 and "no image named nosuch.so" in r.output
    r = _run("lookup", path, "prog-gcc+zz")
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = _run("lookup", path, "--name", "main", "--json")
    got = json.loads(r.stdout)
    assert [g["symbol"] for g in got] == ["main"] and got[0]["offset"] == 0
    r = _run("lookup", path, "--name", "no_such_function")
    assert r.exit_code == 2 and "no symbol" in r.output


def test_brief_and_text_with_inlines(built):
    path = str(built / "prog-gcc")
    t = open_annotated(path, OpenOptions())
    s = Symbolizer(t)
    a = next(lk.address for lk in s.lookup_many(text_addresses(t, 300)) if len(lk.frames) > 2)
    lk = s.lookup(a)
    brief = _run("lookup", path, hex(a), "-b").stdout.splitlines()
    assert len(brief) == len(lk.frames)
    assert brief[0].startswith(f"{a:#x} {lk.frames[0].function} (in prog-gcc) (")
    assert brief[-1] == f"{lk.frames[-1].function} (in prog-gcc) ({lk.frames[-1].file}:{lk.frames[-1].line})"
    text = _run("lookup", path, hex(a)).stdout
    assert text.count("    inlined: ") == len(lk.frames) - 1
    assert f" at {lk.frames[-1].file}:{lk.frames[-1].line}" in text
    nd = _run("lookup", path, hex(a), "-b", "--no-demangle").stdout.splitlines()
    assert nd[0].startswith(f"{a:#x} {lk.frames[0].linkage_name} (in prog-gcc)")
