"""python -m tests.fuzz --per-format N --seed S [--formats F ...] [--jobs J] [--out DIR]

Mutation-fuzzes every input format through map / map --json / lookup /
audit and prints one table: per format, inputs, distinct non-symmap
exception signatures, inputs over the CPU-time or memory limit, the peak
RSS above the worker's own, the slowest input and the seconds taken.
Exit status 1 when any signature or over-limit input was found.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.fuzz.campaign import Limits, run_campaign, table
from tests.fuzz.seeds import FORMATS, load_seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[1])
    ap.add_argument("--per-format", type=int, default=2000, help="inputs per format (default 2000)")
    ap.add_argument("--seed", type=int, default=0, help="master seed: same seed, same inputs")
    ap.add_argument("--start", type=int, default=0, help="index of the first input (to continue a run)")
    ap.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--out", type=Path, help="reproducers and summary.json (default: a new temp dir)")
    ap.add_argument("--no-shared", action="store_true", help="seeds from fixtures/ and built here only")
    ap.add_argument("--cpu-limit", type=float, default=2.0, help="seconds of CPU per input (default 2)")
    ap.add_argument("--memory-limit", type=float, default=100.0, help="MB of peak RSS per input (default 100)")
    ap.add_argument("--minimize-seconds", type=float, default=30.0, help="per signature (0: keep as found)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="symmap-fuzz-out-"))
    seeds = load_seeds(tuple(a.formats), use_shared=not a.no_shared)
    limits = Limits(cpu_seconds=a.cpu_limit, memory_mb=a.memory_limit, minimize_seconds=a.minimize_seconds)
    stats = run_campaign(seeds, a.per_format, a.seed, a.jobs, out, limits, a.start, progress=not a.quiet)
    print(table(stats))
    print(f"reproducers and summary.json: {out}")
    bad = any(s.signatures or s.over_time or s.over_memory for s in stats)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
