"""Linux procfs source against real children (fixtures/linux/maps_child.c,
built with cc at test time) and against fake /proc trees for edge cases.
Oracles: the child's own printed addresses, llvm-readelf/readelf for build
ids and program headers."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from pathlib import Path

import pytest

from symmap.errors import AccessDenied, NoSuchProcess, ProcessVanished, SymmapError
from symmap.model import PROT_EXEC, PROT_READ, PROT_WRITE
from symmap.sources import OpenOptions
from tests.conftest import need_tool
from tests.support.children import ROOT, build_child, run_child

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")

from symmap.sources import linux_procfs  # noqa: E402  (imports nothing platform-specific)

PG = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ----------------------------------------------------------------- oracles

def readelf_build_id(path: str) -> str:
    tool = need_tool("llvm-readelf", "readelf")
    out = subprocess.run([tool, "-n", path], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-fA-F]+)", out)
    assert m, out
    return m.group(1).lower()


def readelf_phdrs(path: str) -> list[tuple[str, int, int, int, int, int, str]]:
    """(type, offset, vaddr, filesz, memsz, align, flags) from `llvm-readelf -lW`."""
    tool = need_tool("llvm-readelf", "readelf")
    out = subprocess.run([tool, "-lW", path], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[1].startswith("0x") and f[2].startswith("0x"):
            rows.append((f[0], int(f[1], 16), int(f[2], 16), int(f[4], 16), int(f[5], 16),
                         int(f[-1], 16), "".join(f[6:-1])))
    assert rows, out
    return rows


def open_child(pid: int):
    return linux_procfs.open_pid(pid, OpenOptions())


def overlapping(target, lo: int, hi: int):
    return [r for r in target.regions if r.start < hi and lo < r.end]


# ------------------------------------------------------------- live child

@pytest.fixture(scope="module")
def child_exe(tmp_path_factory) -> Path:
    return build_child(tmp_path_factory.mktemp("child"))


@pytest.fixture
def known_file(tmp_path) -> Path:
    p = tmp_path / "known data.bin"          # a space in the name on purpose
    p.write_bytes(b"symmap" * 2000)
    return p


def test_live_child_regions(child_exe, known_file):
    with run_child(child_exe, "regions", str(known_file)) as c:
        t = open_child(c.pid)
        try:
            assert t.kind == "live" and t.os == "linux" and t.pid == c.pid
            assert t.name == child_exe.name and t.path == str(child_exe)
            assert t.page_size == PG
            assert t.info["parent"] == (os.getpid(), Path(f"/proc/{os.getpid()}/comm").read_text().strip())
            starts = [r.start for r in t.regions]
            assert starts == sorted(starts)

            def one(label):
                lo, hi = c.ranges[label]
                rs = overlapping(t, lo, hi)
                assert len(rs) == 1, (label, rs)
                assert (rs[0].start, rs[0].end) == (lo, hi), label
                return rs[0]

            f = one("file0")
            assert f.path == str(known_file) and f.kind == "file" and f.prot == PROT_READ
            assert f.offset == 0 and f.share_mode == "PRV" and f.max_prot == 7  # private: VM_MAYWRITE|VM_MAYEXEC

            a = one("anon")
            assert a.kind == "anon" and a.prot == PROT_READ | PROT_WRITE and a.path is None
            assert a.offset is None
            # The child wrote all 4 pages: resident and dirty, not swapped.
            assert a.resident == 4 * PG and a.dirty == 4 * PG and a.swapped == 0

            x = one("rwx")
            assert x.kind == "anon" and x.prot == PROT_READ | PROT_WRITE | PROT_EXEC

            g = one("guard")
            assert g.kind == "guard" and g.prot == 0 and g.resident == 0

            if "memfd" in c.ranges:
                m = one("memfd")
                assert m.kind == "memfd" and m.path == "/memfd:symmap-test" and m.share_mode == "SHM"

            heap = [r for r in t.regions if r.kind == "heap"]
            stack = [r for r in t.regions if r.kind == "stack"]
            assert len(stack) == 1 and stack[0].path is None and len(heap) <= 1
            assert any(r.kind == "vdso" for r in t.regions)

            # target.memory reads the child's marker, and nothing where nothing is mapped.
            assert t.memory is not None
            assert t.memory.read(c.ranges["anon"][0], 13) == b"SYMMAP-MARKER"
            assert t.memory.read(0, 16) == b""
        finally:
            t.close()


def libc_path_in(pid: int) -> str:
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        f = line.split(None, 5)
        if len(f) == 6 and re.search(r"/libc[.-][^/]*$", f[5]):
            return f[5]
    pytest.skip("no glibc in the child")


def test_live_child_images(child_exe, known_file):
    with run_child(child_exe, "regions", str(known_file)) as c0:
        libc_file = libc_path_in(c0.pid)
    # The child also maps one page of libc as plain data (a second offset-0
    # mapping): the image's bias must still come from the loader's mappings.
    with run_child(child_exe, "regions", str(known_file), libc_file) as c:
        t = open_child(c.pid)
        t.close()
    exe = t.images[0]
    assert exe.path == str(child_exe), "main executable first"
    assert exe.uuid == readelf_build_id(str(child_exe))
    assert exe.filetype in ("elf-dyn", "elf-exec") and exe.arch == os.uname().machine
    assert not any(i.path == str(known_file) for i in t.images), "data files are not images"

    libc = [i for i in t.images if re.search(r"/libc[.-]", i.path)]
    assert len(libc) == 1, [i.path for i in t.images]
    libc = libc[0]
    assert libc.uuid == readelf_build_id(libc.path)
    assert os.path.exists(libc.file_path)

    # Independent load bias: mmap's runtime address (printed by the child)
    # minus its link-time value (llvm-nm -D).
    nm = subprocess.run([need_tool("llvm-nm", "nm"), "-D", "--defined-only", libc.path],
                        capture_output=True, text=True, check=True).stdout
    value = next(int(ln.split()[0], 16) for ln in nm.splitlines()
                 if ln.split()[-1].split("@")[0] == "mmap")
    bias = c.ranges["libc_mmap"][0] - value
    assert libc.slide == bias
    phdrs = readelf_phdrs(libc.path)
    loads = [p for p in phdrs if p[0] == "LOAD"]
    assert libc.load_address == bias + loads[0][2]
    data_map = overlapping(t, *c.ranges["file1"])
    assert len(data_map) == 1 and data_map[0].path == libc.path and data_map[0].offset == 0
    libc_regions = [r for r in t.regions if r.path == libc.path and r is not data_map[0]]

    relro = [(bias + p[2], bias + p[2] + p[4]) for p in phdrs if p[0] == "GNU_RELRO"]
    expected = set()
    for _t, off, vaddr, filesz, memsz, _al, flg in loads:
        lo, fend, hi = bias + vaddr, bias + vaddr + filesz, bias + vaddr + memsz
        if "E" in flg:
            expected.add(("text", lo, hi))
        elif "W" not in flg:
            expected.add(("rodata", lo, hi))
        else:
            cut = lo
            for rs, re_ in relro:
                if lo <= rs < hi:
                    expected.add(("relro", rs, re_))
                    cut = re_
            if cut < fend:
                expected.add(("data", cut, fend))
            if fend < hi:
                expected.add(("bss", max(cut, fend), hi))
    got = {(s.name, s.address, s.end) for s in libc.segments}
    assert got == expected

    # Every libc region lies in segments whose kind matches its protection.
    allowed = {PROT_READ | PROT_EXEC: {"text"}, PROT_READ: {"rodata", "relro"},
               PROT_READ | PROT_WRITE: {"data", "bss", "relro"}}
    for r in libc_regions:
        if r.prot == 0:
            continue
        kinds = {s.name for s in libc.segments if s.address < r.end and r.start < s.end}
        assert kinds and kinds <= allowed[r.prot], (hex(r.start), r.prot, kinds)
    # .text sits in text, .data in data, .bss in bss.
    where = {sec.name: sec.segment for s in libc.segments for sec in s.sections}
    assert where[".text"] == "text" and where[".data"] == "data" and where[".bss"] == "bss"


def test_names_that_look_like_rows(child_exe, tmp_path):
    weird = tmp_path / "x\n__TEXT 0-1 [...]"
    weird.write_bytes(b"w" * PG)
    suffixed = tmp_path / "still here (deleted)"
    suffixed.write_bytes(b"s" * PG)
    backslash = tmp_path / "back\\012slash"
    backslash.write_bytes(b"b" * PG)
    with run_child(child_exe, "regions", str(weird), str(suffixed), str(backslash)) as c:
        t = open_child(c.pid)
        t.close()
    by = {lbl: overlapping(t, *c.ranges[lbl])[0] for lbl in ("file0", "file1", "file2")}
    assert by["file0"].path == str(weird) and by["file0"].kind == "file"
    assert by["file1"].path == str(suffixed) and by["file1"].kind == "file"
    if os.geteuid() == 0:     # map_files readlink (CAP_SYS_ADMIN) resolves the ambiguity
        assert by["file2"].path == str(backslash)


def test_deleted_executable_and_file(tmp_path, child_exe, known_file):
    exe = tmp_path / "delkid"
    shutil.copy(child_exe, exe)
    want = readelf_build_id(str(exe))
    gone = tmp_path / "gone.dat"
    gone.write_bytes(b"g" * PG)
    with run_child(exe, "regions", str(gone)) as c:
        exe.unlink()
        gone.unlink()
        t = open_child(c.pid)
        try:
            g = overlapping(t, *c.ranges["file0"])[0]
            assert g.kind == "deleted" and g.path == str(gone)
            assert t.path == str(exe)
            main = t.images[0]
            assert main.path == str(exe) and main.uuid == want
            if os.geteuid() == 0:
                # Readable while the child lives, through /proc/PID/map_files.
                assert "/map_files/" in main.file_path
                with open(main.file_path, "rb") as f:
                    assert f.read(4) == b"\x7fELF"
        finally:
            t.close()


def test_find_pids_by_comm_exe_and_argv0(tmp_path, child_exe):
    name = "smk" + uuidlib.uuid4().hex[:8]
    exe = tmp_path / name
    shutil.copy(child_exe, exe)
    with run_child(exe, "regions") as c:
        assert linux_procfs.find_pids(name) == [(c.pid, name)]
    alias = "argz" + uuidlib.uuid4().hex[:8]
    with run_child(exe, "regions", argv0=f"/no/such/dir/{alias}") as c:
        assert linux_procfs.find_pids(alias) == [(c.pid, name)]
    assert linux_procfs.find_pids("no-such-" + uuidlib.uuid4().hex) == []


def test_open_pid_through_dispatch(child_exe):
    from symmap.sources import open_pid
    with run_child(child_exe, "regions") as c:
        with open_pid(c.pid) as t:
            assert t.pid == c.pid and t.regions


# ------------------------------------------------------------------ errors

def test_no_such_pid():
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    with pytest.raises(NoSuchProcess) as ei:
        open_child(pid_max + 1)
    assert type(ei.value) is NoSuchProcess and ei.value.exit_code == 2


def test_zombie_is_no_such_process():
    p = subprocess.Popen(["sleep", "30"])
    p.kill()
    for _ in range(200):
        st = Path(f"/proc/{p.pid}/stat").read_text()
        if st[st.rfind(")") + 2] == "Z":
            break
        threading.Event().wait(0.01)
    try:
        with pytest.raises(NoSuchProcess) as ei:
            open_child(p.pid)
        assert "zombie" in str(ei.value)
    finally:
        p.wait()


def test_access_denied_other_user():
    """A reader without ptrace rights on the target gets AccessDenied (exit 3)."""
    if os.geteuid() == 0:
        target = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: os.setuid(65534))
        drop = "os.setgroups([]); os.setresgid(65533, 65533, 65533); os.setresuid(65533, 65533, 65533)"
        pid = target.pid
    else:
        target, drop, pid = None, "", 1      # init is root's; unreadable to a normal user
    code = (
        "import os, sys\n"
        "from symmap.sources import OpenOptions, linux_procfs\n"
        "import symmap.formats.elf.elffile\n"
        "from symmap.errors import SymmapError\n"
        f"{drop}\n"
        "try:\n"
        f"    linux_procfs.open_pid({pid}, OpenOptions()); print('OK')\n"
        "except SymmapError as e:\n"
        "    print(type(e).__name__, e.exit_code, e)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True,
                             text=True, timeout=60)
    finally:
        if target is not None:
            target.kill()
            target.wait()
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("AccessDenied 3 "), out.stdout


def test_short_lived_children_only_raise_no_such_process():
    """Real processes exiting (and being reaped) while we read them: the only
    outcomes are a Target or NoSuchProcess/ProcessVanished."""
    outcomes = set()
    for i in range(40):
        p = subprocess.Popen(["sleep", f"0.00{i % 10}"])
        reaper = threading.Thread(target=p.wait)
        reaper.start()
        try:
            t = open_child(p.pid)
            t.close()
            outcomes.add("target")
        except ProcessVanished:
            outcomes.add("vanished")
        except NoSuchProcess:
            outcomes.add("nosuch")
        reaper.join()
    assert outcomes


# ----------------------------------------------------------- fake /proc

def maps_line(start, end, perms, off=0, dev=(0, 0), inode=0, name=""):
    """One line as fs/proc/task_mmu.c show_map_vma() prints it (64-bit)."""
    head = f"{start:08x}-{end:08x} {perms} {off:08x} {dev[0]:02x}:{dev[1]:02x} {inode} "
    return (head.ljust(72) + " " + name) if name else head


def smaps_block(line, rss=0, pdirty=0, sdirty=0, swap=0):
    kb = lambda v: f"{v // 1024:8d} kB"  # noqa: E731
    fields = [("Size", 0), ("KernelPageSize", 4096), ("MMUPageSize", 4096), ("Rss", rss),
              ("Pss", rss), ("Pss_Dirty", 0), ("Shared_Clean", 0), ("Shared_Dirty", sdirty),
              ("Private_Clean", 0), ("Private_Dirty", pdirty), ("Referenced", rss),
              ("Anonymous", 0), ("KSM", 0), ("LazyFree", 0), ("AnonHugePages", 0),
              ("Swap", swap), ("SwapPss", swap), ("Locked", 0)]
    rows = [line] + [f"{k + ':':<16}{kb(v)}" for k, v in fields]
    rows += ["THPeligible:           0", "VmFlags: rd wr mr mw me ac sd"]
    return "\n".join(rows) + "\n"


def make_fake(root: Path, pid: int, lines: list[str], *, smaps=True, counters=None,
              comm="fakeproc", exe=None) -> Path:
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "stat").write_text(f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 "
                            "4242 1000 100 0\n")
    (d / "comm").write_text(comm + "\n")
    if smaps:
        counters = counters or {}
        (d / "smaps").write_text("".join(smaps_block(ln, **counters.get(i, {}))
                                         for i, ln in enumerate(lines)))
    else:
        (d / "maps").write_text("".join(ln + "\n" for ln in lines))
    if exe:
        os.symlink(exe, d / "exe")
    return d


def test_fake_line_format_matches_kernel():
    """The fake tree's line writer reproduces real /proc/self/maps lines byte for byte."""
    real = [ln for ln in Path("/proc/self/maps").read_text().splitlines() if ln]
    for ln in real:
        f = ln.split(None, 5)
        s, e = (int(x, 16) for x in f[0].split("-"))
        maj, mnr = (int(x, 16) for x in f[3].split(":"))
        name = f[5] if len(f) > 5 else ""
        assert maps_line(s, e, f[1], int(f[2], 16), (maj, mnr), int(f[4]), name) == ln


FAKE = [
    maps_line(0x400000, 0x401000, "r--p", 0, (8, 1), 11, "/opt/my app/bin with spaces"),
    maps_line(0x600000, 0x602000, "rw-p", 0, (0, 0), 0, "[heap]"),
    maps_line(0x7f0000000000, 0x7f0000001000, "r--p", 0x3000, (8, 1), 12, "/tmp/gone.so (deleted)"),
    maps_line(0x7f0000001000, 0x7f0000003000, "rw-s", 0, (0, 1), 13, "/memfd:wayland-shm (deleted)"),
    maps_line(0x7f0000003000, 0x7f0000004000, "r--p", 0, (8, 1), 14, "/tmp/new\\012line"),
    maps_line(0x7f0000004000, 0x7f0000005000, "rw-s", 0, (0, 1), 15, "/SYSV0000abcd (deleted)"),
    maps_line(0x7f0000005000, 0x7f0000006000, "rw-s", 0, (0, 1), 16, "/dev/zero (deleted)"),
    maps_line(0x7f0000006000, 0x7f0000007000, "---p", 0, (0, 0), 0),
    maps_line(0x7f0000007000, 0x7f0000008000, "rw-p", 0x7f0000007000, (0, 0), 0),
    maps_line(0x7f0000008000, 0x7f0000009000, "rw-p", 0, (0, 0), 0, "[anon:my arena]"),
    maps_line(0x7f0000009000, 0x7f000000a000, "r--p", 0, (8, 1), 12345678901234567890123,
              "/very/long/inode"),
    maps_line(0x7f000000a000, 0x7f000000b000, "r--p", 0, (8, 1), 17, "/x" + "y" * 300),
    maps_line(0x7ffc00000000, 0x7ffc00021000, "rw-p", 0, (0, 0), 0, "[stack]"),
    maps_line(0x7ffc00100000, 0x7ffc00102000, "r--p", 0, (0, 0), 0, "[vvar]"),
    maps_line(0x7ffc00102000, 0x7ffc00104000, "r-xp", 0, (0, 0), 0, "[vdso]"),
    maps_line(0xffffffffff600000, 0xffffffffff601000, "--xp", 0, (0, 0), 0, "[vsyscall]"),
]
FAKE_EXPECT = [  # (kind, path, share, prot, offset)
    ("file", "/opt/my app/bin with spaces", "PRV", 1, 0),
    ("heap", None, "PRV", 3, None),
    ("deleted", "/tmp/gone.so", "PRV", 1, 0x3000),
    ("memfd", "/memfd:wayland-shm", "SHM", 3, 0),
    ("file", "/tmp/new\nline", "PRV", 1, 0),
    ("shm", "/SYSV0000abcd", "SHM", 3, 0),
    ("shm", "/dev/zero", "SHM", 3, 0),
    ("guard", None, "PRV", 0, None),
    ("anon", None, "PRV", 3, None),
    ("anon", "[anon:my arena]", "PRV", 3, None),
    ("file", "/very/long/inode", "PRV", 1, 0),
    ("file", "/x" + "y" * 300, "PRV", 1, 0),
    ("stack", None, "PRV", 3, None),
    ("vvar", None, "PRV", 1, None),
    ("vdso", None, "PRV", 5, None),
    ("vsyscall", None, "PRV", 4, None),
]


@pytest.mark.parametrize("layout", ["smaps", "smaps-uneven", "maps"])
def test_fake_tree_edge_cases(tmp_path, layout):
    with_smaps = layout != "maps"
    counters = {1: dict(rss=8192, pdirty=4096, sdirty=4096, swap=12288)}
    d = make_fake(tmp_path, 4242, FAKE, smaps=with_smaps, counters=counters)
    if layout == "smaps-uneven":
        # One block lacks a line: the strided fast path must notice and fall back.
        text = (d / "smaps").read_text().replace("THPeligible:           0\n", "", 1)
        (d / "smaps").write_text(text)
    t = linux_procfs.open_pid(4242, OpenOptions(procfs_root=str(tmp_path)))
    assert t.name == "fakeproc" and t.path is None and t.images == []
    got = [(r.kind, r.path, r.share_mode, r.prot, r.offset) for r in t.regions]
    assert got == FAKE_EXPECT
    assert [(r.start, r.end) for r in t.regions][0] == (0x400000, 0x401000)
    heap = t.regions[1]
    if with_smaps:
        assert (heap.resident, heap.dirty, heap.swapped) == (8192, 8192, 12288)
        assert t.regions[0].resident == 0
    else:
        assert (heap.resident, heap.dirty, heap.swapped) == (None, None, None)
    assert t.memory is None and any("memory not readable" in n for n in t.notes)


def test_fake_missing_pid_is_no_such_process(tmp_path):
    with pytest.raises(NoSuchProcess) as ei:
        linux_procfs.open_pid(777, OpenOptions(procfs_root=str(tmp_path)))
    assert type(ei.value) is NoSuchProcess


def fifo_smaps(d: Path, mid_read) -> threading.Thread:
    """Turn the fake pid dir ``d``'s smaps into a FIFO fed by a thread: half the
    bytes, then ``mid_read(d)`` (the process changes while it is being read),
    then the rest.  The caller joins the returned thread."""
    content = (d / "smaps").read_bytes()
    (d / "smaps").unlink()
    os.mkfifo(d / "smaps")
    (d / "exe").symlink_to("/bin/true")

    def writer():
        with open(d / "smaps", "wb") as f:
            half = len(content) // 2
            f.write(content[:half])
            f.flush()
            mid_read(d)
            if d.exists():
                f.write(content[half:])

    th = threading.Thread(target=writer)
    th.start()
    return th


def test_fake_pid_dir_vanishes_mid_walk(tmp_path):
    """The writer removes the whole pid dir before EOF, so the walk has
    started (pid existed) and the next file is gone."""
    d = make_fake(tmp_path, 4243, FAKE)
    th = fifo_smaps(d, shutil.rmtree)
    try:
        with pytest.raises(ProcessVanished) as ei:
            linux_procfs.open_pid(4243, OpenOptions(procfs_root=str(tmp_path)))
        assert ei.value.exit_code == 4
    finally:
        th.join(10)


def test_fake_unreadable_smaps_is_access_denied(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads mode-000 files; the real-process test covers AccessDenied")
    d = make_fake(tmp_path, 4244, FAKE)
    (d / "smaps").chmod(0)
    with pytest.raises(AccessDenied):
        linux_procfs.open_pid(4244, OpenOptions(procfs_root=str(tmp_path)))


def test_errors_are_symmap_errors():
    assert issubclass(ProcessVanished, NoSuchProcess) and issubclass(AccessDenied, SymmapError)


def test_max_prot_comes_from_smaps_vmflags():
    from symmap.sources.linux_procfs import parse_maps
    block = ("{a}-{b} {p} 00000000 08:01 1234 /usr/lib/x.so\nRss:                   4 kB\n"
             "Shared_Dirty:          0 kB\nPrivate_Dirty:         0 kB\nSwap:                  0 kB\n"
             "VmFlags: {f}\n")
    text = (block.format(a="1000", b="2000", p="r--s", f="rd sh mr me")
            + block.format(a="2000", b="3000", p="r-xp", f="rd ex mr mw me dw"))
    regions, _ = parse_maps(text, True)
    assert [r.max_prot for r in regions] == [PROT_READ | 4, 7]
    no_flags = "\n".join(ln for ln in text.splitlines() if not ln.startswith("VmFlags")) + "\n"
    regions, _ = parse_maps(no_flags, True)
    assert [r.max_prot for r in regions] == [None, None]


def test_thread_stacks_are_named_like_vmmap():
    """Each thread blocked in a syscall names its stack ("Stack … thread TID")
    and the guard page glibc puts below it ("STACK GUARD … stack guard for thread TID")."""
    code = ("import threading, time, os, sys\n"
            "ts = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(2)]\n"
            "[t.start() for t in ts]\n"
            "time.sleep(0.2)\n"
            "print(' '.join(str(t.native_id) for t in ts), flush=True)\n"
            "time.sleep(30)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        tids = [int(x) for x in p.stdout.readline().split()]
        time.sleep(0.2)                 # let both threads enter their sleep syscall
        from symmap.annotate import annotate
        from symmap.sources.linux_procfs import open_pid
        t = annotate(open_pid(p.pid, OpenOptions()))
        try:
            rows = {r.detail: r for r in t.regions}
            for tid in tids:
                st = rows[f"thread {tid}"]
                assert st.type == "Stack" and st.prot == PROT_READ | PROT_WRITE and st.kind == "stack"
                guard = rows[f"stack guard for thread {tid}"]
                assert guard.type == "STACK GUARD" and guard.prot == 0 and guard.end == st.start
            main = rows[f"thread {p.pid} (main)"]
            assert main.type == "Stack"
        finally:
            t.close()
    finally:
        p.kill()
        p.wait()


def test_growsdown_vmas_are_stack_even_when_split_from_the_named_one():
    """mprotect on one stack page splits the VMA; only the piece holding
    start_stack keeps the "[stack]" name, but every piece keeps VM_GROWSDOWN."""
    from symmap.sources.linux_procfs import parse_maps
    block = ("{a}-{b} {p} 00000000 00:00 0 {name}\nRss:                   4 kB\n"
             "Shared_Dirty:          0 kB\nPrivate_Dirty:         4 kB\nSwap:                  0 kB\n"
             "VmFlags: {f}\n")
    text = (block.format(a="7ffd0000", b="7ffd1000", p="rwxp", name="", f="rd wr ex mr mw me gd ac")
            + block.format(a="7ffd1000", b="7ffd3000", p="rw-p", name="[stack]", f="rd wr mr mw me gd ac")
            + block.format(a="7ffe0000", b="7ffe1000", p="rw-p", name="", f="rd wr mr mw me ac"))
    regions, _ = parse_maps(text, True)
    assert [r.kind for r in regions] == ["stack", "stack", "anon"]


def test_vdso_is_an_image_whose_symbols_match_llvm_nm_of_its_bytes(tmp_path):
    """The vDSO has no file: its image and symbols come from the process's
    memory.  Oracle: llvm-nm on the same bytes dumped to a file."""
    nm = need_tool("llvm-nm")
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        from symmap.annotate import annotate
        from symmap.sources.linux_procfs import open_pid
        from symmap.symbolize import Symbolizer
        t = annotate(open_pid(p.pid, OpenOptions()))
        try:
            vd = next((r for r in t.regions if r.kind == "vdso"), None)
            if vd is None or t.memory is None:
                pytest.skip("no vDSO or no memory access")
            img = next(i for i in t.images if i.path == "[vdso]")
            assert vd.image == "[vdso]" and img.load_address == vd.start
            dump = tmp_path / "vdso.so"
            dump.write_bytes(t.memory.read(vd.start, vd.end - vd.start))
            out = "".join(subprocess.run([nm, "--defined-only", *flag, str(dump)], capture_output=True,
                                         text=True, check=True).stdout for flag in ([], ["-D"]))
            funcs = [(int(a, 16), name.split("@")[0]) for a, kind, name in
                     (ln.split() for ln in out.splitlines() if len(ln.split()) == 3) if kind in "TtWw"]
            assert funcs
            s = Symbolizer(t)
            for value, name in funcs:
                lk = s.lookup(vd.start + value + 1)
                assert lk.image == "[vdso]" and lk.offset == 1
                # Aliases share an address (clock_gettime, __vdso_clock_gettime).
                assert lk.symbol in {n for v, n in funcs if v == value}
        finally:
            t.close()
    finally:
        p.kill()
        p.wait()
