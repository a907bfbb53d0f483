"""Issue 12, live: anonymous shared memory as Linux really names it in maps
("/dev/zero (deleted)", "/SYSV… (deleted)", "/memfd:… (deleted)") gets the
rules README's audit table says, never exec-unloaded-file."""
from __future__ import annotations

import subprocess
import sys

import pytest

from symmap.annotate import annotate
from symmap.audit import audit
from symmap.sources import open_pid

CHILD = r"""
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
rwx = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
shared = mmap.mmap(-1, 8192, flags=mmap.MAP_SHARED, prot=rwx)
fd = os.memfd_create("payload")
os.ftruncate(fd, 4096)
memfd = mmap.mmap(fd, 4096, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_EXEC)
sysv = None
shmid = libc.shmget(0, 4096, 0o1600)          # IPC_PRIVATE, IPC_CREAT | 0600
if shmid >= 0:
    sysv = libc.shmat(shmid, None, 0o100000)   # SHM_EXEC
    libc.shmctl(shmid, 0, None)                # IPC_RMID: freed when we exit
    if sysv in (None, ctypes.c_void_p(-1).value):
        sysv = None
print("ready", 1 if sysv else 0, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_shared_anonymous_memfd_and_sysv_code():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == [b"ready"]
        t = annotate(open_pid(proc.pid))
        t.close()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=20)
    by_path: dict[str, set[str]] = {}
    for f in audit(t, "info"):
        by_path.setdefault(f.path or "", set()).add(f.rule)
    assert by_path.get("/dev/zero") == {"wx", "anon-exec"}, by_path
    assert by_path.get("/memfd:payload") == {"exec-memfd"}, by_path
    sysv = {p: r for p, r in by_path.items() if p.startswith("/SYSV")}
    if line[1] == b"1":
        assert list(sysv.values()) == [{"wx", "anon-exec"}], by_path     # shmat rw + SHM_EXEC
    assert not any("exec-unloaded-file" in r for r in by_path.values()), by_path
