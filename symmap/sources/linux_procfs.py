"""Live Linux processes through procfs: /proc/PID/{smaps,maps,exe,comm,stat,map_files,mem}.

One pass over ``smaps`` gives every region and its Rss/dirty/swap; each
distinct ELF file mapped gets an Image whose load bias comes from its
lowest-offset mapping (see ``symmap.formats.elf.elffile.load_bias``).

Errors follow psutil's ``wrap_exceptions`` (psutil/_pslinux.py): EACCES/EPERM
-> AccessDenied; a missing file is NoSuchProcess only once /proc/PID itself is
gone, and ProcessVanished when it existed when we started.  The process is
re-checked at the end (pid dir, state, start time) because reading smaps of a
process that exits mid-read just yields a short file, not an error.
"""
from __future__ import annotations

import errno
import os
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from symmap.errors import AccessDenied, BadTarget, NoSuchProcess, ProcessVanished
from symmap.model import PROT_EXEC, PROT_READ, PROT_WRITE, Image, Region, Target
from symmap.sources.procfs_smaps import classify, parse_bytes, read_regions

if TYPE_CHECKING:
    from symmap.sources import OpenOptions

__all__ = ["open_pid", "find_pids", "parse_maps", "ProcMemory"]

_DELETED = " (deleted)"
# Kernel show_map_vma(): the name starts after padding to 25 + 6*sizeof(void*) - 1
# columns plus one space (fs/proc/task_mmu.c, seq_setwidth/seq_pad).
_NAME_COL = 25 + 6 * 8 - 1 + 1
_HEX = frozenset("0123456789abcdef")


class _Proc:
    """Path helpers + the psutil-style error translation for one pid."""

    def __init__(self, pid: int, root: str) -> None:
        self.pid = pid
        self.root = root
        self.dir = f"{root}/{pid}"
        self.existed = False

    def gone(self) -> bool:
        return not os.path.isdir(self.dir)

    def fail(self, e: OSError, what: str) -> Exception:
        if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
            from symmap.sources.procfs_access import denied_advice
            return AccessDenied(self.pid, f"permission denied reading {what} of process "
                                          f"{self.pid}: {denied_advice(self.pid, self.root)}")
        if e.errno in (errno.ENOENT, errno.ESRCH) and self.gone():
            if self.existed:
                return ProcessVanished(self.pid)
            return NoSuchProcess(self.pid)
        if e.errno == errno.ESRCH:
            return ProcessVanished(self.pid)
        if e.errno == errno.ENOENT:
            return e                    # callers tell a kernel thread's missing exe apart
        if self.existed and self.gone():
            return ProcessVanished(self.pid)
        # Anything else (EIO, EINVAL...) is one line, never a traceback.
        return BadTarget(f"cannot read {what} of process {self.pid}: {e.strerror or e}")

    def read(self, name: str) -> bytes:
        try:
            with open(f"{self.dir}/{name}", "rb") as f:
                return f.read()
        except OSError as e:
            raise self.fail(e, name) from None

    def read_regions(self, name: str, counters: bool) -> tuple[list[Region], list[tuple[int, int]]]:
        """smaps/maps parsed while it is read, a chunk at a time (never held whole)."""
        try:
            with open(f"{self.dir}/{name}", "rb", buffering=0) as f:
                return read_regions(f, counters, _slow_for(counters))
        except OSError as e:
            raise self.fail(e, name) from None

    def readlink(self, name: str) -> str:
        try:
            return os.readlink(f"{self.dir}/{name}")
        except OSError as e:
            raise self.fail(e, name) from None


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _stat_fields(proc: _Proc) -> tuple[str, int, int]:
    """(state, ppid, starttime) from /proc/PID/stat.  comm may hold ')' and
    spaces, so split after the LAST ')' (proc(5))."""
    raw = _decode(proc.read("stat"))
    rest = raw[raw.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def _after_fields(line: str, k: int) -> int:
    """Index just past the k-th space-separated field of line."""
    i, n = 0, len(line)
    for _ in range(k):
        while i < n and line[i] == " ":
            i += 1
        while i < n and line[i] != " ":
            i += 1
    return i


def _name_of(line: str, p: int) -> str:
    """The name field of a maps line whose inode field ends at index p."""
    n = len(line)
    q = p
    while q < n and line[q] == " ":
        q += 1
    if q >= n:
        return ""
    # Padding ends at the name column (or one space after a long prefix);
    # spaces beyond it belong to the name ("  lead.so" keeps its spaces).
    expected = max(_NAME_COL, p + 2)
    return line[expected if q > expected else q:]


_PROTS = {p: ((PROT_READ if p[0] == "r" else 0) | (PROT_WRITE if p[1] == "w" else 0)
              | (PROT_EXEC if p[2] == "x" else 0))
          for p in (a + b + c for a in "r-" for b in "w-" for c in "x-")}
_COUNTERS = ("Rss:", "Shared_Dirty:", "Private_Dirty:", "Swap:")


def _max_prot(f: list[str]) -> int:
    """Linux's max protection: the VM_MAY* bits smaps prints as mr/mw/me
    (fs/proc/task_mmu.c show_smap_vma_flags); mprotect can't exceed them."""
    return ((PROT_READ if "mr" in f else 0) | (PROT_WRITE if "mw" in f else 0)
            | (PROT_EXEC if "me" in f else 0))


def parse_maps(text: str | bytes, with_counters: bool) -> tuple[list[Region], list[tuple[int, int]]]:
    """Regions from maps/smaps text, plus each region's (dev, inode).

    Counters (Rss, dirty, swap) come from smaps field lines when
    ``with_counters``; otherwise they stay None (unknown).
    """
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return parse_bytes(data, with_counters, _slow_for(with_counters))


def _slow_for(with_counters: bool) -> Callable[[list[str]], tuple[list[Region], list[tuple[int, int]]]]:
    """The line-by-line parser procfs_smaps falls back to for text its regex does not fit."""
    return _parse_slow if with_counters else (lambda lines: _build(lines, None))


def _parse_slow(lines: list[str]) -> tuple[list[Region], list[tuple[int, int]]]:
    heads: list[str] = []
    vals: list[list[Any]] = [[], [], [], [], []]
    for line in lines:
        if not line:
            continue
        if line[0] in _HEX:
            heads.append(line)
            for v in vals[:4]:
                v.append(0)
            vals[4].append(None)
            continue
        if not heads:
            continue
        if line.startswith("VmFlags:"):
            vals[4][-1] = line
            continue
        for i, key in enumerate(_COUNTERS):
            if line.startswith(key):
                vals[i][-1] = int(line[len(key):-3]) * 1024
                break
    return _build(heads, vals)


def _build(heads: list[str], vals: Sequence[Any] | None) -> tuple[list[Region], list[tuple[int, int]]]:
    regions: list[Region] = []
    ids: list[tuple[int, int]] = []
    makedev = os.makedev
    prots = _PROTS
    for i, line in enumerate(heads):
        f = line.split(None, 5)
        a, _, b = f[0].partition("-")
        inode = int(f[4])
        perms = f[1]
        r = Region(int(a, 16), int(b, 16), prots.get(perms[:3], 0), None,
                   "SHM" if perms[3:4] == "s" else "PRV")
        name = ""
        if len(f) == 6:
            name = f[5]
            if len(line) - len(name) > _NAME_COL:     # leading spaces beyond the padding
                name = _name_of(line, _after_fields(line, 5))
        _classify(r, name, inode, int(f[2], 16))
        if vals is not None:
            r.resident = vals[0][i]
            r.dirty = vals[1][i] + vals[2][i]
            r.swapped = vals[3][i]
            if vals[4] is not None and vals[4][i] is not None:
                flags = vals[4][i][8:].split()
                r.max_prot = _max_prot(flags)
                # VM_GROWSDOWN ("gd") marks the process stack; mprotect splits keep it,
                # while the "[stack]" name stays on the piece holding start_stack only.
                if "gd" in flags and r.kind == "anon":
                    r.kind = "stack"
        regions.append(r)
        if inode:
            ma, _, mi = f[3].partition(":")
            ids.append((makedev(int(ma, 16), int(mi, 16)), inode))
        else:
            ids.append((0, 0))
    return regions, ids


def _classify(r: Region, name: str, inode: int, offset: int) -> None:
    r.kind, r.path, backed = classify(name, r.prot)
    if backed:
        r.offset = offset


def _fix_deleted(regions: list[Region], ids: list[tuple[int, int]]) -> None:
    """Undo the ' (deleted)' strip for a live file whose real name ends so."""
    checked: dict[str, bool] = {}
    for r, (dev, ino) in zip(regions, ids):
        if r.kind != "deleted" or r.path is None:
            continue
        real = r.path + _DELETED
        ok = checked.get(real)
        if ok is None:
            try:
                st = os.stat(real)
                ok = st.st_ino == ino and st.st_dev == dev
            except OSError:
                ok = False
            checked[real] = ok
        if ok:
            r.path, r.kind = real, "file"


def _fix_backslashes(proc: _Proc, regions: list[Region]) -> None:
    """A name with a backslash is ambiguous in maps ("\\012" may be a real
    backslash): map_files gives the unescaped name when we may read it."""
    for r in regions:
        if r.path is None or r.path[0] != "/" or ("\\" not in r.path and "\n" not in r.path):
            continue
        try:
            real = os.readlink(f"{proc.dir}/map_files/{r.start:x}-{r.end:x}")
        except OSError:
            continue            # needs CAP_SYS_ADMIN; keep the decoded maps name
        if real.endswith(_DELETED) and r.kind != "file":
            real = real[: -len(_DELETED)]
        r.path = real


class ProcMemory:
    """Reads /proc/PID/mem with pread; unreadable ranges give b"" (or a short read)."""

    _CHUNK = 1 << 20

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, address: int, size: int) -> bytes:
        out = []
        got = 0
        while got < size:
            try:
                b = os.pread(self.fd, min(self._CHUNK, size - got), address + got)
            except (OSError, OverflowError):
                break
            if not b:
                break
            out.append(b)
            got += len(b)
        return b"".join(out)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _open_file_for(proc: _Proc, r: Region, dev: int, ino: int) -> str | None:
    """A readable path with the bytes of region r's file: the path itself if it
    is the same inode, else /proc/PID/map_files/<range> (works for deleted
    files; needs CAP_SYS_ADMIN), else /proc/PID/root/<path> (other mount ns)."""
    path = r.path or ""
    cands = []
    if r.kind == "file":
        cands.append(path)
    cands.append(f"{proc.dir}/map_files/{r.start:x}-{r.end:x}")
    if path.startswith("/"):
        cands.append(f"{proc.dir}/root{path}")
    fallback = None
    for c in cands:
        try:
            st = os.stat(c)
        except (OSError, ValueError):
            continue
        if not os.access(c, os.R_OK):
            continue
        if st.st_ino == ino and st.st_dev == dev:
            return c
        # overlayfs reports the lower inode in maps; stat sees the upper one.
        # Then the name as the process sees it (its root, last candidate) is
        # the best guess: in a container our own file of that name is
        # another build.  A deleted file has no such excuse: whatever now
        # has its name is a replacement (an upgraded library), not its bytes.
        if r.kind == "file":
            fallback = c
    return fallback


def _images(proc: _Proc, regions: list[Region], ids: list[tuple[int, int]], page_size: int,
            exe: str | None, notes: list[str]) -> list[Image]:
    from symmap.errors import CorruptInput
    from symmap.formats.elf import elffile as elfmod

    # The loader maps PT_LOADs MAP_PRIVATE and back to back; a shared or
    # lone mapping of the same file (a reader mmapping a library as data) must
    # not decide the bias, so among lowest-offset private mappings the one
    # followed by another mapping of the same file wins.  Every such load
    # counts: dlmopen(LM_ID_NEWLM) maps one file again at another address.
    first: dict[tuple[int, int, str], list[int]] = {}
    rank: dict[tuple[int, int, str], tuple[int, int]] = {}
    n = len(regions)
    for i, r in enumerate(regions):
        if r.kind not in ("file", "deleted") or r.path is None or r.share_mode != "PRV":
            continue
        key = (ids[i][0], ids[i][1], r.path)
        nxt = regions[i + 1] if i + 1 < n else None
        followed = (nxt is not None and nxt.start == r.end and ids[i + 1] == ids[i]
                    and nxt.path == r.path and (nxt.offset or 0) > (r.offset or 0))
        score = (r.offset or 0, 0 if followed else 1)
        if key not in rank or score < rank[key]:
            first[key], rank[key] = [i], score
        elif score == rank[key] and score[1] == 0:
            first[key].append(i)
    images: list[Image] = []
    for (dev, ino, path), i in ((k, i) for k, ix in first.items() for i in ix):
        r = regions[i]
        fp = _open_file_for(proc, r, dev, ino)
        if fp is None:
            notes.append(f"cannot read {path}: no image for it")
            continue
        try:
            with open(fp, "rb") as f:
                if f.read(4) != elfmod.ELF_MAGIC:
                    continue        # fonts, locale archives, data files: stay "mapped file"
            with elfmod.open_elf(fp) as e:
                bias = elfmod.load_bias(e, r.start, r.offset or 0, page_size, r.prot)
                if bias is None:
                    continue        # an ELF mmapped as data, not by the loader
                img = elfmod.to_image(e, path, bias, file_path=fp)
        except CorruptInput as ex:
            notes.append(f"{path}: {ex}")
            continue
        except OSError as ex:
            notes.append(f"cannot read {path}: {ex.strerror}")
            continue
        images.append(img)
    exe_path = exe[: -len(_DELETED)] if exe and exe.endswith(_DELETED) else exe
    images.sort(key=lambda im: (im.path != exe_path, im.load_address))
    return images


MAX_THREADS = 65536


def _label_thread_stacks(proc: _Proc, regions: list[Region], notes: list[str]) -> None:
    """Name each thread's stack like vmmap's ``Stack … thread N``, and the guard
    page below it ``STACK GUARD … stack guard for thread N``.

    The stack pointer of a thread blocked in a system call is the second-last
    field of /proc/PID/task/TID/syscall (fs/proc/base.c proc_pid_syscall;
    "running" otherwise).  Reading it needs ptrace access, like /proc/PID/mem.
    """
    try:
        tids = sorted(int(t) for t in os.listdir(f"{proc.dir}/task")[:MAX_THREADS] if t.isdigit())
    except OSError:
        return
    starts = [r.start for r in regions]
    denied = 0
    for tid in tids:
        try:
            with open(f"{proc.dir}/task/{tid}/syscall", "rb") as f:
                fields = f.read(512).split()
        except PermissionError:
            denied += 1
            continue
        except OSError:
            continue                        # thread exited meanwhile
        if len(fields) < 3 or fields[0] == b"running":
            continue
        try:
            sp = int(fields[-2], 16)
        except ValueError:
            continue
        i = bisect_right(starts, sp) - 1
        if i < 0 or not regions[i].start <= sp < regions[i].end:
            continue
        r = regions[i]
        if r.kind not in ("anon", "stack") or r.detail is not None:
            continue
        r.kind = "stack"
        r.detail = f"thread {tid}" + (" (main)" if tid == proc.pid else "")
        if i > 0:
            g = regions[i - 1]
            if g.end == r.start and g.prot == 0 and g.kind == "guard" and g.detail is None:
                g.kind, g.detail = "stack_guard", f"stack guard for thread {tid}"
    if denied:
        notes.append("thread stacks unnamed: /proc/PID/task/*/syscall needs ptrace access")


VDSO_MAX = 1 << 20          # the vDSO is a few pages; refuse anything bigger


def _vdso_image(regions: list[Region], memory: "ProcMemory") -> Image | None:
    """The kernel's vDSO as an image: it is a whole ELF file mapped by the
    kernel (no file on disk), so its program headers, sections and build-id
    are read from the process's memory.  Crash stacks often end in it
    (clock_gettime, gettimeofday, the signal trampoline)."""
    from symmap.errors import CorruptInput
    from symmap.formats.elf import elffile as elfmod
    r = next((x for x in regions if x.kind == "vdso"), None)
    if r is None or r.size > VDSO_MAX:
        return None
    data = memory.read(r.start, r.size)
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    try:
        elf = elfmod.parse_elf(data, "[vdso]")
        loads = [p for p in elf.phdrs if p.type == elfmod.PT_LOAD]
        if not loads:
            return None
        bias = r.start - min(p.vaddr for p in loads)
        # file_path "" (not the default, the path): "[vdso]" names no file.
        img = elfmod.to_image(elf, "[vdso]", bias, file_path="")
    except CorruptInput:
        return None
    img.size = r.size
    return img


def _open_mem(proc: _Proc, notes: list[str]) -> "ProcMemory | None":
    try:
        return ProcMemory(os.open(f"{proc.dir}/mem", os.O_RDONLY | os.O_CLOEXEC))
    except PermissionError:
        from symmap.sources.procfs_access import mem_advice
        notes.append(f"memory not readable (no ptrace access: {mem_advice(proc.pid, proc.root)}): "
                     "contents unavailable")
    except OSError:
        notes.append("memory not readable: contents unavailable")
    return None


def open_pid(pid: int, opts: OpenOptions) -> Target:
    root = getattr(opts, "procfs_root", "/proc") or "/proc"
    proc = _Proc(pid, root)
    if pid <= 0 or proc.gone():
        raise NoSuchProcess(pid)
    state, ppid, started = _stat_fields(proc)
    proc.existed = True
    if state == "Z":
        raise NoSuchProcess(pid, f"process {pid} is a zombie (exited, not yet reaped)")
    comm = _decode(proc.read("comm")).rstrip("\n")
    # Read before smaps and compared at the end: exec keeps the pid and the
    # start time, so only the exe link tells a map of the old image apart.
    exe = _exe_link(proc)

    try:
        regions, ids = proc.read_regions("smaps", True)
    except FileNotFoundError:
        # Kernel without CONFIG_PROC_PAGE_MONITOR: maps only, counters unknown.
        regions, ids = proc.read_regions("maps", False)
    _fix_deleted(regions, ids)
    _fix_backslashes(proc, regions)

    page_size = os.sysconf("SC_PAGE_SIZE")
    notes: list[str] = []
    images = _images(proc, regions, ids, page_size, exe, notes)

    memory = None
    if not regions and exe is None:
        notes.append("kernel thread: no user address space")
    else:
        memory = _open_mem(proc, notes)
        _label_thread_stacks(proc, regions, notes)
        if memory is not None:
            vdso = _vdso_image(regions, memory)
            if vdso is not None:
                images.append(vdso)

    uts = os.uname()
    parent = None
    try:
        with open(f"{root}/{ppid}/comm", "rb") as f:
            parent = _decode(f.read()).rstrip("\n")
    except OSError:
        pass
    exe_path = exe[: -len(_DELETED)] if exe and exe.endswith(_DELETED) else exe
    arch = next((im.arch for im in images if im.path == exe_path and im.arch), None) or uts.machine
    t = Target(kind="live", name=comm, pid=pid, path=exe_path, arch=arch, page_size=page_size,
               os="linux", os_version=uts.release, regions=regions, images=images,
               info={"parent": (ppid, parent),
                     "date": datetime.now().astimezone().isoformat(timespec="seconds"),
                     "os_version": uts.release},
               notes=notes, memory=memory)
    from symmap.sources.procfs_header import header_facts
    t.info.update(header_facts(root, started, uts.release))
    t.os_version = t.info["os_version"]
    if memory is not None:
        t.closers.append(memory.close)

    # smaps of a process that died mid-read is just short: re-check it is the same live process.
    try:
        state2, _, started2 = _stat_fields(proc)
    except NoSuchProcess:
        t.close()
        raise ProcessVanished(pid) from None
    if state2 == "Z" or started2 != started:
        t.close()
        raise ProcessVanished(pid)
    try:
        exe2 = _exe_link(proc)
    except NoSuchProcess:
        t.close()
        raise ProcessVanished(pid) from None
    if exe2 != exe:
        t.close()
        raise ProcessVanished(pid, f"process {pid} ran exec while it was being read; try again")
    return t


def _exe_link(proc: _Proc) -> str | None:
    try:
        return proc.readlink("exe")
    except (AccessDenied, NoSuchProcess):
        raise
    except OSError:
        return None                 # kernel threads have no exe


def find_pids(name: str, procfs_root: str = "/proc") -> list[tuple[int, str]]:
    """Processes whose comm, exe basename or argv[0] basename equals ``name``
    (this process excluded: ``symmap python3`` should not find itself)."""
    me = os.getpid()
    out: list[tuple[int, str]] = []
    try:
        entries = os.listdir(procfs_root)
    except OSError:
        return out
    for ent in entries:
        if not ent.isdigit() or int(ent) == me:
            continue
        d = f"{procfs_root}/{ent}"
        try:
            with open(f"{d}/comm", "rb") as f:
                comm = _decode(f.read()).rstrip("\n")
        except OSError:
            continue
        match = comm == name
        if not match:
            try:
                exe = os.readlink(f"{d}/exe")
                if exe.endswith(_DELETED):
                    exe = exe[: -len(_DELETED)]
                match = exe.rsplit("/", 1)[-1] == name
            except OSError:
                pass
        if not match:
            try:
                with open(f"{d}/cmdline", "rb") as f:
                    argv0 = _decode(f.read().split(b"\0", 1)[0])
                match = bool(argv0) and argv0.rsplit("/", 1)[-1] == name
            except OSError:
                pass
        if match:
            out.append((int(ent), comm))
    out.sort()
    return out
