"""Review findings for `symmap audit` / `symmap diff` on hand-built snapshots."""
from __future__ import annotations

import json

from click.testing import CliRunner

from symmap.cli import cli
from symmap.model import Image, Region, Segment, Target
from symmap.render.json import dumps


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def rwx_snapshot(tmp_path, name="s.json", **kw):
    t = Target(kind="live", name="x", pid=7, os="linux", arch="x86_64", page_size=4096,
               regions=[Region(0x10000, 0x12000, 7, 7, kind="anon", type="anonymous")],
               annotated=True, **kw)
    p = tmp_path / name
    p.write_text(dumps(t) + "\n")
    return p


def test_min_severity_is_case_insensitive(tmp_path):
    p = rwx_snapshot(tmp_path)
    r = run("audit", str(p), "--min-severity", "HIGH", "--json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["min_severity"] == "high"
    assert [f["rule"] for f in doc["findings"]] == ["wx"]


def test_unknown_min_severity_is_exit_2_naming_the_levels(tmp_path):
    p = rwx_snapshot(tmp_path)
    r = CliRunner().invoke(cli, ["audit", str(p), "--min-severity", "severe"])
    assert r.exit_code == 2
    for level in ("info", "low", "medium", "high", "critical"):
        assert level in r.output
