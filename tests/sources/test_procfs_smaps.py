"""The bulk smaps parser: the chunked regex path gives exactly what the
line-by-line parser gives, at any chunk boundary, and agrees with psutil."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from symmap.sources import linux_procfs, procfs_smaps

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux procfs")


def _facts(regions):
    return [(r.start, r.end, r.prot, r.max_prot, r.share_mode, r.kind, r.resident, r.dirty,
             r.swapped, r.path, r.offset) for r in regions]


def _slow(data: bytes):
    return linux_procfs._parse_slow(procfs_smaps._decode_lines(data))


def test_fast_path_equals_line_parser_on_own_smaps(monkeypatch):
    data = Path("/proc/self/smaps").read_bytes()
    want, want_ids = _slow(data)
    assert len(want) > 10
    for chunk in (1 << 20, 4096, 700):       # VMAs cut at every kind of boundary
        monkeypatch.setattr(procfs_smaps, "CHUNK", chunk)
        got, ids = linux_procfs.parse_maps(data, True)
        assert _facts(got) == _facts(want) and ids == want_ids


def test_names_with_spaces_deleted_and_long_prefix():
    pad = " " * (procfs_smaps.NAME_COL - len("1000-2000 r--p 00000000 08:01 12"))
    block = ("{h}\nRss:                   4 kB\nShared_Dirty:          0 kB\n"
             "Private_Dirty:         4 kB\nSwap:                  8 kB\nVmFlags: rd mr mw me\n")
    heads = [f"1000-2000 r--p 00000000 08:01 12{pad}  lead.so",        # spaces belong to the name
             f"2000-3000 r--p 00001000 08:01 12{pad}/x/gone.so (deleted)",
             f"3000-4000 r-xp 00002000 08:01 12{pad}/x/a\\012b",
             "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 123456789012345678 /long/prefix",
             "5000-6000 ---p 00000000 00:00 0"]
    text = "".join(block.format(h=h) for h in heads)
    got, ids = linux_procfs.parse_maps(text, True)
    assert [(r.path, r.kind) for r in got] == [
        ("  lead.so", "file"), ("/x/gone.so", "deleted"), ("/x/a\nb", "file"), ("/long/prefix", "file"),
        (None, "guard")]
    assert got[0].resident == 4096 and got[0].dirty == 4096 and got[0].swapped == 8192
    assert ids[0] == (os.makedev(8, 1), 12) and ids[-1] == (0, 0)
    assert _facts(got) == _facts(_slow(text.encode())[0])


def test_unexpected_layout_falls_back_per_chunk():
    """A file whose VMAs do not share one layout still parses (the slow path)."""
    a = ("1000-2000 rw-p 00000000 00:00 0\nRss: 4 kB\nShared_Dirty: 0 kB\nPrivate_Dirty: 4 kB\n"
         "Swap: 0 kB\nVmFlags: rd wr mr mw\n")
    b = ("2000-3000 r--p 00000000 00:00 0\nSize: 4 kB\nRss: 8 kB\nShared_Dirty: 0 kB\n"
         "Private_Dirty: 0 kB\nSwap: 0 kB\n")
    got, _ = linux_procfs.parse_maps(a + b, True)
    assert [(r.resident, r.max_prot) for r in got] == [(4096, 3), (8192, None)]


def test_maps_only_has_no_counters():
    data = Path("/proc/self/maps").read_bytes()
    got, _ = linux_procfs.parse_maps(data, False)
    assert len(got) == data.count(b"\n") and all(r.resident is None for r in got)


def test_agrees_with_psutil_on_a_child_with_many_mappings(tmp_path):
    psutil = pytest.importorskip("psutil")
    from tests.support.children import build_child
    exe = build_child(tmp_path)
    p = subprocess.Popen([str(exe), "many", "3000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        while p.stdout.readline().strip() != b"ready":
            pass
        os.kill(p.pid, 19)          # SIGSTOP: both readers see the same map
        try:
            from symmap.sources import OpenOptions
            t = linux_procfs.open_pid(p.pid, OpenOptions())
            theirs = psutil.Process(p.pid).memory_maps(grouped=False)
        finally:
            os.kill(p.pid, 18)
        assert len(t.regions) == len(theirs) > 6000
        for r, m in zip(t.regions, theirs):
            start, end = (int(x, 16) for x in m.addr.split("-"))
            assert (r.start, r.end) == (start, end)
            if r.kind in ("vdso", "vvar"):
                continue            # kernel pages: their Rss moves between two reads
            assert (r.resident, r.swapped) == (m.rss, m.swap)
            assert r.dirty == m.private_dirty + m.shared_dirty
            if r.path and r.path.startswith("/") and r.kind == "file":
                assert r.path == m.path
        t.close()
    finally:
        p.stdin.close()
        p.wait()
