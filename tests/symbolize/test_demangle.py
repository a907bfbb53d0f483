"""Batched demangling: all mangled names of a batch in ONE llvm-cxxfilt /
c++filt run (names on stdin, no shell), results equal to llvm-cxxfilt's,
bounded input, fallbacks when the tool is missing or misbehaves."""
from __future__ import annotations

import subprocess

import pytest

from symmap.symbolize import demangle as _demangle
from symmap.symbolize.demangle import demangle_many, display_names
from tests.conftest import OWN_FIXTURES, need_tool

OWN = OWN_FIXTURES / "symbols"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(_demangle, "_cache", {})
    monkeypatch.setattr(_demangle, "_tool", False)


def _cxx_names():
    out = subprocess.run([need_tool("llvm-nm"), str(OWN / "libsymbols-arm64.dylib")],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if "__Z" in line]
    assert len(names) >= 2
    return names


def test_display_names_equal_llvm_cxxfilt_in_one_run(monkeypatch):
    tool = need_tool("llvm-cxxfilt")
    cxx = _cxx_names()
    names = cxx + ["_sym_add", "_main", "ltmp0"]
    want = subprocess.run([tool], input="\n".join(n[1:] for n in cxx), capture_output=True, text=True,
                          check=True).stdout.splitlines()
    calls = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    got = display_names(names, macho=True)
    assert len(calls) == 1 and calls[0][0] == [_demangle._filter_tool()]     # no shell, fixed argv
    assert [got[n] for n in cxx] == want and all("::" in w for w in want)
    assert got["_sym_add"] == "sym_add" and got["_main"] == "main" and "ltmp0" not in got
    # ELF names: only changed ones come back; a second ask is cached.
    assert display_names(["main", "_ZN9symmap_ns11make_widgetEi"], macho=False) == {
        "_ZN9symmap_ns11make_widgetEi": "symmap_ns::make_widget(int)"}
    assert len(calls) == 1


def test_unfilterable_names_are_not_sent_and_kept(monkeypatch):
    need_tool("llvm-cxxfilt", "c++filt")
    sent = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: sent.append(k.get("input")) or real(*a, **k))
    odd = ["_Zfoo bar", "_Z\n3foo", "_Z" + "x" * 5000, "_Z\u00e9"]
    got = demangle_many(odd + ["_ZN3foo3barEv"])
    assert got["_ZN3foo3barEv"] == "foo::bar()"
    for n in odd:
        assert n not in (sent[0] or "")
    assert len(sent) == 1


def test_tool_misbehaving_or_missing_keeps_linkage_names(monkeypatch):
    monkeypatch.setattr(_demangle, "_tool", "/bin/true")        # prints nothing: output does not line up
    monkeypatch.setattr(_demangle, "_get_demangler", lambda: False)
    assert demangle_many(["_ZN3foo3barEv", "plain"]) == {"_ZN3foo3barEv": "_ZN3foo3barEv", "plain": "plain"}
    monkeypatch.setattr(_demangle, "_cache", {})
    monkeypatch.setattr(_demangle, "_tool", None)
    assert demangle_many(["_ZN3foo3barEv"]) == {"_ZN3foo3barEv": "_ZN3foo3barEv"}


def test_batches_split_at_the_input_bound(monkeypatch):
    need_tool("llvm-cxxfilt", "c++filt")
    monkeypatch.setattr(_demangle, "_MAX_BATCH", 40)
    calls = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    names = [f"_ZN3foo{len(str(i))}{i}Ev".replace(f"{len(str(i))}{i}", f"3b{i:02d}") for i in range(10)]
    got = demangle_many(names)
    assert len(calls) > 1 and all(got[n].startswith("foo::b") for n in names)
