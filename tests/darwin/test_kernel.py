"""LibSystemKernel logic that runs without libSystem: port order, the taskgated timeout,
and struct -> record conversion (the _mach calls are monkeypatched)."""
from __future__ import annotations

import ctypes
import threading

import pytest

from symmap.darwin import _mach
from symmap.darwin.consts import KERN_FAILURE, PortRefused
from symmap.darwin.kernel import LibSystemKernel, region_info_from_struct


def test_read_port_is_tried_before_control_port(monkeypatch):
    tried = []

    def tfp(pid, read_only=False):
        tried.append(read_only)
        if read_only:
            raise PortRefused("task_read_for_pid", KERN_FAILURE)
        return 0x1303
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: True)
    monkeypatch.setattr(_mach, "task_for_pid", tfp)
    t = LibSystemKernel().open_task(99999, timeout=2)
    assert tried == [True, False] and t.port == 0x1303 and not t.own


def test_no_read_port_symbol_uses_task_for_pid_only(monkeypatch):
    tried = []
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: False)
    monkeypatch.setattr(_mach, "task_for_pid", lambda pid, ro=False: tried.append(ro) or 7)
    LibSystemKernel().open_task(99999)
    assert tried == [False]


def test_taskgated_hang_times_out(monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: False)
    monkeypatch.setattr(_mach, "task_for_pid", lambda pid, ro=False: gate.wait(5) and 1)
    with pytest.raises(PortRefused) as ei:
        LibSystemKernel().open_task(99999, timeout=0.2)
    gate.set()
    assert "taskgated" in str(ei.value)


def test_refusal_is_propagated(monkeypatch):
    def tfp(pid, ro=False):
        raise PortRefused("task_for_pid", 5)
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: False)
    monkeypatch.setattr(_mach, "task_for_pid", tfp)
    with pytest.raises(PortRefused, match="task_for_pid: KERN_FAILURE"):
        LibSystemKernel().open_task(99999)


def test_region_info_from_raw_struct_bytes():
    import struct
    raw = struct.pack("<iiIQIIIIIIHBBiiIH2xIQ", 5, 7, 1, 0x4000, 30, 3, 0, 2, 1, 4, 0, 1, 6, 0,
                      0, 0xdead, 0, 0, 0x1122334455)
    s = _mach.VmRegionSubmapInfo64.from_buffer_copy(raw)
    ri = region_info_from_struct(0x1000, 0x2000, 1, s)
    assert (ri.protection, ri.max_protection, ri.offset, ri.user_tag, ri.pages_resident,
            ri.pages_swapped_out, ri.pages_dirtied, ri.external_pager, ri.share_mode,
            ri.object_id_full) == (5, 7, 0x4000, 30, 3, 2, 1, 1, 6, 0x1122334455)


def test_proc_region_path_extraction(monkeypatch):
    def fake(pid, flavor, arg, st):
        s = st()
        s.prp_prinfo.pri_address = 0x1000
        s.prp_prinfo.pri_size = 0x3000
        buf = (ctypes.c_char * 1272).from_buffer(s)
        buf[248:248 + 9] = b"/bin/ls\0\0"
        return s
    monkeypatch.setattr(_mach, "proc_pidinfo", fake)
    pr = LibSystemKernel().proc_region(1, 0x1800, True)
    assert (pr.address, pr.size, pr.path) == (0x1000, 0x3000, "/bin/ls")


@pytest.mark.parametrize("pid", [1 << 40, 99999999999, 100000, -1, -(1 << 40)])
def test_pid_exists_out_of_range_is_false_not_overflow(pid):
    # `symmap 99999999999` reached os.kill(pid, 0) -> OverflowError (a traceback), and a
    # negative pid would have probed a process group.
    assert LibSystemKernel().pid_exists(pid) is False


def test_pid_exists_kernel_and_self():
    import os
    k = LibSystemKernel()
    assert k.pid_exists(0) is True and k.pid_exists(os.getpid()) is True


class _FakeLib:
    """Stands in for the libSystem CDLL: records calls, answers like the kernel."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def mach_task_self(self):
        return 0x103

    def __getattr__(self, name):
        if name not in self.answers:
            raise AttributeError(name)

        def fn(*args):
            self.calls.append(name)
            rc, err = self.answers[name]
            ctypes.set_errno(err)
            return rc
        return fn


def test_task_read_for_pid_refusal_is_an_errno_not_a_kern_return(monkeypatch):
    # xnu bsd/kern/syscalls.master: 539 task_read_for_pid is a BSD syscall -> -1 + errno.
    import errno
    monkeypatch.setattr(_mach, "_lib", _FakeLib(task_read_for_pid=(-1, errno.ESRCH)))
    with pytest.raises(PortRefused) as ei:
        _mach.task_for_pid(4242, read_only=True)
    assert ei.value.os_errno == errno.ESRCH
    assert str(ei.value).startswith("task_read_for_pid: ESRCH")
    assert "-0x1" not in str(ei.value)


def test_task_for_pid_refusal_stays_a_kern_return(monkeypatch):
    monkeypatch.setattr(_mach, "_lib", _FakeLib(task_for_pid=(KERN_FAILURE, 0)))
    with pytest.raises(PortRefused) as ei:
        _mach.task_for_pid(4242)
    assert ei.value.kr == KERN_FAILURE and ei.value.os_errno is None
    assert str(ei.value) == "task_for_pid: KERN_FAILURE"


def test_both_refusals_are_reported(monkeypatch):
    import errno
    monkeypatch.setattr(_mach, "_lib", _FakeLib(task_read_for_pid=(-1, errno.EPERM),
                                                task_for_pid=(KERN_FAILURE, 0)))
    with pytest.raises(PortRefused) as ei:
        LibSystemKernel().open_task(4242, timeout=2)
    msg = str(ei.value)
    assert msg.startswith("task_for_pid: KERN_FAILURE") and "task_read_for_pid: EPERM" in msg


def test_unexpected_error_in_port_thread_is_not_reported_as_a_taskgated_hang(monkeypatch):
    def boom(pid, ro=False):
        raise AttributeError("task_for_pid")
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: False)
    monkeypatch.setattr(_mach, "task_for_pid", boom)
    with pytest.raises(AttributeError):
        LibSystemKernel().open_task(4242, timeout=2)


def test_port_granted_after_the_timeout_is_given_back(monkeypatch):
    import time
    gate = threading.Event()
    freed = []
    monkeypatch.setattr(_mach, "has_task_read_for_pid", lambda: False)
    monkeypatch.setattr(_mach, "task_for_pid", lambda pid, ro=False: gate.wait(5) and 0x1303)
    monkeypatch.setattr(_mach, "mach_port_deallocate", freed.append)
    with pytest.raises(PortRefused, match="taskgated"):
        LibSystemKernel().open_task(4242, timeout=0.2)
    gate.set()                      # taskgated finally says yes
    deadline = time.monotonic() + 3
    while not freed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert freed == [0x1303]
