"""`symmap audit` / `symmap diff` on hand-built snapshots."""
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


def test_diff_refuses_targets_of_different_arch_or_os(tmp_path):
    a = rwx_snapshot(tmp_path, "a.json")
    b = tmp_path / "b.json"
    b.write_text(a.read_text().replace('"x86_64"', '"arm64"'))
    r = CliRunner().invoke(cli, ["diff", str(a), str(b)])
    assert r.exit_code == 2 and r.stdout == ""
    assert "different arch" in r.stderr and "x86_64" in r.stderr and "arm64" in r.stderr
    c = tmp_path / "c.json"
    c.write_text(a.read_text().replace('"linux"', '"macos"'))
    r = CliRunner().invoke(cli, ["diff", str(a), str(c)])
    assert r.exit_code == 2 and "different os" in r.stderr
    # Same os and arch, different kind: compared normally.
    k = tmp_path / "k.json"
    k.write_text(a.read_text().replace('"kind": "live"', '"kind": "core"'))
    assert '"core"' in k.read_text()
    r = run("diff", str(a), str(k))
    assert r.exit_code == 0 and r.stdout.strip() == "identical"


def test_diff_lines_escape_hostile_paths(tmp_path):
    base = rwx_snapshot(tmp_path, "a.json")
    t = Target(kind="live", name="x", pid=7, os="linux", arch="x86_64", page_size=4096,
               regions=[Region(0x10000, 0x12000, 7, 7, kind="anon", type="anonymous"),
                        Region(0x20000, 0x21000, 1, None, kind="file", offset=0,
                               path="/tmp/a\n+ region 0-1 evil\x1b[2J", type="mapped file")],
               images=[Image("/lib\n- image 0 /forged", 0x30000, None, 0,
                             [Segment("text", 0x30000, 0x1000, 5, 5)], False, "elf-dyn",
                             "x86_64")],
               annotated=True)
    after = tmp_path / "b.json"
    after.write_text(dumps(t) + "\n")
    r = run("diff", str(base), str(after))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3, lines                     # region, image, summary
    assert "\x1b" not in r.stdout
    doc = json.loads(run("diff", str(base), str(after), "--json").stdout)
    assert doc["regions"][0]["path"] == "/tmp/a\n+ region 0-1 evil\x1b[2J"
