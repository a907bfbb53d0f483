"""Every audit rule has a case that must fire and a near miss that must not
(issue 12), and anonymous shared memory is not a file mapping."""
from __future__ import annotations

import re

import pytest

from symmap.audit import audit
from symmap.audit import rules as rules_mod
from symmap.model import CacheMapping, Image, Region, Segment, SharedCache, Target

R, RW, RX, RWX = 1, 3, 5, 7


def linux(*regions: Region, images: list[Image] | None = None) -> Target:
    return Target(kind="live", os="linux", arch="x86_64", regions=list(regions),
                  images=images or [], annotated=True)


def macos(*regions: Region, cache: SharedCache | None = None, arch: str = "x86_64") -> Target:
    return Target(kind="live", os="macos", arch=arch, regions=list(regions),
                  shared_cache=cache, annotated=True)


def reg(prot: int, max_prot: int | None = RWX, *, kind: str | None = "anon", path: str | None = None,
        tag: int | None = None, image: str | None = None, segment: str | None = None,
        share: str = "PRV") -> Region:
    return Region(0x10000, 0x12000, prot, max_prot, share, tag, kind, path=path,
                  image=image, segment=segment)


BIN = "/usr/bin/prog"
IMG = Image(BIN, 0x10000, segments=[Segment("text", 0x10000, 0x1000, RX, RX),
                                    Segment("data", 0x11000, 0x1000, RW, RW)])
LIB = "/usr/lib/libx.dylib"
CACHE = SharedCache("aa" * 16, 0x10000, 0, 0x10000,
                    mappings=[CacheMapping(0x10000, 0x10000, 0, RX, RX, "__TEXT", 0)])


def text_region(prot: int) -> Region:
    return reg(prot, kind="file", path=BIN, image=BIN, segment="text")


# rule -> (must fire, must not fire: the nearest miss)
CASES: dict[str, tuple[Target, Target]] = {
    "cache-text-writable": (
        macos(reg(RW, image=LIB, segment="__TEXT", kind=None), cache=CACHE),
        macos(reg(RX, image=LIB, segment="__TEXT", kind=None), cache=CACHE)),
    "image-text-writable": (linux(text_region(RW), images=[IMG]),
                            linux(text_region(RX), images=[IMG])),
    "image-exec-added": (
        linux(reg(RX, kind="file", path=BIN, image=BIN, segment="data"), images=[IMG]),
        linux(reg(RW, kind="file", path=BIN, image=BIN, segment="data"), images=[IMG])),
    "wx": (linux(reg(RWX)), macos(reg(RWX, tag=64))),          # a tagged JIT region is jit only
    "wx-max": (macos(reg(RX, RWX)), linux(reg(RX, RWX))),      # every Linux mapping may be w+x
    "jit": (macos(reg(RX, tag=64)), macos(reg(RW, RW, tag=64))),
    "exec-stack": (linux(reg(RWX, kind="stack")), linux(reg(RW, kind="stack"))),
    "exec-heap": (linux(reg(RWX, kind="heap", path="[heap]")), linux(reg(RW, kind="heap"))),
    "exec-memfd": (linux(reg(RX, kind="memfd", path="/memfd:jit")),
                   linux(reg(RW, kind="memfd", path="/memfd:jit"))),
    "exec-unloaded-file": (linux(reg(RX, kind="file", path="/tmp/payload.bin")),
                           linux(reg(RWX, kind="shm", path="/dev/zero", share="SHM"))),
    "exec-image-remapped": (linux(reg(RX, kind="file", path=BIN), images=[IMG]),
                            linux(text_region(RX), images=[IMG])),
    "exec-deleted": (linux(reg(RX, kind="deleted", path="/tmp/gone.so")),
                     linux(reg(R, kind="deleted", path="/tmp/gone.so"))),
    "anon-exec": (linux(reg(RX)), linux(reg(RX, kind="vdso"))),
}


def _rules(t: Target) -> set[str]:
    return {f.rule for f in audit(t, "info")}


def test_every_rule_in_the_table_has_cases():
    doc = rules_mod.__doc__ or ""
    table = re.findall(r"^([a-z][a-z-]+)\s+(?:critical|high|medium|low|info)", doc, re.M)
    assert table and set(table) == set(CASES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires(rule):
    assert rule in _rules(CASES[rule][0])


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_does_not_fire_on_the_near_miss(rule):
    assert rule not in _rules(CASES[rule][1])


# Linux names these by path; which rules each gets (README audit table).
SHARED = [
    ("/dev/zero", "shm", RWX, {"wx", "anon-exec"}),              # MAP_SHARED|MAP_ANONYMOUS
    ("/SYSV0000002a", "shm", RX, {"anon-exec"}),                 # shmat(SHM_EXEC)
    ("[anon_shmem:pool]", "shm", RX, {"anon-exec"}),
    ("/memfd:jit", "memfd", RWX, {"wx", "exec-memfd"}),
    ("/dev/shm/x", "shm", RX, {"exec-unloaded-file"}),          # a real tmpfs file
]


@pytest.mark.parametrize("path,kind,prot,want", SHARED)
def test_anonymous_shared_memory_is_not_a_file(path, kind, prot, want):
    assert _rules(linux(reg(prot, kind=kind, path=path, share="SHM"))) == want
