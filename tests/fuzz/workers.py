"""Long-lived forked workers, each running one input at a time under a
CPU-time limit (SIGPROF → an exception at the Python frame it interrupts),
an address-space limit (RLIMIT_AS), and a per-input peak-RSS measure.

Peak RSS per input: ``ru_maxrss`` only ever grows, so before each input
the worker writes "5" to /proc/self/clear_refs (Linux resets VmHWM to the
current RSS), and after it reads VmHWM; the input's peak is VmHWM minus the
RSS just before it, i.e. above the interpreter's own.  Without clear_refs
(not Linux) the worker is recycled after any input that raised ru_maxrss.

A worker that dies, hangs past the wall-clock watchdog, or grows is
replaced; its input is reported as such.
"""
from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import resource
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable

from tests.fuzz.seeds import Seed

SYMMAP_DIR = str(Path(__file__).resolve().parents[2] / "symmap") + os.sep
AS_HEADROOM = 4 << 30        # RLIMIT_AS: the worker's size at start + 4 GiB (a runaway allocation fails)
RECYCLE_AFTER = 5000         # inputs per worker, and ...
RECYCLE_GROWTH_KB = 256 << 10  # ... RSS growth, before a fresh worker takes over


@dataclass
class Result:
    status: str                  # ok | rejected | exception | over-time | memory-error | died
    signature: str | None        # for exception / over-time / died
    cpu: float                   # seconds of CPU (user + system) the input took
    wall: float
    peak_kb: int                 # peak RSS above the RSS before the input
    detail: str = ""             # traceback (exception) or message


class _OverTime(BaseException):
    """Raised by SIGPROF: BaseException, so no `except Exception` in symmap swallows it."""


def _on_prof(signum: int, frame: Any) -> None:
    raise _OverTime()


def _status_kb(key: str) -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kb(b"VmHWM:") > 0
    except OSError:
        return False


def _frame_of(tb: Any) -> str:
    """file:function:line of the innermost symmap frame (else the innermost frame)."""
    frames = [fr for fr in traceback.extract_tb(tb) if fr.name != "_on_prof"]     # not the SIGPROF handler
    if not frames:
        return "?"
    inside = [fr for fr in frames if fr.filename.startswith(SYMMAP_DIR)]
    pick = inside[-1] if inside else frames[-1]
    root = str(Path(SYMMAP_DIR).parent) + os.sep
    name = pick.filename[len(root):] if pick.filename.startswith(root) else os.path.basename(pick.filename)
    return f"{name}:{pick.name}:{pick.lineno}"


def signature(exc: BaseException) -> str:
    return f"{type(exc).__name__} @ {_frame_of(exc.__traceback__)}"


def timeout_signature(exc: BaseException) -> str:
    """Where the CPU limit struck, without the line (a loop's line varies)."""
    where = _frame_of(exc.__traceback__).rsplit(":", 1)[0]
    return f"over-time @ {where}"


def run_one(run: Callable[[str], None], workdir: str, files: tuple[tuple[str, bytes], ...],
            cpu_limit: float, reset_peak: bool) -> Result:
    """Write the input's files into workdir, run it, measure it."""
    from symmap.errors import SymmapError
    for name, data in files:
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(data)
    path = os.path.join(workdir, files[0][0])
    if reset_peak:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kb(b"VmRSS:")
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status, sig, detail = "ok", None, ""
    c0, w0 = time.process_time(), time.perf_counter()
    signal.setitimer(signal.ITIMER_PROF, cpu_limit)
    try:
        run(path)
    except SymmapError as e:
        status = "rejected"
        if "\n" in str(e):
            status, sig, detail = "exception", "multi-line SymmapError", str(e)[:2000]
    except _OverTime as e:
        status, sig = "over-time", timeout_signature(e)
    except MemoryError as e:
        status, sig = "memory-error", signature(e)
    except BaseException as e:  # noqa: B036 - every other exception is a finding
        status, sig = "exception", signature(e)
        detail = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-40:])
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    after = _status_kb(b"VmHWM:") if reset_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, _ in files:
        try:
            os.unlink(os.path.join(workdir, name))
        except OSError:
            pass
    return Result(status, sig, cpu, wall, max(0, after - before), detail)


def _worker_main(conn: Connection, seeds: dict[str, list[Seed]], master: int, cpu_limit: float,
                 run: Callable[[str], None]) -> None:
    from tests.fuzz.mutate import make_input
    devnull = os.open(os.devnull, os.O_WRONLY)      # symmap's notes and warnings are not ours to print
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    faulthandler.disable()          # pytest's would print a dead worker's stack on the run's stderr
    signal.signal(signal.SIGPROF, _on_prof)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    vm = _status_kb(b"VmSize:") << 10
    if vm:
        resource.setrlimit(resource.RLIMIT_AS, (vm + AS_HEADROOM, vm + AS_HEADROOM))
    reset_peak = _can_reset_peak()
    workdir = tempfile.mkdtemp(prefix="symmap-fuzz-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    os.environ["XDG_CACHE_HOME"] = workdir       # belt and braces: no symcache is written (no_cache=True)
    start_rss = _status_kb(b"VmRSS:")
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            fmt, index, files = msg
            if files is None:
                try:
                    files = make_input(seeds[fmt], fmt, master, index)[1]
                except Exception as e:  # noqa: BLE001 - a mutator bug is reported, not a dead worker
                    conn.send((Result("exception", f"harness mutator: {signature(e)}", 0.0, 0.0, 0), False))
                    continue
            r = run_one(run, workdir, files, cpu_limit, reset_peak)
            grown = _status_kb(b"VmRSS:") - start_rss > RECYCLE_GROWTH_KB
            conn.send((r, grown or (not reset_peak and r.peak_kb > 0)))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        for p in Path(workdir).iterdir():
            p.unlink()
        os.rmdir(workdir)


class Pool:
    """``jobs`` workers; ``map`` runs tasks (fmt, index, files-or-None) and
    yields (task, Result) in completion order.  ``run(path)`` is what each
    input goes through (default: exercise.exercise)."""

    def __init__(self, jobs: int, seeds: dict[str, list[Seed]], master: int, cpu_limit: float,
                 wall_limit: float, run: Callable[[str], None] | None = None) -> None:
        if run is None:
            from tests.fuzz.exercise import exercise
            run = exercise
        self.run = run          # inherited by the forked workers, never pickled
        self.ctx = mp.get_context("fork")
        self.jobs, self.seeds, self.master = jobs, seeds, master
        self.cpu_limit, self.wall_limit = cpu_limit, wall_limit
        self.workers: list[tuple[Any, Connection, int]] = []
        self.restarts = 0

    def _spawn(self) -> tuple[Any, Connection, int]:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker_main, args=(child, self.seeds, self.master, self.cpu_limit, self.run), daemon=True)
        p.start()
        child.close()
        return p, parent, 0

    def _retire(self, i: int, kill: bool) -> None:
        p, conn, _ = self.workers[i]
        if kill:
            p.kill()
        else:
            try:
                conn.send(None)
            except OSError:
                p.kill()
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
        conn.close()
        self.workers[i] = self._spawn()
        self.restarts += 1

    def map(self, tasks: Any) -> Any:
        if not self.workers:
            self.workers = [self._spawn() for _ in range(self.jobs)]
        it = iter(tasks)
        busy: dict[int, tuple[Any, float]] = {}      # worker slot -> (task, sent at)

        def feed(i: int) -> bool:
            task = next(it, None)
            if task is None:
                return False
            self.workers[i][1].send(task)
            busy[i] = (task, time.monotonic())
            return True

        for i in range(self.jobs):
            feed(i)
        while busy:
            conns = {self.workers[i][1]: i for i in busy}
            ready = wait(list(conns), timeout=0.5)
            for c in ready:
                i = conns[c]
                task, _ = busy.pop(i)
                try:
                    r, recycle = c.recv()
                except (EOFError, OSError):
                    code = self.workers[i][0].exitcode
                    self.workers[i][0].join(1)
                    code = self.workers[i][0].exitcode if code is None else code
                    r = Result("died", f"worker died (exit {code})", 0.0, 0.0, 0)
                    recycle = True
                p, conn, n = self.workers[i]
                self.workers[i] = (p, conn, n + 1)
                if recycle or n + 1 >= RECYCLE_AFTER or r.status in ("over-time", "memory-error", "died"):
                    self._retire(i, kill=r.status == "died")
                yield task, r
                feed(i)
            now = time.monotonic()
            for i, (task, sent) in list(busy.items()):
                if now - sent > self.wall_limit:          # hung where SIGPROF cannot reach (C code, sleep)
                    busy.pop(i)
                    self._retire(i, kill=True)
                    yield task, Result("over-time", "over-time @ wall-clock watchdog", 0.0, now - sent, 0)
                    feed(i)

    def close(self) -> None:
        for i in range(len(self.workers)):
            p, conn, _ = self.workers[i]
            try:
                conn.send(None)
            except OSError:
                pass
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
            conn.close()
        self.workers = []
