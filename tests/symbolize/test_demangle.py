"""In-process demangling (pydemumble plus symmap's Rust legacy decoder): every
family, pass-through of what is not mangled, and the guards against names
that would crash (deep nesting) or flood (back-reference bombs) a demangler."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from symmap.symbolize import demangle as _demangle
from symmap.symbolize.demangle import (
    demangle,
    demangle_many,
    demangle_text,
    display_names,
)
from tests.conftest import OWN_FIXTURES, ROOT, need_tool

OWN = OWN_FIXTURES / "symbols"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(_demangle, "_cache", {})


@pytest.mark.parametrize("name, want", [
    ("_ZN3foo3barEv", "foo::bar()"),
    ("__ZN3foo3barEv", "foo::bar()"),                      # Mach-O's extra underscore
    ("___Z3foov_block_invoke", "invocation function for block in foo()"),
    ("_ZN3foo3barEv.cold", "foo::bar() (.cold)"),          # as llvm-cxxfilt prints it
    ("_ZTV3Foo", "vtable for Foo"),
    ("$s4main3FooV3baryyF", "main.Foo.bar() -> ()"),
    ("_$s4main3FooV3baryyF", "main.Foo.bar() -> ()"),
    ("$S4main3FooV3baryyF", "main.Foo.bar() -> ()"),
    ("_T0s4mainSiv", "_T0s4mainSiv"),                      # not a valid _T0 name: kept
    ("_T03foo3barC3basyAA3zimCAE_tF", "foo.bar.bas(zim: foo.zim) -> ()"),
    ("_ZN3std2io5stdio6_print17h0123456789abcdefE", "std::io::stdio::_print"),
    ("_ZN4core3fmt3num49_$LT$impl$u20$core..fmt..Debug$u20$for$u20$i8$GT$3fmt17h0123456789abcdefE",
     "core::fmt::num::<impl core::fmt::Debug for i8>::fmt"),
    ("_ZN9backtrace3foo17hbb467fcdaea5d79bE.llvm.A5310EB9", "backtrace::foo"),
    ("_RNvCs1234_7mycrate3foo", "mycrate::foo"),
    ("_RNvC9backtrace3foo.llvm.A5310EB9", "backtrace::foo"),
])
def test_each_family(name, want):
    assert demangle(name) == want
    assert demangle_many([name]) == {name: want}


@pytest.mark.parametrize("name", [
    "-[Foo bar]", "+[NSObject alloc]", "-[Foo bar:baz:]", "main", "_main", "printf",
    "_Test", "_Z", "_R", "$s", "_ZN", "_Zfoo", "_ZN3foo$E", "_ZN" + "9" * 5000 + "E",
    "_Z3foo bar", "_Z\n3foov", "_Z3foo\0v", "_Z3f\u00e9v", "_ZN3fooE.llvm moocow", "",
])
def test_not_mangled_or_invalid_names_pass_through(name):
    assert demangle(name) == name
    assert demangle_many([name]) == {name: name}


def test_rust_hash_dropped_only_in_rustc_form():
    # rustc writes h + 16 hex digits; a C++ variable may be called "hdef".
    assert demangle("_ZN4llvm2cl4hdefE") == "llvm::cl::hdef"
    assert demangle("_ZN3foo17hg5af221e174051e9E") == "foo::hg5af221e174051e9"
    assert demangle("_ZN17h05af221e174051e93fooE") == "h05af221e174051e9::foo"


def test_no_subprocess_and_lazy_import():
    code = ("import subprocess, sys\n"
            "def no(*a, **k): raise AssertionError('subprocess used')\n"
            "subprocess.Popen = no; subprocess.run = no\n"
            "from symmap.symbolize.demangle import demangle\n"
            "assert 'pydemumble' not in sys.modules\n"
            "assert demangle('main') == 'main' and 'pydemumble' not in sys.modules\n"
            "assert demangle('_ZN3foo3barEv') == 'foo::bar()'\n"
            "print('pydemumble' in sys.modules, 'lief' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(ROOT)).stdout.split()
    assert out == ["True", "False"]


def _bomb(k: int) -> str:
    """An Itanium name whose every function type uses the previous one twice:
    k levels print ~2^k copies (k=25: 266 characters -> 1 GB)."""
    def sid(i: int) -> str:
        if i == 0:
            return "S_"
        i -= 1
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        s = ""
        while True:
            s = digits[i % 36] + s
            i //= 36
            if i == 0:
                return f"S{s}_"
    name, last, nsub = "_Z1fPi", 0, 1
    for _ in range(k):
        name += "PFv" + sid(last) + sid(last) + "E"
        nsub += 2
        last = nsub - 1
    return name


def test_back_reference_bomb_stays_mangled_fast():
    small = _bomb(5)
    assert len(demangle(small)) > 500                         # the construction is real
    big = _bomb(30)
    t = time.perf_counter()
    assert demangle(big) == big
    assert demangle_text(f"x {big} y") == f"x {big} y"
    assert time.perf_counter() - t < 1.0                       # unguarded: minutes and GBs


def test_deep_names_do_not_overflow_a_small_thread_stack():
    # 'F' nesting costs ~180 bytes of C stack per character: 3000 characters
    # overflow a 512 KiB thread stack (macOS's smallest) when run directly.
    code = ("import threading\n"
            "from symmap.symbolize.demangle import demangle\n"
            "name = '_Z1f' + 'F' * 6000 + 'vE' * 6000\n"
            "res = []\n"
            "threading.stack_size(512 * 1024)\n"
            "t = threading.Thread(target=lambda: res.append(demangle(name)))\n"
            "t.start(); t.join()\n"
            "print(len(res[0]) > len(name))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), check=False)
    assert p.returncode == 0, p.stderr[-500:]
    assert p.stdout.split() == ["True"]


def test_names_longer_than_the_bound_are_kept():
    name = "_ZN" + "3foo" * (_demangle.MAX_NAME // 4) + "E"
    assert demangle(name) == name


def test_demangle_text_rewrites_words_only():
    line = "0 libfoo.dylib 0x1000 __ZN3foo3barEv + 12 (_ZN3foo3barEv) -[Foo bar] x_ZN3foo3barEv"
    assert demangle_text(line) == ("0 libfoo.dylib 0x1000 foo::bar() + 12 (foo::bar()) -[Foo bar] "
                                   "x_ZN3foo3barEv")
    assert demangle_text("at $s4main3FooV3baryyF, then _RNvCs1234_7mycrate3foo.") == (
        "at main.Foo.bar() -> (), then mycrate::foo.")


def _cxx_names():
    out = subprocess.run([need_tool("llvm-nm"), str(OWN / "libsymbols-arm64.dylib")],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if "__Z" in line]
    assert len(names) >= 2
    return names


def test_display_names_equal_llvm_cxxfilt():
    tool = need_tool("llvm-cxxfilt")
    cxx = _cxx_names()
    names = cxx + ["_sym_add", "_main", "ltmp0"]
    want = subprocess.run([tool], input="\n".join(n[1:] for n in cxx), capture_output=True, text=True,
                          check=True).stdout.splitlines()
    got = display_names(names, macho=True)
    assert [got[n] for n in cxx] == want and all("::" in w for w in want)
    assert got["_sym_add"] == "sym_add" and got["_main"] == "main" and "ltmp0" not in got
    # ELF names: only changed ones come back; versions go before demangling.
    assert display_names(["main", "_ZN9symmap_ns11make_widgetEi", "_ZN3foo3barEv@@V_1", None],
                         macho=False) == {
        "_ZN9symmap_ns11make_widgetEi": "symmap_ns::make_widget(int)", "_ZN3foo3barEv@@V_1": "foo::bar()"}
