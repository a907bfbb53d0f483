"""--all-split-libs (vmmap -allSplitLibs): rows for every cached library's segments and
every gap, not only the parts on dirty pages.  Same simulated task and synthetic cache as
test_shared_cache_pages.py."""
from __future__ import annotations

from symmap.annotate import annotate
from symmap.sources import OpenOptions, macos_live
from tests.annotate.test_shared_cache_pages import DATA_PAGES, P, _data_mapping, _rows
from tests.annotate.test_shared_cache_sim import PID, _sim
from tests.formats.dyld_cache_support import build


def _open(built, every: bool):
    t = macos_live.open_pid(PID, OpenOptions(task=_sim(built, dirty_data=0, page_size=P, data_pages=DATA_PAGES)))
    annotate(t, all_split_libs=every)
    return t


def test_every_gap_gets_a_row_with_all_split_libs():
    built = build()
    lo, hi = _data_mapping(built)
    t, t_all = _open(built, False), _open(built, True)
    try:
        dirty_only, every = _rows(t, lo, hi), _rows(t_all, lo, hi)
        # Default: no row for the clean page 1 or the absent page 3.
        assert not [r for r in dirty_only if r[1] < 0x2000 <= r[2] or 0x1000 <= r[1] < 0x2000]
        # All split libs: the rows tile the whole mapping, clean and absent pages included.
        assert every[0][1] == 0 and every[-1][2] == hi - lo
        assert all(a[2] == b[1] for a, b in zip(every, every[1:]))
        # libb (not loaded) still gets its own row, now without the "on dirty page" wording.
        assert ("unused __DATA", 0x10, 0x18, "unused /usr/lib/libb.dylib") in [r[:4] for r in every]
        # ...and they cover more bytes than the dirty-page rows (the padding is one row now).
        assert sum(r[2] - r[1] for r in every) > sum(r[2] - r[1] for r in dirty_only)
    finally:
        t.close()
        t_all.close()
