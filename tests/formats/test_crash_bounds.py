"""Crash reports whose counts and lengths are hostile (issue 12): one image
with a very long path and many frames pointing at it once made `symmap map`
write frames x path-length bytes (2 GB from a 1 MB .ips)."""
from __future__ import annotations

import json
import tracemalloc

import pytest

import symmap
from symmap.errors import CorruptInput
from symmap.formats.crash import parse_crash_report, read_crash_report
from symmap.formats.crash.model import (MAX_FRAMES, MAX_FRAMES_PER_THREAD, MAX_IMAGES, MAX_JSON_VALUES, MAX_NAME,
                                        MAX_REPORT_BYTES, MAX_THREADS)
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


def test_many_images_are_capped_with_a_note(tmp_path):
    meta = {"app_name": "x", "bug_type": "309", "name": "x"}
    img = {"base": _BASE, "size": 0x4000, "uuid": "11111111-2222-3333-4444-555555555555", "source": "P"}
    used = [dict(img, base=_BASE + 0x4000 * i, path=f"/l{i}") for i in range(MAX_IMAGES + 5)]
    # frames in the last kept image and in the images past the cap
    frames = [{"imageIndex": i, "imageOffset": 4} for i in range(MAX_IMAGES - 1, MAX_IMAGES + 5)]
    text = json.dumps(meta) + "\n" + json.dumps({"procName": "x", "usedImages": used,
                                                  "threads": [{"triggered": True, "frames": frames}]})
    rep = parse_crash_report(text)
    assert len(rep.images) == MAX_IMAGES
    assert any(f"more than {MAX_IMAGES} images" in n for n in rep.notes)
    p = tmp_path / "many.ips"
    p.write_text(text)
    with symmap.open(str(p)) as t:
        fr = t.threads[0].frames
        assert fr[0].image == f"/l{MAX_IMAGES - 1}", [f.image for f in fr]
        t.to_text()


def test_text_report_threads_and_frames_are_capped_while_parsed():
    head = "Process:         x [1]\nExceptionType:  EXC_CRASH\nException Type:  EXC_CRASH (SIGABRT)\n\n"
    frame = "0   x  0x000000010a000004 0x10a000000 + 4"
    threads = [f"Thread {t}:\n" + "\n".join([frame] * 1100) for t in range(20)]
    rep = parse_crash_report(head + "\n\n".join(threads) + "\n")
    assert [len(t.frames) for t in rep.threads][:16] == [MAX_FRAMES_PER_THREAD] * 16
    assert sum(len(t.frames) for t in rep.threads) == MAX_FRAMES
    assert any("frames, only the first" in n for n in rep.notes)
    many = head + "\n".join(f"Thread {t}:\n{frame}\n" for t in range(MAX_THREADS + 20))
    assert len(parse_crash_report(many).threads) == MAX_THREADS


def test_json_with_too_many_values_is_refused_before_parsing():
    text = '{"bug_type": "309"}\n{"procName": "x", "asi": [' + ",".join(["{}"] * (MAX_JSON_VALUES // 2 + 1)) + "]}"
    tracemalloc.start()
    try:
        with pytest.raises(CorruptInput, match="JSON values"):
            parse_crash_report(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(text)          # json.loads would hold ~25 MB of dicts


def test_file_over_the_cap_is_refused_unread(tmp_path):
    p = tmp_path / "big.ips"
    with open(p, "wb") as f:             # sparse
        f.write(b'{"bug_type": "309"}\n')
        f.truncate(MAX_REPORT_BYTES + 1)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptInput, match="larger than any crash report"):
            read_crash_report(str(p))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
