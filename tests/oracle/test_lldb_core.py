"""lldb (Debian lldb-14) and symmap read the same Mach-O cores and must agree on
image load addresses + UUIDs, region ranges + permissions, and symbol names.

lldb-14 quirks (toolchain.md), handled explicitly rather than hidden:
- it reports permissions only when its dyld plugin runs (cores without the
  "all image infos" note); with the note (DynamicLoaderStatic) every region
  reads back "r-x", so for those cores only ranges are compared;
- a saved range with no permissions (a stack guard) reads back as "r-x".
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

import pytest

from symmap.model import prot_str
from symmap.sources import open_file
from symmap.symbolize import Symbolizer
from tests.conftest import OWN_FIXTURES, shared_fixture

_spec = importlib.util.spec_from_file_location("build_core", OWN_FIXTURES / "core" / "build_core.py")
_bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bc)

LLDB_PY = "/usr/lib/llvm-14/lib/python3.11/dist-packages"
VARIANTS = {
    "arm64-dyld-cache": dict(arch="arm64", image_note=False, cache=True),
    "arm64-note": dict(arch="arm64", image_note=True),
    "x86_64-dyld": dict(arch="x86_64", image_note=False),
    "x86_64-note": dict(arch="x86_64", image_note=True),
}


def _lldb() -> str:
    exe = shutil.which("lldb") or shutil.which("lldb-14")
    if not exe:
        pytest.skip("lldb not installed")
    return exe


def run_lldb(core: str, commands: list[str]) -> dict[str, str]:
    """Run lldb in batch mode; return each command's output keyed by the command."""
    env = dict(os.environ)
    if os.path.isdir(LLDB_PY):
        env["PYTHONPATH"] = LLDB_PY + os.pathsep + env.get("PYTHONPATH", "")
    args = [_lldb(), "-b", "--no-lldbinit", "-o", f"target create --core {core}"]
    for c in commands:
        args += ["-o", c]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    out: dict[str, str] = {}
    for chunk in p.stdout.split("(lldb) ")[1:]:
        cmd, _, body = chunk.partition("\n")
        out[cmd.strip()] = body
    if f"target create --core {core}" not in out or "was loaded" not in out[f"target create --core {core}"]:
        pytest.skip(f"lldb could not load the core: {p.stdout[-300:]} {p.stderr[-300:]}")
    return out


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request, tmp_path_factory):
    _lldb()
    kw = dict(VARIANTS[request.param])
    if kw.pop("cache", False):
        kw["cache"] = shared_fixture("dyld-cache/dyld_shared_cache_arm64-macOS")
    arch = kw.pop("arch")
    path = tmp_path_factory.mktemp("lldb") / f"{request.param}.core"
    m = _bc.build_core(path, arch, **kw)
    t = open_file(str(path))
    yield str(path), t, m, request.param
    t.close()


_IMG = re.compile(r"^\[\s*\d+\]\s+([0-9A-F-]{36})\s+0x([0-9a-f]+)\s+(\S+)", re.M)
_REGION = re.compile(r"^\[0x([0-9a-f]+)-0x([0-9a-f]+)\)\s+([r-][w-][x-])", re.M)


def test_image_list_agrees(pair):
    core, t, _m, _ = pair
    out = run_lldb(core, ["image list"])["image list"]
    lldb = {(int(a, 16), u.replace("-", "").lower(), p) for u, a, p in _IMG.findall(out)}
    ours = {(i.load_address, i.uuid, i.path) for i in t.images}
    assert lldb and lldb == ours


def test_regions_agree(pair):
    core, t, _m, name = pair
    cmds = [f"memory region {r.start:#x}" for r in t.regions]
    out = run_lldb(core, cmds)
    checked_prot = 0
    for r, c in zip(t.regions, cmds):
        got = _REGION.search(out[c])
        assert got, (c, out[c])
        start, end, perms = int(got.group(1), 16), int(got.group(2), 16), got.group(3)
        assert (start, end) == (r.start, r.end), c
        if r.prot == 0 or name.endswith("note"):
            continue                       # lldb-14 quirks (module docstring): r-x
        assert perms == prot_str(r.prot), c
        checked_prot += 1
    assert checked_prot >= (0 if name.endswith("note") else 10)


def test_symbols_agree(pair):
    core, t, m, _ = pair
    addrs = [th.pc for th in t.threads]
    for im in m["images"]:
        for name, a in sorted(im["symbols"].items()):
            if name in ("_main", "_alpha_add", "_alpha_mul", "_beta_entry", "_main_loop",
                        "_lldb_image_notifier"):
                addrs += [a, a + 4]
    cmds = [f"image lookup -a {a:#x}" for a in addrs]
    out = run_lldb(core, cmds)
    sym = Symbolizer(t)
    compared = 0
    for a, c in zip(addrs, cmds):
        mm = re.search(r"Summary: (\S+?)`(\S+?)(?: \+ (\d+))?\s*$", out[c], re.M)
        assert mm, (c, out[c])
        lib, fn, off = mm.group(1), mm.group(2), int(mm.group(3) or 0)
        look = sym.lookup(a)
        assert look.image and look.image.rsplit("/", 1)[-1] == lib, c
        assert (look.symbol, look.offset) == (fn, off), c
        compared += 1
    assert compared >= 10


def test_image_slides_agree(pair):
    core, t, m, _ = pair
    out = run_lldb(core, ["image list -o -f"])["image list -o -f"]
    # "-o" prints each image's slide; cached dylibs carry the cache's slide.
    slides = {p: int(s, 16)
              for s, p in re.findall(r"^\[\s*\d+\]\s+0x([0-9a-f]+)\s+([^\s(]+)", out, re.M)}
    assert slides == {i.path: i.slide for i in t.images}
    for i in t.images:
        if i.in_shared_cache:
            assert i.slide == t.shared_cache.slide == m["cache"]["slide"]


def test_cache_image_symbols_agree(pair):
    """Symbols of shared-cache dylibs: lldb reads them from the cache pages in the
    core; symmap from its cache reader.  Each lldb symbol must name the same address."""
    core, t, m, _ = pair
    cached = [i for i in t.images if i.in_shared_cache]
    if not cached:
        pytest.skip("core without a shared cache")
    cmds = [f"image dump symtab {i.name}" for i in cached]
    out = run_lldb(core, cmds)
    sym = Symbolizer(t)
    compared = 0
    for i, c in zip(cached, cmds):
        rows = re.findall(r"^\[\s*\d+\]\s+\d+\s+\S*\s+Code\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+"
                          r"\s+0x[0-9a-f]+\s+(\S+)$", out[c], re.M)
        assert rows, out[c]
        for load, name in rows:
            look = sym.lookup(int(load, 16) + 4)
            assert (look.image, look.symbol, look.offset) == (i.path, name, 4), (c, name)
            compared += 1
    assert compared >= 2
