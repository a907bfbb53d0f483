"""Hostile files through the whole pipeline: open_target → annotate → both renderers.

Each input starts with a real format magic (so the sniffer sends it to that
parser) followed by random or mutated bytes.  Whatever happens, the only
exception allowed is a SymmapError, and it must be one line.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from symmap.annotate import annotate
from symmap.errors import SymmapError
from symmap.render.json import dumps
from symmap.render.text import render_report
from symmap.sources import OpenOptions, open_target
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

MAGICS = [
    b"dyld_v1   arm64\0", b"dyld_v1  x86_64\0",
    b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01\x00\x00\x00\x00\x04\x00\x00\x00",   # arm64 MH_CORE
    b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00\x02\x00\x00\x00",   # x86_64 MH_EXECUTE
    b"\xce\xfa\xed\xfe\x07\x00\x00\x00\x03\x00\x00\x00\x06\x00\x00\x00",   # i386 dylib
    b"\xca\xfe\xba\xbe\x00\x00\x00\x02", b"\x7fELF\x02\x01\x01\x00", b"\x7fELF\x01\x02\x01\x00",
    b'{"bug_type":"309"}\n{', b'{"schema": 1, "generator": "symmap 0.1.0", ',
    b"Process:         x [1]\nPath: /x\n", b"Incident Identifier: A\nBinary Images:\n0x1 - 0x2 ",
]

# Real inputs to mutate: our own committed fixtures, and shared ones when present.
SEEDS = [p for p in (OWN_FIXTURES / "core" / "x86_64-sample.core",
                     OWN_FIXTURES / "dyld_cache" / "out" / "cache" / "dyld_shared_cache_arm64",
                     OWN_FIXTURES / "dyld_cache" / "out" / "liba.dylib",
                     SHARED_FIXTURES / "crash" / "pycrashreport-monterey-x86_64.ips",
                     SHARED_FIXTURES / "crash" / "boost-thread-macos11-x86_64.crash",
                     SHARED_FIXTURES / "macho" / "gimli-fixup-chains-arm64e.dylib") if p.exists()]


def _run(tmp_path, data: bytes) -> None:
    p = tmp_path / "input.bin"
    p.write_bytes(data)
    try:
        t = open_target(str(p), OpenOptions())
    except SymmapError as e:
        assert "\n" not in str(e)
        return
    try:
        annotate(t)
        render_report(t)
        json.loads(dumps(t))
    finally:
        t.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=2048))
def test_magic_plus_random_bytes(tmp_path, magic, tail):
    _run(tmp_path, magic + tail)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS or [None]), data=st.data())
def test_mutated_real_files(tmp_path, seed, data):
    if seed is None:
        return
    raw = bytearray(seed.read_bytes())
    n = data.draw(st.integers(1, 16))
    for _ in range(n):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    _run(tmp_path, bytes(raw if cut is None else raw[:cut]))
