"""Advice for a refused /proc/PID read, from facts that are cheap to check.

"Run as its user or root" is wrong advice for root itself: root in a
container is refused pid 1 when it lacks CAP_SYS_PTRACE and pid 1 is not
dumpable or holds capabilities it lacks (security/commoncap.c
cap_ptrace_access_check), and Yama's ptrace_scope refuses /proc/PID/mem
(attach mode) to anyone but ancestors (1), CAP_SYS_PTRACE holders (2), or
everyone (3).  /proc/PID/status and /proc/self/status are readable without
ptrace access, so the target's uid and our capabilities can be read here.
"""
from __future__ import annotations

import os

__all__ = ["denied_advice", "mem_advice"]

CAP_SYS_PTRACE = 19
_GRANT = "grant it CAP_SYS_PTRACE (docker run --cap-add=SYS_PTRACE)"


def _status_field(path: str, key: bytes) -> list[bytes] | None:
    try:
        with open(path, "rb") as f:
            for line in f.read(1 << 16).splitlines():
                if line.startswith(key):
                    return line[len(key):].split()
    except OSError:
        pass
    return None


def _euid_of(root: str, pid: int) -> int | None:
    f = _status_field(f"{root}/{pid}/status", b"Uid:")
    return int(f[1]) if f and len(f) > 1 and f[1].isdigit() else None


def _has_ptrace_cap(root: str) -> bool | None:
    f = _status_field(f"{root}/self/status", b"CapEff:")
    try:
        return bool(int(f[0], 16) >> CAP_SYS_PTRACE & 1) if f else None
    except ValueError:
        return None


def _yama_scope(root: str) -> int | None:
    try:
        with open(f"{root}/sys/kernel/yama/ptrace_scope", "rb") as f:
            return int(f.read(16).strip())
    except (OSError, ValueError):
        return None


def denied_advice(pid: int, root: str = "/proc") -> str:
    """Why reading /proc/PID/{maps,smaps,...} (ptrace read mode) was refused."""
    euid = os.geteuid()
    owner = _euid_of(root, pid)
    if euid != 0 and owner is not None and owner != euid:
        return f"it runs as uid {owner}: run symmap as that user or as root"
    cap = _has_ptrace_cap(root)
    if euid == 0 and cap is False:
        return ("symmap runs as root without CAP_SYS_PTRACE (in a container?), and the process "
                f"is not dumpable or holds capabilities symmap lacks: {_GRANT}")
    if euid == 0:
        return ("root with CAP_SYS_PTRACE was refused: a security module (AppArmor, SELinux) "
                "or a user namespace symmap is not in protects the process")
    return ("the process is not dumpable or holds capabilities symmap lacks (a setuid or "
            "setcap program, or PR_SET_DUMPABLE 0): run symmap as root")


def mem_advice(pid: int, root: str = "/proc") -> str:
    """Why /proc/PID/mem (ptrace attach mode: Yama applies) could not be opened."""
    scope = _yama_scope(root)
    if scope == 3:
        return "kernel.yama.ptrace_scope is 3: no process may read another's memory"
    if scope in (1, 2) and not _has_ptrace_cap(root):
        who = "its ancestors and " if scope == 1 else ""
        return (f"kernel.yama.ptrace_scope is {scope}: only {who}holders of CAP_SYS_PTRACE may "
                "read its memory (run symmap as root with CAP_SYS_PTRACE)")
    return denied_advice(pid, root)
