"""Fault runs (issue 12): `symmap` against processes that exit or exec while
they are being read must never print a traceback.

Each run starts a child that maps many regions (and runs a few threads), then
starts `python -m symmap map PID`, `map --json PID` or `audit PID` (in turn)
and tells the child to go: after a random delay the child exits, or execs
/bin/sleep.  The delay is drawn from --min-delay..--max-delay ms; by default
from 80% of symmap's start-up (a run against a pid that does not exist) to
75% of one whole measured run against the same child (the rest is
rendering), so most faults land inside the walk and a few before it.  A run fails when stderr
holds "Traceback" or the exit code is not one symmap documents (0, 1, 2, 4;
3 only if access is denied).

    python bench/fault_runs.py                 # 100 exits + 100 execs
    python bench/fault_runs.py --runs 10       # 10 + 10
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["map"], ["map", "--json"], ["audit"])
DOCUMENTED = {0, 1, 2, 3, 4}

# argv: regions, mode (exit|exec).  Prints "ready", waits for a delay (ms) on stdin.
CHILD = r"""
import mmap, os, sys, threading, time
n, mode = int(sys.argv[1]), sys.argv[2]
keep = [mmap.mmap(-1, 4096, prot=mmap.PROT_READ | (mmap.PROT_WRITE if i % 2 else 0))
        for i in range(n)]
for _ in range(4):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("ready", flush=True)
delay = float(sys.stdin.readline() or 0)
time.sleep(delay / 1000)
if mode == "exec":
    os.execv("/bin/sleep", ["sleep", "30"])
os._exit(0)
"""


@dataclass
class Tally:
    runs: int = 0
    tracebacks: int = 0
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    bad: list[str] = field(default_factory=list)       # first lines of failing runs
    messages: collections.Counter[str] = field(default_factory=collections.Counter)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop("SYMMAP_DEBUG", None)
    return env


def one_run(mode: str, cmd: list[str], delay_ms: float, regions: int) -> tuple[int, str]:
    """(exit code, stderr) of one symmap run against a child that faults after delay_ms."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(regions), mode],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    try:
        assert child.stdin is not None and child.stdout is not None
        if child.stdout.readline().strip() != b"ready":
            raise RuntimeError("fault child did not start")
        sym = subprocess.Popen([sys.executable, "-m", "symmap", *cmd, str(child.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=_env(), cwd=str(ROOT))
        child.stdin.write(f"{delay_ms}\n".encode())
        child.stdin.flush()
        _, err = sym.communicate(timeout=120)
        return sym.returncode, err.decode("utf-8", "replace")
    finally:
        child.kill()
        child.wait()


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symmap", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=_env(), cwd=str(ROOT), check=False)
    return (time.perf_counter() - t0) * 1000


def calibrate(regions: int) -> tuple[float, float]:
    """(ms until symmap starts reading, ms of one whole `map --json PID` run)."""
    start = min(_timed(["map", "--json", str(2 ** 22 + 1)]) for _ in range(3))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(regions), "exit"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        return 0.8 * start, max(0.75 * _timed(["map", "--json", str(child.pid)]), start)
    finally:
        child.kill()
        child.wait()


def fault_runs(mode: str, runs: int, delay_ms: tuple[float, float], regions: int,
               seed: int | None = None) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for i in range(runs):
        cmd = list(COMMANDS[i % len(COMMANDS)])
        code, err = one_run(mode, cmd, rng.uniform(*delay_ms), regions)
        tally.runs += 1
        tally.codes[code] += 1
        if err.strip():
            tally.messages[re.sub(r"\d+", "N", err.strip().splitlines()[-1])[:100]] += 1
        if "Traceback" in err or code not in DOCUMENTED:
            tally.tracebacks += "Traceback" in err
            tally.bad.append(f"{mode} {' '.join(cmd)} -> {code}: {err.strip()[-300:]}")
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100, help="runs per fault kind (default 100)")
    ap.add_argument("--regions", type=int, default=3000, help="anonymous mappings per child")
    ap.add_argument("--min-delay", type=float, default=None,
                    help="ms; default: 80%% of symmap's measured start-up")
    ap.add_argument("--max-delay", type=float, default=None,
                    help="ms; default: one measured symmap run")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    lo, hi = (0.0, 0.0) if None not in (a.min_delay, a.max_delay) else calibrate(a.regions)
    delay = (a.min_delay if a.min_delay is not None else lo,
             a.max_delay if a.max_delay is not None else hi)
    print(f"{a.runs} runs per kind, {a.regions} regions, fault after "
          f"{delay[0]:.0f}-{delay[1]:.0f} ms")
    failed = 0
    for mode in ("exit", "exec"):
        t0 = time.perf_counter()
        t = fault_runs(mode, a.runs, delay, a.regions, a.seed)
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(t.codes.items()))
        print(f"{mode:5} runs={t.runs} tracebacks={t.tracebacks} exit codes {{{codes}}} "
              f"({time.perf_counter() - t0:.0f} s)")
        for msg, n in t.messages.most_common():
            print(f"  {n:4}  {msg}")
        for line in t.bad:
            print("  FAIL " + line)
        failed += len(t.bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
