"""Install-name resolution against dyld's rules (dyld/DyldProcessConfig.cpp
forEachPathVariant, dyld/Loader.cpp forEachResolvedAtPathVar), macholib.dyld
as an oracle where it agrees, and --symbolicate finding a dylib by @rpath."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from symmap.formats.macho.load_commands import parse_macho
from symmap.sources import OpenOptions
from symmap.sources.crash_report import open_file
from symmap.symbolize.install_names import (LoadContext, Rpath, candidates,
                                            framework_partial_path, resolve)
from tests.conftest import need_tool

APP = "/A/App.app/Contents/MacOS/App"
PLUGIN = "/A/App.app/Contents/PlugIns/P.bundle/Contents/MacOS/P"


def paths(name, ctx=None):
    return [p for p, _disk in candidates(name, ctx)]


def test_framework_partial_path_is_dylds():
    # The examples of dyld's getFrameworkPartialPath comment.
    assert framework_partial_path("/path/foo.framework/foo") == "foo.framework/foo"
    assert framework_partial_path("/path/foo.framework/Versions/A/foo") == "foo.framework/Versions/A/foo"
    assert framework_partial_path("/path/foo.framework/Frameworks/bar.framework/bar") == "bar.framework/bar"
    assert framework_partial_path("/path/foo.framework/Libraries/bar.dylb") is None
    assert framework_partial_path("/path/foo.framework/bar") is None
    assert framework_partial_path("/p/Foo-Bar.framework/Foo-Bar") == "Foo-Bar.framework/Foo-Bar"
    assert framework_partial_path("/p/Foo.framework/Foo_debug", "_debug") == "Foo.framework/Foo_debug"


def test_at_paths_expand_against_loader_and_executable():
    ctx = LoadContext(executable=APP, loader=PLUGIN)
    assert paths("@loader_path/../Frameworks/libx.dylib", ctx)[0] == \
        "/A/App.app/Contents/PlugIns/P.bundle/Contents/MacOS/../Frameworks/libx.dylib"
    assert paths("@executable_path/../Frameworks/libx.dylib", ctx)[0] == \
        "/A/App.app/Contents/MacOS/../Frameworks/libx.dylib"
    # Without a loader, @loader_path is the executable's directory (dyld: the main image loads it).
    assert paths("@loader_path/libx.dylib", LoadContext(executable=APP))[0] == "/A/App.app/Contents/MacOS/libx.dylib"
    # Nothing to expand against: no candidate but the fallbacks (an @-path never is tried raw).
    assert not any(p.startswith("@") for p in paths("@executable_path/libx.dylib"))


def test_rpath_walks_the_load_chain_in_order():
    ctx = LoadContext(executable=APP, loader=PLUGIN, rpaths=[
        Rpath("@loader_path/../Frameworks", PLUGIN),     # the plug-in's own, first
        Rpath("/opt/lib/", PLUGIN),
        Rpath("@executable_path/../Frameworks", APP),    # then the main executable's
        Rpath("relative/dir", APP),                      # a relative LC_RPATH: cwd-relative, skipped
    ], fallbacks=False)
    assert paths("@rpath/libx.dylib", ctx) == [
        "/A/App.app/Contents/PlugIns/P.bundle/Contents/MacOS/../Frameworks/libx.dylib",
        "/opt/lib/libx.dylib",
        "/A/App.app/Contents/MacOS/../Frameworks/libx.dylib",
    ]
    # A bare leaf name is tried as @rpath/leaf first, then as it is.
    assert paths("libx.dylib", ctx)[-1] == "libx.dylib"
    assert paths("libx.dylib", ctx)[0].endswith("P.bundle/Contents/MacOS/../Frameworks/libx.dylib")


def test_env_overrides_fallbacks_and_suffix_order():
    env = {"DYLD_LIBRARY_PATH": "/dl1:/dl2", "DYLD_FRAMEWORK_PATH": "/fw",
           "DYLD_FALLBACK_LIBRARY_PATH": "/fb", "DYLD_IMAGE_SUFFIX": "_debug"}
    ctx = LoadContext(env=env)
    assert paths("/usr/lib/libz.1.dylib", ctx) == [
        "/dl1/libz.1_debug.dylib", "/dl1/libz.1.dylib", "/dl2/libz.1_debug.dylib", "/dl2/libz.1.dylib",
        "/usr/lib/libz.1_debug.dylib", "/usr/lib/libz.1.dylib",
        "/fb/libz.1_debug.dylib", "/fb/libz.1.dylib"]
    # A framework uses DYLD_FRAMEWORK_PATH and never DYLD_LIBRARY_PATH (dyld's if/else).
    fw = paths("/S/L/F/Foo.framework/Versions/A/Foo", LoadContext(env={"DYLD_FRAMEWORK_PATH": "/fw",
                                                                       "DYLD_LIBRARY_PATH": "/dl"}))
    assert fw[0] == "/fw/Foo.framework/Versions/A/Foo"
    assert not any(p.startswith("/dl") for p in fw)
    # Default fallbacks are dyld4's classic ones: no $HOME/lib, no /lib.
    assert paths("/x/liby.dylib") == ["/x/liby.dylib", "/usr/local/lib/liby.dylib", "/usr/lib/liby.dylib"]
    assert paths("/x/Bar.framework/Bar") == ["/x/Bar.framework/Bar", "/Library/Frameworks/Bar.framework/Bar",
                                             "/System/Library/Frameworks/Bar.framework/Bar"]


def test_resolve_uses_roots_for_target_paths_only(tmp_path):
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libfoo.dylib").write_bytes(b"x")
    # Target paths resolve under a root, never on this machine's own /.
    assert resolve("/usr/lib/libfoo.dylib", roots=[str(root)]) == f"{root}/usr/lib/libfoo.dylib"
    assert resolve("/bin/sh") is None                  # exists here, but here is not the target
    # A fallback finds a moved library under the root.
    assert resolve("/gone/libfoo.dylib", roots=[str(root)]) == f"{root}/usr/lib/libfoo.dylib"
    exe = tmp_path / "App/MacOS/app"
    exe.parent.mkdir(parents=True)
    (tmp_path / "App/Frameworks").mkdir(parents=True)
    (tmp_path / "App/Frameworks/libbar.dylib").write_bytes(b"y")
    ctx = LoadContext(executable=str(exe), rpaths=[Rpath("@executable_path/../Frameworks", str(exe))])
    assert resolve("@rpath/libbar.dylib", ctx) == f"{tmp_path}/App/MacOS/../Frameworks/libbar.dylib"


def test_candidates_are_bounded():
    ctx = LoadContext(env={"DYLD_LIBRARY_PATH": ":".join(f"/d{i}" for i in range(5000))})
    assert len(candidates("/usr/lib/liba.dylib", ctx)) <= 256


def test_macholib_oracle_agrees_where_it_follows_dyld(tmp_path):
    """macholib.dyld agrees on @loader_path/@executable_path and on
    DYLD_LIBRARY_PATH for plain dylibs; where it departs from dyld's code
    (no @rpath, DYLD_LIBRARY_PATH for frameworks, old fallbacks) symmap does
    not use it.  If macholib ever changes, this test says so."""
    dyld = pytest.importorskip("macholib.dyld")
    lib = tmp_path / "Frameworks/libq.dylib"
    lib.parent.mkdir()
    lib.write_bytes(b"q")
    exe = tmp_path / "MacOS/app"
    exe.parent.mkdir()
    ours = resolve("@executable_path/../Frameworks/libq.dylib", LoadContext(executable=str(exe)))
    theirs = dyld.dyld_find("@executable_path/../Frameworks/libq.dylib", executable_path=str(exe.parent), env={})
    assert ours == theirs
    ours = resolve("@loader_path/../Frameworks/libq.dylib", LoadContext(loader=str(exe)))
    assert ours == dyld.dyld_find("@loader_path/../Frameworks/libq.dylib", loader_path=str(exe.parent), env={})
    env = {"DYLD_LIBRARY_PATH": str(lib.parent)}
    # (DYLD_LIBRARY_PATH names target dirs: root "/" says the target's / is ours.)
    assert resolve("/nowhere/libq.dylib", LoadContext(env=env), roots=["/"]) == \
        dyld.dyld_find("/nowhere/libq.dylib", env=env)
    # Departures: no @rpath support ...
    with pytest.raises(ValueError):
        dyld.dyld_find("@rpath/libq.dylib", executable_path=str(exe.parent), env={})
    assert resolve("@rpath/libq.dylib", LoadContext(
        executable=str(exe), rpaths=[Rpath("@executable_path/../Frameworks", str(exe))])) is not None
    # ... DYLD_LIBRARY_PATH applied to a framework name ...
    env = {"DYLD_LIBRARY_PATH": str(tmp_path / "dl")}
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl/Foo").write_bytes(b"f")
    assert dyld.dyld_find("/x/Foo.framework/Foo", env=env) == str(tmp_path / "dl/Foo")
    assert str(tmp_path / "dl/Foo") not in paths("/x/Foo.framework/Foo", LoadContext(env=env))
    # ... and the man page's fallbacks, not dyld's.
    assert "/lib/libq.dylib" in list(dyld.dyld_default_search("/x/libq.dylib", env={}))
    assert "/lib/libq.dylib" not in paths("/x/libq.dylib")


# --- --symbolicate follows @rpath from a found executable ------------------------

def _build_app(tmp: Path) -> tuple[Path, Path]:
    clang = need_tool("clang-14", "clang")
    ld = need_tool("ld64.lld-19")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "dep.c").write_text("int dep_fn(int x) { return x * 5 + 2; }\n")
    (tmp / "main.c").write_text("int dep_fn(int);\nint start(void) { return dep_fn(3); }\n")
    for n, extra in (("dep", ["-fPIC"]), ("main", [])):
        subprocess.run([clang, "-target", "x86_64-apple-macos11", "-c", "-O1", "-ffreestanding", *extra,
                        str(tmp / f"{n}.c"), "-o", str(tmp / f"{n}.o")], check=True)
    app = tmp / "App.app/Contents"
    (app / "MacOS").mkdir(parents=True)
    (app / "Frameworks").mkdir()
    lib = app / "Frameworks/libdep.dylib"
    common = ["-arch", "x86_64", "-platform_version", "macos", "11.0", "11.0", "-fixup_chains"]
    subprocess.run([ld, *common, "-dylib", "-install_name", "@rpath/libdep.dylib", str(tmp / "dep.o"),
                    "-o", str(lib)], check=True)
    exe = app / "MacOS/App"
    subprocess.run([ld, *common, "-e", "_start", "-rpath", "@executable_path/../Frameworks",
                    str(tmp / "main.o"), str(lib), "-o", str(exe)], check=True)
    return exe, lib


def _dashed(u: str) -> str:
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


def test_symbolicate_finds_a_dylib_through_rpath(tmp_path):
    exe, lib = _build_app(tmp_path / "build")
    me, ml = parse_macho(exe.read_bytes(), 0), parse_macho(lib.read_bytes(), 0)
    assert me.rpaths == ["@executable_path/../Frameworks"] and me.dylibs == ["@rpath/libdep.dylib"]
    images = []
    for i, (m, path) in enumerate(((me, "/Applications/App.app/Contents/MacOS/App"),
                                   (ml, "/Applications/App.app/Contents/Frameworks/libdep.dylib"))):
        text = m.segment("__TEXT")
        images.append({"source": "P", "arch": "x86_64", "base": 0x100000000 + i * 0x10000000,
                       "size": text.vmsize, "uuid": _dashed(m.uuid), "path": path,
                       "name": path.rsplit("/", 1)[-1]})
    body = {"procName": "App", "pid": 9, "procPath": images[0]["path"], "cpuType": "X86-64",
            "usedImages": images, "threads": [{"triggered": True, "frames": [
                {"imageIndex": 1, "imageOffset": 0}]}]}
    rep = tmp_path / "r.ips"
    rep.write_text(json.dumps({"bug_type": "309", "os_version": "macOS 14.0"}) + "\n" + json.dumps(body))
    # --search-path names the executable only: its dylib is found the way dyld found it.
    t = open_file(str(rep), OpenOptions(symbolicate=True, search_paths=[str(exe)]))
    files = {im.name: im.file_path for im in t.images}
    assert files["App"] == str(exe)
    assert files["libdep.dylib"] == f"{exe.parent}/../Frameworks/libdep.dylib"
    # Without the install-name step nothing but the named file would be found.
    from symmap.sources.crash_report import find_binaries_by_uuid
    assert list(find_binaries_by_uuid([me.uuid, ml.uuid], [str(exe)])) == [me.uuid]
