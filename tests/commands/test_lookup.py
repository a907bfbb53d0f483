"""`symmap lookup`: text and JSON output, exit codes, stdin, bad tokens,
corrupt targets, --help epilog."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import OWN_FIXTURES, need_tool

OWN = OWN_FIXTURES / "symbols"
DYLIB = str(OWN / "libsymbols-x86_64.dylib")


def _nm(path):
    nm = need_tool("llvm-nm")
    out = subprocess.run([nm, "-n", path], capture_output=True, text=True, check=True).stdout
    return {w[2]: int(w[0], 16) for w in (line.split() for line in out.splitlines()) if len(w) == 3}


def _run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_text_block_per_address():
    a = _nm(DYLIB)["_sym_mul"]
    r = _run("lookup", DYLIB, hex(a + 5 + 0x100000), "--slide", "0x100000")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert f"{a + 5 + 0x100000:#x}" in out.splitlines()[0]
    assert "symbol:  sym_mul + 5" in out
    assert "segment: __TEXT,__text" in out
    assert f"unslid:  {a + 5:#x}" in out
    assert f"file offset: {a + 5:#x}" in out
    assert "region:  __TEXT" in out
    assert DYLIB in out


def test_json_keys_and_values():
    syms = _nm(DYLIB)
    addrs = [syms["_sym_add"], syms["_sym_big"] + 3, syms["_sym_counter"]]
    r = _run("lookup", DYLIB, *map(hex, addrs), str(addrs[0]), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 4
    for row in rows:
        assert {"address", "image", "uuid", "segment", "section", "symbol", "offset",
                "unslid_address", "file_offset", "mapped", "region"} <= set(row)
    assert (rows[0]["symbol"], rows[0]["offset"]) == ("sym_add", 0)
    assert (rows[1]["symbol"], rows[1]["offset"]) == ("sym_big", 3)
    assert (rows[2]["symbol"], rows[2]["section"]) == ("sym_counter", "__data")
    assert rows[3]["address"] == addrs[0]                  # decimal accepted
    assert rows[0]["region"]["start"] == 0 and rows[0]["mapped"] is True


def test_unmapped_exits_1_with_nearest_regions():
    r = _run("lookup", DYLIB, "0x1", "0x7fffffff0000")
    assert r.exit_code == 1
    assert r.stdout.count("not mapped") == 1
    assert "before:" in r.stdout
    r = _run("lookup", DYLIB, "0x7fffffff0000", "--json")
    assert r.exit_code == 1
    row = json.loads(r.stdout)[0]
    assert row["mapped"] is False and row["symbol"] is None and row["nearest"]["before"]


def test_addresses_from_stdin():
    syms = _nm(DYLIB)
    r = _run("lookup", DYLIB, "-", "--json", input=f"{syms['_sym_add']:#x}\n\n{syms['_main']}\n")
    assert r.exit_code == 0, r.output
    assert [x["symbol"] for x in json.loads(r.stdout)] == ["sym_add", "main"]


@pytest.mark.parametrize("token", ["0xzz", "12abc", "main", "0x", "1e3", "0x 5", "+5", "\u0661"])
def test_bad_address_token_exit_2_names_it(token):
    r = _run("lookup", DYLIB, "0x10", token)
    assert r.exit_code == 2
    assert token in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_corrupt_target_exit_2(tmp_path):
    for name in ("symbols-x86_64", "symbols-elf"):
        p = tmp_path / name
        p.write_bytes((OWN / name).read_bytes()[:200])
        r = _run("lookup", str(p), "0x1000")
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith("symmap: corrupt") and len(r.stderr.strip().splitlines()) == 1


def test_fat_arch_option():
    syms_out = subprocess.run([need_tool("llvm-nm"), "-n", "--arch=arm64", str(OWN / "symbols-fat")],
                              capture_output=True, text=True, check=True).stdout
    a = {w[2]: int(w[0], 16) for w in (l.split() for l in syms_out.splitlines()) if len(w) == 3}
    r = _run("lookup", str(OWN / "symbols-fat"), hex(a["_sym_big"] + 4), "--arch", "arm64", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["symbol"] == "sym_big"


def test_escapes_target_strings(tmp_path):
    p = tmp_path / "evil\nname.dylib"
    p.write_bytes((OWN / "libsymbols-x86_64.dylib").read_bytes())
    r = _run("lookup", str(p), hex(_nm(DYLIB)["_sym_add"]))
    assert r.exit_code == 0, r.output
    assert "evil\\nname.dylib" in r.stdout and "evil\nname" not in r.stdout


def test_escapes_a_snapshots_image_uuid(tmp_path):
    """Found by the fuzz harness: a snapshot's image uuid reached the text
    block raw (a control character could forge a line)."""
    from symmap.render.json import dumps
    from tests.sources.test_snapshot import rich_macos_target
    t = rich_macos_target()
    im = t.images[0]
    im.uuid = "\x02\nimage:   forged"
    snap = tmp_path / "s.json"
    snap.write_text(dumps(t))
    r = _run("lookup", str(snap), hex(im.load_address))
    assert "\\x02\\nimage:   forged" in r.stdout
    assert "\x02" not in r.stdout and "\nimage:   forged" not in r.stdout


def test_help_has_examples_epilog():
    r = _run("lookup", "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.stdout and "symmap lookup" in r.stdout.split("Examples:")[1]


def test_subprocess_end_to_end_elf():
    elf = str(OWN / "symbols-elf")
    a = _nm(elf)["sym_mul"]
    p = subprocess.run([sys.executable, "-m", "symmap", "lookup", elf, hex(a + 2), "--json"],
                       capture_output=True, text=True, cwd=str(OWN_FIXTURES.parent))
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout)[0]
    assert (row["symbol"], row["offset"], row["section"]) == ("sym_mul", 2, ".text")


@pytest.mark.parametrize("text", ["0x10\n0X1F\r\n\n0xabcdef\n", "16\n31\n\n11259375\n", "0x10\n31\n0xABCDEF",
                                  "  0x10 \n\t31\n0xabcdef\n", "0x0000000000000010\n0x1f\n0xabcdef\n"])
def test_stdin_fast_and_checked_paths_agree(text):
    from symmap.commands.lookup import _fast_stdin
    r = _run("lookup", DYLIB, "-", "--json", input=text)
    assert [x["address"] for x in json.loads(r.stdout)] == [16, 31, 0xABCDEF]
    fast = _fast_stdin(text.encode())
    assert fast is None or fast == [16, 31, 0xABCDEF]


@pytest.mark.parametrize("text,bad", [("0x10\n0x 5\n", "0x 5"), ("0x10\n0x\n", "0x"), ("0x10\n00x5\n", "00x5"),
                                      ("0x10\n0x0x5\n", "0x0x5"), ("0x10\nabc\n", "abc"), ("1\n0x1\nx\n", "x"),
                                      ("0x10000000000000000\n", "0x10000000000000000"),
                                      ("18446744073709551616\n", "18446744073709551616")])
def test_bad_stdin_line_exit_2_names_it(text, bad):
    r = _run("lookup", DYLIB, "-", input=text)
    assert r.exit_code == 2, r.output
    assert repr(bad) in r.stderr and len(r.stderr.strip().splitlines()) == 1
