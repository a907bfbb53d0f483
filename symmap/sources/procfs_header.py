"""Header facts of a live Linux process that vmmap's header names: launch time
and the OS version, read offline from procfs and /etc/os-release.

Launch time = boot time (``btime`` in /proc/stat) + the process's start time
(/proc/PID/stat field 22, clock ticks since boot; proc(5)).  The OS version is
os-release's PRETTY_NAME with the kernel release, as vmmap pairs a product
name with its build (``macOS 14.0 (23A344)``).
"""
from __future__ import annotations

import os
from datetime import datetime

__all__ = ["header_facts"]

_MAX_READ = 64 << 10        # /proc/stat and os-release are a few KB


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_MAX_READ).decode("utf-8", "replace")
    except OSError:
        return None


def launch_time(procfs_root: str, start_ticks: int) -> str | None:
    stat = _read(f"{procfs_root}/stat")
    if stat is None:
        return None
    btime = next((ln.split()[1] for ln in stat.splitlines() if ln.startswith("btime ") and len(ln.split()) > 1),
                 None)
    try:
        hz = os.sysconf("SC_CLK_TCK")
        when = int(btime or "") + start_ticks / hz
        return datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")
    except (ValueError, OSError, OverflowError, ZeroDivisionError):
        return None


def os_version(release: str, etc: str = "/etc") -> str:
    for path in (f"{etc}/os-release", "/usr/lib/os-release"):
        text = _read(path)
        if text is None:
            continue
        for ln in text.splitlines():
            if ln.startswith("PRETTY_NAME="):
                name = ln.split("=", 1)[1].strip().strip('"').strip("'")
                if name:
                    return f"{name} (Linux {release})"
    return f"Linux {release}"


def header_facts(procfs_root: str, start_ticks: int, release: str) -> dict[str, str]:
    out = {"os_version": os_version(release),
           "date": datetime.now().astimezone().isoformat(timespec="milliseconds")}
    lt = launch_time(procfs_root, start_ticks)
    if lt is not None:
        out["launch_time"] = lt
    return out
