"""A fuzz campaign: per format, N mutated inputs through the pipeline in
worker processes; per format it counts inputs, distinct non-symmap
exception signatures, inputs over the time or memory limit and the peak,
and keeps one (minimized) reproducer per signature under ``out``."""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.minimize import minimize
from tests.fuzz.mutate import make_input
from tests.fuzz.seeds import TEXT_FORMATS, Seed
from tests.fuzz.workers import Pool, Result


@dataclass
class Limits:
    cpu_seconds: float = 2.0          # per input, CPU time (SIGPROF)
    memory_mb: float = 100.0          # per input, peak RSS above the worker's own
    wall_seconds: float = 30.0        # watchdog for hangs SIGPROF cannot interrupt
    minimize_seconds: float = 30.0    # per signature


@dataclass
class Finding:
    signature: str
    kind: str                         # exception | died | over-time | over-memory
    index: int
    seed: str
    count: int = 1
    detail: str = ""
    reproducer: str | None = None


@dataclass
class FormatStats:
    fmt: str
    seeds: int
    inputs: int = 0
    rejected: int = 0                 # SymmapError: the input was refused cleanly
    over_time: int = 0
    over_memory: int = 0
    peak_kb: int = 0
    max_cpu: float = 0.0
    seconds: float = 0.0
    findings: dict[str, Finding] = field(default_factory=dict)

    @property
    def signatures(self) -> int:
        """Distinct non-symmap exception signatures (a dead worker counts)."""
        return sum(1 for f in self.findings.values() if f.kind in ("exception", "died"))

    def row(self) -> dict[str, Any]:
        return {"format": self.fmt, "seeds": self.seeds, "inputs": self.inputs, "rejected": self.rejected,
                "signatures": self.signatures, "over_time": self.over_time, "over_memory": self.over_memory,
                "peak_mb": round(self.peak_kb / 1024, 1), "max_cpu_s": round(self.max_cpu, 3),
                "seconds": round(self.seconds, 1),
                "findings": [vars(f) | {"detail": f.detail[-1500:]} for f in self.findings.values()]}


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:120].strip("_")


def _record(st: FormatStats, r: Result, index: int, seed: str, limits: Limits) -> Finding | None:
    """Count one result; return a Finding when it is the first of its signature."""
    st.inputs += 1
    st.max_cpu = max(st.max_cpu, r.cpu)
    st.peak_kb = max(st.peak_kb, r.peak_kb)
    if r.status == "rejected":
        st.rejected += 1
    kind = None
    sig = r.signature or ""
    if r.status in ("exception", "died"):
        kind = r.status
    elif r.status == "over-time" or r.cpu > limits.cpu_seconds:
        kind, st.over_time = "over-time", st.over_time + 1
        sig = sig or "over-time @ (finished)"
    if r.status == "memory-error" or r.peak_kb > limits.memory_mb * 1024:
        st.over_memory += 1
        if kind is None:
            kind, sig = "over-memory", r.signature or "over-memory"
    if kind is None:
        return None
    f = st.findings.get(sig)
    if f is not None:
        f.count += 1
        return None
    f = st.findings[sig] = Finding(sig, kind, index, seed, detail=r.detail)
    return f


def _save(out: Path, fmt: str, f: Finding, files: tuple[tuple[str, bytes], ...], master: int,
          original: int) -> Path:
    d = out / fmt / _slug(f"{f.kind}-{f.signature}")
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (d / name).write_bytes(data)
    (d / "FINDING.txt").write_text(
        f"format: {fmt}\nkind: {f.kind}\nsignature: {f.signature}\nseed file: {f.seed}\n"
        f"input: --seed {master} --formats {fmt}, index {f.index}\n"
        f"target: {files[0][0]} ({len(files[0][1])} bytes; {original} before minimizing)\n\n{f.detail}\n")
    return d


def _reproduce(pool: Pool, fmt: str, index: int, files: tuple[tuple[str, bytes], ...], sig: str) -> bool:
    for _task, r in pool.map([(fmt, index, files)]):
        return (r.signature or r.status) == sig
    return False


def _keep(pool: Pool, out: Path, fmt: str, f: Finding, seeds: list[Seed], master: int, limits: Limits) -> None:
    """Rebuild the finding's input, minimize it (exceptions and dead workers
    only: over-limit inputs are kept as found) and write it under out."""
    if f.signature.startswith("harness mutator:"):
        return
    _name, files, k = make_input(seeds, fmt, master, f.index)
    original = len(files[k][1])
    if f.kind in ("exception", "died") and limits.minimize_seconds > 0:
        def fails(data: bytes) -> bool:
            cand = files[:k] + ((files[k][0], data),) + files[k + 1:]
            return _reproduce(pool, fmt, f.index, cand, f.signature)
        if fails(files[k][1]):
            small = minimize(files[k][1], fails, limits.minimize_seconds, fmt in TEXT_FORMATS)
            files = files[:k] + ((files[k][0], small),) + files[k + 1:]
        else:
            f.detail = "(did not reproduce alone in a fresh worker)\n" + f.detail
    f.reproducer = str(_save(out, fmt, f, files, master, original))


def run_format(pool: Pool, fmt: str, seeds: list[Seed], n: int, master: int, limits: Limits, out: Path,
               start: int = 0, progress: bool = False) -> FormatStats:
    st = FormatStats(fmt, len(seeds))
    if not seeds:
        return st
    t0 = last = time.monotonic()
    new: list[Finding] = []
    for (_fmt, index, _files), r in pool.map((fmt, i, None) for i in range(start, start + n)):
        f = _record(st, r, index, "", limits)
        if f is not None:
            if not f.signature.startswith("harness mutator:"):
                f.seed = make_input(seeds, fmt, master, index)[0]
            new.append(f)
        if progress and time.monotonic() - last > 30:
            last = time.monotonic()
            print(f"  {fmt}: {st.inputs}/{n} inputs, {st.signatures} signatures, "
                  f"{st.over_time} over time, {st.over_memory} over memory, {last - t0:.0f} s",
                  file=sys.stderr, flush=True)
    st.seconds = time.monotonic() - t0
    for f in new:
        _keep(pool, out, fmt, f, seeds, master, limits)
    return st


def run_campaign(seeds: dict[str, list[Seed]], per_format: int, master: int, jobs: int, out: Path,
                 limits: Limits, start: int = 0, progress: bool = False) -> list[FormatStats]:
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool(jobs, seeds, master, limits.cpu_seconds, limits.wall_seconds)
    stats = []
    try:
        for fmt, fs in seeds.items():
            stats.append(run_format(pool, fmt, fs, per_format, master, limits, out, start, progress))
            (out / "summary.json").write_text(json.dumps(
                {"seed": master, "per_format": per_format, "start": start, "jobs": jobs, "limits": vars(limits),
                 "formats": [s.row() for s in stats]}, indent=1))
    finally:
        pool.close()
    return stats


def table(stats: list[FormatStats]) -> str:
    head = ("format", "seeds", "inputs", "rejected", "signatures", "over-time", "over-memory", "peak MB", "max s", "seconds")
    rows = [head] + [(s.fmt, str(s.seeds), str(s.inputs), str(s.rejected), str(s.signatures), str(s.over_time),
                      str(s.over_memory), f"{s.peak_kb / 1024:.1f}", f"{s.max_cpu:.3f}", f"{s.seconds:.1f}")
                     for s in stats]
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)) for r in rows]
    for s in stats:
        for f in s.findings.values():
            lines.append(f"{s.fmt}: {f.kind} x{f.count}: {f.signature}  -> {f.reproducer}")
    return "\n".join(lines)
