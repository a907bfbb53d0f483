"""Issue 12 fault runs, small: 10 live runs against children that exit
mid-walk and 10 that exec mid-walk give no traceback and only documented
exit codes (bench/fault_runs.py does 100 + 100)."""
from __future__ import annotations

import sys

import pytest

from bench.fault_runs import DOCUMENTED, calibrate, fault_runs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@pytest.fixture(scope="module")
def delay():
    return calibrate(2000)


@pytest.mark.parametrize("mode", ["exit", "exec"])
def test_faults_mid_walk_never_traceback(mode, delay):
    t = fault_runs(mode, 10, delay, 2000, seed=12)
    assert t.runs == 10 and t.tracebacks == 0 and not t.bad, t.bad
    assert set(t.codes) <= DOCUMENTED
