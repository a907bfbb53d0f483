"""The audit engine on macOS targets: a simulated task driven through the real
macos_live source (tests/support/simtask.py) with symmap's synthetic dyld
cache in its shared region, plus hand-built targets for the rules the
simulation cannot reach."""
from __future__ import annotations


from symmap.annotate import annotate
from symmap.audit import audit
from symmap.model import Image, Region, Segment, SharedCache, CacheMapping, Target
from tests.conftest import OWN_FIXTURES
from tests.formats.dyld_cache_support import build

from tests.support import simtask
from symmap.sources import macos_live

PID = 4545
SLIDE = 0x4000000
JIT_TAG = 64
JIT = 0x300000000          # tag 64, rwx/rwx
MAPJIT = 0x300100000       # untagged rwx/rwx: MAP_JIT on Apple silicon
ANON_RX = 0x300200000      # untagged r-x/rwx, no image
HEAP = 0x600000000000      # MALLOC_TINY rw-/rwx
STACK = 0x16f000000
EXE = 0x100000000
EXE_PATH = "/usr/local/bin/auditdemo"


def _sim(write_page_of: str | None):
    from symmap.darwin.consts import SM_COW

    built = build()
    sim = simtask.SimulatedTask(pid=PID, page_size=16384, name="auditdemo",
                                path="/usr/local/bin/auditdemo")
    sub = sim.map_submap(0x180000000, 0x40000000)
    hdr = dict(built.images)
    target_page = hdr[write_page_of] + SLIDE if write_page_of else None
    for key, maps in built.mappings.items():
        data = built.files[key]
        path = "/System/Library/dyld/dyld_shared_cache_arm64" + ("" if key == "main" else key)
        for m in maps:
            start = m.address + SLIDE
            pieces = [(start, start + m.size, m.initprot, m.maxprot)]
            if target_page is not None and start <= target_page < start + m.size:
                # vm_protect(VM_PROT_COPY|rw-) of one text page, as a debugger or a
                # hooking library does: the page becomes private and writable.
                p = target_page
                pieces = [(start, p, m.initprot, m.maxprot), (p, p + 0x4000, 3, 7),
                          (p + 0x4000, start + m.size, m.initprot, m.maxprot)]
            for s, e, prot, maxp in pieces:
                if e <= s:
                    continue
                fo = m.file_offset + (s - start)
                sim.map(s, data[fo:fo + (e - s)], prot, maxp, submap_of=sub, share_mode=SM_COW,
                        path=path, offset=fo)
    sim.place_macho(EXE, (OWN_FIXTURES / "core" / "bin" / "arm64" / "crasher").read_bytes(), EXE_PATH)
    images = [(EXE, EXE_PATH)] + [(a + SLIDE, p) for p, a in built.images]
    sim.map(JIT, 0x8000, 7, 7, tag=JIT_TAG)
    sim.map(MAPJIT, 0x4000, 7, 7)
    sim.map(ANON_RX, 0x4000, 5, 7)
    sim.map(HEAP, 0x100000, 3, 7, tag=7)
    sim.map(STACK, 0x4000, 0, 7, tag=30, share_mode=3)
    sim.map(STACK + 0x4000, 0x80000, 3, 7, tag=30)
    sim.set_dyld_infos(images, cache_uuid=built.uuid, cache_base=built.base + SLIDE, cache_slide=SLIDE)
    return sim, built


def _open(sim):
    from symmap.sources import OpenOptions
    t = macos_live.open_pid(PID, OpenOptions(task=sim))
    return annotate(t)


def _by_start(findings):
    out = {}
    for f in findings:
        out.setdefault(f.start, set()).add(f.rule)
    return out


def test_simulated_task_findings():
    sim, built = _sim(write_page_of="/usr/lib/liba.dylib")
    t = _open(sim)
    try:
        assert t.os == "macos" and (t.arch or "").startswith("arm64")
        findings = audit(t, "info")
    finally:
        t.close()
    by = _by_start(findings)
    # JIT (tag 64) and MAP_JIT memory are JIT, info on Apple silicon; never RWX.
    assert by[JIT] == {"jit"} and by[MAPJIT] == {"jit"}
    assert all(f.severity == "info" for f in findings if f.rule == "jit")
    # Anonymous r-x/rwx: code with no image, re-protectable to W+X.
    assert by[ANON_RX] == {"anon-exec", "wx-max"}
    # rw-/rwx (malloc, stacks, dyld memory) is the macOS default: not reported.
    assert HEAP not in by and STACK + 0x4000 not in by
    # The cache text page made writable: critical, owned by liba's __TEXT.
    page = dict(built.images)["/usr/lib/liba.dylib"] + SLIDE
    cw = [f for f in findings if f.rule == "cache-text-writable"]
    assert (page, "/usr/lib/liba.dylib", "__TEXT") in [(f.start, f.image, f.segment) for f in cw]
    # The small synthetic cache packs several libraries' text into that one
    # 16K page, so each per-library row on it is flagged, and nothing else.
    assert all(page <= f.start < f.end <= page + 0x4000 for f in cw)
    assert all(f.segment == "__TEXT" and f.severity == "critical" for f in cw)
    assert not any(f.rule in ("image-text-writable", "wx", "anon-exec") for f in findings
                   if page <= f.start < page + 0x4000)
    # Nothing else: images, the cache, stacks and dyld memory are clean.
    flagged = {JIT, MAPJIT, ANON_RX} | {f.start for f in cw}
    assert set(by) <= flagged, sorted(hex(a) for a in set(by) - flagged)
    # Default threshold (low) leaves the critical and the medium ones only.
    assert {f.rule for f in audit(t, "low")} == {"cache-text-writable", "anon-exec", "wx-max"}


def test_simulated_task_without_tampering_is_clean_at_low():
    sim, _ = _sim(write_page_of=None)
    sim_findings = audit(_open(sim), "low")
    assert {(f.start, f.rule) for f in sim_findings} == {(ANON_RX, "anon-exec"), (ANON_RX, "wx-max")}


# --- hand-built macOS targets ----------------------------------------------

def _mac(regions, images=(), arch="x86_64", cache=None):
    return Target(kind="live", os="macos", arch=arch, regions=list(regions), images=list(images),
                  shared_cache=cache, annotated=True)


def test_x86_64_jit_is_low_and_rwx_is_wx():
    t = _mac([Region(0x1000000, 0x1010000, 7, 7, "PRV", JIT_TAG, type="JS JIT generated code"),
              Region(0x2000000, 0x2010000, 7, 7, "PRV", 0, type="VM_ALLOCATE")])
    got = [(f.start, f.rule, f.severity) for f in audit(t)]
    # On Intel MAP_JIT is not required for rwx, so untagged rwx is plain W+X.
    assert got == [(0x1000000, "jit", "low"), (0x2000000, "wx", "high"),
                   (0x2000000, "anon-exec", "medium")]


def test_executable_stack_and_malloc():
    t = _mac([Region(0x7000000, 0x7080000, 7, 7, "PRV", 30, type="Stack"),
              Region(0x8000000, 0x8100000, 5, 7, "PRV", 2, type="MALLOC_SMALL")])
    rules = [(f.start, f.rule) for f in audit(t)]
    assert (0x7000000, "exec-stack") in rules and (0x7000000, "wx") in rules
    assert (0x8000000, "exec-heap") in rules and (0x8000000, "anon-exec") not in rules


def test_image_text_writable_and_data_made_executable():
    img = Image("/usr/local/bin/demo", 0x100000000,
                segments=[Segment("__TEXT", 0x100000000, 0x4000, 5, 5),
                          Segment("__DATA", 0x100004000, 0x4000, 3, 3)])
    t = _mac([Region(0x100000000, 0x100004000, 7, 7, "COW", image=img.path, segment="__TEXT"),
              Region(0x100004000, 0x100008000, 7, 7, "PRV", image=img.path, segment="__DATA")],
             images=[img])
    rules = {(f.start, f.rule, f.severity) for f in audit(t)}
    assert (0x100000000, "image-text-writable", "high") in rules
    assert (0x100004000, "image-exec-added", "high") in rules
    assert not any(r[1] == "anon-exec" for r in rules)


def test_unused_cache_text_made_writable_and_commpage_skipped():
    cache = SharedCache("00" * 16, 0x7ff800000000, 0,
                        mappings=[CacheMapping(0x7ff800000000, 0x10000000, 0, 5, 5, "__TEXT")])
    t = _mac([Region(0x7ff800004000, 0x7ff800008000, 3, 7, "PRV", 35, type="unused __TEXT"),
              Region(0x7ff800010000, 0x7ff800014000, 5, 5, "COW", 32, type="unused __TEXT"),
              Region(0x7fffffef0000, 0x7fffffef1000, 5, 5, "SHM", 0, type="shared memory")],
             cache=cache)
    got = [(f.start, f.rule) for f in audit(t, "info")]
    assert got == [(0x7ff800004000, "cache-text-writable")]


def test_mapped_file_rwx_like_sbcl():
    # fixtures/vmmap/03.txt: "mapped file ... rwx/rwx SM=COW .../sbcl.core"
    t = _mac([Region(0x7000000000, 0x7006630000, 7, 7, "COW", 0, kind="file",
                     path="/Volumes/V/sbcl.core", type="mapped file")])
    assert sorted(f.rule for f in audit(t)) == ["exec-unloaded-file", "wx"]
