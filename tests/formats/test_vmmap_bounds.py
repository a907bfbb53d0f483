"""vmmap text reports: size caps, and rows holding a long run of spaces
(issue 12: a backtracking row regex took 54 s on 40k spaces; the row parser
is linear now, so these 1M-space rows parse at once)."""
from __future__ import annotations

import pytest

from symmap.errors import CorruptInput
from symmap.formats.vmmap.report import MAX_BYTES, MAX_ROWS, parse_row, parse_vmmap_text

ROW = ("MALLOC metadata             10530c000-105310000    [   16K    16K    16K     0K] "
       "r--/rwx SM=SHM          MallocHelperZone_0x10530c000 zone structure")
SPACES = " " * 1_000_000


@pytest.mark.parametrize("where", ["type", "size block", "tail", "end", "no bracket"])
def test_a_million_spaces_in_a_row(where):
    line = {"type": ROW.replace("MALLOC metadata ", "MALLOC" + SPACES + "metadata ", 1),
            "size block": ROW.replace("[   16K", "[" + SPACES + "16K", 1),
            "tail": ROW.replace("SM=SHM ", "SM=SHM" + SPACES, 1),
            "end": ROW + SPACES,
            "no bracket": ROW.split("[")[0] + SPACES}[where]
    row = parse_row(line)
    if where == "no bracket":
        assert row is None
        return
    assert row is not None and (row.start, row.end) == (0x10530C000, 0x105310000)
    assert row.prot == "r--" and row.share_mode == "SHM"


_HEAD = ("Virtual Memory Map of process 1 (x)\nOutput report format:  2.4  -- 64-bit process\n"
         "==== Non-writable regions for process 1\n")


def test_more_rows_than_the_cap_are_refused():
    rows = "\n".join(f"MALLOC_TINY  {0x100000000 + 0x4000 * i:x}-{0x100004000 + 0x4000 * i:x} "
                     "[ 16K] rw-/rwx SM=PRV" for i in range(MAX_ROWS + 1))
    with pytest.raises(CorruptInput, match="region rows"):
        parse_vmmap_text((_HEAD + rows).encode())


def test_a_report_over_the_size_cap_is_refused():
    with pytest.raises(CorruptInput, match="MiB at most"):
        parse_vmmap_text(_HEAD.encode() + b" " * MAX_BYTES)
