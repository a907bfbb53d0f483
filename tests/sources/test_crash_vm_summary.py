"""An .ips ``vmSummary`` is the report's own summary: kept, printed, and a note says
when the regions symmap rebuilt disagree with it (issue 13 §3)."""
from __future__ import annotations

from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import shared_fixture


def test_ips_vm_summary_is_shown_and_the_disagreement_noted():
    p = shared_fixture("crash/pycrashreport-monterey-x86_64.ips")
    r = CliRunner().invoke(cli, ["map", str(p)])
    assert r.exit_code == 0, r.stderr
    out = r.stdout.split("\n")
    i = next(k for k, ln in enumerate(out) if ln.startswith("==== Summary for process"))
    summary = out[i + 1:]
    assert summary[0].startswith("ReadOnly portion of Libraries: Total=141.4M")
    assert "TOTAL                            814.0M      171 " in summary
    assert "TOTAL, minus reserved VM space   430.0M      171 " in summary
    assert any(ln.startswith("MALLOC_NANO (reserved)           384.0M        1         reserved VM address space")
               for ln in summary)
    notes = [ln for ln in out[:i] if ln.startswith("Note:") and "TOTAL 814.0M in 171 regions" in ln]
    assert len(notes) == 1 and "14.2G in 5" in notes[0]
