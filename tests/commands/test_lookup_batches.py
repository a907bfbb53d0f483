"""`symmap lookup` writes its answers a batch of addresses at a time: the
bytes must not depend on the batch size (--brief, --json, text; symbol
lines, '??' lines, unmapped lines, inlined frames).  ``Brief.text`` (the
columns formatted per batch) against ``Brief.line`` / ``brief_lines``;
the garbage collector is paused for a batch and restored after."""
from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

import symmap.commands.lookup as lookup_cmd
from symmap.cli import cli
from symmap.model import Region, Target
from symmap.render.lookup import Brief, brief_lines
from symmap.sources import OpenOptions, open_target
from symmap.symbolize import Symbolizer
from symmap.symbolize.symbolizer import no_gc
from tests.conftest import OWN_FIXTURES

OWN = OWN_FIXTURES / "symbols"


def _text_addrs(path: Path, limit: int = 3000) -> list[int]:
    t = open_target(str(path), OpenOptions())
    out: list[int] = []
    for im in t.images:
        for seg in im.segments:
            for s in seg.sections:
                if s.name in (".text", "__text") and s.size:
                    out += range(s.address, s.address + s.size)
    return out[:limit]


def _addrs(path: Path) -> list[int]:
    a = _text_addrs(path)
    rnd = random.Random(7)
    picked = rnd.sample(a, min(len(a), 700))
    # Repeats, an address below every region, and input order kept.
    return picked + picked[:50] + [0x7FFF_0000_0000, picked[3]]


def _both(monkeypatch, args: list[str], addrs: list[int]) -> None:
    stdin = "\n".join(map(hex, addrs)) + "\n"
    whole = CliRunner().invoke(cli, args, input=stdin)
    monkeypatch.setattr(lookup_cmd, "_BATCH", 7)
    small = CliRunner().invoke(cli, args, input=stdin)
    monkeypatch.undo()
    assert whole.exit_code == small.exit_code == 1, whole.output     # 0x7fff00000000 is not mapped
    assert small.stdout == whole.stdout
    assert whole.stdout.count("\n") >= len(addrs)


@pytest.mark.parametrize("mode", [["--brief"], ["--json"], []])
@pytest.mark.parametrize("name", ["symbols-elf", "libsymbols-x86_64.dylib"])
def test_output_independent_of_batch_size(monkeypatch, name, mode):
    path = OWN / name
    _both(monkeypatch, ["lookup", str(path), "-", *mode], _addrs(path))


@pytest.fixture(scope="module")
def built(dwarf_programs: Path) -> Path:
    return dwarf_programs


@pytest.mark.parametrize("mode", [["--brief"], ["--json"]])
def test_inlined_frames_independent_of_batch_size(monkeypatch, tmp_path, built, mode):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = built / "prog-gcc"
    addrs = _addrs(path)
    _both(monkeypatch, ["lookup", str(path), "-", *mode], addrs)
    r = CliRunner().invoke(cli, ["lookup", str(path), "-", "--brief"],
                           input="\n".join(map(hex, addrs)))
    assert r.stdout.count("\n") > len(addrs)                  # inlined frames were printed


def _process_like() -> tuple[Symbolizer, list[int]]:
    src = open_target(str(OWN / "symbols-elf"), OpenOptions(slide=0x5555_0000_0000))
    im = src.images[0]
    regions = [Region(s.address, s.end, s.prot) for s in im.segments if s.size]
    heap = Region(0x7000_0000_0000, 0x7000_0001_0000, 3, kind="heap", type="MALLOC")
    t = Target(kind="file", images=[im], regions=regions + [heap])
    text = next(sec for seg in im.segments for sec in seg.sections if sec.name == ".text")
    addrs = list(range(text.address, text.address + min(text.size, 400), 3))
    addrs += [heap.start + 8, 0x10, text.address + 3, im.load_address + 1]
    random.Random(2).shuffle(addrs)
    return Symbolizer(t), addrs


def test_brief_text_equals_its_lines():
    s, addrs = _process_like()
    chunks = s.resolve_many(addrs)
    b = Brief(s, chunks)
    lines = brief_lines(s, chunks)
    assert lines.pop(None) is True and b.unmapped
    assert b.text(addrs) == "\n".join(lines[a] for a in addrs)
    assert b.text(addrs[:5] + addrs[:5]) == "\n".join(lines[a] for a in addrs[:5] * 2)
    assert any(" ?? " in v for v in lines.values())          # the '??' column format is exercised
    with pytest.raises(KeyError):
        b.text([addrs[0], 0x1234_5678_9999])
    with pytest.raises(KeyError):
        b.line(0x1234_5678_9999)


def test_no_gc_pauses_and_restores():
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with no_gc():
            assert not gc.isenabled()
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with no_gc():
            pass
        assert not gc.isenabled()                              # left as it was found
    finally:
        gc.enable()


def test_lookup_leaves_no_cycles(monkeypatch, tmp_path, built):
    """The answers are freed by reference counts when the command ends (a
    cycle through the Symbolizer left 100,000 lookups' objects to one
    0.16 s collection).  CliRunner's own exception cycles are not ours."""
    from symmap.symbolize.source_lines import LineTable
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = built / "prog-gcc"
    stdin = "\n".join(map(hex, _addrs(path)))
    for mode in (["--brief"], ["--json"]):
        gc.collect()
        gc.disable()                   # no collection may run before the check
        try:
            r = CliRunner().invoke(cli, ["lookup", str(path), "-", *mode], input=stdin)
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            ours = [o for o in gc.garbage if isinstance(o, (Symbolizer, LineTable))]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        assert r.exit_code == 1
        assert not ours, mode
