"""Compare symmap's source frames with ``llvm-symbolizer --inlines``.

Both sides' names are demangled by the same function (symmap's), from the
linkage names (llvm-symbolizer runs with --no-demangle).  The rules that
make two answers "the same" are each a known, explained difference:

- paths: symbolic cleans ``..`` segments (``/usr/bin/../lib/gcc/…`` ->
  ``/usr/lib/gcc/…``); compared after ``os.path.normpath``;
- line 0 (code with no line row: crt objects, padding inside a function):
  llvm-symbolizer still names the compile unit's file, symbolic gives no
  file; such frames compare by name only;
- no answer: llvm-symbolizer's ``??`` (empty FunctionName) equals symmap
  giving neither frames nor a symbol;
- no DWARF for the function (assembly, crt stubs): symmap falls back to its
  symbol index; that name is compared with llvm-symbolizer's one frame.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from typing import Any

from symmap.symbolize.demangle import demangle


def text_addresses(t: Any, n: int, seed: int = 11) -> list[int]:
    """``n`` random addresses in the .text/__text sections of the target's images."""
    spans = [(s.address, s.size) for im in t.images for seg in im.segments for s in seg.sections
             if s.name in (".text", "__text") and s.size]
    total = sum(sz for _a, sz in spans)
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randrange(total)
        for a, sz in spans:
            if k < sz:
                out.append(a + k)
                break
            k -= sz
    return out


def llvm_frames(tool: str, obj: str, addrs: list[int], extra: tuple[str, ...] = ()) -> list[list[dict]]:
    cmd = [tool, "--inlines", "--no-demangle", "--output-style=JSON", f"--obj={obj}", *extra]
    out = subprocess.run(cmd, input="\n".join(map(hex, addrs)), capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line)["Symbol"] for line in out.splitlines() if line.strip()]


def _norm(path: str | None) -> str:
    return os.path.normpath(path) if path else ""


def _key(name: str, file: str | None, line: int | None) -> tuple[str, str, int]:
    line = line or 0
    return (demangle(name) if name else "", _norm(file) if line else "", line)


def mine_key(lk: Any, macho: bool) -> list[tuple[str, str, int]]:
    if lk.frames:
        return [_key(f.linkage_name, f.file, f.line) for f in lk.frames]
    if lk.linkage_name is None:
        return [("", "", 0)]
    name = lk.linkage_name[1:] if macho and lk.linkage_name.startswith("_") else lk.linkage_name
    return [_key(name.split("@", 1)[0] if "@" in name[1:] else name, None, 0)]


def theirs_key(frames: list[dict]) -> list[tuple[str, str, int]]:
    return [_key(f["FunctionName"], f["FileName"], f["Line"]) for f in frames]


def agreement(lookups: list[Any], ref: list[list[dict]], macho: bool = False
              ) -> tuple[int, list[tuple[int, Any, Any]]]:
    """(addresses agreeing on every frame, [(address, mine, theirs) for the rest])."""
    ok, diffs = 0, []
    for lk, rr in zip(lookups, ref):
        m, t = mine_key(lk, macho), theirs_key(rr)
        # Frames of line 0 on one side: by name only.
        if len(m) == len(t):
            m = [(a[0], a[1], a[2]) if a[2] and b[2] else (a[0], "", 0) for a, b in zip(m, t)]
            t = [(b[0], b[1], b[2]) if a[2] and b[2] else (b[0], "", 0) for a, b in zip(mine_key(lk, macho), t)]
        if m == t:
            ok += 1
        else:
            diffs.append((lk.address, m, t))
    return ok, diffs
