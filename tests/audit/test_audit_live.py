"""The audit engine on live Linux children: each suspicious mapping is found,
with the right rule, range and severity, and nothing else is."""
from __future__ import annotations

import pytest

from symmap.annotate import annotate
from symmap.audit import audit
from symmap.model import PROT_EXEC, PROT_READ, PROT_WRITE
from symmap.sources import open_pid
from tests.audit._children import audit_child, data_file
from tests.support.children import run_child


def _audit(pid: int, level: str = "info"):
    t = annotate(open_pid(pid))
    try:
        return t, audit(t, level)
    finally:
        t.close()


def test_clean_child_has_no_findings():
    with run_child(audit_child(), "clean") as c:
        _, findings = _audit(c.pid)
    assert findings == []


def test_rwx_anonymous_memory():
    with run_child(audit_child(), "rwx") as c:
        _, findings = _audit(c.pid)
    s, e = c.ranges["rwx"]
    hits = [f for f in findings if f.start == s]
    assert {f.rule for f in hits} == {"wx", "anon-exec"}
    wx = next(f for f in hits if f.rule == "wx")
    assert (wx.end, wx.severity, wx.prot) == (e, "high", PROT_READ | PROT_WRITE | PROT_EXEC)
    assert wx.image is None and wx.max_prot == 7  # smaps VmFlags mr mw me
    # Nothing else in the process is suspicious.
    assert all(f.start == s for f in findings)


def test_file_mapping_made_executable(tmp_path):
    path = data_file(tmp_path)
    with run_child(audit_child(), "filex", str(path)) as c:
        _, findings = _audit(c.pid)
    s, e = c.ranges["filex"]
    assert [(f.rule, f.start, f.end, f.severity, f.path) for f in findings] == [
        ("exec-unloaded-file", s, e, "high", str(path))]
    assert findings[0].prot == PROT_READ | PROT_EXEC


def test_memfd_code():
    with run_child(audit_child(), "memfd") as c:
        _, findings = _audit(c.pid)
    s, e = c.ranges["memfd"]
    assert [(f.rule, f.start, f.end, f.severity) for f in findings] == [("exec-memfd", s, e, "high")]
    assert "memfd:payload" in (findings[0].path or "")


def test_deleted_file_code(tmp_path):
    path = data_file(tmp_path)
    with run_child(audit_child(), "filex", str(path)) as c:
        path.unlink()
        _, findings = _audit(c.pid)
    s, e = c.ranges["filex"]
    assert [(f.rule, f.start, f.end, f.severity) for f in findings] == [("exec-deleted", s, e, "medium")]


def test_executable_stack():
    with run_child(audit_child(), "xstack") as c:
        _, findings = _audit(c.pid)
    s, e = c.ranges["xstack"]
    assert {(f.rule, f.start, f.end) for f in findings} == {("exec-stack", s, e), ("wx", s, e)}


def test_min_severity_filters():
    with run_child(audit_child(), "rwx") as c:
        _, high = _audit(c.pid, "high")
        _, crit = _audit(c.pid, "critical")
    assert [f.rule for f in high] == ["wx"]
    assert crit == []


def test_unknown_severity_is_rejected():
    with run_child(audit_child(), "clean") as c:
        t = annotate(open_pid(c.pid))
        with pytest.raises(ValueError, match="valid ones are"):
            audit(t, "severe")
        t.close()
