"""Bulk parsing of /proc/PID/smaps (and maps): regions in chunks, not lines.

The kernel prints the same field lines, in the same order, for every VMA
(fs/proc/task_mmu.c show_smap), so one VMA's layout gives a regex for all
of them: ``findall`` over a 256 KiB chunk hands back only the fields symmap
keeps (range, perms, offset, dev, inode, name, Rss, Shared_Dirty,
Private_Dirty, Swap, VmFlags), and the other twenty lines are never made
into objects.  The file is read a chunk at a time, so the text of a 60,000
mapping process (43 MB) is never held whole.

Every chunk is checked: its matches must account for all of its lines;
anything else (a layout that changes mid-file, a hand-made smaps) goes to
``slow`` for that chunk, which reads any field order line by line.
"""
from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable
from typing import Protocol

from symmap.model import PROT_EXEC, PROT_READ, PROT_WRITE, Region

__all__ = ["COUNTERS", "NAME_COL", "classify", "parse_bytes", "read_regions"]

# Kernel show_map_vma(): the name starts after padding to 25 + 6*sizeof(void*) - 1
# columns plus one space (fs/proc/task_mmu.c, seq_setwidth/seq_pad).
NAME_COL = 25 + 6 * 8 - 1 + 1
COUNTERS = (b"Rss", b"Shared_Dirty", b"Private_Dirty", b"Swap")
# 256 KiB: as fast as 1 MiB at 1k-60k mappings, and the buffer plus one chunk's match tuples
# (the parse's transient memory) stay under 1 MB: at 1k mappings that was most of the peak RSS.
CHUNK = 1 << 18
_DELETED = " (deleted)"
_HEAD = rb"([0-9a-f]+)-([0-9a-f]+) ([^ \n]+) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) ([0-9]+)([^\n]*)\n"
_HEX_START = re.compile(rb"^[0-9a-f]", re.MULTILINE)
_KEY = re.compile(rb"([A-Za-z_]+):")
_PSEUDO_KINDS = {"[heap]": "heap", "[stack]": "stack", "[vdso]": "vdso", "[vvar]": "vvar",
                 "[vvar_vclock]": "vvar", "[vsyscall]": "vsyscall"}
NO_ID = (0, 0)

Ids = list[tuple[int, int]]
Slow = Callable[[list[str]], tuple[list[Region], Ids]]


class Readable(Protocol):
    """An open file read with ``readinto`` (FileIO; procfs files are read unbuffered)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class _KB(dict[bytes, int]):
    """'123' (kB) -> 125952 bytes, parsed once per distinct value (and the int shared)."""

    def __missing__(self, k: bytes) -> int:
        v = self[k] = int(k) * 1024
        return v


def _perms(p: bytes) -> tuple[int, str]:
    return ((PROT_READ if p[:1] == b"r" else 0) | (PROT_WRITE if p[1:2] == b"w" else 0)
            | (PROT_EXEC if p[2:3] == b"x" else 0)), ("SHM" if p[3:4] == b"s" else "PRV")


def _flags(vf: bytes) -> tuple[int, bool]:
    """VmFlags -> (max protection from the VM_MAY* bits mr/mw/me, VM_GROWSDOWN)."""
    f = vf.split()
    return ((PROT_READ if b"mr" in f else 0) | (PROT_WRITE if b"mw" in f else 0)
            | (PROT_EXEC if b"me" in f else 0)), b"gd" in f


def unescape(name: str) -> str:
    # seq_file_path(m, file, "\n") escapes only '\n' (as \012); a literal
    # backslash is printed as is, so only that one sequence is decoded.
    return name.replace("\\012", "\n") if "\\012" in name else name


def classify(name: str, prot: int) -> tuple[str, str | None, bool]:
    """(kind, path, file-backed) for a maps name."""
    if not name:
        return ("guard" if prot == 0 else "anon"), None, False
    if name[0] == "[":
        kind = _PSEUDO_KINDS.get(name)
        if kind is None and name.startswith("[stack:"):
            kind = "stack"             # pre-4.5 kernels named thread stacks
        if kind is not None:
            return kind, None, False
        # [anon:NAME] (PR_SET_VMA_ANON_NAME), [anon_shmem:NAME], [uprobes]...: keep the name.
        return ("shm" if name.startswith("[anon_shmem:") else ("guard" if prot == 0 else "anon")), name, False
    name = unescape(name)
    deleted = name.endswith(_DELETED)
    if deleted:
        # A file really named "x (deleted)" that still exists keeps its name;
        # checked later against the inode (linux_procfs._fix_deleted), here assume unlinked.
        name = name[: -len(_DELETED)]
    if name.startswith("/memfd:"):
        kind = "memfd"
    elif name.startswith(("/SYSV", "/dev/shm/")) or name == "/dev/zero":
        kind = "shm"
    else:
        kind = "deleted" if deleted else "file"
    return kind, name, True


def _name(rest: bytes, p: int) -> str:
    """The name from the text after the inode field, which ends at column p:
    padding ends at the name column (or one space after a long prefix);
    spaces beyond it belong to the name ("  lead.so" keeps its spaces)."""
    stripped = rest.lstrip(b" ")
    if not stripped:
        return ""
    expected = max(NAME_COL, p + 2)
    q = p + len(rest) - len(stripped)
    return (rest[expected - p:] if q > expected else stripped).decode("utf-8", "surrogateescape")


class _Builder:
    """Regions from match tuples, with per-file caches (names, ids, flags) so
    repeated values are parsed once and their objects shared."""

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self.ids: Ids = []
        self.kb = _KB()
        self.perms: dict[bytes, tuple[int, str]] = {}
        self.flags: dict[bytes, tuple[int, bool]] = {}
        self.names: dict[tuple[bytes, int, int], tuple[str, str | None, bool]] = {}
        self.devs: dict[tuple[bytes, bytes, bytes], tuple[int, int]] = {}

    def _named(self, rest: bytes, p: int, prot: int) -> tuple[str, str | None, bool]:
        key = (rest, p, prot == 0)
        got = self.names.get(key)
        if got is None:
            got = self.names[key] = classify(_name(rest, p), prot)
        return got

    def _id(self, ma: bytes, mi: bytes, ino: bytes) -> tuple[int, int]:
        key = (ma, mi, ino)
        got = self.devs.get(key)
        if got is None:
            got = self.devs[key] = (os.makedev(int(ma, 16), int(mi, 16)), int(ino))
        return got

    def _head(self, a: bytes, b: bytes, pm: bytes, off: bytes, ma: bytes, mi: bytes, ino: bytes,
              rest: bytes) -> tuple[int, str, str, str | None, int | None]:
        pr = self.perms.get(pm)
        if pr is None:
            pr = self.perms[pm] = _perms(pm)
        prot = pr[0]
        if not rest:
            return prot, pr[1], ("guard" if prot == 0 else "anon"), None, None
        # The inode field ends at column p (the 4 perms bytes and 6 separators).
        p = len(a) + len(b) + len(off) + len(ma) + len(mi) + len(ino) + 10
        kind, path, backed = self._named(rest, p, prot)
        return prot, pr[1], kind, path, (int(off, 16) if backed else None)

    def add_smaps(self, rows: list[tuple[bytes, ...]]) -> None:
        # _head inlined for anonymous rows (most of a big map): no call per row.
        regions, ids, kb, flags, perms, head = self.regions, self.ids, self.kb, self.flags, self.perms, self._head
        append, id_append, ident = regions.append, ids.append, self._id
        for a, b, pm, off, ma, mi, ino, rest, rss, sd, pd, sw, vf in rows:
            if rest:
                prot, share, kind, path, offset = head(a, b, pm, off, ma, mi, ino, rest)
            else:
                pr = perms.get(pm)
                if pr is None:
                    pr = perms[pm] = _perms(pm)
                prot, share = pr
                kind, path, offset = ("guard" if prot == 0 else "anon"), None, None
            max_prot = None
            if vf is not None:
                fl = flags.get(vf)
                if fl is None:
                    fl = flags[vf] = _flags(vf)
                max_prot = fl[0]
                # VM_GROWSDOWN ("gd") marks the process stack; mprotect splits keep it,
                # while the "[stack]" name stays on the piece holding start_stack only.
                if fl[1] and kind == "anon":
                    kind = "stack"
            append(Region(int(a, 16), int(b, 16), prot, max_prot, share, None, kind,
                          kb[rss], kb[sd] + kb[pd], kb[sw], path, offset))
            id_append(NO_ID if ino == b"0" else ident(ma, mi, ino))

    def add_maps(self, rows: list[tuple[bytes, ...]]) -> None:
        for a, b, pm, off, ma, mi, ino, rest in rows:
            prot, share, kind, path, offset = self._head(a, b, pm, off, ma, mi, ino, rest)
            self.regions.append(Region(int(a, 16), int(b, 16), prot, None, share, None, kind,
                                       None, None, None, path, offset))
            self.ids.append(self._id(ma, mi, ino) if ino != b"0" else NO_ID)

    def extend(self, regions: list[Region], ids: Ids) -> None:
        self.regions.extend(regions)
        self.ids.extend(ids)


def _layout(buf: bytearray, end: int) -> tuple[re.Pattern[bytes], int, bool] | None:
    """The regex for the VMA layout of the first complete VMA in buf[:end], its line
    count, and whether it has VmFlags; None when that holds no complete VMA."""
    heads = [m.start() for m in _HEX_START.finditer(buf, 0, min(end, 1 << 16))][:2]
    if len(heads) < 2 or heads[0] != 0:
        return None
    lines = bytes(buf[:heads[1]]).split(b"\n")[1:-1]
    keys = []
    for ln in lines:
        m = _KEY.match(ln)
        if m is None:
            return None
        keys.append(m.group(1))
    if not all(k in keys for k in COUNTERS) or len(set(keys)) != len(keys):
        return None
    parts = [_HEAD]
    for k in keys:
        if k in COUNTERS:
            parts.append(re.escape(k) + rb": +([0-9]+) kB\n")
        elif k == b"VmFlags":
            parts.append(rb"VmFlags:([^\n]*)\n")
        else:
            parts.append(re.escape(k) + rb":[^\n]*\n")
    # Counters are captured in COUNTERS order whatever the file's order: reorder by name.
    order = [k for k in keys if k in COUNTERS]
    if order != list(COUNTERS):
        return None
    return re.compile(b"".join(parts)), len(keys) + 1, b"VmFlags" in keys


def _maps_re() -> re.Pattern[bytes]:
    """The maps line regex (compiled on first use: ``symmap PID`` reads smaps)."""
    return re.compile(_HEAD)


def _decode_lines(part: bytes) -> list[str]:
    lines = part.decode("utf-8", "surrogateescape").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def parse_bytes(data: bytes, counters: bool, slow: Slow) -> tuple[list[Region], Ids]:
    """Regions and (dev, inode) ids from the whole text of smaps (``counters``) or maps."""
    return read_regions(_Bytes(data), counters, slow)


class _Bytes:
    """A file over bytes already in memory (``readinto`` only, as read_regions uses)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readinto(self, mv: memoryview) -> int:
        b = self.data[self.pos:self.pos + len(mv)]
        mv[:len(b)] = b
        self.pos += len(b)
        return len(b)


def read_regions(f: Readable, counters: bool, slow: Slow) -> tuple[list[Region], Ids]:
    """Regions from an open smaps/maps file, read CHUNK bytes at a time.

    ``slow(lines)`` parses decoded lines of a part the fast regex does not
    account for (it must accept any smaps or maps text)."""
    out = _Builder()
    layout: tuple[re.Pattern[bytes], int, bool] | None = None
    # procfs hands out smaps a page per read(2): fill a reused buffer, parse its whole VMAs
    # in place (the regexes take bounds: no copy of the chunk), keep the tail.
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    filled = 0
    was_enabled = gc.isenabled()
    gc.disable()            # tens of thousands of new Regions would trigger full collections for nothing
    try:
        eof = False
        while not eof:
            while filled < len(buf):
                n = f.readinto(mv[filled:])
                if not n:
                    eof = True
                    break
                filled += n
            cut = filled if eof else _complete(buf, filled, counters)
            if cut == 0 and not eof:    # one VMA longer than the buffer: grow it
                mv.release()
                buf.extend(bytes(len(buf)))
                mv = memoryview(buf)
                continue
            if cut:
                if counters:
                    layout = _parse_smaps(out, buf, cut, layout, slow)
                else:
                    rows = _maps_re().findall(buf, 0, cut)
                    if len(rows) == buf.count(b"\n", 0, cut):
                        out.add_maps(rows)
                    else:
                        out.extend(*slow([ln for ln in _decode_lines(bytes(buf[:cut])) if ln]))
            mv[:filled - cut] = buf[cut:filled]
            filled -= cut
    finally:
        if was_enabled:
            gc.enable()
    return out.regions, out.ids


def _parse_smaps(out: _Builder, buf: bytearray, end: int, layout: tuple[re.Pattern[bytes], int, bool] | None,
                 slow: Slow) -> tuple[re.Pattern[bytes], int, bool] | None:
    """The whole VMAs of smaps text in buf[:end] into ``out``; returns the layout (found
    in the first chunk that has one) for the next chunk."""
    if layout is None:
        layout = _layout(buf, end)
    rows = []
    if layout is not None:
        pat, stride, has_flags = layout
        rows = pat.findall(buf, 0, end)
        if not has_flags:
            rows = [(*r, None) for r in rows]
    if layout is not None and len(rows) * stride == buf.count(b"\n", 0, end):
        out.add_smaps(rows)
    else:
        out.extend(*slow(_decode_lines(bytes(buf[:end]))))
    return layout


def _complete(data: bytearray, end: int, counters: bool) -> int:
    """Length of the leading part of data[:end] made of whole VMAs (maps: whole lines):
    up to the start of the last header line, whose VMA may continue in the next read."""
    if not counters:
        return data.rfind(b"\n", 0, end) + 1
    nl = data.rfind(b"\n", 0, end - 1)
    while nl >= 0:
        if data[nl + 1] in _HEX_DIGITS:
            return nl + 1
        nl = data.rfind(b"\n", 0, nl)
    return 0


_HEX_DIGITS = frozenset(b"0123456789abcdef")
