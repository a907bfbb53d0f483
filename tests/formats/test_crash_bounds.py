"""Crash reports whose counts and lengths are hostile (issue 12): one image
with a very long path and many frames pointing at it once made `symmap map`
write frames x path-length bytes (2 GB from a 1 MB .ips)."""
from __future__ import annotations

import json

import symmap
from symmap.formats.crash import parse_crash_report
from symmap.formats.crash.model import MAX_FRAMES, MAX_FRAMES_PER_THREAD, MAX_NAME, MAX_THREADS
from tests.conftest import OWN_FIXTURES

_BASE = 0x100000000


def _ips(path_len: int, threads: list[int]) -> str:
    meta = {"app_name": "x", "bug_type": "309", "os_version": "macOS 12.1 (21C52)", "name": "x"}
    body = {"procName": "x", "cpuType": "ARM-64", "pid": 1,
            "usedImages": [{"base": _BASE, "size": 0x4000, "uuid": "11111111-2222-3333-4444-555555555555",
                            "path": "/" + "a" * path_len, "source": "P", "arch": "arm64"}],
            "threads": [{"triggered": ti == 0,
                         "frames": [{"imageIndex": 0, "imageOffset": 16 * (i % 1024)} for i in range(n)]}
                        for ti, n in enumerate(threads)]}
    return json.dumps(meta) + "\n" + json.dumps(body)


def test_long_image_path_is_cut_with_a_note():
    rep = parse_crash_report(_ips(100_000, [50]))
    assert len(rep.images[0].path) == MAX_NAME
    assert any("image path longer than" in n for n in rep.notes)


def test_frames_and_threads_are_capped_with_a_note():
    rep = parse_crash_report(_ips(10, [MAX_FRAMES_PER_THREAD + 500, 3]))
    assert [len(t.frames) for t in rep.threads] == [MAX_FRAMES_PER_THREAD, 3]
    assert any("frames, only the first" in n for n in rep.notes)
    rep = parse_crash_report(_ips(10, [1] * (MAX_THREADS + 10)))
    assert len(rep.threads) == MAX_THREADS
    per = MAX_FRAMES // MAX_FRAMES_PER_THREAD + 3
    rep = parse_crash_report(_ips(10, [MAX_FRAMES_PER_THREAD] * per))
    assert sum(len(t.frames) for t in rep.threads) == MAX_FRAMES


def test_rendered_output_is_bounded_by_frames_times_the_cap(tmp_path):
    frames = 600
    p = tmp_path / "long.ips"
    p.write_text(_ips(200_000, [frames]))
    with symmap.open(str(p)) as t:
        text = t.to_text()
        doc = json.dumps(t.to_dict())
    bound = frames * (MAX_NAME + 200) + 64_000
    assert len(text) < bound and len(doc) < bound


def test_text_report_image_path_is_cut(tmp_path):
    src = (OWN_FIXTURES / "crash" / "crash_macos-dsym.crash").read_text()
    long_path = "/Users/x/" + "d" * 50_000 + "/crash_macos"
    rep = parse_crash_report(src.replace("/Users/x/crash_macos", long_path))
    img = next(im for im in rep.images if im.base == 0x10A000000)
    assert img.path is not None and len(img.path) == MAX_NAME
    assert any("image path longer than" in n for n in rep.notes)
