"""Snapshots: `symmap save` then load gives the same report byte for byte, and
a bad or hostile snapshot is one CorruptInput (exit 2), never a traceback."""
from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from symmap.annotate import annotate
from symmap.audit import audit
from symmap.audit.diff import diff_targets
from symmap.cli import cli
from symmap.errors import CorruptInput
from symmap.model import (CacheMapping, Frame, Image, Region, Section, Segment, SharedCache,
                          Target, Thread)
from symmap.render.json import dumps, to_dict
from symmap.render.text import render_report
from symmap.sources import open_file, open_pid, sniff_file
from symmap.sources.snapshot import from_dict, load
from tests.audit._children import audit_child
from tests.support.children import run_child


def rich_macos_target() -> Target:
    """Every model field set, including the odd ones (negative slide, None
    max_prot, nested info, surrogate-free unicode)."""
    text = Segment("__TEXT", 0x100000000, 0x4000, 5, 5, 0, 0x4000,
                   [Section("__text", "__TEXT", 0x100003f00, 0x80, 0x3f00)])
    data = Segment("__DATA", 0x100004000, 0x4000, 3, 3, 0x4000, 0x4000)
    lib = Segment("__TEXT", 0x180010000, 0x8000, 5, 5, None, None)
    return Target(
        kind="live", name="démo", pid=4242, path="/usr/bin/demo", arch="arm64e", page_size=16384,
        os="macos", os_version="macOS 14.0 (23A344)", partial=True,
        info={"date": "2025-01-02 03:04:05.678 +0000", "parent": [1, "launchd"],
              "footprint": 1 << 20, "nested": {"a": [1, 2.5, None, True, "x"]}},
        notes=["no task port: regions from proc_pidinfo", "ünïcode\u2028note"],
        regions=[
            Region(0x100000000, 0x100004000, 5, 5, "COW", 0, "file", 16384, 0, 0,
                   "/usr/bin/demo", 0, None, 0, "__TEXT", "/usr/bin/demo", "/usr/bin/demo", "__TEXT"),
            Region(0x100004000, 0x100008000, 3, 3, "PRV", 0, "file", None, None, None,
                   "/usr/bin/demo", 0x4000, "N", 0, "__DATA", "/usr/bin/demo", "/usr/bin/demo",
                   "__DATA"),
            Region(0x180010000, 0x180018000, 5, 7, "COW", 32, "cache", 8192, 0, 0, None, None,
                   None, 1, "__TEXT", "/usr/lib/libx.dylib", "/usr/lib/libx.dylib", "__TEXT"),
            Region(0x300000000, 0x300004000, 7, 7, "PRV", 64, "anon", 0, 0, 0, None, None, "V",
                   0, "JS JIT generated code", None, None, None),
            Region(0x300004000, 0x300008000, 3, None, None, None, None, None, None, None, None,
                   None, None, None, None, None, None, None),
        ],
        images=[Image("/usr/bin/demo", 0x100000000, "00112233445566778899aabbccddeeff", -0x1000,
                      [text, data], False, "execute", "arm64e", None, None),
                Image("/usr/lib/libx.dylib", 0x180010000, None, None, [lib], True, "dylib",
                      "arm64e", 0x8000, "/usr/lib/libx.dylib")],
        shared_cache=SharedCache("aa" * 16, 0x180000000, 0x0, 0x40000000, "/System/cache",
                                 [CacheMapping(0x180000000, 0x20000000, 0, 5, 5, "__TEXT", 0),
                                  CacheMapping(0x1a0000000, 0x1000000, 0x20000000, 3, 3, None, 1)],
                                 [{"uuid": "bb" * 16, "vm_offset": 0x20000000, "suffix": ".01",
                                   "flag": True, "none": None}]),
        threads=[Thread(0, "main", 0x100003f10, 0x16fdff000, True,
                        [Frame(0x100003f10, "/usr/bin/demo", "_main", 0x10, 0x3f10),
                         Frame(0x180012000, None, None, None, None)]),
                 Thread(1)],
        annotated=True,
    )


def roundtrip(t: Target, tmp_path) -> Target:
    p = tmp_path / "snap.json"
    p.write_text(dumps(t))
    assert sniff_file(str(p)) == "snapshot"
    return open_file(str(p))


def test_rich_target_round_trips_exactly(tmp_path):
    t = rich_macos_target()
    u = roundtrip(t, tmp_path)
    assert u.annotated and u.kind == "live"
    assert to_dict(u) == to_dict(t)
    assert dumps(u) == dumps(t)
    assert render_report(u) == render_report(t)
    assert render_report(u, interleaved=True) == render_report(t, interleaved=True)
    # The model itself, not only its rendering.
    assert u.regions == t.regions and u.images == t.images and u.threads == t.threads
    assert u.shared_cache == t.shared_cache and u.info == t.info and u.notes == t.notes


def test_live_process_round_trips_byte_for_byte(tmp_path):
    with run_child(audit_child(), "rwx") as c:
        t = annotate(open_pid(c.pid))
        t.close()
    u = roundtrip(t, tmp_path)
    assert dumps(u) == dumps(t)
    assert render_report(u) == render_report(t)
    assert len(u.images) == len(t.images) > 0


def test_save_command_and_snapshot_as_target(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    runner = CliRunner()
    with run_child(audit_child(), "rwx") as c:
        r = runner.invoke(cli, ["save", str(c.pid), "-o", str(a)], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    # Saving the snapshot again, and mapping it as JSON, reproduce the file.
    r = runner.invoke(cli, ["save", str(a), "-o", str(b)], catch_exceptions=False)
    assert r.exit_code == 0
    assert b.read_bytes() == a.read_bytes()
    r = runner.invoke(cli, ["map", str(a), "--json"], catch_exceptions=False)
    assert r.stdout == a.read_text()
    text = runner.invoke(cli, ["map", str(a)], catch_exceptions=False).stdout
    assert text == render_report(open_file(str(a)))
    # and audit works on it with the same findings as live
    r = runner.invoke(cli, ["audit", str(a), "--json"], catch_exceptions=False)
    assert r.exit_code == 1
    assert [f["rule"] for f in json.loads(r.stdout)["findings"]] == ["wx", "anon-exec"]


def test_save_to_unwritable_path_is_exit_2(tmp_path):
    snap = tmp_path / "s.json"
    snap.write_text(dumps(rich_macos_target()))
    r = CliRunner().invoke(cli, ["save", str(snap), "-o", str(tmp_path / "no" / "x.json")])
    assert r.exit_code == 2 and r.stderr.startswith("symmap: cannot write")


# --- hostile snapshots ----------------------------------------------------

def _good() -> dict:
    return to_dict(rich_macos_target())


def _set(path, value):
    def f(d):
        cur = d
        for k in path[:-1]:
            cur = cur[k]
        if value is KeyError:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value
    return f


BAD = {
    "schema 3": _set(["schema"], 3),
    "schema 0": _set(["schema"], 0),
    "schema 2.0": _set(["schema"], 2.0),
    "schema true": _set(["schema"], True),
    "no schema": _set(["schema"], KeyError),
    "no regions": _set(["regions"], KeyError),
    "regions not list": _set(["regions"], {"a": 1}),
    "region not object": _set(["regions", 0], 5),
    "start string": _set(["regions", 0, "start"], "0x1000"),
    "start bool": _set(["regions", 0, "start"], True),
    "start negative": _set(["regions", 0, "start"], -1),
    "start huge": _set(["regions", 0, "start"], 1 << 64),
    "start float": _set(["regions", 0, "start"], 1.5),
    "end before start": _set(["regions", 0, "end"], 0),
    "prot bad": _set(["regions", 0, "prot"], "rwz"),
    "prot long": _set(["regions", 0, "prot"], "r-x" * 1000),
    "missing end": _set(["regions", 1, "end"], KeyError),
    "path number": _set(["regions", 1, "path"], 7),
    "image segments not list": _set(["images", 0, "segments"], "x"),
    "segment prot null": _set(["images", 0, "segments", 0, "prot"], None),
    "section size huge": _set(["images", 0, "segments", 0, "sections", 0, "size"], 10 ** 30),
    "cache mapping bad": _set(["shared_cache", "mappings", 0, "address"], None),
    "subcache object value": _set(["shared_cache", "subcaches", 0, "uuid"], {"x": 1}),
    "thread crashed not bool": _set(["threads", 0, "crashed"], 1),
    "frame address null": _set(["threads", 0, "frames", 0, "address"], None),
    "kind unknown": _set(["target", "kind"], "evil"),
    "info not object": _set(["target", "info"], []),
    "info huge int": _set(["target", "info", "footprint"], 1 << 70),
    "notes not strings": _set(["notes"], [1]),
    "unsorted regions": lambda d: d["regions"].reverse(),
    "top not object": lambda d: d.clear() or d.update({"schema": 1, "target": 5}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_snapshot_is_corrupt_input(name, tmp_path):
    d = _good()
    BAD[name](d)
    with pytest.raises(CorruptInput) as ei:
        from_dict(d)
    assert str(ei.value).startswith("corrupt snapshot: ")
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("text", [
    b"", b"{", b'{"schema": 1, "symmap"', b"[]", b"null", b'"schema symmap"',
    b'{"schema": 1, "generator": "symmap", "x": NaN}', b"\xff\xfe{}",
    b'{"schema": 1, "generator": "symmap", "n": ' + b"9" * 5000 + b"}",
    b'{"schema": 1, "generator": "symmap", "deep": ' + b"[" * 100000 + b"]" * 100000 + b"}",
])
def test_unparseable_snapshot_is_corrupt_input(text, tmp_path):
    with pytest.raises(CorruptInput):
        load(text, "x.json")


def test_cli_reports_bad_snapshot_in_one_line_exit_2(tmp_path):
    d = _good()
    d["regions"][0]["start"] = "oops"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    for cmd in (["map", str(p)], ["audit", str(p)], ["diff", str(p), str(p)], ["save", str(p), "-o", "-"]):
        r = CliRunner().invoke(cli, cmd)
        assert r.exit_code == 2, (cmd, r.output)
        assert r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("symmap: corrupt snapshot: ")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=8)


def _paths(d, prefix=()):
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, prefix + (i,))


_ALL_PATHS = [p for p in _paths(_good()) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_ALL_PATHS), _json_values), min_size=1, max_size=3))
def test_fuzzed_snapshots_load_or_raise_corrupt_input(edits):
    d = _good()
    for path, value in edits:
        cur = d
        try:
            for k in path[:-1]:
                cur = cur[k]
            cur[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        t = from_dict(copy.deepcopy(d))
    except CorruptInput:
        return
    # Whatever loads must render, audit and diff without error.
    dumps(t)
    render_report(t)
    audit(t, "info")
    assert diff_targets(t, t).identical
