"""On Linux nothing loads libSystem: importing every symmap module never calls
ctypes.CDLL/LoadLibrary for it, and only symmap/darwin/_mach.py names it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = r"""
import ctypes, importlib, pkgutil, sys
loads = []
real = ctypes.CDLL.__init__
def spy(self, name, *a, **k):
    loads.append(str(name))
    return real(self, name, *a, **k)
ctypes.CDLL.__init__ = spy
import symmap
failed = []
for mod in pkgutil.walk_packages(symmap.__path__, "symmap."):
    if mod.name.endswith("__main__"):     # runs the CLI when imported
        continue
    try:
        importlib.import_module(mod.name)
    except Exception as e:      # another engineer's module may need an optional dep
        failed.append((mod.name, repr(e)))
from symmap.darwin import _mach
assert _mach._lib is None, "libSystem loaded at import"
bad = [n for n in loads if "libSystem" in n or "System" in n]
print("LOADS", loads)
print("FAILED", failed)
sys.exit(1 if bad else 0)
"""


def test_importing_every_module_does_not_load_libsystem():
    r = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "symmap.darwin._mach" not in r.stdout.split("FAILED", 1)[1]


def test_only_mach_module_names_libsystem_or_cdll():
    offenders = []
    for p in (ROOT / "symmap").rglob("*.py"):
        if p.name == "_mach.py" and p.parent.name == "darwin":
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if re.search(r"libSystem\.B|ctypes\.CDLL|cdll\.LoadLibrary", text):
            offenders.append(str(p.relative_to(ROOT)))
    assert offenders == []


def test_importing_macos_live_and_cli_stays_off_ctypes():
    code = ("import sys, symmap.sources.macos_live, symmap.darwin.region_walk, "
            "symmap.darwin.dyld_image_list, symmap.darwin.vm_tags, symmap.darwin.kernel; "
            "print('ctypes' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
