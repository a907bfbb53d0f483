"""Issue 12: the advice for a refused /proc/PID read fits who is asking
(root in a container without CAP_SYS_PTRACE was told "run as root")."""
from __future__ import annotations

import errno

import pytest

from symmap.errors import AccessDenied, EXIT_DENIED, ProcessVanished, SymmapError
from symmap.sources import linux_procfs
from symmap.sources.procfs_access import denied_advice, mem_advice

# Docker's default capability set (no CAP_SYS_PTRACE, bit 19) and a full one.
CAPS_DOCKER, CAPS_FULL = "00000000a80425fb", "000001ffffffffff"


def fake_proc(root, target_uid=0, caps=CAPS_DOCKER, scope=None):
    (root / "1").mkdir()
    (root / "1" / "status").write_text(f"Name:\tinit\nUid:\t{target_uid}\t{target_uid}\t0\t0\n")
    (root / "self").mkdir()
    (root / "self" / "status").write_text(f"Name:\tsymmap\nCapEff:\t{caps}\n")
    if scope is not None:
        (root / "sys" / "kernel" / "yama").mkdir(parents=True)
        (root / "sys" / "kernel" / "yama" / "ptrace_scope").write_text(f"{scope}\n")
    return str(root)


def denied(root, monkeypatch, euid):
    monkeypatch.setattr(linux_procfs.os, "geteuid", lambda: euid)
    e = linux_procfs._Proc(1, root).fail(PermissionError(errno.EACCES, "denied"), "smaps")
    assert isinstance(e, AccessDenied) and e.exit_code == EXIT_DENIED
    return str(e)


def test_root_without_cap_sys_ptrace_is_not_told_to_run_as_root(tmp_path, monkeypatch):
    msg = denied(fake_proc(tmp_path), monkeypatch, 0)
    assert msg.startswith("permission denied reading smaps of process 1: ")
    assert "run as its user or root" not in msg
    assert "without CAP_SYS_PTRACE" in msg and "--cap-add=SYS_PTRACE" in msg


def test_root_with_cap_sys_ptrace_is_pointed_at_lsm_or_namespace(tmp_path, monkeypatch):
    msg = denied(fake_proc(tmp_path, caps=CAPS_FULL), monkeypatch, 0)
    assert "security module" in msg and "run symmap as" not in msg


def test_other_user_is_told_the_owner(tmp_path, monkeypatch):
    msg = denied(fake_proc(tmp_path, target_uid=0, caps="0"), monkeypatch, 1000)
    assert "runs as uid 0: run symmap as that user or as root" in msg


def test_same_user_refused_means_not_dumpable(tmp_path, monkeypatch):
    msg = denied(fake_proc(tmp_path, target_uid=1000, caps="0"), monkeypatch, 1000)
    assert "not dumpable" in msg and "run symmap as root" in msg


@pytest.mark.parametrize("scope,caps,want", [
    (1, "0", "ptrace_scope is 1: only its ancestors and holders of CAP_SYS_PTRACE"),
    (2, CAPS_DOCKER, "ptrace_scope is 2: only holders of CAP_SYS_PTRACE"),
    (3, CAPS_FULL, "ptrace_scope is 3: no process"),
    (1, CAPS_FULL, "security module"),         # Yama lets a CAP_SYS_PTRACE holder through
])
def test_memory_advice_names_yama(tmp_path, monkeypatch, scope, caps, want):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert want in mem_advice(1, fake_proc(tmp_path, caps=caps, scope=scope))


def test_missing_status_files_still_give_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    msg = denied_advice(1, str(tmp_path))
    assert msg and "\n" not in msg


def test_other_read_errors_are_one_line_not_a_raw_oserror(tmp_path):
    (tmp_path / "1").mkdir()
    p = linux_procfs._Proc(1, str(tmp_path))
    p.existed = True
    e = p.fail(OSError(errno.EIO, "Input/output error"), "smaps")
    assert isinstance(e, SymmapError) and e.exit_code == 2
    assert str(e) == "cannot read smaps of process 1: Input/output error"
    (tmp_path / "1").rmdir()                    # gone meanwhile: it vanished
    assert isinstance(p.fail(OSError(errno.EIO, "x"), "smaps"), ProcessVanished)
    assert isinstance(p.fail(FileNotFoundError(errno.ENOENT, "x"), "exe"), ProcessVanished)
