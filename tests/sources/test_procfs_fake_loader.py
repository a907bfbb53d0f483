"""The Linux procfs source on fake /proc trees that load
real ELF files the way ld.so does (one mapping per PT_LOAD)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from symmap.formats.elf import elffile as elfmod
from symmap.sources import OpenOptions
from tests.sources.test_linux_procfs import make_fake, maps_line

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")

from symmap.sources import linux_procfs  # noqa: E402

PG = 4096


def some_library() -> Path:
    for p in ("/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libm.so.6",
              "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6"):
        if os.path.exists(p):
            return Path(os.path.realpath(p))
    pytest.skip("no shared library to load")


def loader_lines(path: Path, bias: int, name: str | None = None, st=None) -> list[str]:
    """maps lines as ld.so leaves them for ``path`` loaded at ``bias``."""
    st = st or os.stat(path)
    dev = (os.major(st.st_dev), os.minor(st.st_dev))
    with elfmod.open_elf(str(path)) as e:
        loads = e.loads
    out = []
    for p in loads:
        lo = (bias + p.vaddr) & ~(PG - 1)
        hi = (bias + p.vaddr + p.filesz + PG - 1) & ~(PG - 1)
        perms = ("r" if p.flags & 4 else "-") + ("w" if p.flags & 2 else "-") + \
                ("x" if p.flags & 1 else "-") + "p"
        out.append(maps_line(lo, hi, perms, p.offset & ~(PG - 1), dev, st.st_ino,
                             name or str(path)))
    return out


def test_same_library_loaded_twice_gets_two_images(tmp_path):
    """dlmopen(LM_ID_NEWLM) loads one file a second time at another address:
    both copies are images (only the first one was)."""
    lib = some_library()
    a, b = 0x7f1000000000, 0x7f2000000000
    make_fake(tmp_path, 5001, loader_lines(lib, a) + loader_lines(lib, b))
    t = linux_procfs.open_pid(5001, OpenOptions(procfs_root=str(tmp_path)))
    got = sorted(i.slide for i in t.images if i.path == str(lib))
    assert got == [a, b]


def test_data_mapping_of_a_loaded_library_is_not_a_second_image(tmp_path):
    lib = some_library()
    a = 0x7f1000000000
    st = os.stat(lib)
    data = maps_line(0x7f3000000000, 0x7f3000001000, "r--p", 0, (os.major(st.st_dev),
                     os.minor(st.st_dev)), st.st_ino, str(lib))
    make_fake(tmp_path, 5002, [data] + loader_lines(lib, a))
    t = linux_procfs.open_pid(5002, OpenOptions(procfs_root=str(tmp_path)))
    assert [i.slide for i in t.images if i.path == str(lib)] == [a]


def test_other_mount_namespace_prefers_the_process_root(tmp_path):
    """A container's library whose maps inode matches no path we can stat
    (overlayfs reports the lower inode) is read through /proc/PID/root, not
    from the host file of the same name (another build)."""
    lib = some_library()
    host = tmp_path / "host" / "libx.so"
    host.parent.mkdir()
    shutil.copy(sys.executable if os.path.exists(sys.executable) else lib, host)
    croot = tmp_path / "croot"
    inside = croot / str(host).lstrip("/")
    inside.parent.mkdir(parents=True)
    shutil.copy(lib, inside)

    class Fake:
        st_dev, st_ino = os.makedev(0, 0x99), 987654321
    lines = loader_lines(inside, 0x7f1000000000, name=str(host), st=Fake)
    d = make_fake(tmp_path / "proc", 5003, lines)
    os.symlink(croot, d / "root")
    t = linux_procfs.open_pid(5003, OpenOptions(procfs_root=str(tmp_path / "proc")))
    with elfmod.open_elf(str(lib)) as e:
        want = e.build_id
    img = [i for i in t.images if i.path == str(host)]
    assert img and img[0].uuid == want and img[0].file_path == f"{d}/root{host}"


def test_deleted_library_is_not_read_from_its_replacement(tmp_path):
    """An upgraded library: maps says "/x/libz.so (deleted)" and a new file
    sits at that name.  Without map_files the old bytes are gone; the new
    file (another build) must not describe the old mapping."""
    lib = some_library()
    newfile = tmp_path / "libnew.so"
    shutil.copy(sys.executable, newfile)        # another ELF at the old name

    class Old:
        st_dev, st_ino = os.makedev(0, 0x98), 123456789
    lines = loader_lines(lib, 0x7f1000000000, name=f"{newfile} (deleted)", st=Old)
    d = make_fake(tmp_path / "proc", 5004, lines)
    os.symlink("/", d / "root")                  # same mount namespace as ours
    t = linux_procfs.open_pid(5004, OpenOptions(procfs_root=str(tmp_path / "proc")))
    assert [r.kind for r in t.regions] == ["deleted"] * len(lines)
    assert not [i for i in t.images if i.path == str(newfile)]
    assert any(str(newfile) in n for n in t.notes)


def test_exec_during_the_walk_is_noticed(tmp_path):
    """exec keeps the pid and the start time; a process that execs while
    its smaps is read gives a map of the old image under the new exe.  The
    writer re-points exe before smaps ends (the exec happens mid-read)."""
    from symmap.errors import ProcessVanished
    from tests.sources.test_linux_procfs import FAKE, fifo_smaps
    d = make_fake(tmp_path, 5005, FAKE)

    def execs(d):
        (d / "exe").unlink()
        (d / "exe").symlink_to("/bin/false")

    th = fifo_smaps(d, execs)
    try:
        with pytest.raises(ProcessVanished, match="exec"):
            linux_procfs.open_pid(5005, OpenOptions(procfs_root=str(tmp_path)))
    finally:
        th.join(10)
