"""Seed sets, one per input format: ../shared/fixtures when present, the
project's own fixtures/, and seeds built here (cores, snapshots, vmmap text)
so every format has seeds when ../shared is absent.

A seed is one or more files; the first is the TARGET, the others sit beside
it (a dyld cache's sub-caches and .symbols file).  Seeds are built the same
way on every run (no live processes: their addresses change), so one master
seed gives the same inputs.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN = ROOT / "fixtures"
SHARED = ROOT.parent / "shared" / "fixtures"

FORMATS = ("macho", "elf", "dyld_cache", "core", "ips", "crash_text", "vmmap", "snapshot")
TEXT_FORMATS = frozenset({"ips", "crash_text", "vmmap", "snapshot"})
JSON_FORMATS = frozenset({"ips", "snapshot"})
# What symmap's sniffer must call each format's seeds (a seed it calls
# something else would fuzz another parser).
SNIFF_KIND = {"macho": "binary", "elf": "binary", "dyld_cache": "cache", "core": "core", "ips": "crash",
              "crash_text": "crash", "vmmap": "vmmap", "snapshot": "snapshot"}
# Seeds larger than this are left out: inputs stay modest and quick to write.
MAX_SEED_BYTES = 1 << 20


@dataclass(frozen=True)
class Seed:
    name: str
    files: tuple[tuple[str, bytes], ...]     # (basename, bytes); files[0] is the TARGET

    @property
    def size(self) -> int:
        return sum(len(b) for _, b in self.files)


def _files(d: Path, pattern: str) -> list[Path]:
    return sorted(p for p in d.glob(pattern) if p.is_file()) if d.is_dir() else []


def _one(p: Path, name: str | None = None) -> Seed:
    return Seed(name or p.name, ((p.name, p.read_bytes()),))


def _is_elf(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _is_macho(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(16)
    thin = head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") and head[12:16] != b"\x04\x00\x00\x00"
    return thin or head[:4] == b"\xca\xfe\xba\xbe"


def _build_core_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_build_core", OWN / "core" / "build_core.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _built_cores(tmp: Path) -> list[Seed]:
    bc = _build_core_module()
    shared_cache = SHARED / "dyld-cache" / "dyld_shared_cache_arm64-macOS"
    variants: list[tuple[str, dict[str, object]]] = [
        ("built-arm64.core", {"arch": "arm64"}),
        ("built-arm64-no-image-note.core", {"arch": "arm64", "image_note": False, "tag_pointers": True}),
        ("built-x86_64-bits3.core", {"arch": "x86_64", "addrable_bits": 3}),
    ]
    if shared_cache.exists():
        variants.append(("built-arm64-cache.core", {"arch": "arm64", "cache": shared_cache}))
    out = []
    for name, kw in variants:
        p = tmp / name
        bc.build_core(p, **kw)
        out.append(_one(p, name))
    return out


_ELF_SRC = r"""
#include <stdio.h>
__thread int tls_counter;
int table[64] = {1, 2, 3};
static inline int twice(int x) { return x * 2; }
__attribute__((noinline)) int helper(int x) { return twice(x) + table[x & 63]; }
__attribute__((constructor)) static void init(void) { tls_counter = 1; }
int api_entry(int x) { return helper(x) + tls_counter; }
#ifndef LIB
int main(int argc, char **argv) { printf("%d\n", api_entry(argc)); return 0; }
#endif
"""

# ELF shapes the system's /bin/true does not cover: DWARF (the debug-info
# path through symbolic), a shared library, non-PIE, TLS, stripped.
_ELF_BUILDS = (
    ("elf-pie-g", ["-g", "-O2"]),
    ("elf-lib-g.so", ["-g", "-O1", "-fPIC", "-shared", "-DLIB"]),
    ("elf-nopie", ["-O0", "-no-pie"]),
    ("elf-stripped", ["-O2", "-s"]),
)


def _built_elves(tmp: Path) -> list[Seed]:
    """Small ELF files compiled here (none without a C compiler)."""
    import shutil
    import subprocess
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return []
    src = tmp / "elf_seed.c"
    src.write_text(_ELF_SRC)
    out = []
    for name, flags in _ELF_BUILDS:
        p = tmp / name
        r = subprocess.run([cc, *flags, "-o", str(p), str(src)], capture_output=True)
        if r.returncode == 0:
            out.append(_one(p, name))
    return out


def _derived(paths: list[Path], tmp: Path) -> tuple[list[Seed], list[Seed]]:
    """Snapshots (``symmap save``) and vmmap text (``symmap map``) of small
    file targets, written by symmap itself."""
    from symmap.pipeline import OpenOptions, open_annotated
    from symmap.render.json import dumps
    from symmap.render.text import render_report
    snaps, texts = [], []
    for p in paths:
        if not p.exists():
            continue
        t = open_annotated(str(p), OpenOptions(no_cache=True))
        try:
            snaps.append(Seed(f"save-{p.name}.json", ((f"{p.name}.json", (dumps(t) + "\n").encode()),)))
            texts.append(Seed(f"map-{p.name}.txt", ((f"{p.name}.txt", render_report(t).encode()),)))
        finally:
            t.close()
    return snaps, texts


def load_seeds(formats: tuple[str, ...] = FORMATS, use_shared: bool = True) -> dict[str, list[Seed]]:
    """Seeds per format; formats without any seed map to []."""
    shared = SHARED if use_shared and SHARED.is_dir() else None
    seeds: dict[str, list[Seed]] = {f: [] for f in formats}
    with tempfile.TemporaryDirectory(prefix="symmap-fuzz-seeds-") as td:
        tmp = Path(td)
        if "macho" in seeds:
            own = (_files(OWN / "symbols", "*") + _files(OWN / "core" / "bin", "*/*")
                   + _files(OWN / "dyld_cache" / "out", "*.dylib") + _files(OWN / "malloc", "*.dylib"))
            extra = _files(shared / "macho", "*") if shared else []
            seeds["macho"] = [_one(p) for p in own + extra if _is_macho(p)]
        if "elf" in seeds:
            elf = [p for p in _files(OWN / "symbols", "*") if _is_elf(p)]
            elf += [Path(p) for p in ("/bin/true", "/usr/bin/true") if os.path.exists(p)][:1]
            seeds["elf"] = [_one(p) for p in elf] + _built_elves(tmp)
        if "dyld_cache" in seeds:
            cdir = OWN / "dyld_cache" / "out" / "cache"
            main = cdir / "dyld_shared_cache_arm64"
            if main.exists():
                parts = [main] + sorted(p for p in cdir.iterdir() if p.name.startswith(main.name + "."))
                seeds["dyld_cache"].append(Seed("own-cache", tuple((p.name, p.read_bytes()) for p in parts)))
            if shared:
                seeds["dyld_cache"] += [_one(p) for p in _files(shared / "dyld-cache", "*")]
        if "core" in seeds:
            seeds["core"] = [_one(p) for p in _files(OWN / "core", "*.core")] + _built_cores(tmp)
            if shared:
                seeds["core"] += [_one(p) for p in _files(shared / "core", "*.head8k")]
        for fmt, pat in (("ips", "*.ips"), ("crash_text", "*.crash")):
            if fmt in seeds:
                seeds[fmt] = [_one(p) for p in _files(OWN / "crash", pat)]
                if shared:
                    seeds[fmt] += [_one(p) for p in _files(shared / "crash", pat)]
        if "vmmap" in seeds or "snapshot" in seeds:
            targets = [OWN / "core" / "x86_64-sample.core", OWN / "dyld_cache" / "out" / "cache" / "dyld_shared_cache_arm64",
                       OWN / "crash" / "macos13-rosetta.ips", OWN / "symbols" / "symbols-fat"]
            if shared:
                targets.append(shared / "crash" / "pycrashreport-monterey-x86_64.ips")
            snaps, texts = _derived(targets, tmp)
            if "snapshot" in seeds:
                seeds["snapshot"] = snaps
            if "vmmap" in seeds:
                seeds["vmmap"] = [_one(p) for p in _files(OWN / "vmmap", "*.txt")]
                if shared:
                    seeds["vmmap"] += [_one(p) for p in _files(shared / "vmmap", "*.txt")]
                seeds["vmmap"] += texts
        for fmt in seeds:
            seeds[fmt] = [s for s in seeds[fmt] if s.size <= MAX_SEED_BYTES and _sniffs_as(s, fmt, tmp)]
    return seeds


def _sniffs_as(seed: Seed, fmt: str, tmp: Path) -> bool:
    from symmap.errors import SymmapError
    from symmap.sources import sniff_file
    name, data = seed.files[0]
    p = tmp / ("sniff-" + name)
    p.write_bytes(data)
    try:
        return sniff_file(str(p)) == SNIFF_KIND[fmt]
    except SymmapError:
        return False
    finally:
        p.unlink()
