"""The --html page of a live child, rendered by headless Chromium: no script
errors, every region start and finding rule id in the DOM, the search box
finds a region by address, and a hostile mapped-file path stays text."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from symmap.audit import audit
from symmap.pipeline import open_annotated
from tests.support.browser import chromium, dump_dom, screenshot
from tests.support.children import build_child, run_child

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_FILE = "script><img src=x onerror=alert(1)><!--\u2028x"


@pytest.fixture
def child_page(tmp_path: Path):
    chromium()
    exe = _build(tmp_path)
    d = tmp_path / "<"               # the path holds "</script>"
    d.mkdir()
    f = d / HOSTILE_FILE
    f.write_bytes(b"\0" * 4096)
    with run_child(exe, str(f)) as c:
        page = tmp_path / "page.html"
        r = subprocess.run(["python3", "-m", "symmap", "map", str(c.pid), "--html", str(page)],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        t = open_annotated(str(c.pid))
        try:
            findings = audit(t)
            regions = list(t.regions)
        finally:
            t.close()
    yield page, c.ranges["rwx"], regions, findings, str(f)


def _build(tmp_path: Path) -> Path:
    import shutil
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    build_child(tmp_path)            # skips off Linux
    exe = tmp_path / "html_child"
    r = subprocess.run([cc, "-O1", "-o", str(exe), str(ROOT / "fixtures/html/html_child.c")],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot build the child: {r.stderr[:200]}")
    return exe


def test_live_child_page_in_chromium(child_page, tmp_path: Path):
    page, (rs, re_), regions, findings, hostile = child_page
    assert len([r for r in regions if r.path == hostile]) >= 300
    assert any(f.rule == "wx" and f.start == rs for f in findings)
    html_text = page.read_text()
    # The hostile path never appears raw: only our own closing script tags.
    assert html_text.count("</script>") == 2
    assert "<img src=x" not in html_text
    dom, console = dump_dom(page, f"#q=0x{rs + 16:x}")
    assert console == [], console
    assert 'id="errors" role="alert"></div>' in dom
    assert "data-ready=" in dom
    for r in regions:
        assert f"{r.start:x}" in dom, f"{r.start:x} missing"
    for f in findings:
        assert f.rule in dom
    # The search (the box, filled from the URL fragment and submitted) found the rwx region.
    result = re.search(r'<pre id="resulttext">(.*?)</pre>', dom, re.S)
    assert result and f"found 0x{rs + 16:x}" in result.group(1)
    assert f"{rs:x}-{re_:x}" in result.group(1)
    # The hostile name is text in the DOM: no <img> element was created from it.
    assert "<img" not in dom
    assert "script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    png = tmp_path / "page.png"
    assert screenshot(page, png, f"#q=0x{rs:x}") == []
    assert png.stat().st_size > 10_000
    print("screenshot:", png)


def test_search_of_an_unmapped_address(child_page, tmp_path: Path):
    # The search names an unmapped address as such (and its neighbours).
    page, (rs, _), _, _, _ = child_page
    dom, console = dump_dom(page, "#q=0x10")
    assert console == []
    assert "0x10 is not mapped" in dom


def test_diff_page_marks_changes(tmp_path: Path):
    chromium()
    exe = _build(tmp_path)
    f = tmp_path / "data.bin"
    f.write_bytes(b"\0" * 4096)
    snaps = []
    for k in range(2):        # two runs of the child: different addresses, so regions added and removed
        with run_child(exe, str(f)) as c:
            out = tmp_path / f"s{k}.json"
            r = subprocess.run(["python3", "-m", "symmap", "save", str(c.pid), "-o", str(out)],
                               cwd=ROOT, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            snaps.append(str(out))
    page = tmp_path / "diff.html"
    r = subprocess.run(["python3", "-m", "symmap", "diff", *snaps, "--html", str(page)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr          # different
    dom, console = dump_dom(page)
    assert console == []
    changes = re.search(r'<pre id="changes">(.*?)</pre>', dom, re.S)
    assert changes and "+ region" in changes.group(1) and "- region" in changes.group(1)
    assert "removed (diff)" in dom              # the legend names the removed-region style


def test_unwritable_html_file_is_one_line_exit_2(tmp_path: Path):
    r = subprocess.run(["python3", "-m", "symmap", "map", "--html", str(tmp_path / "no" / "such" / "p.html")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("symmap: cannot write") and r.stderr.count("\n") == 1


def test_read_only_html_file_is_refused_before_the_walk_and_kept(tmp_path: Path):
    """--html writes as `save -o` does: a read-only FILE is refused (there is
    no --force here) and left as it was; a writable one keeps its mode."""
    ro = tmp_path / "ro.html"
    ro.write_text("old")
    ro.chmod(0o444)
    r = subprocess.run(["python3", "-m", "symmap", "map", "999999999", "--html", str(ro)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    # Refused before the target is looked at (that pid does not exist).
    assert r.stderr == f"symmap: cannot write {ro}: it is read-only\n"
    assert ro.read_text() == "old" and (ro.stat().st_mode & 0o777) == 0o444
    rw = tmp_path / "rw.html"
    rw.write_text("old")
    rw.chmod(0o640)
    snap = tmp_path / "s.json"
    assert subprocess.run(["python3", "-m", "symmap", "save", str(os.getpid()), "-o", str(snap)],
                          cwd=ROOT).returncode == 0
    r = subprocess.run(["python3", "-m", "symmap", "map", str(snap), "--html", str(rw)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert rw.read_text().startswith("<!DOCTYPE html>") and (rw.stat().st_mode & 0o777) == 0o640
