"""Helpers for tests of the dyld cache reader: the committed synthetic cache
set (fixtures/dyld_cache) and its builder, loaded from the fixture folder."""
from __future__ import annotations

import functools
import importlib.util
import shutil
import sys
from pathlib import Path

from tests.conftest import OWN_FIXTURES

HERE = OWN_FIXTURES / "dyld_cache"
OUT = HERE / "out"
MAIN = OUT / "cache" / "dyld_shared_cache_arm64"
DYLIBS = {"/usr/lib/liba.dylib": OUT / "liba.dylib",
          "/usr/lib/libb.dylib": OUT / "libb.dylib",
          "/usr/lib/system/libc_helper.dylib": OUT / "libc_helper.dylib"}
DIRTY = ("/usr/lib/system/libc_helper.dylib",)


@functools.lru_cache(maxsize=1)
def builder():
    spec = importlib.util.spec_from_file_location("symmap_fixture_build_cache", HERE / "build_cache.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod      # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


def build(out: Path | None = None, **kw):
    """Build the fixture set from the committed dylibs (into ``out`` if given)."""
    b = builder()
    libs = [b.load_dylib(p, f.read_bytes()) for p, f in DYLIBS.items()]
    kw.setdefault("dirty", DIRTY)
    return b.build_cache(libs, str(out) if out else None, **kw)


def copy_committed(dst: Path) -> Path:
    """Copy the committed cache set into dst; returns the main file path."""
    for f in MAIN.parent.iterdir():
        shutil.copy(f, dst / f.name)
    return dst / MAIN.name
