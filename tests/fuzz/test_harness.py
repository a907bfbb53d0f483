"""The fuzz harness itself: it must see what it is meant to see (a foreign
exception, a hang, a memory spike, a dead worker), tell them from a clean
SymmapError, and rebuild the same input from the same seed."""
from __future__ import annotations

import os
import signal

import pytest

from tests.fuzz.campaign import FormatStats, Limits, _record
from tests.fuzz.minimize import minimize
from tests.fuzz.mutate import make_input
from tests.fuzz.seeds import FORMATS, Seed, load_seeds
from tests.fuzz.workers import Pool


def _behave(path: str) -> None:
    """A stand-in for the pipeline: the input's bytes say what to do."""
    from symmap.errors import CorruptInput
    with open(path, "rb") as f:
        what = f.read()
    if what == b"key":
        {}["missing"]
    elif what == b"loop":
        while True:
            pass
    elif what == b"memory":
        block = bytearray(150 << 20)
        block[::4096] = b"\1" * len(block[::4096])       # touch every page: RSS, not just address space
    elif what == b"die":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == b"corrupt":
        raise CorruptInput("test", "refused cleanly")


@pytest.fixture(scope="module")
def results():
    pool = Pool(1, {}, 0, cpu_limit=0.5, wall_limit=20, run=_behave)
    tasks = [("t", i, (("input", w),)) for i, w in enumerate((b"key", b"loop", b"memory", b"fine", b"corrupt", b"die"))]
    try:
        got = {task[2][0][1].decode(): r for task, r in pool.map(tasks)}
    finally:
        pool.close()
    return got


def test_foreign_exception_is_a_signature_at_its_frame(results):
    r = results["key"]
    assert r.status == "exception"
    assert r.signature.startswith("KeyError @ ") and "test_harness.py:_behave:" in r.signature
    assert "KeyError" in r.detail


def test_cpu_limit_stops_a_loop(results):
    r = results["loop"]
    assert r.status == "over-time" and r.signature == "over-time @ tests/fuzz/test_harness.py:_behave"
    assert 0.4 < r.cpu < 5


def test_peak_rss_is_per_input(results):
    assert results["memory"].peak_kb > 140 << 10
    # The worker replaced after the spike (and the others) measure from their own baseline.
    assert results["fine"].peak_kb < 10 << 10 and results["corrupt"].peak_kb < 10 << 10


def test_dead_worker_is_reported_and_replaced(results):
    assert results["die"].status == "died" and "-11" in results["die"].signature
    assert results["corrupt"].status == "rejected" and results["fine"].status == "ok"


def test_record_counts_each_kind():
    st, lim = FormatStats("t", 1), Limits(cpu_seconds=1, memory_mb=100)
    from tests.fuzz.workers import Result
    _record(st, Result("ok", None, 0.1, 0.1, 200 << 10), 0, "s", lim)          # 200 MB: over memory
    _record(st, Result("ok", None, 1.5, 1.5, 0), 1, "s", lim)                   # 1.5 s: over time
    _record(st, Result("exception", "E @ a", 0, 0, 0), 2, "s", lim)
    _record(st, Result("exception", "E @ a", 0, 0, 0), 3, "s", lim)
    _record(st, Result("rejected", None, 0, 0, 0), 4, "s", lim)
    assert (st.inputs, st.rejected, st.over_memory, st.over_time, st.signatures) == (5, 1, 1, 1, 1)
    assert st.findings["E @ a"].count == 2 and st.peak_kb == 200 << 10


def test_same_seed_same_inputs():
    seeds = [Seed("a", (("a", bytes(range(256)) * 64),)), Seed("b", (("b", b"\xcf\xfa\xed\xfe" + bytes(4000)),))]
    first = [make_input(seeds, "macho", 7, i) for i in range(200)]
    assert first == [make_input(seeds, "macho", 7, i) for i in range(200)]
    other = [make_input(seeds, "macho", 8, i) for i in range(200)]
    assert first != other
    assert len({f[1][0][1] for f in first}) > 150          # mutations differ from input to input


def test_minimize_keeps_the_failure():
    data = b"A" * 3000 + b"KEY" + b"B" * 3000
    assert minimize(data, lambda d: b"KEY" in d, 10, text=False) == b"KEY"
    text = b"\n".join([b"line %d" % i for i in range(500)] + [b"x BAD y"])
    assert minimize(text, lambda d: b"BAD" in d, 10, text=True) == b"BAD"


def test_every_format_has_seeds_without_shared():
    seeds = load_seeds(use_shared=False)
    assert all(seeds[f] for f in FORMATS), {f: len(s) for f, s in seeds.items()}


def test_json_amplify_keeps_json_valid_and_grows_it():
    import json
    import random

    from tests.fuzz.mutate import MAX_TEXT_BYTES, json_amplify
    ips = b'{"bug_type":"309"}\n' + json.dumps({"threads": [{"frames": [{"imageIndex": 0}]}],
                                                  "usedImages": [{"path": "/usr/lib/a.dylib"}]}).encode()
    rng, grown = random.Random(3), 0
    for _ in range(50):
        out = bytes(json_amplify(rng, bytearray(ips), []))
        head, body = out.split(b"\n", 1)
        assert head == b'{"bug_type":"309"}' and isinstance(json.loads(body), dict)
        assert len(out) <= MAX_TEXT_BYTES
        grown += len(out) > 10 * len(ips)
    assert grown > 10


def test_json_amplify_leaves_deep_nesting_alone():
    import random

    from tests.fuzz.mutate import json_amplify
    deep = bytearray(b'{"bug_type":"309"}\n' + b"[" * 100000 + b"]" * 100000)
    assert json_amplify(random.Random(1), bytearray(deep), []) == deep


def test_stacked_text_mutations_stay_bounded():
    import random

    from tests.fuzz.mutate import MAX_TEXT_BYTES, line_duplicate, mutate_bytes
    one_line = b"x" * (MAX_TEXT_BYTES - 10)          # what json_amplify writes: one long line
    assert len(line_duplicate(random.Random(0), bytearray(one_line), [])) <= 2 * MAX_TEXT_BYTES
    rng = random.Random(5)
    for _ in range(30):
        assert len(mutate_bytes(rng, one_line, [], text=True, is_json=True)) <= MAX_TEXT_BYTES
