"""Darwin tests run on Linux: they drive the real walkers through SimulatedTask.

Every test here also proves libSystem was never loaded (``_mach._lib`` stays None)."""
from __future__ import annotations

import pytest

from symmap.darwin import _mach
from tests.conftest import shared_fixture
from tests.support.simtask import SimulatedTask

EXE = 0x100000000
CACHE_BASE = 0x180000000
LIB = 0x180100000
LIB2 = 0x180200000
DYLD = 0x100100000
HEAP = 0x600000000000
CACHE_UUID = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.fixture(autouse=True)
def _no_libsystem():
    assert _mach._lib is None
    yield
    assert _mach._lib is None, "a test loaded libSystem"


def macho(name: str) -> bytes:
    return shared_fixture(f"macho/{name}").read_bytes()


def build_sim(*, exe="gimli-base-arm64", page_size=16384, host_page_size=None, pac=0,
              dyld_kwargs=None, **kw) -> SimulatedTask:
    """A small arm64 process: exe + 2 cache dylibs in a shared-region submap + dyld +
    heap + stack + guard, and a dyld_all_image_infos describing it."""
    sim = SimulatedTask(pid=4242, page_size=page_size, host_page_size=host_page_size, **kw)
    sim.place_macho(EXE, macho(exe), "/usr/local/bin/demo")
    cache = sim.map_submap(CACHE_BASE, 0x10000000)
    sim.place_macho(LIB, macho("gimli-fixup-chains-arm64.dylib"), "/usr/lib/libA.dylib", submap_of=cache)
    sim.place_macho(LIB2, macho("gimli-fixup-chains-arm64e.dylib"), "/usr/lib/libB.dylib", submap_of=cache)
    sim.place_macho(DYLD, macho("gimli-imports.bundle"), "/usr/lib/dyld")
    sim.map(HEAP, 0x100000, 3, 7, tag=7, resident=0x8000, dirty=0x4000)
    sim.map(0x16f000000, 0x4000, 0, 7, tag=30, share_mode=3)
    sim.map(0x16f004000, 0x80000, 3, 7, tag=30, resident=0x4000, dirty=0x4000)
    kw2 = dict(dyld_load_address=DYLD, cache_uuid=CACHE_UUID, cache_base=CACHE_BASE,
               cache_slide=0, pac=pac)
    kw2.update(dyld_kwargs or {})
    sim.set_dyld_infos([(EXE, "/usr/local/bin/demo"), (LIB, "/usr/lib/libA.dylib"),
                        (LIB2, "/usr/lib/libB.dylib")], **kw2)
    return sim
