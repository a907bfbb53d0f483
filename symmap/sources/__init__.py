"""Sources: each turns one kind of input into a ``symmap.model.Target``.

The only dispatch on target kind lives here (``open_target``), as psutil
picks its platform backend once.  Every source module exposes one entry
point returning an un-annotated Target:

- ``linux_procfs.open_pid(pid, opts)``      live process on Linux
- ``macos_live.open_pid(pid, opts)``        live process on macOS
- ``macho_core.open_file(path, opts)``      MH_CORE file
- ``crash_report.open_file(path, opts)``    .ips / text crash report
- ``dyld_cache.open_file(path, opts)``      dyld shared cache file
- ``binary.open_file(path, opts)``          Mach-O (thin/fat) or ELF file
- ``snapshot.open_file(path, opts)``        a ``symmap save`` JSON snapshot
- ``vmmap_report.open_file(path, opts)``    a saved ``vmmap`` text report

Process-name lookup is per platform: ``find_pids(name)`` in the live modules.
"""
from __future__ import annotations

import os
import re
import stat
import sys
from importlib import import_module
from types import ModuleType

from symmap.errors import BadTarget, NoSuchProcess
from symmap.model import Record, Target

__all__ = ["OpenOptions", "open_target", "sniff_file", "IS_LINUX", "IS_MACOS"]

IS_LINUX = sys.platform.startswith("linux")
IS_MACOS = sys.platform == "darwin"


class OpenOptions(Record):
    """Options that change how a target is opened (CLI flags map 1:1)."""

    __slots__ = _CMP = ("arch", "slide", "load_address", "cache", "search_paths", "symbolicate",
                        "all_split_libs", "submap", "dsym", "no_cache", "procfs_root", "task")

    def __init__(self, arch: str | None = None, slide: int | None = None, load_address: int | None = None,
                 cache: str | None = None, search_paths: list[str] | None = None, symbolicate: bool = False,
                 all_split_libs: bool = False, submap: bool = False, dsym: str | None = None,
                 no_cache: bool = False, procfs_root: str = "/proc", task: object | None = None) -> None:
        self.arch = arch                  # --arch: fat slice
        self.slide = slide                # --slide: cache file / binary
        self.load_address = load_address  # --load-address: binary
        self.cache = cache                # --cache PATH: a dyld cache file for cores / crash reports
        self.search_paths: list[str] = [] if search_paths is None else search_paths  # --search-path
        self.symbolicate = symbolicate    # --symbolicate: crash report frames
        self.all_split_libs = all_split_libs  # map --all-split-libs: every shared-cache gap gets a row
        self.submap = submap              # map --submap: macOS live records its submap entries
        self.dsym = dsym                  # --dsym PATH: a .dSYM bundle or its DWARF file
        self.no_cache = no_cache          # --no-cache: no symcache store reads or writes
        self.procfs_root = procfs_root    # tests pass a fake tree
        self.task = task                  # tests pass a simulated macOS task


def _live_module() -> ModuleType:
    if IS_MACOS:
        return import_module(".macos_live", __name__)
    if IS_LINUX:
        return import_module(".linux_procfs", __name__)
    raise BadTarget(f"live processes are not supported on {sys.platform}")


def sniff_file(path: str) -> str:
    """Name the source kind for a file by its first bytes (never by its name alone)."""
    try:
        # stat first: open() on a FIFO blocks until a writer comes, and a
        # device (/dev/zero) is no file a parser can mmap.
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(st.st_mode):
            raise BadTarget(f"{path}: not a regular file (to read a pipe, use TARGET '-': symmap - < {path})")
        with open(path, "rb") as f:
            head = f.read(4096)
    except IsADirectoryError:
        raise BadTarget(f"{path}: is a directory") from None
    except PermissionError as e:
        from symmap.errors import AccessDenied
        raise AccessDenied(None, f"{path}: {e.strerror}") from None
    except OSError as e:
        raise BadTarget(f"{path}: {e.strerror}") from None
    if head.startswith(b"dyld_v"):
        return "cache"
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        # MH_CORE has filetype 4 at offset 12.
        return "core" if head[12:16] == b"\x04\x00\x00\x00" else "binary"
    if head[:4] in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf") or head[:4] == b"\x7fELF":
        return "binary"
    # A report saved by a Windows editor starts with a UTF-8 byte order mark.
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        # JSON before any text sniffing: a snapshot's strings may quote vmmap
        # or crash-report text.  symmap writes "schema" then "generator" first.
        if re.match(_SNAPSHOT_HEAD, stripped):
            return "snapshot"
        return "crash"
    from symmap.formats.vmmap.report import looks_like_vmmap
    if looks_like_vmmap(head):
        return "vmmap"
    if _looks_like_crash_text(head):
        return "crash"
    from symmap.formats.vmmap.report import looks_like_vmmap_summary
    if looks_like_vmmap_summary(head):
        return "vmmap"          # `vmmap -summary`, or its table pasted alone
    raise BadTarget(f"{path}: not a Mach-O, ELF, dyld cache, core, crash report, vmmap report or snapshot")


# Compiled on the first file sniffed (re caches them), not at import: a pid needs neither.
_SNAPSHOT_HEAD = rb'\{\s*"schema"\s*:\s*\d+\s*,\s*"generator"\s*:\s*"symmap[ "]'
_CRASH_KEY = (rb"(?m)^[ \t]*(Incident Identifier|Exception Type|Binary Images|Process"
              rb"|Path|Identifier|Code Type|Hardware Model)[ \t]*:")


def _looks_like_crash_text(head: bytes) -> bool:
    """A text crash report's header keys start lines; one strong key (or
    Process: with another header key) is enough for a pasted fragment, but a
    note that merely says "Process:" mid-line is not a crash report."""
    keys = set(re.findall(_CRASH_KEY, head))
    if keys & {b"Incident Identifier", b"Exception Type", b"Binary Images"}:
        return True
    return b"Process" in keys and len(keys) >= 2


_FILE_SOURCES = {"cache": "dyld_cache", "core": "macho_core", "binary": "binary",
                 "crash": "crash_report", "snapshot": "snapshot", "vmmap": "vmmap_report"}


def open_file(path: str, opts: OpenOptions | None = None, kind: str | None = None) -> Target:
    opts = opts or OpenOptions()
    kind = kind or sniff_file(path)
    mod = import_module("." + _FILE_SOURCES[kind], __name__)
    t: Target = mod.open_file(path, opts)
    return t


STDIN_LIMIT = 1 << 30      # a crash report or snapshot; a core belongs in a file


def _open_stdin(opts: OpenOptions) -> Target:
    """TARGET '-': a file piped on stdin (crash report, snapshot, binary...),
    spooled to a temporary file because parsers mmap their input."""
    import tempfile
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None or sys.stdin.isatty():
        raise BadTarget("TARGET '-' reads a file from stdin, but stdin is a terminal")
    tmp = tempfile.NamedTemporaryFile(prefix="symmap-stdin-", delete=False)
    try:
        with tmp:
            n = 0
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                if n > STDIN_LIMIT:
                    raise BadTarget(f"stdin holds more than {STDIN_LIMIT >> 20} MiB; pass a file path")
                tmp.write(chunk)
        if n == 0:
            raise BadTarget("stdin is empty")
        t = open_file(tmp.name, opts)
    except BaseException:
        os.unlink(tmp.name)
        raise
    # The source may keep the file mmapped: unlink it when the target closes.
    def _unlink() -> None:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    t.closers.append(_unlink)
    if t.path == tmp.name:
        t.path = "-"
    return t


def open_pid(pid: int, opts: OpenOptions | None = None) -> Target:
    t: Target = _live_module().open_pid(pid, opts or OpenOptions())
    return t


def open_target(spec: str | int | None, opts: OpenOptions | None = None) -> Target:
    """Open TARGET: None (symmap itself), a PID, a file path, or a process name.

    Raises BadTarget for an ambiguous or unknown name (``candidates`` lists
    the matches), NoSuchProcess for a missing pid, CorruptInput for a bad
    file, AccessDenied when refused.
    """
    opts = opts or OpenOptions()
    if spec is None:
        return open_pid(os.getpid(), opts)
    if isinstance(spec, int):
        return open_pid(spec, opts)
    s = str(spec)
    if s == "-":
        return _open_stdin(opts)
    if s.isascii() and s.isdigit():      # "²".isdigit() is True too, but no pid
        return open_pid(int(s), opts)
    if os.path.exists(s):
        return open_file(s, opts)
    if "/" in s:
        raise BadTarget(f"{s}: no such file")
    pids: list[tuple[int, str]] = _live_module().find_pids(s)
    if not pids:
        raise NoSuchProcess(None, f"no process or file named {s!r}")
    if len(pids) > 1:
        cands = [f"{pid} {name}" for pid, name in pids]
        raise BadTarget(f"{s!r} matches {len(pids)} processes; give a PID", cands)
    return open_pid(pids[0][0], opts)
