"""`symmap diff`: a process before and after one mmap differs by exactly that
mapping; identical inputs exit 0."""
from __future__ import annotations

import json

from click.testing import CliRunner

from symmap.cli import cli
from tests.audit._children import audit_child, data_file
from tests.support.children import run_child


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _late_map(c) -> tuple[int, int]:
    c.proc.stdin.write(b"map\n")
    c.proc.stdin.flush()
    label, s, e = c.proc.stdout.readline().decode().split()
    assert label.startswith("late")
    return int(s, 16), int(e, 16)


def test_diff_before_and_after_one_mmap(tmp_path):
    path = data_file(tmp_path)
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    with run_child(audit_child(), "late", str(path)) as c:
        assert run("save", str(c.pid), "-o", str(before)).exit_code == 0
        # Nothing happened yet: live against its own snapshot is identical.
        r0 = run("diff", str(before), str(c.pid))
        s, e = _late_map(c)
        r = run("diff", str(before), str(c.pid), "--json")
        assert run("save", str(c.pid), "-o", str(after)).exit_code == 0
        rt = run("diff", str(before), str(after))
    assert r0.exit_code == 0, r0.stdout
    assert r0.stdout.strip() == "identical"
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["identical"] is False
    assert [(x["change"], x["start"], x["end"], x["prot"], x["path"]) for x in doc["regions"]] == [
        ("added", s, e, "r--", str(path))]
    assert doc["images_loaded"] == doc["images_unloaded"] == []
    assert doc["new_findings"] == doc["resolved_findings"] == []
    assert doc["counts"]["added"] == 1 and doc["counts"]["removed"] == 0
    # Text form, snapshot against snapshot: one region line and the summary.
    assert rt.exit_code == 1
    lines = rt.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"+ region      {s:x}-{e:x} ") and str(path) in lines[0]
    assert lines[1].startswith("1 added, 0 removed, 0 resized, 0 reprotected regions")


def test_identical_snapshots_exit_0(tmp_path):
    snap = tmp_path / "s.json"
    with run_child(audit_child(), "rwx") as c:
        assert run("save", str(c.pid), "-o", str(snap)).exit_code == 0
    r = run("diff", str(snap), str(snap), "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["identical"] is True and doc["regions"] == []


def test_diff_reports_new_findings(tmp_path):
    clean, dirty = tmp_path / "clean.json", tmp_path / "dirty.json"
    with run_child(audit_child(), "clean") as c:
        run("save", str(c.pid), "-o", str(clean))
    with run_child(audit_child(), "rwx") as c:
        run("save", str(c.pid), "-o", str(dirty))
        s, e = c.ranges["rwx"]
    r = run("diff", str(clean), str(dirty), "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert {(f["rule"], f["start"]) for f in doc["new_findings"]} == {("wx", s), ("anon-exec", s)}


def test_diff_missing_target_is_exit_2(tmp_path):
    r = CliRunner().invoke(cli, ["diff", str(tmp_path / "nope.json"), "999999999"])
    assert r.exit_code == 2 and r.stdout == ""


def test_interval_diffs_two_samples_of_one_process(tmp_path):
    """vmmap's `-d SECONDS` as `diff PID --interval SECONDS`: the mapping made
    between the two samples is the one difference."""
    import os
    import subprocess
    import sys
    import time
    path = data_file(tmp_path)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    with run_child(audit_child(), "late", str(path)) as c:
        p = subprocess.Popen([sys.executable, "-m", "symmap", "diff", str(c.pid), "--interval", "3", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(1.5)                      # the first sample is taken well within this
        s, e = _late_map(c)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    doc = json.loads(out)
    assert [(x["change"], x["start"], x["end"], x["path"]) for x in doc["regions"]] == [("added", s, e, str(path))]
