"""A live Linux child: libc's malloc and a function of the child's own
binary (a C program built here with cc), looked up by address through
/proc, and checked against llvm-symbolizer on the same file."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symmap.annotate import annotate
from symmap.sources import OpenOptions, open_target
from symmap.symbolize import Symbolizer
from tests.conftest import need_tool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")

CHILD = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int child_own_function(int x) { return x * 3 + 1; }
static __attribute__((noinline, used)) int child_static(int x) { return x ^ 7; }
int main(void) {
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    printf("%p %p %p\n", m, (void *)child_own_function, (void *)child_static);
    fflush(stdout);
    getchar();                       /* wait for the test to finish */
    return child_own_function(child_static(1)) == 0;
}
"""


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    cc = need_tool("cc", "gcc", "clang")
    d = tmp_path_factory.mktemp("child")
    (d / "child.c").write_text(CHILD)
    exe = d / "symchild"
    subprocess.run([cc, "-O1", "-o", str(exe), str(d / "child.c"), "-ldl"], check=True)
    p = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        yield p, str(exe), [int(x, 16) for x in line]
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_malloc_and_own_functions(child):
    p, exe, (malloc, own, static) = child
    t = annotate(open_target(p.pid, OpenOptions()))
    with t:
        s = Symbolizer(t)
        r = s.lookup(malloc)
        assert r.mapped and r.image and "libc" in r.image.rsplit("/", 1)[-1]
        # glibc exports malloc under aliases (__libc_malloc); any name at offset 0 is right.
        assert r.offset == 0 and "malloc" in r.symbol
        assert r.segment == "text" and r.section == ".text"
        r = s.lookup(own + 4)
        assert (r.image, r.symbol, r.offset) == (exe, "child_own_function", 4)
        assert r.unslid_address is not None and r.file_offset is not None
        r = s.lookup(static)
        assert (r.symbol, r.offset) == ("child_static", 0)          # a local symbol


def test_live_results_equal_llvm_symbolizer(child):
    p, exe, (_m, own, _s) = child
    tool = need_tool("llvm-symbolizer")
    t = annotate(open_target(p.pid, OpenOptions()))
    with t:
        s = Symbolizer(t)
        addrs = list(range(own, own + 48))
        rs = s.lookup_many(addrs)
        unslid = [r.unslid_address for r in rs]
    out = subprocess.run([tool, f"--obj={exe}", "--no-inlines", "--functions=linkage",
                          "--output-style=JSON"], input="\n".join(map(hex, unslid)),
                         capture_output=True, text=True, check=True).stdout
    # Addresses on stdin: one JSON object per line.
    theirs = [json.loads(line)["Symbol"][0]["FunctionName"] for line in out.splitlines() if line]
    assert [r.symbol or "" for r in rs] == theirs


def test_cli_lookup_on_pid(child):
    p, exe, (malloc, own, _s) = child
    from click.testing import CliRunner
    from symmap.cli import cli
    r = CliRunner().invoke(cli, ["lookup", str(p.pid), hex(own), hex(malloc), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["symbol"] == "child_own_function" and rows[0]["image"] == exe
    assert "malloc" in rows[1]["symbol"]
