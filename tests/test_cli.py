"""CLI contract: help, version, exit codes, stdout/stderr split (CliRunner and subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from symmap.cli import COMMANDS, cli


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and "symmap, version" in r.stdout
    r = run("--help")
    assert r.exit_code == 0 and "Examples:" in r.stdout and "Exit codes" in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_help_with_examples(name):
    r = run(name, "--help")
    assert r.exit_code == 0, r.output
    assert "Examples:" in r.stdout


def test_nonexistent_pid_is_exit_2_one_line():
    r = run("999999999")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("symmap: ")


def test_missing_file_path_is_exit_2():
    r = run("./no/such/file")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_garbage_file_is_exit_2(tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00junk" * 100)
    r = run(str(p))
    assert r.exit_code == 2 and r.stderr.startswith("symmap: ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")
def test_ambiguous_name_lists_candidates_exit_2(tmp_path):
    exe = tmp_path / "symmapdup"
    os.symlink(sys.executable, exe)
    code = "import time; time.sleep(30)"
    kids = [subprocess.Popen([str(exe), "-c", code]) for _ in range(2)]
    try:
        import time
        time.sleep(0.5)
        r = run("symmapdup")
        assert r.exit_code == 2
        assert "matches 2 processes" in r.stderr
        for k in kids:
            assert str(k.pid) in r.stderr
    finally:
        for k in kids:
            k.kill()
            k.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")
def test_self_map_json_has_schema_and_images():
    r = subprocess.run([sys.executable, "-m", "symmap", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema"] == 2
    assert d["target"]["pid"] != os.getpid()  # the child mapped itself
    assert any(reg["type"] == "Stack" for reg in d["regions"])
    assert all(isinstance(reg["start"], int) and isinstance(reg["end"], int) for reg in d["regions"])
    exe_paths = {i["path"] for i in d["images"]}
    assert any(os.path.basename(p).startswith("python") for p in exe_paths)
    for i in d["images"]:
        assert i["uuid"] is None or i["uuid"] == i["uuid"].lower()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")
def test_text_report_piped_is_not_truncated_and_broken_pipe_is_quiet():
    p = subprocess.run(f"{sys.executable} -m symmap | head -3", shell=True, capture_output=True, text=True,
                       timeout=120)
    assert p.stdout.startswith("Process:")
    assert "Traceback" not in p.stderr


def test_import_cli_and_version_load_neither_lief_nor_macholib():
    code = ("import sys, symmap.cli, symmap.sources, symmap.annotate, symmap.render.text, symmap.render.json;"
            "bad=[m for m in ('lief','macholib','ctypes') if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                    reason="needs root to run target and reader as two other users")
def test_unreadable_process_is_exit_3_one_line():
    target = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: os.setuid(65534))
    # Import everything first: root's site-packages are unreadable after the drop.
    code = ("import os, sys, symmap.commands.map, symmap.sources.linux_procfs, symmap.formats.elf.elffile,"
            "symmap.annotate, symmap.render.text; from symmap.cli import main;"
            "os.setgroups([]); os.setresgid(65533, 65533, 65533); os.setresuid(65533, 65533, 65533);"
            f"sys.argv = ['symmap', '{target.pid}']; main()")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           cwd=str(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    finally:
        target.kill()
        target.wait()
    assert r.returncode == 3, r.stderr
    assert r.stdout == "" and r.stderr.startswith("symmap: ") and r.stderr.count("\n") == 1


def _run_on_pty(args, cols=130):
    """Run `python -m symmap ARGS` with stdout on a pseudo-terminal COLS wide."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = dict(os.environ, COLUMNS=str(cols))
    p = subprocess.Popen([sys.executable, "-m", "symmap", *args], stdout=slave, stderr=subprocess.PIPE,
                         env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    p.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs, pty")
def test_details_truncate_to_terminal_width_only_on_a_tty_and_not_with_wide():
    rows = [ln for ln in _run_on_pty([]).splitlines() if " SM=" in ln]
    assert rows and max(len(r) for r in rows) <= 130
    assert any("..." in r[105:] for r in rows)          # long library paths were cut
    wide = [ln for ln in _run_on_pty(["--wide"]).splitlines() if " SM=" in ln]
    assert max(len(r) for r in wide) > 130 and not any(r[105:].startswith("...") for r in wide)


def test_target_dash_reads_a_file_from_stdin_and_cleans_up(tmp_path):
    import glob
    import tempfile
    core = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "core", "x86_64-sample.core")
    data = open(core, "rb").read()
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "symmap-stdin-*")))
    piped = json.loads(run("-", "--json", input=data).stdout)
    direct = json.loads(run(core, "--json").stdout)
    assert piped["regions"] == direct["regions"] and piped["images"] == direct["images"]
    assert piped["target"]["path"] == "-"
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "symmap-stdin-*"))) == before
    r = run("-", input=b"")
    assert r.exit_code == 2 and "stdin is empty" in r.stderr


def test_core_threads_are_shown_with_their_pc_symbol():
    from symmap.sources import OpenOptions, open_target
    from symmap.annotate import annotate
    from symmap.symbolize import Symbolizer
    core = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "core", "x86_64-sample.core")
    t = annotate(open_target(core, OpenOptions()))
    s = Symbolizer(t)
    want = [(th.index, th.pc, s.lookup(th.pc)) for th in t.threads]
    t.close()
    assert want and all(lk.symbol for _i, _pc, lk in want)
    out = run(core).stdout
    for i, pc, lk in want:
        block = out[out.index(f"Thread {i}:"):]
        frame0 = block.splitlines()[1]
        assert frame0.split()[:3] == ["0", lk.image.rsplit("/", 1)[-1], f"{pc:#018x}"]
        assert frame0.split()[3] == lk.symbol
    assert run(core, "--json").exit_code == 0


def test_core_map_and_its_snapshot_render_the_same(tmp_path):
    core = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "core", "x86_64-sample.core")
    snap = tmp_path / "core.json"
    assert run("save", core, "-o", str(snap)).exit_code == 0
    assert run(str(snap)).stdout == run(core).stdout


def test_a_snapshot_quoting_vmmap_text_is_still_a_snapshot(tmp_path):
    from symmap.model import Region, Target
    from symmap.render.json import dumps
    from symmap.sources import sniff_file
    t = Target(kind="live", pid=5, name="x", os="linux", annotated=True, regions=[
        Region(0x1000, 0x2000, 5, 5, type="mapped file", detail="d",
               path="/tmp/Virtual Memory Map of process 1 (x)\n==== Non-writable regions for process 1")])
    p = tmp_path / "s.json"
    p.write_text(dumps(t))
    assert sniff_file(str(p)) == "snapshot"
    q = tmp_path / "c.json"
    q.write_text('{"app_name":"symmap","schema":1}\n{"usedImages":[]}')
    assert sniff_file(str(q)) == "crash"
