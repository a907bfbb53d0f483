"""Issue 12: `save -o FILE` never replaces a file the user could not write,
keeps the mode (and owner/group) of a file it replaces, writes atomically,
and `--force` is the only way over a read-only file."""
from __future__ import annotations

import os
import stat
import threading
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from symmap.commands import safe_write
from symmap.render.json import dumps
from tests.sources.test_snapshot import rich_macos_target

OTHER = 65534          # nobody


def save(src, out, *extra):
    return CliRunner().invoke(cli, ["save", str(src), "-o", str(out), *extra])


def saved(src) -> str:
    """What `save SRC -o -` prints: the text a file save must hold."""
    r = CliRunner().invoke(cli, ["save", str(src), "-o", "-"])
    assert r.exit_code == 0
    return r.stdout


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "src.json"
    p.write_text(dumps(rich_macos_target()) + "\n")
    return p


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sets another user's ownership")


@needs_root
def test_root_refuses_a_read_only_file_of_another_user(tmp_path, src):
    dst = tmp_path / "ro.json"
    dst.write_text("keep")
    os.chmod(dst, 0o444)
    os.chown(dst, OTHER, OTHER)
    r = save(src, dst)
    assert r.exit_code == 2
    assert r.stderr == f"symmap: cannot write {dst}: it is read-only (--force replaces it)\n"
    assert dst.read_text() == "keep" and mode(dst) == 0o444 and os.stat(dst).st_uid == OTHER
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro.json", "src.json"]


@needs_root
def test_force_replaces_it_keeping_mode_owner_and_group(tmp_path, src):
    dst = tmp_path / "ro.json"
    dst.write_text("old")
    os.chmod(dst, 0o444)
    os.chown(dst, OTHER, OTHER)
    r = save(src, dst, "--force")
    assert r.exit_code == 0, r.output
    st = os.stat(dst)
    assert dst.read_text() == saved(src)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o444, OTHER, OTHER)


def test_replacing_keeps_the_mode(tmp_path, src):
    dst = tmp_path / "s.json"
    dst.write_text("old")
    os.chmod(dst, 0o640)
    assert save(src, dst).exit_code == 0
    assert mode(dst) == 0o640 and dst.read_text() == saved(src)


def test_a_new_file_gets_the_umask_mode(tmp_path, src):
    old = os.umask(0o027)
    try:
        assert save(src, tmp_path / "new.json").exit_code == 0
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.json") == 0o640


def test_symlink_is_written_through_and_stays_a_link(tmp_path, src):
    real = tmp_path / "real.json"
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert save(src, link).exit_code == 0
    assert link.is_symlink() and real.read_text() == saved(src) and mode(real) == 0o600
    os.chmod(real, 0o444)
    r = save(src, link)
    assert r.exit_code == 2 and "read-only" in r.stderr


@needs_root
def test_foreign_symlink_in_a_sticky_directory_is_not_followed(tmp_path, src):
    pub = tmp_path / "pub"
    pub.mkdir()
    os.chmod(pub, 0o1777)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = pub / "snap.json"
    link.symlink_to(victim)
    os.lchown(link, OTHER, OTHER)
    r = save(src, link)
    assert r.exit_code == 2 and "symlink owned by another user" in r.stderr
    assert victim.read_text() == "precious"


def test_a_fifo_is_written_into_not_replaced(tmp_path, src):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    r = save(src, fifo)
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and got == [saved(src).encode()]


def test_a_directory_is_refused(tmp_path, src):
    r = save(src, tmp_path)
    assert r.exit_code == 2 and r.stderr.endswith("it is a directory\n")


def _st(m, uid, gid):
    return SimpleNamespace(st_mode=stat.S_IFREG | m, st_uid=uid, st_gid=gid)


@pytest.mark.parametrize("m,uid,gid,ro", [
    (0o644, 1000, 1000, False),      # owner may write
    (0o444, 1000, 1000, True),
    (0o464, 1000, 1000, True),       # group bit set, but the owner's class decides
    (0o464, 0, 1000, False),         # group member, group may write
    (0o646, 0, 0, False),            # other may write
    (0o644, 0, 0, True),             # other may not
])
def test_read_only_is_decided_by_the_savers_class(monkeypatch, m, uid, gid, ro):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    monkeypatch.setattr(os, "getgroups", lambda: [1000])
    monkeypatch.setattr(os, "access", lambda *a, **k: True)
    assert safe_write.is_read_only("/x", _st(m, uid, gid)) is ro


@pytest.mark.parametrize("m,ro", [(0o444, True), (0o400, True), (0o200, False), (0o002, False)])
def test_for_root_no_write_bit_at_all_is_read_only(monkeypatch, m, ro):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert safe_write.is_read_only("/x", _st(m, 5, 5)) is ro


def test_refusal_comes_before_opening_the_target(tmp_path):
    dst = tmp_path / "ro.json"
    dst.write_text("keep")
    os.chmod(dst, 0o444)
    # No such target: were the target opened first, this would say so instead.
    r = save(tmp_path / "missing.json", dst)
    assert r.exit_code == 2 and "read-only" in r.stderr
