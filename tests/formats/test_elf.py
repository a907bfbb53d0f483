"""symmap.formats.elf.elffile against real files (/bin/ls, libc, small libraries
built at test time for 32/64-bit, little/big-endian targets) with
llvm-readelf / llvm-nm as oracles, and against truncated/mutated copies
(hypothesis): only CorruptInput may escape."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from symmap.errors import CorruptInput
from symmap.formats.elf import elffile as E
from tests.conftest import need_tool
from tests.support import elf_symbols_reference as R

LS = "/bin/ls"


def _libc() -> str:
    for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6",
              "/usr/lib64/libc.so.6", "/lib64/libc.so.6", "/usr/lib/libc.so.6"):
        if os.path.exists(p):
            return os.path.realpath(p)
    pytest.skip("no glibc found")


def _need(path: str) -> str:
    if not os.path.exists(path):
        pytest.skip(f"{path} absent")
    return path


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def oracle_build_id(path: str) -> str | None:
    m = re.search(r"Build ID:\s*([0-9a-fA-F]+)", run(need_tool("llvm-readelf", "readelf"), "-n", path))
    return m.group(1).lower() if m else None


def oracle_phdrs(path: str) -> list[tuple[str, int, int, int, int, str]]:
    rows = []
    for line in run(need_tool("llvm-readelf", "readelf"), "-lW", path).splitlines():
        f = line.split()
        if len(f) >= 8 and f[1].startswith("0x") and f[2].startswith("0x"):
            rows.append((f[0], int(f[1], 16), int(f[2], 16), int(f[4], 16), int(f[5], 16),
                         "".join(f[6:-1])))
    return rows


def oracle_sections(path: str) -> list[tuple[str, int, int, int]]:
    out = []
    pat = re.compile(r"\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)")
    for line in run(need_tool("llvm-readelf"), "-SW", path).splitlines():
        m = pat.search(line)
        if m and m.group(1) != "0":
            out.append((m.group(2), int(m.group(4), 16), int(m.group(5), 16), int(m.group(6), 16)))
    return out


def oracle_nm(path: str, dynamic: bool) -> set[tuple[str, int]]:
    args = [need_tool("llvm-nm"), "--defined-only", "--no-sort"] + (["-D"] if dynamic else []) + [path]
    got = set()
    for line in run(*args).splitlines():
        f = line.split()
        if len(f) == 3:
            got.add((f[2].split("@", 1)[0], int(f[0], 16)))
    return got


def ours_nm(e: E.ELF, dynamic: bool) -> set[tuple[str, int]]:
    return {(s.name, s.value) for s in R.iter_symbols(e, tables=("dynsym",) if dynamic else ("symtab",),
                                                   defined_only=True)
            if s.name and s.type not in (E.STT_FILE, E.STT_SECTION)
            and not R.is_mapping_symbol(s.name)}


# ------------------------------------------------------------ real files

@pytest.mark.parametrize("which", ["ls", "libc"])
def test_system_files_match_readelf(which):
    path = _need(LS) if which == "ls" else _libc()
    with E.open_elf(path) as e:
        assert e.build_id == oracle_build_id(path)
        assert e.arch == os.uname().machine
        assert [(p.offset, p.vaddr, p.filesz, p.memsz) for p in e.loads] == \
            [(o, v, fs, ms) for t, o, v, fs, ms, _ in oracle_phdrs(path) if t == "LOAD"]
        want = {(n, a, o, s) for n, a, o, s in oracle_sections(path)}
        assert {(s.name, s.addr, s.offset, s.size) for s in e.sections[1:]} == want
        assert ours_nm(e, True) == oracle_nm(path, True)
        if e.interp is not None:
            assert e.interp == Path(path).read_bytes()[
                next(p for p in e.phdrs if p.type == E.PT_INTERP).offset:].split(b"\0")[0].decode()
    if which == "libc":
        assert e.soname == "libc.so.6"


def _flag_kind(flg: str) -> str:
    return "text" if "E" in flg else ("rodata" if "W" not in flg else "data")


def test_libc_segments_follow_program_headers():
    path = _libc()
    bias = 0x7F0012340000
    with E.open_elf(path) as e:
        segs = E.elf_segments(e, bias)
        img = E.to_image(e, path, bias)
    ph = oracle_phdrs(path)
    relro = [(bias + v, bias + v + ms) for t, o, v, fs, ms, f in ph if t == "GNU_RELRO"]
    for t, o, v, fs, ms, flg in ph:
        if t != "LOAD":
            continue
        kind = _flag_kind(flg)
        inside = [s for s in segs if bias + v <= s.address and s.end <= bias + v + ms]
        assert sum(s.size for s in inside) == ms, "pieces tile the PT_LOAD exactly"
        if kind != "data":
            assert [s.name for s in inside] == [kind]
        else:
            names = {s.name for s in inside}
            assert names <= {"relro", "data", "bss"}
            for s in inside:
                if s.name == "bss":
                    assert s.address >= bias + v + fs and s.file_size == 0
                elif s.name == "relro":
                    assert (s.address, s.end) in relro
    assert img.uuid == e.build_id and img.slide == bias and img.filetype == "elf-dyn"
    assert img.load_address == bias and img.segments == segs
    sec = {x.name: x for s in segs for x in s.sections}
    assert sec[".text"].segment == "text" and sec[".bss"].segment == "bss"
    assert sec[".got"].segment == "relro" and sec[".data"].segment == "data"
    assert sec[".text"].address == bias + e.section(".text").addr


def test_iter_symbols_symtab_matches_llvm_nm(tmp_path):
    cc = need_tool("cc", "gcc", "clang")
    src = tmp_path / "s.c"
    src.write_text("static int local_counter;\nint global_data = 7;\n"
                   "static int helper(int x) { return x + local_counter; }\n"
                   "int main(void) { return helper(global_data); }\n")
    exe = tmp_path / "s"
    subprocess.run([cc, "-O0", "-no-pie", "-o", str(exe), str(src)], check=True, capture_output=True)
    with E.open_elf(str(exe)) as e:
        assert e.e_type == E.ET_EXEC and e.filetype == "elf-exec"
        assert ours_nm(e, False) == oracle_nm(str(exe), False)
        syms = {s.name: s for s in R.iter_symbols(e)}
        assert syms["helper"].is_local and syms["helper"].type == E.STT_FUNC
        assert not syms["main"].is_local and syms["main"].size > 0
        assert syms["global_data"].type == E.STT_OBJECT and syms["global_data"].size == 4
        img = E.to_image(e, str(exe), 0)
        assert img.load_address == e.loads[0].vaddr and img.slide == 0


CROSS = [("i386-linux-gnu", "i386", False, True), ("aarch64-linux-gnu", "aarch64", True, True),
         ("powerpc-linux-gnu", "ppc", False, False), ("powerpc64-linux-gnu", "ppc64", True, False),
         ("armebv7-linux-gnueabi", "armeb", False, False), ("riscv64-linux-gnu", "riscv64", True, True)]


@pytest.mark.parametrize("triple,arch,is64,little", CROSS)
def test_cross_targets(tmp_path, triple, arch, is64, little):
    clang = need_tool("clang", "clang-14")
    lld = need_tool("ld.lld", "ld.lld-14")
    src = tmp_path / "t.c"
    src.write_text("int counter = 3;\nint exported_fn(int x) { return x + counter; }\n"
                   "const char message[] = \"hello\";\nint zeroed[64];\n")
    obj, lib = tmp_path / "t.o", tmp_path / "libt.so"
    r = subprocess.run([clang, f"--target={triple}", "-fPIC", "-O1", "-c", str(src), "-o", str(obj)],
                       capture_output=True)
    if r.returncode:
        pytest.skip(f"clang cannot target {triple}")
    subprocess.run([lld, "-shared", "--build-id=sha1", "-z", "relro", "-soname", "libt.so",
                    "-o", str(lib), str(obj)], check=True, capture_output=True)
    with E.open_elf(str(lib)) as e:
        assert (e.arch, e.is64, e.little) == (arch, is64, little)
        assert e.build_id == oracle_build_id(str(lib)) and len(e.build_id) == 40
        assert e.soname == "libt.so"
        assert ours_nm(e, False) == oracle_nm(str(lib), False)
        assert ours_nm(e, True) == oracle_nm(str(lib), True)
        assert {"exported_fn", "counter", "message", "zeroed"} <= {n for n, _ in ours_nm(e, True)}
        assert [(p.offset, p.vaddr, p.filesz, p.memsz) for p in e.loads] == \
            [(o, v, fs, ms) for t, o, v, fs, ms, _ in oracle_phdrs(str(lib)) if t == "LOAD"]
        segs = E.elf_segments(e, 0x10000)
        names = {s.name for s in segs}
        assert {"text", "rodata", "bss"} <= names
        zeroed = next(s for s in R.iter_symbols(e) if s.name == "zeroed")
        assert any(s.name == "bss" and s.address <= 0x10000 + zeroed.value < s.end for s in segs)


def test_load_bias_from_a_mapping():
    with E.open_elf(_libc()) as e:
        text = next(p for p in e.loads if p.flags & E.PF_X)
        base = 0x7F0000000000
        # ld.so maps text at align_down(base + vaddr) from align_down(offset).
        m_start = (base + text.vaddr) & ~0xFFF
        m_off = text.offset & ~0xFFF
        assert E.load_bias(e, m_start, m_off, 4096, 5) == base
        assert E.load_bias(e, base, 0, 4096, 1) == base
        assert E.load_bias(e, base, 1 << 40, 4096) is None


def test_not_elf_and_empty(tmp_path):
    with pytest.raises(CorruptInput, match="corrupt ELF: not an ELF"):
        E.parse_elf(b"MZ" + b"\0" * 100)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(CorruptInput):
        E.open_elf(str(empty))
    assert not E.is_elf(b"\x7fEL")


# ------------------------------------------------------- hostile inputs

def _exercise(buf: bytes) -> None:
    try:
        e = E.parse_elf(buf, "mutant")
        for _ in R.iter_symbols(e):
            pass
        E.elf_segments(e, 0x10000)
        E.to_image(e, "mutant", 0x10000)
        E.load_bias(e, 0x10000, 0, 4096)
    except CorruptInput as ex:
        assert str(ex).startswith("corrupt ELF: ")


_SMALL: dict[str, bytes] = {}


def _small_elf() -> bytes:
    """A small real ELF with .symtab: the test child if buildable, else /bin/ls."""
    if "b" not in _SMALL:
        data = None
        cc = shutil.which("cc")
        src = Path(__file__).resolve().parents[2] / "fixtures" / "linux" / "maps_child.c"
        if cc and src.exists():
            import tempfile
            d = tempfile.mkdtemp(prefix="symmap-elf-")
            out = os.path.join(d, "c")
            if subprocess.run([cc, "-O1", "-o", out, str(src)], capture_output=True).returncode == 0:
                data = Path(out).read_bytes()
        _SMALL["b"] = data or Path(_need(LS)).read_bytes()
    return _SMALL["b"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_truncated_copies_only_raise_corrupt_input(data):
    buf = _small_elf()
    cut = data.draw(st.integers(0, len(buf)))
    _exercise(buf[:cut])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_copies_only_raise_corrupt_input(data):
    buf = bytearray(_small_elf())
    # Aim at the tables: ELF header + program headers, and the section header table at the end.
    shoff = int.from_bytes(buf[0x28:0x30], "little")
    hot = st.one_of(st.integers(0, 0x3FF), st.integers(max(0, shoff - 64), len(buf) - 1),
                    st.integers(0, len(buf) - 1))
    for _ in range(data.draw(st.integers(1, 8))):
        off = data.draw(hot)
        width = data.draw(st.sampled_from([1, 2, 4, 8]))
        val = data.draw(st.integers(0, (1 << (8 * width)) - 1))
        buf[off:off + width] = val.to_bytes(width, "little")[: len(buf) - off]
    _exercise(bytes(buf))
