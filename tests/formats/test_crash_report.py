"""Crash report parsing (.ips and text) against real reports in shared/fixtures/crash.

Expected values are read out of the report itself (its raw JSON, or its
text lines) or cross-checked between two independent renderings of one
crash (the .ips and ips2crashlog's translated text).
"""
from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmap.errors import CorruptInput
from symmap.formats.crash import parse_crash_report, read_crash_report
from symmap.formats.crash.model import CrashReport, norm_uuid, parse_vm_region_info
from tests.conftest import shared_fixture

PY_IPS = "crash/pycrashreport-monterey-x86_64.ips"
ARM_IPS = "crash/ips2crashlog-macos15-arm64.ips"
ARM_TXT = "crash/ips2crashlog-macos15-arm64.translated.crash"
BOOST = "crash/boost-thread-macos11-x86_64.crash"
BRUNO = "crash/sentry-bruno-macos10.14.crash"
SYMBOLICATOR = "crash/symbolicator-apple-crash-report.crash"


def _raw_ips(rel):
    text = shared_fixture(rel).read_text()
    head, body = text.split("\n", 1)
    return json.loads(head), json.loads(body)


# --- .ips ---------------------------------------------------------------------

def test_ips_monterey_header_and_exception():
    rep = read_crash_report(str(shared_fixture(PY_IPS)))
    _h, b = _raw_ips(PY_IPS)
    assert rep.report_format == "ips" and not rep.partial
    assert (rep.process, rep.pid, rep.path) == ("sleep", 10277, "/bin/sleep")
    assert (rep.parent, rep.parent_pid) == ("zsh", 10192)
    assert rep.os_version == "macOS 12.1 (21C52)"
    assert rep.code_type == "X86-64" and rep.arch == "x86_64"
    assert rep.date == b["captureTime"]
    assert rep.exception["type"] == "EXC_BAD_ACCESS" and rep.exception["signal"] == "SIGSEGV"
    # "0 is not in any region" (%#llx prints zero as "0") and "KERN_INVALID_ADDRESS at 0x0".
    assert rep.fault_address == 0
    assert rep.crashed_thread == b["faultingThread"] == 0


def test_ips_monterey_images_cache_and_vm_rows():
    rep = read_crash_report(str(shared_fixture(PY_IPS)))
    _h, b = _raw_ips(PY_IPS)
    real = [e for e in b["usedImages"] if e.get("source") != "A"]
    assert len(rep.images) == len(real) == 3
    for im, e in zip(rep.images, real):
        assert im.base == e["base"] and im.size == e["size"] and im.path == e["path"]
        assert im.uuid == e["uuid"].replace("-", "").lower()
    assert rep.images[0].path == "/usr/lib/system/libsystem_c.dylib"
    assert rep.images[0].uuid == "e58814ccdcb735a5badce367ed3ac207"
    base, size, uuid = rep.shared_cache
    assert base == 0x7FF80C477000 and size == b["sharedCache"]["size"]
    assert uuid == "40432a0388d3305f9c0ce7549e71d927"
    vmi = rep.vm_region_info
    assert vmi.address == 0 and vmi.summary.startswith("0 is not in any region")
    real_rows = [r for r in vmi.rows if not r.pseudo]
    assert len(real_rows) == 1
    r = real_rows[0]
    assert (r.type, r.start, r.end, r.prot, r.max_prot, r.share_mode, r.detail) == (
        "__TEXT", 0x105857000, 0x10585B000, 5, 5, "COW", "/bin/sleep")
    # The lone "--->" sits after the UNUSED SPACE AT START pseudo row.
    assert vmi.rows[0].pseudo and vmi.rows[0].type == "UNUSED SPACE AT START"
    assert vmi.marker_after == 0
    assert "MALLOC" in rep.vm_summary


def test_ips_monterey_crashed_thread_frames():
    rep = read_crash_report(str(shared_fixture(PY_IPS)))
    _h, b = _raw_ips(PY_IPS)
    t = rep.threads[0]
    assert t.crashed and t.queue == "com.apple.main-thread"
    raw = b["threads"][0]
    assert t.pc == raw["threadState"]["rip"]["value"] == 0
    assert t.sp == raw["threadState"]["rsp"]["value"]
    assert len(t.frames) == len(raw["frames"]) == 4
    for f, rf in zip(t.frames, raw["frames"]):
        assert f.address == b["usedImages"][rf["imageIndex"]]["base"] + rf["imageOffset"]
    # Frame 0 is the "A" placeholder: pc 0, no image.
    assert t.frames[0].address == 0 and t.frames[0].image_index is None
    f1 = t.frames[1]
    assert rep.images[f1.image_index].name == "libsystem_c.dylib"
    assert (f1.symbol, f1.symbol_offset, f1.image_offset) == ("nanosleep", 196, 67753)


def test_ips_arm64_images_and_threads():
    rep = read_crash_report(str(shared_fixture(ARM_IPS)))
    _h, b = _raw_ips(ARM_IPS)
    assert (rep.process, rep.pid, rep.arch) == ("Transit", 27589, "arm64")
    assert rep.identifier == "com.transitapp.TransitX" and rep.version == "5.17.10 (0)"
    assert len(rep.images) == len(b["usedImages"]) - 1 == 35
    assert rep.images[0].path == "/usr/lib/dyld" and rep.images[0].base == 0x100BE4000
    assert rep.images[0].arch == "arm64e"
    assert rep.shared_cache == (0x180000000, 3878813696, "cdb078e396b93e438c5864100d2387c6")
    lo, hi = rep.shared_cache[0], rep.shared_cache[0] + rep.shared_cache[1]
    assert sum(lo <= im.base < hi for im in rep.images) == 15     # vmmap-format.md
    assert rep.crashed_thread == 13 and len(rep.threads) == len(b["threads"]) == 27
    t = rep.threads[13]
    assert t.crashed and t.pc == 0x11ECC5ADC == int(b["exception"]["codes"].split(",")[1], 16)
    assert t.frames[0].inline and t.frames[0].address == t.pc
    assert rep.images[t.frames[1].image_index].name == "Transit.debug.dylib"
    assert rep.vm_region_info is None and rep.fault_address is None     # EXC_BREAKPOINT


def test_ips_matches_its_translated_rendering():
    """ips2crashlog rendered the .ips as text: every image and frame must agree."""
    a = read_crash_report(str(shared_fixture(ARM_IPS)))
    t = read_crash_report(str(shared_fixture(ARM_TXT)))
    assert t.report_format == "translated" and not t.partial
    ka = {(im.base, im.uuid, im.path) for im in a.images}
    kt = {(im.base, im.uuid, im.path) for im in t.images}
    assert ka == kt and len(ka) == 35
    assert {(im.base, im.size) for im in a.images} == {(im.base, im.size) for im in t.images}
    for f in ("process", "pid", "path", "identifier", "version", "os_version", "date",
              "parent", "parent_pid", "crashed_thread", "arch"):
        assert getattr(a, f) == getattr(t, f), f
    assert len(a.threads) == len(t.threads)
    for ta, tt in zip(a.threads, t.threads):
        assert (ta.index, ta.crashed) == (tt.index, tt.crashed)
        assert [(f.address, f.symbol, f.symbol_offset, f.image_offset) for f in ta.frames] == \
               [(f.address, f.symbol, f.symbol_offset, f.image_offset) for f in tt.frames]
    ca, ct = a.threads[13], t.threads[13]
    for reg in ("pc", "sp", "fp", "lr", "x0", "x28"):
        assert ca.registers[reg] == ct.registers[reg], reg


# --- text ---------------------------------------------------------------------

def test_text_boost_macos11():
    path = shared_fixture(BOOST)
    rep = read_crash_report(str(path))
    text = path.read_text()
    assert rep.report_format == "text" and rep.report_version == "12"
    assert rep.process == "a.out" and rep.pid is None          # "[X]": masked by its publisher
    assert rep.exception == {"type": "EXC_BAD_ACCESS", "signal": "SIGSEGV",
                             "codes": "KERN_INVALID_ADDRESS at 0x00002af7713088dc",
                             "note": "EXC_CORPSE_NOTIFY"}
    assert rep.fault_address == 0x2AF7713088DC
    n_lines = len(re.findall(r"^ +0x[0-9a-f]+ - +0x[0-9a-f]+ ", text, re.M))
    assert len(rep.images) == n_lines == 44
    a_out = rep.images[0]
    assert (a_out.base, a_out.end - 1, a_out.uuid, a_out.apple, a_out.version) == (
        0x109EFD000, 0x109F10FFF, "96252b97e2cf3a1aad775b71070b45b0", False, "0")
    vmi = rep.vm_region_info
    assert vmi.address == 0x2AF7713088DC and vmi.marker_after == 0
    assert [(r.type, r.start, r.end, r.prot, r.max_prot, r.share_mode, r.detail) for r in vmi.rows] == [
        ("__LINKEDIT", 0x10F174000, 0x10F178000, 1, 1, "NUL", "/usr/lib/dyld"),
        ("STACK GUARD", 0x7000061F1000, 0x7000061F2000, 0, 7, "NUL", "stack guard for thread 1")]
    t0 = rep.threads[0]
    assert t0.crashed and t0.queue == "com.apple.main-thread" and len(t0.frames) == 10
    assert t0.pc == t0.frames[0].address == 0x7FFF2080BD86
    assert t0.registers["rsp"] == 0x7FFEE5D026B0 and t0.registers["cr2"] == rep.fault_address
    f0 = t0.frames[0]
    assert rep.images[f0.image_index].name == "libsystem_pthread.dylib"
    assert (f0.symbol, f0.symbol_offset) == ("pthread_mutex_lock", 4)
    assert f0.image_offset == 0x7FFF2080BD86 - 0x7FFF2080A000
    t1 = rep.threads[1]
    q = t1.frames[9]                        # "???  0x0000000109f15550 0 + 4461778256"
    assert q.image_name is None and q.symbol is None and q.address == 0x109F15550


def test_text_bruno_10_14():
    path = shared_fixture(BRUNO)
    rep = read_crash_report(str(path))
    text = path.read_text()
    n_lines = len(re.findall(r"^ +0x[0-9a-f]+ - +0x[0-9a-f]+ ", text, re.M))
    assert len(rep.images) == n_lines == 272
    im = rep.images[0]
    assert (im.base, im.arch, im.version, im.uuid) == (
        0x10864E000, "x86_64", "400.9.4 - 1.0.0", "2d903291397d3d14bfca52c7fb8c5e00")
    assert rep.crashed_thread == 5 and rep.fault_address == 0x88
    t5 = next(t for t in rep.threads if t.index == 5)
    assert t5.crashed and t5.registers["rip"] == t5.frames[0].address == 0x1090A0132
    # "0x00007fff61bc6c2a 0x7fff61bc6000 + 3114": offset from the load address.
    f = rep.threads[0].frames[0]
    assert f.image_offset == 3114 and rep.images[f.image_index].base == 0x7FFF61BC6000


def test_text_symbolicator_sample():
    rep = read_crash_report(str(shared_fixture(SYMBOLICATOR)))
    assert rep.process == "YetAnotherMac" and len(rep.images) == 5
    # The header says thread 5, but only threads 0 and 1 are listed; "Thread 1 Crashed" wins.
    assert rep.crashed_thread == 1
    f = rep.threads[0].frames[13]
    assert (f.symbol, f.source_file, f.source_line) == ("main", "main.m", 16)


# --- VM Region Info -----------------------------------------------------------

def test_vm_region_info_in_region_form():
    # The 12+ form from reference/vmmap-format.md §9.
    vmi = parse_vm_region_info(
        "0x108ce0000 is in 0x108ce0000-0x108e3c000;  bytes after start: 0  bytes before end: 1425407\n"
        "      REGION TYPE                    START - END         [ VSIZE] PRT/MAX SHRMOD  REGION DETAIL\n"
        "      __TEXT                      108bf8000-108ce0000    [  928K] r-x/r-x SM=COW  /a b/c\n"
        "--->  mapped file                 108ce0000-108e3c000    [ 1392K] r--/rwx SM=ALI  Object_id=1\n"
        "      GAP OF 0x407c4000 BYTES\n"
        "      MALLOC_NANO (reserved)   600000000000-600008000000 [128.0M] rw-/rwx SM=NUL  \n")
    assert vmi.address == 0x108CE0000
    assert [r.type for r in vmi.rows] == ["__TEXT", "mapped file", "GAP OF 0x407c4000 BYTES",
                                          "MALLOC_NANO (reserved)"]
    f = vmi.fault_row
    assert (f.start, f.end, f.prot, f.max_prot, f.share_mode, f.detail) == (
        0x108CE0000, 0x108E3C000, 1, 7, "ALI", "Object_id=1")
    assert vmi.rows[0].detail == "/a b/c" and vmi.rows[3].detail is None
    assert vmi.marker_after is None


def test_norm_uuid():
    assert norm_uuid("E20C43E3-CEB9-397A-9056-11A6A8D3F86E") == "e20c43e3ceb9397a905611a6a8d3f86e"
    assert norm_uuid("00000000-0000-0000-0000-000000000000") is None
    assert norm_uuid("xyz") is None and norm_uuid(12) is None


# --- hostile input ------------------------------------------------------------

def _ok_or_corrupt(data):
    try:
        rep = parse_crash_report(data, "x")
    except CorruptInput as e:
        assert "\n" not in str(e) and str(e).startswith("corrupt crash report")
        return None
    assert isinstance(rep, CrashReport)
    return rep


@pytest.mark.parametrize("rel", [PY_IPS, ARM_IPS, BOOST, BRUNO, ARM_TXT])
def test_truncated_reports(rel):
    data = shared_fixture(rel).read_bytes()
    step = max(1, len(data) // 97)
    for cut in list(range(0, len(data), step)) + [1, 2, len(data) - 1]:
        _ok_or_corrupt(data[:cut])


def test_header_only_ips_is_partial():
    head = shared_fixture(PY_IPS).read_text().split("\n", 1)[0]
    rep = parse_crash_report(head + "\n")
    assert rep.partial and any("header only" in n for n in rep.notes)
    assert rep.process == "sleep" and rep.os_version == "macOS 12.1 (21C52)"
    assert rep.images == [] and rep.threads == []


def test_truncated_ips_body_is_corrupt():
    text = shared_fixture(PY_IPS).read_text()
    with pytest.raises(CorruptInput, match="report body is not valid JSON"):
        parse_crash_report(text[: len(text) // 2])


def _ips(body: dict) -> str:
    return json.dumps({"bug_type": "309", "name": "x"}) + "\n" + json.dumps(body)


def test_wrong_types_give_partial_report():
    body = {
        "procName": 7, "pid": "12", "procPath": ["/x"],
        "usedImages": [{"source": "P", "base": "0x1000", "size": 4096, "uuid": 5},
                       "junk",
                       {"source": "P", "base": 0x2000, "size": True, "uuid": "zz", "path": "/ok"},
                       {"source": "P", "base": 2 ** 70, "size": 1, "path": "/huge"}],
        "sharedCache": {"base": -5},
        "threads": [{"triggered": True, "frames": [
            {"imageIndex": 99999, "imageOffset": 16},
            {"imageIndex": 2, "imageOffset": 0x10, "symbol": ["no"], "symbolLocation": "x"},
            {"imageIndex": -1, "imageOffset": 1}, "junk",
            {"imageIndex": 2, "imageOffset": 2 ** 64}],
            "threadState": {"x": "nope", "pc": {"value": "1"}, "sp": {"value": 4096}}},
            {"frames": {"not": "a list"}}, 17],
        "faultingThread": "zero",
        "exception": {"type": 3, "rawCodes": "no"},
    }
    rep = parse_crash_report(_ips(body))
    assert rep.partial and rep.notes
    assert rep.process == "x" and rep.pid is None and rep.path is None
    assert [(im.base, im.path, im.uuid, im.size) for im in rep.images] == [(0x2000, "/ok", None, None)]
    assert rep.shared_cache is None
    t = rep.threads[0]
    assert t.crashed and rep.crashed_thread == 0 and t.pc is None and t.sp == 4096
    # Out-of-range index: frame kept without image; in range: absolute address.
    assert (t.frames[0].image_index, t.frames[0].address) == (None, 16)
    assert t.frames[1].address == 0x2010 and rep.images[t.frames[1].image_index].path == "/ok"
    assert t.frames[1].symbol is None
    assert len(t.frames) == 3
    assert rep.exception == {}


@pytest.mark.parametrize("data", [
    b"", b"{", b"{}", b"[]", b"null\n{}", b'{"bug_type":"309"}\n[1,2]', b'{"bug_type":"288"}\n{"a":1}',
    b"[" * 200000, b'{"bug_type":"309"}\n{"pid":' + b"9" * 5000 + b"}", b"\x00\xff" * 100,
    b"hello world\n", b"Process:\n" * 3,
])
def test_garbage(data):
    _ok_or_corrupt(data)


def test_not_json_not_text_is_corrupt():
    with pytest.raises(CorruptInput):
        parse_crash_report(b"just some words\nand more\n")
    with pytest.raises(CorruptInput, match="bug_type 288"):
        parse_crash_report(b'{"bug_type":"288"}\n{"a":1}')


def test_hostile_lines_are_linear():
    """Long runs that would make a backtracking regex quadratic."""
    evil = [
        "Process: a [1]\nThread 0 Crashed:\n0 " + " " * 60000 + "x\n",
        "Process: a [1]\nBinary Images:\n 0x1 - " + " " * 60000 + "0x2\n",
        "Process: a [1]\nVM Regions Near 0x1:\n " + "a " * 30000 + "1-2" + " " * 30000 + "[\n",
        "Process: a [1]\nVM Regions Near 0x1:\n" + "--->" + " " * 60000 + "UNUSED\n",
        "Process: a [1]\nThread 0:\n0   x   0x1 " + "a + 1 (" * 8000 + "\n",
        "Process: a [1]\nThread 0 crashed with X Thread State:\n" + "rax: " * 12000 + "\n",
    ]
    for s in evil:
        t0 = time.perf_counter()
        _ok_or_corrupt(s.encode() * 4)
        assert time.perf_counter() - t0 < 2.0


def test_oversized_report_is_refused():
    with pytest.raises(CorruptInput, match="larger than any crash report"):
        parse_crash_report(b" " * ((64 << 20) + 1))


def _mutants(rel):
    data = shared_fixture(rel).read_bytes()
    return st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                    min_size=1, max_size=8).map(
        lambda muts: bytes(_apply(bytearray(data), muts)))


def _apply(buf, muts):
    for i, b in muts:
        buf[i] = b
    return buf


_HYP = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])


@_HYP
@given(st.data())
def test_mutated_ips(data):
    _ok_or_corrupt(data.draw(_mutants(PY_IPS)))


@_HYP
@given(st.data())
def test_mutated_text(data):
    _ok_or_corrupt(data.draw(_mutants(BOOST)))


@_HYP
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _ok_or_corrupt(data)


def test_ips_layout_variants():
    """Header + body, body alone (one line or pretty), one merged object."""
    h, b = _raw_ips(PY_IPS)
    for text in (json.dumps(h) + "\n" + json.dumps(b, indent=2), json.dumps(b),
                 json.dumps(b, indent=2), json.dumps({**h, **b}, indent=1)):
        rep = parse_crash_report(text)
        assert rep.process == "sleep" and len(rep.images) == 3 and not rep.partial


def test_text_12_vm_region_info_block():
    text = ("Process:               t [12]\n"
            "Exception Type:        EXC_BAD_ACCESS (SIGSEGV)\n"
            "Exception Subtype:     KERN_INVALID_ADDRESS at 0x0000000000000528\n\n"
            "VM Region Info: 0x528 is not in any region.  Bytes before following region: 4296030936\n"
            "      REGION TYPE                    START - END         [ VSIZE] PRT/MAX SHRMOD  REGION DETAIL\n"
            "      UNUSED SPACE AT START\n"
            "--->  \n"
            "      __TEXT                      100100000-100104000    [   16K] r-x/r-x SM=COW  /t\n\n"
            "Thread 0 Crashed::  Dispatch queue: com.apple.main-thread\n"
            "0   t                             \t       0x100100f00 main + 16\n\n"
            "Binary Images:\n"
            "       0x100100000 -        0x100103fff t (*) <86100d72-0000-1111-2222-333344445555> /t\n")
    rep = parse_crash_report(text)
    assert rep.fault_address == 0x528 and rep.exception["subtype"].endswith("0x0000000000000528")
    assert rep.vm_region_info.marker_after == 0
    assert [r.type for r in rep.vm_region_info.rows] == ["UNUSED SPACE AT START", "__TEXT"]
    assert rep.threads[0].queue == "com.apple.main-thread" and rep.threads[0].crashed
    f = rep.threads[0].frames[0]
    assert (f.symbol, f.symbol_offset, f.image_offset, f.image_index) == ("main", 16, 0xF00, 0)
    assert rep.images[0].uuid == "86100d7200001111222233334444" + "5555"
    assert rep.images[0].size == 0x4000 and rep.images[0].version is None


def test_text_thread_headers():
    rep = parse_crash_report("Process: a [1]\nThread 0 name:  Dispatch queue: main\nThread 0 Crashed:\n"
                             "0 a 0x1 x\n\nThread 3:: worker  Dispatch queue: com.q\n0 a 0x1 x\n\n"
                             "Thread 5:: n5\n")
    assert [(t.index, t.name, t.queue, t.crashed) for t in rep.threads] == [
        (0, None, "main", True), (3, "worker", "com.q", False), (5, "n5", None, False)]


# --- variants not in shared/fixtures (synthetic; fixtures/crash/README.md) -----

from pathlib import Path

from symmap.formats.crash.text import _IMAGE, _frame, _image

OWN = Path(__file__).resolve().parents[2] / "fixtures" / "crash"


def _own(name):
    return read_crash_report(str(OWN / name))


# Binary Images lines as the reference parsers accept them.  Each row:
# (line, base, size, name, arch, version, uuid prefix, path, identifier, apple).
IMAGE_LINES = [
    # lldb parser_text.test: bundle id + "(short - build)".
    ("0x10b60b000 - 0x10f707fff com.apple.LLDB.framework (1.1000.11.38.2 - 1000.11.38.2) "
     "<96E36F5C-1A83-39A1-8713-5FDD9701C3F1> /Applications/Xcode.app/Contents/SharedFrameworks/LLDB.framework/LLDB",
     0x10b60b000, 0x10f707fff - 0x10b60b000 + 1, "LLDB", None, "1.1000.11.38.2 - 1000.11.38.2", "96e36f5c",
     "/Applications/Xcode.app/Contents/SharedFrameworks/LLDB.framework/LLDB", "com.apple.LLDB.framework", None),
    # lldb parser_text.test: "+" (not Apple), spaces in the path.
    ("0x104591000 - 0x1055cfff7 +llvm-dwarfdump (0) <B104CFA1-046A-36A6-8EB4-07DDD7CC2DF3> "
     "/Users/USER 1/Documents/*/llvm-dwarfdump",
     0x104591000, 0x1055cfff7 - 0x104591000 + 1, "llvm-dwarfdump", None, "0", "b104cfa1",
     "/Users/USER 1/Documents/*/llvm-dwarfdump", None, False),
    # lldb parser_text.test: no <uuid> at all.
    ("0x7fff63f20000 - 0x7fff63f77ff7  libc++.1.dylib (400.9.4) /usr/lib/libc++.1.dylib",
     0x7FFF63F20000, 0x7FFF63F77FF7 - 0x7FFF63F20000 + 1, "libc++.1.dylib", None, "400.9.4", None,
     "/usr/lib/libc++.1.dylib", None, None),
    # lldb parser_text.test: arch token, undashed lowercase uuid, no version.
    ("0x1047b8000 - 0x10481ffff dyld arm64e  <cfa789d10da63f9a8996daf84ed9d04f> /usr/lib/dyld",
     0x1047B8000, 0x68000, "dyld", "arm64e", None, "cfa789d1", "/usr/lib/dyld", None, None),
    # sentry fixture spaces.txt (iOS): name with spaces + arch.
    ("       0x10211c000 -        0x1024b3fff App Namespace arm64  <debeff4e26534f38e59bc9de7b8daade> "
     "/private/var/containers/Bundle/Application/X/App Namespace Some.app/App Namespace",
     0x10211C000, 0x398000, "App Namespace", "arm64", None, "debeff4e",
     "/private/var/containers/Bundle/Application/X/App Namespace Some.app/App Namespace", None, None),
    # sentry fixture handcrafted.txt: "+" name arch "(version)".
    ("       0x10864e000 -        0x10ee0ffff +YetAnotherMac x86_64 (400.9.4 - 1.0.0) "
     "<2d903291397d3d14bfca52c7fb8c5e00> /Users/bruno/Y A/YetAnotherMac",
     0x10864E000, 0x10EE0FFFF - 0x10864E000 + 1, "YetAnotherMac", "x86_64", "400.9.4 - 1.0.0", "2d903291",
     "/Users/bruno/Y A/YetAnotherMac", None, False),
    # sentry fixture XCDYouTubeKit-54.txt (10.8): the arch in parentheses.
    ("       0x1018b6000 -        0x1018c2fff  ch.pitaya.xcdyoutubekit (x86_64)  "
     "<31136917-6868-3472-B768-EB12D00E37E9> /Users/r/Frameworks/XCDYouTubeKit.framework/Versions/A/XCDYouTubeKit",
     0x1018B6000, 0xD000, "XCDYouTubeKit", "x86_64", None, "31136917",
     "/Users/r/Frameworks/XCDYouTubeKit.framework/Versions/A/XCDYouTubeKit", "ch.pitaya.xcdyoutubekit", None),
    # macOS 12+ translated reports: "(*)" and lowercase dashed uuid (Vita3K#3636, Rosetta runtime).
    ("    0x7ff7fff6e000 -     0x7ff7fff9dfff runtime (*) <fe40a70a-33e8-3d5c-b196-d104da35046d> "
     "/usr/libexec/rosetta/runtime",
     0x7FF7FFF6E000, 0x30000, "runtime", None, None, "fe40a70a", "/usr/libexec/rosetta/runtime", None, None),
    # macOS 11 (vscode#127766): "+" with an empty name and an empty path.
    ("       0x1041da000 -        0x104229fff + (0) <AB3CB5D1-EB3F-388F-8C63-416A00DA1AAA> ",
     0x1041DA000, 0x50000, None, None, "0", "ab3cb5d1", None, None, False),
    # 10.6 (jewelrybox#51): "ident short (build)".
    ("    0x7fff842a3000 -     0x7fff842eaff7  com.apple.coreui 2 (114) <BB09E685-1F5D-0676-1A0E-295610B387A8> "
     "/System/Library/PrivateFrameworks/CoreUI.framework/Versions/A/CoreUI",
     0x7FFF842A3000, 0x48000 - 8, "CoreUI", None, "2 (114)", "bb09e685",
     "/System/Library/PrivateFrameworks/CoreUI.framework/Versions/A/CoreUI", "com.apple.coreui", None),
    # 10.7 (p0sixspwn#3): "(??? - ???)" says nothing.
    ("0x906de000 - 0x906dffff  liblangid.dylib (??? - ???) <C8C204E9-1785-3785-BBD7-22D59493B98B> "
     "/usr/lib/liblangid.dylib",
     0x906DE000, 0x2000, "liblangid.dylib", None, None, "c8c204e9", "/usr/lib/liblangid.dylib", None, None),
    # 10.10-10.13 (PwnageTool-mirror#3): a "+" image without LC_UUID.
    ("  0xe35000 -   0xe41ff7 +org.andymatuschak.Sparkle (1.1) "
     "/Applications/PwnageTool.app/Contents/Frameworks/Sparkle.framework/Versions/A/Sparkle",
     0xE35000, 0xD000 - 8, "Sparkle", None, "1.1", None,
     "/Applications/PwnageTool.app/Contents/Frameworks/Sparkle.framework/Versions/A/Sparkle",
     "org.andymatuschak.Sparkle", False),
    # iOS armv7 (32-bit) line.
    ("0x1c000 - 0x2ffff MyApp armv7  <0123456789abcdef0123456789abcdef> /var/mobile/Applications/X/MyApp.app/MyApp",
     0x1C000, 0x14000, "MyApp", "armv7", None, "01234567", "/var/mobile/Applications/X/MyApp.app/MyApp", None, None),
]


@pytest.mark.parametrize("row", IMAGE_LINES, ids=lambda r: r[0].split()[3][:24])
def test_binary_image_line_variants(row):
    line, base, size, name, arch, version, uuid, path, ident, apple = row
    im = _image(_IMAGE.match(line))
    assert (im.base, im.size, im.name, im.arch, im.version) == (base, size, name, arch, version)
    assert (im.uuid[:8] if im.uuid else None, im.path, im.identifier, im.apple) == (uuid, path, ident, apple)


# Frame lines: (line, address, image, symbol, symbol offset, file, line).
FRAME_LINES = [
    ("0 libsystem_kernel.dylib        \t0x00007fff684b78a6 read + 10",      # lldb parser_text.test
     0x7FFF684B78A6, "libsystem_kernel.dylib", "read", 10, None, None),
    ("2   MyApp Pro arm64    \t0x000000019b0db3a8 foo + 72",                 # lldb: arch after the name
     0x19B0DB3A8, "MyApp Pro", "foo", 72, None, None),
    ("3   He 0x1    \t0x000000019b0db3a8 foo + 72",                          # lldb: "0x1" in the name
     0x19B0DB3A8, "He 0x1", "foo", 72, None, None),
    ("13  YetanotherMac                       0x00000000000ea004 main (main.m:16)",   # sentry handcrafted
     0xEA004, "YetanotherMac", "main", None, "main.m", 16),
    ("2   ???                                 0x0000000054485244 0x0 + 0",   # sentry handcrafted
     0x54485244, None, None, None, None, None),
    ("0   <translation info unavailable>\t0x0000000102ad0718 ???",          # dotnet/runtime#48877 (Rosetta)
     0x102AD0718, None, None, None, None, None),
    ("0   libsystem_pthread.dylib       \t    0x7ff818b07f48 start_wqthread + 0",  # macOS 13+ right-aligned pc
     0x7FF818B07F48, "libsystem_pthread.dylib", "start_wqthread", 0, None, None),
    ("0   ???                           \t               0x0 ???",           # a null pc, right-aligned
     0, None, None, None, None, None),
    ("0   libsystem_kernel.dylib        \t0x3a6b01fc 0x3a69d000 + 78332",    # 32-bit iOS, unsymbolicated
     0x3A6B01FC, "libsystem_kernel.dylib", None, None, None, None),
]


@pytest.mark.parametrize("row", FRAME_LINES, ids=lambda r: r[0][:30])
def test_frame_line_variants(row):
    line, addr, image, sym, off, src, ln = row
    fr = _frame(line, 0)
    assert (fr.address, fr.image_name, fr.symbol, fr.symbol_offset, fr.source_file, fr.source_line) == (
        addr, image, sym, off, src, ln)


def test_frame_load_address_form_gives_image_offset():
    fr = _frame("0   libsystem_kernel.dylib        \t0x3a6b01fc 0x3a69d000 + 78332", 0)
    assert fr.image_offset == 78332 and 0x3A69D000 + 78332 == fr.address


def test_ios14_bug109_ips_is_a_text_body():
    # pycrashreport tests/user_mode_crash_report_ios14_symbolicated.ips layout.
    rep = _own("ios14-bug109.ips")
    assert rep.report_format == "text" and rep.bug_type == "109" and not rep.partial
    assert (rep.process, rep.pid, rep.arch, rep.translated, rep.role) == ("kaki", 12225, "arm64", False, "Foreground")
    assert rep.os_version == "iPhone OS 14.5.1 (18E212)" and rep.incident.startswith("2416C26A")
    assert rep.crashed_thread == 0 and rep.app_specific == ["stack buffer overflow"]
    assert rep.exception["raw_codes"] == [0, 0] and rep.fault_address is None   # EXC_CRASH: no address
    t0 = rep.threads[0]
    assert t0.queue == "com.apple.main-thread" and t0.crashed
    assert t0.registers["esr"] == 0x56000080 and t0.pc == 0x1C95957B0 and t0.sp == 0x16FD839D0
    assert [im.arch for im in rep.images] == ["arm64", "arm64", "arm64e", "arm64e"]
    kaki = rep.images[0]
    main = t0.frames[2]
    assert main.image_index == 0 and main.image_offset == 0x100081A1C - kaki.base
    # The metadata line fills nothing the text already said.
    assert rep.version == "1 (1.0)" and rep.identifier == "cyber.example.kaki"


def test_macos10_8_report_without_blank_lines():
    # sentry fixture XCDYouTubeKit-54.txt layout: threads, register block and
    # Binary Images follow each other with no blank line.
    rep = _own("macos10.8-packed.crash")
    assert [t.index for t in rep.threads] == [0, 1] and rep.threads[0].crashed
    assert rep.threads[0].registers["rip"] == 0x7FFF99D89D4B and "gs" in rep.threads[0].registers
    assert len(rep.images) == 5, "the register block must not swallow Binary Images"
    assert rep.fault_address == 0x8                          # "SEGV_MAPERR at 0x8"
    assert rep.images[0].arch == "x86_64" and rep.images[0].identifier == "com.AlphaSoft.iTubeDownloader"
    assert all(f.image_index is not None for t in rep.threads for f in t.frames)


def test_macos11_rosetta_text():
    # dotnet/runtime#48877 + vscode#127766 layout (Report Version 12, translated).
    rep = _own("macos11-rosetta.crash")
    assert rep.code_type == "X86-64 (Translated)" and rep.arch == "x86_64" and rep.translated is True
    assert rep.crashed_thread == 13 and rep.fault_address == 0x100000000
    t13 = next(t for t in rep.threads if t.index == 13)
    assert t13.crashed and t13.frames[0].image_name is None and t13.frames[0].address == 0x102AD0718
    assert t13.registers["rip"] == 0x102AD0718 and t13.registers["cr2"] == 0x100000000
    assert "Logical" not in " ".join(t13.registers)
    vmi = rep.vm_region_info
    assert vmi.address == 0x100000000 and vmi.marker_after == -1     # "--> " before every row
    assert [r.type for r in vmi.rows] == ["__TEXT"]
    names = [im.name for im in rep.images]
    assert names == ["Mandelbrot", "libRosettaRuntime", None, "libsystem_kernel.dylib"]
    assert rep.images[2].uuid == "ccf61d952fc53d55bf28774c4b3e008e" and rep.images[2].path is None


def test_macos13_rosetta_ips():
    # .ips of a translated process: usedImages mix x86_64 and arm64 (Rosetta
    # runtime); threadState x86_THREAD_STATE with a nested "rosetta" block
    # (Facepunch/garrysmod-issues#5533); isCorpse as an integer.
    rep = _own("macos13-rosetta.ips")
    assert rep.report_format == "ips" and not rep.partial
    assert (rep.arch, rep.translated, rep.role, rep.is_corpse) == ("x86_64", True, "Foreground", True)
    assert {im.name: im.arch for im in rep.images} == {
        "Mandelbrot": "x86_64", "dyld": "x86_64", "runtime": "arm64", "libRosettaRuntime": "arm64"}
    assert rep.crashed_thread == 1 and rep.threads[1].crashed and not rep.threads[0].crashed
    regs = rep.threads[1].registers
    assert regs["rip"] == 4294983512 == rep.threads[1].pc and regs["tmp1"] == 4295000064
    assert "flavor" not in regs and "rosetta" not in regs
    assert rep.fault_address == 0x10 and rep.app_specific == ["libsystem_c.dylib: abort() called"]
    assert rep.shared_cache[0] == 140703221825536
    assert rep.threads[1].frames[0].address == 4294967296 + 16216


def test_first_ips_layout():
    # lldb parser_json.test: usedImages as [uuid, base, source] arrays, sizes in
    # legacyInfo.imageExtraInfo, frames as [imageIndex, imageOffset], and
    # plain-integer registers at top level.
    rep = _own("first-layout.ips")
    assert not rep.partial and len(rep.images) == 1
    im = rep.images[0]
    assert (im.base, im.size, im.arch, im.name) == (7309737984, 204800, "arm64e", "libsystem_kernel.dylib")
    t = rep.threads[0]
    assert t.queue == "com.apple.bwgraph.devicevendor" and len(t.frames) == 2
    assert t.frames[0].address == 7309839456 and t.frames[0].image_offset == 101472
    assert (t.registers["x0"], t.registers["x1"], t.registers["lr"], t.pc) == (
        268451845, 117442566, 7309751904, 7309755088)


def test_text_exception_codes_give_the_fault_address():
    # lldb crashlog.py exception_codes_regex: "0x…, 0x…" are rawCodes; for
    # EXC_BAD_ACCESS code[1] is the address (as in an .ips).
    text = ("Process: a [1]\nException Type:  EXC_BAD_ACCESS (SIGSEGV)\n"
            "Exception Codes: 0x0000000000000001, 0x0000000000000028\nCrashed Thread:  0\n")
    rep = parse_crash_report(text)
    assert rep.exception["raw_codes"] == [1, 0x28] and rep.fault_address == 0x28


def test_binary_images_after_blank_line():
    # sentry's parser keeps reading Binary Images across blank lines.
    text = ("Process: a [1]\n\nBinary Images:\n\n"
            "0x100000000 - 0x100003fff a arm64  <0123456789abcdef0123456789abcdef> /a\n\n"
            "0x180000000 - 0x180003fff libb.dylib arm64e  <1123456789abcdef0123456789abcdef> /usr/lib/libb.dylib\n"
            "\nExternal Modification Summary:\n  Calls made by other processes targeting this process:\n")
    rep = parse_crash_report(text)
    assert [im.name for im in rep.images] == ["a", "libb.dylib"] and not rep.partial


def test_register_block_then_logical_cpu_without_blank():
    # A 10.13 report (pasted in an issue): "Logical CPU:" and "Binary Images:"
    # right under the X86 registers.
    text = ("Process: a [1]\nThread 0 Crashed:\n0   a   0x000000010a343000 main + 0\n"
            "Thread 0 crashed with X86 Thread State (64-bit):\n"
            "  rip: 0x00007fff6f9b5ad4  rfl: 0x0000000000010246  cr2: 0x00007fffa84562c0\n"
            "Logical CPU:     1\nError Code:      0x00000000\nTrap Number:     6\n"
            "Binary Images:\n       0x10a342000 -        0x10aec6fff +a (0) <58058868-0068-35A9-9774-5612BC747B8F> /a\n")
    rep = parse_crash_report(text)
    assert rep.threads[0].registers == {"rip": 0x7FFF6F9B5AD4, "rfl": 0x10246, "cr2": 0x7FFFA84562C0}
    assert len(rep.images) == 1 and rep.threads[0].frames[0].image_index == 0


def test_shared_caches_plural_is_read_and_noted():
    # Doubtful layout: macOS 26 OSAnalytics knows "sharedCaches"; no real
    # report with it was at hand.  A list is read, the choice is noted.
    body = {"procName": "a", "usedImages": [
        {"source": "P", "base": 0x180010000, "size": 0x4000, "uuid": "0" * 31 + "1", "path": "/usr/lib/x"}],
        "sharedCaches": [{"base": 0x300000000, "size": 0x1000, "uuid": "1" * 32},
                         {"base": 0x180000000, "size": 0x40000000, "uuid": "2" * 32}]}
    rep = parse_crash_report(_ips(body))
    assert rep.shared_cache == (0x180000000, 0x40000000, "2" * 32)
    assert any("sharedCaches" in n for n in rep.notes)


def test_bug109_header_with_garbage_body_is_corrupt():
    with pytest.raises(CorruptInput):
        parse_crash_report(b'{"bug_type":"109","name":"x"}\nnothing to see here\n')


def test_macos12_text_has_two_exception_codes_lines():
    # macOS 12+ Console/translated text (reports pasted in GitHub issues): the
    # first "Exception Codes:" is the .ips subtype, the second its codes.
    text = ("Process:               a [1]\nCode Type:             ARM-64 (Native)\n"
            "Crashed Thread:        0  Dispatch queue: com.apple.main-thread\n\n"
            "Exception Type:        EXC_BAD_ACCESS (SIGSEGV)\n"
            "Exception Codes:       KERN_INVALID_ADDRESS at 0x0000000000000060\n"
            "Exception Codes:       0x0000000000000001, 0x0000000000000060\n\n"
            "Termination Reason:    Namespace SIGNAL, Code 11 Segmentation fault: 11\n")
    rep = parse_crash_report(text)
    assert rep.exception["subtype"] == "KERN_INVALID_ADDRESS at 0x0000000000000060"
    assert rep.exception["codes"] == "0x0000000000000001, 0x0000000000000060"
    assert rep.exception["raw_codes"] == [1, 0x60] and rep.fault_address == 0x60
    assert rep.crashed_thread == 0 and rep.translated is False


def test_arm32_thread_state():
    # iOS armv7 "ARM Thread State (32-bit)" block: r0-r12, sp, lr, pc, cpsr.
    text = ("Process: a [1]\nCode Type: ARM (Native)\nThread 0 Crashed:\n"
            "0   a   0x0002c3f4 0x1c000 + 66548\n\n"
            "Thread 0 crashed with ARM Thread State (32-bit):\n"
            "    r0: 0x00000000    r1: 0x00000001      r2: 0x00000000      r3: 0x00000000\n"
            "    ip: 0x00000148    sp: 0x27d4f8e0      lr: 0x3a7a4a53      pc: 0x0002c3f4\n"
            "  cpsr: 0x00000010\n\n"
            "Binary Images:\n0x1c000 - 0x2ffff a armv7  <0123456789abcdef0123456789abcdef> /var/a\n")
    rep = parse_crash_report(text)
    t = rep.threads[0]
    assert rep.arch == "arm" and t.pc == 0x2C3F4 and t.sp == 0x27D4F8E0 and t.registers["cpsr"] == 0x10
    assert t.frames[0].image_index == 0 and t.frames[0].image_offset == 66548


def test_app_specific_block_without_blank_line_keeps_the_thread():
    text = ("Process: a [1]\nCrashed Thread:  0\nApplication Specific Information:\nabort() called\n"
            "Thread 0 Crashed:\n0   libsystem_kernel.dylib  0x00007fff8d89ed16 __pthread_kill + 10\n")
    rep = parse_crash_report(text)
    assert rep.app_specific == ["abort() called"] and [t.index for t in rep.threads] == [0]
    assert rep.threads[0].frames[0].symbol == "__pthread_kill"


def test_frame_source_location_with_an_empty_or_colon_file_name():
    """Fuzz finding (crash_text): ``(::1)`` after a frame raised ValueError.
    FILE ends at its first ``:LINE``; a column after the line is allowed."""
    text = ("Incident Identifier: x\nThread 0:\n"
            "0   a.out   0x1000 main (main.m:16:3)\n"
            "1   a.out   0x1004 d (::1)\n"
            "2   a.out   0x1008 e (:7)\n")
    rep = parse_crash_report(text.encode(), "t.crash")
    frames = rep.threads[0].frames
    assert [(f.source_file, f.source_line) for f in frames[:2]] == [("main.m", 16), (":", 1)]
    assert frames[2].source_file is None            # no file before ":7": not a location
