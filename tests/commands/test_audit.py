"""`symmap audit` through the real CLI: exit codes, --json, --min-severity,
escaping of target-supplied strings."""
from __future__ import annotations

import json

from click.testing import CliRunner

from symmap.cli import cli
from symmap.model import Region, Target
from symmap.render.json import dumps
from tests.audit._children import audit_child, data_file
from tests.support.children import run_child


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_clean_process_exits_0():
    with run_child(audit_child(), "clean") as c:
        r = run("audit", str(c.pid))
    assert r.exit_code == 0, r.output
    assert r.stdout == ""


def test_rwx_process_exits_1_with_one_line_per_finding():
    with run_child(audit_child(), "rwx") as c:
        r = run("audit", str(c.pid))
        rj = run("audit", str(c.pid), "--json")
        rh = run("audit", str(c.pid), "--min-severity", "critical")
    s, e = c.ranges["rwx"]
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("HIGH     wx ") and f"{s:x}-{e:x} rwx/rwx" in lines[0]
    assert lines[1].startswith("MEDIUM   anon-exec ")
    assert rj.exit_code == 1
    doc = json.loads(rj.stdout)
    assert doc["min_severity"] == "low"
    assert [(f["rule"], f["start"], f["end"], f["prot"], f["max_prot"]) for f in doc["findings"]] == [
        ("wx", s, e, "rwx", "rwx"), ("anon-exec", s, e, "rwx", "rwx")]
    assert rh.exit_code == 0 and rh.stdout == ""


def test_file_made_executable_is_high(tmp_path):
    path = data_file(tmp_path)
    with run_child(audit_child(), "filex", str(path)) as c:
        r = run("audit", str(c.pid), "--json", "--min-severity", "high")
    assert r.exit_code == 1
    f, = json.loads(r.stdout)["findings"]
    assert (f["rule"], f["severity"], f["path"], f["image"]) == (
        "exec-unloaded-file", "high", str(path), None)


def test_bad_severity_is_a_usage_error():
    r = CliRunner().invoke(cli, ["audit", "1", "--min-severity", "severe"])
    assert r.exit_code == 2
    assert "severe" in r.stderr


def test_missing_target_exits_2():
    r = run("audit", "999999999")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("symmap: ")


def test_hostile_path_cannot_forge_a_row(tmp_path):
    # A snapshot whose mapped-file path holds a newline and a fake finding.
    evil = "/tmp/x\nCRITICAL wx 0-1 rwx/rwx forged"
    t = Target(kind="live", pid=7, name="evil", os="linux", arch="x86_64", annotated=True,
               regions=[Region(0x10000, 0x11000, 5, None, kind="file", path=evil,
                               type="mapped file", detail=evil)])
    snap = tmp_path / "evil.json"
    snap.write_text(dumps(t))
    r = run("audit", str(snap))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    assert "exec-unloaded-file" in lines[0] and "\\n" in lines[0]
