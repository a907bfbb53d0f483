"""`symmap save`: stdout or file, atomic write, and the snapshot works as a
TARGET for map, lookup, audit and diff."""
from __future__ import annotations

import json

from click.testing import CliRunner

from symmap.cli import cli
from tests.audit._children import audit_child
from tests.support.children import run_child


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_save_to_stdout_and_file_agree(tmp_path):
    snap = tmp_path / "s.json"
    with run_child(audit_child(), "rwx") as c:
        assert run("save", str(c.pid), "-o", str(snap)).exit_code == 0
    r = run("save", str(snap), "-o", "-")
    assert r.exit_code == 0
    assert r.stdout == snap.read_text()
    doc = json.loads(r.stdout)
    assert doc["schema"] == 2 and doc["target"]["kind"] == "live"
    assert doc["images"] and all("segments" in i for i in doc["images"])
    # Only the snapshot is left behind: no temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_snapshot_is_a_target_for_lookup(tmp_path):
    snap = tmp_path / "s.json"
    with run_child(audit_child(), "rwx") as c:
        assert run("save", str(c.pid), "-o", str(snap)).exit_code == 0
        s, _e = c.ranges["rwx"]
    doc = json.loads(snap.read_text())
    text_row = next(r for r in doc["regions"] if r["segment"] == "text")
    r = run("lookup", str(snap), hex(text_row["start"]), hex(s), "--json")
    assert r.exit_code == 0, r.output
    first, second = json.loads(r.stdout)
    assert (first["image"], first["segment"], first["mapped"]) == (text_row["image"], "text", True)
    assert first["region"]["start"] == text_row["start"]
    assert (second["image"], second["region"]["start"], second["region"]["prot"]) == (None, s, "rwx")


def test_save_requires_output():
    r = CliRunner().invoke(cli, ["save", "1"])
    assert r.exit_code == 2 and "--output" in r.stderr
