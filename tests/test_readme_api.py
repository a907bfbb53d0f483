"""The README's Python API example runs as written."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _api_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README has no Python API example"
    return m.group(1)


def test_readme_example_is_ten_lines_or_so():
    assert len(_api_example().strip().splitlines()) <= 12


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="maps this process: Linux procfs")
def test_readme_api_example_runs(capsys):
    exec(compile(_api_example(), str(README), "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("live ") and "regions," in out[0]
    assert out[1].startswith("0x")


def test_import_symmap_is_cheap():
    import subprocess
    code = "import sys, symmap; print(sorted(m for m in sys.modules if m.startswith(('symmap.', 'click'))))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=README.parent)
    assert r.returncode == 0 and r.stdout.strip() == "[]"


def test_open_returns_the_annotated_target_the_cli_renders():
    import symmap
    from symmap.pipeline import open_annotated
    from symmap.render.text import render_report
    p = str(Path(sys.executable).resolve())
    with symmap.open(p) as t, open_annotated(p) as ref:
        assert t.target.annotated and t.kind == "binary"
        assert render_report(t.target, detail_width=None) == render_report(ref, detail_width=None)
        assert t.to_text() == render_report(ref)
        seg = next(r for r in t.regions if r.prot & 4)
        past = max(r.end for r in t.regions) + (1 << 30)
        assert t.lookup(seg.start).mapped and not t.lookup(past).mapped
