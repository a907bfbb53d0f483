"""Issue 12: every target string survives save -> load -> diff byte for byte
(undecodable bytes, lone surrogates, and names that look like escapes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

from symmap.cli import cli
from symmap.errors import CorruptInput
from symmap.model import Record
from symmap.render.escape import escape, json_safe, json_unescape
from symmap.render.json import dumps, to_dict
from symmap.render.text import render_report
from symmap.sources.snapshot import load
from tests.sources.test_snapshot import rich_macos_target

ROOT = Path(__file__).resolve().parents[2]
# Undecodable bytes, the same text spelled as escapes, another lone surrogate.
ODD = "\udcff\udcfe|\\xff\\xfe|\\\\|\ud800|\\"


@given(st.text(alphabet=st.sampled_from(["a", "é", "\\", "x", "f", "u", "d", "8", "\udcff",
                                         "\udc80", "\ud800", "\udfff", "\n", "\u2028"])))
def test_json_safe_round_trips_and_is_strict_utf8(s):
    e = json_safe(s)
    assert e is not None
    e.encode("utf-8")                  # no lone surrogate left: strict parsers accept it
    assert json_unescape(e) == s


def test_undecodable_name_and_its_escape_spelling_differ_in_json():
    raw, literal = "bad\udcff\udcfeutf8", "bad\\xff\\xfeutf8"
    assert json_safe(raw) != json_safe(literal)
    # and in text, as before: \xff for the byte, \\xff for the backslash
    assert escape(raw) == "bad\\xff\\xfeutf8" and escape(literal) == "bad\\\\xff\\\\xfeutf8"


def test_plain_strings_are_returned_as_they_are():
    for s in ("/usr/lib/libc.so.6", "démo", "ünïcode\u2028note", ""):
        assert json_safe(s) is s


@pytest.mark.parametrize("bad", ["\\", "a\\q", "\\x7f", "\\xg0", "\\u0041", "\\ud80"])
def test_malformed_escapes_are_refused(bad):
    with pytest.raises(ValueError):
        json_unescape(bad)


def _oddify(obj: Any, seen: set[int]) -> None:
    """Append ODD to every free string field of a model object, recursively."""
    if id(obj) in seen or not isinstance(obj, Record):
        return
    seen.add(id(obj))
    for name in type(obj).__slots__:
        v = getattr(obj, name)
        if isinstance(v, str):
            setattr(obj, name, v + ODD)
        elif isinstance(v, list):
            for x in v:
                _oddify(x, seen)
        elif isinstance(v, Record):
            _oddify(v, seen)


def odd_target():
    t = rich_macos_target()
    _oddify(t, set())
    t.kind = "live"                    # one of a fixed set, not a free string
    t.notes.append("note" + ODD)
    t.info["key" + ODD] = ["value" + ODD, {"k" + ODD: "v" + ODD}]
    t.info["parent"] = [1, "launchd" + ODD]
    assert t.shared_cache is not None
    t.shared_cache.subcaches.append({"suffix" + ODD: ".02" + ODD})
    return t


def test_every_string_field_round_trips_exactly():
    t = odd_target()
    assert t.regions[0].path and t.regions[0].path.endswith(ODD)
    assert t.threads[0].frames[0].symbol and t.threads[0].frames[0].symbol.endswith(ODD)
    text = dumps(t)
    text.encode("ascii")
    u = load(text)
    assert u.regions == t.regions and u.images == t.images and u.threads == t.threads
    assert u.shared_cache == t.shared_cache and u.info == t.info and u.notes == t.notes
    assert (u.name, u.path, u.arch, u.os, u.os_version) == (t.name, t.path, t.arch, t.os, t.os_version)
    assert dumps(u) == text and to_dict(u) == to_dict(t)
    assert render_report(u) == render_report(t)


def test_schema_1_snapshots_still_load_with_strings_as_written():
    d = to_dict(rich_macos_target())
    d["schema"] = 1
    d["regions"][0]["path"] = "C:\\dir\\x"          # no escapes in schema 1
    assert load(json.dumps(d)).regions[0].path == "C:\\dir\\x"
    d["schema"] = 2
    with pytest.raises(CorruptInput, match=r"regions\[0\]\.path: bad escape"):
        load(json.dumps(d))


CHILD = r"""
import mmap, os, sys
fds = []
for name in sys.argv[2:]:
    p = os.path.join(os.fsencode(sys.argv[1]), os.fsencode(name))
    with open(p, "wb") as f:
        f.write(b"x" * 4096)
    fd = os.open(p, os.O_RDONLY)
    fds.append(mmap.mmap(fd, 4096, prot=mmap.PROT_READ, flags=mmap.MAP_SHARED))
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_live_process_with_undecodable_names_diffs_identical_with_its_snapshot(tmp_path):
    names = [os.fsdecode(b"bad\xff\xfeutf8"), "bad\\xff\\xfeutf8"]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), *names],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        snap = tmp_path / "s.json"
        run = CliRunner().invoke
        r = run(cli, ["save", str(proc.pid), "-o", str(snap)], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        r = run(cli, ["diff", str(snap), str(proc.pid)], catch_exceptions=False)
        assert (r.exit_code, r.stdout) == (0, "identical\n")
        live = run(cli, ["map", str(proc.pid)], catch_exceptions=False).stdout
        saved = run(cli, ["map", str(snap)], catch_exceptions=False).stdout
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=20)

    def rows(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if "/bad" in ln]
    assert rows(live) == rows(saved)
    assert len(rows(live)) == 2 and len(set(rows(live))) == 2
    paths = {r["path"] for r in json.loads(snap.read_text())["regions"]
             if r["path"] and "/bad" in r["path"]}
    assert {p.rsplit("/", 1)[1] for p in paths} == {"bad\\xff\\xfeutf8", "bad\\\\xff\\\\xfeutf8"}
