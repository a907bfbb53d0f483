"""Writing an output file the careful way (``save -o FILE``, ``--html FILE``).

- Atomic: the text goes to a temporary file created with O_EXCL and mode
  0600 in the destination's directory, then is renamed over it, so a failed
  save never leaves a truncated file where a good one was.
- Read-only stays read-only: a destination whose mode grants the saving
  user's class (owner, group or other) no write bit is refused unless
  ``force``; for root, whom the kernel lets write anything, a file with no
  write bit at all is read-only by its owner's intent.  os.access(W_OK)
  false is refused too.
- A replaced file keeps its mode, and its owner and group where the saver
  may set them; a new file gets 0666 less the umask, as open() would.
- A symlink is written through to its target by the same rules (the link
  stays), except one owned by someone else in a sticky world-writable
  directory such as /tmp (the kernel's protected_symlinks rule).
- Anything but a regular file (a FIFO, /dev/stdout) is written in place:
  a device is never replaced by a file.
"""
from __future__ import annotations

import os
import stat
import tempfile

from symmap.errors import BadTarget

__all__ = ["check", "write_text", "is_read_only"]


def is_read_only(path: str, st: os.stat_result) -> bool:
    """The rule above, for an existing destination ``path`` with stat ``st``."""
    euid = os.geteuid()
    if euid == 0:
        return not st.st_mode & 0o222
    if st.st_uid == euid:
        bit = stat.S_IWUSR
    elif st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        bit = stat.S_IWGRP
    else:
        bit = stat.S_IWOTH
    return not st.st_mode & bit or not os.access(path, os.W_OK, effective_ids=True)


def _through_link(path: str) -> str:
    """The file a symlink at ``path`` names, or BadTarget for an untrusted link."""
    lst = os.lstat(path)
    if not stat.S_ISLNK(lst.st_mode):
        return path
    parent = os.stat(os.path.dirname(os.path.abspath(path)))
    sticky_public = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
    if sticky_public and lst.st_uid not in (os.geteuid(), parent.st_uid):
        raise BadTarget(f"cannot write {path}: a symlink owned by another user in a "
                        "sticky directory; not followed")
    return os.path.realpath(path)


def _fail(output: str, e: OSError) -> BadTarget:
    return BadTarget(f"cannot write {output}: {e.strerror or e}")


def check(output: str, force: bool | None = False) -> tuple[str, os.stat_result | None]:
    """The file to write and its stat (None: new); BadTarget when it may not
    be written.  Called before long work too, so a refusal comes first."""
    dest = output
    try:
        dest = _through_link(output) if os.path.lexists(output) else output
        st: os.stat_result | None = os.stat(dest)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _fail(output, e) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise BadTarget(f"cannot write {output}: it is a directory")
        if not force and is_read_only(dest, st):
            hint = " (--force replaces it)" if force is not None else ""
            raise BadTarget(f"cannot write {output}: it is read-only{hint}")
    return dest, st


def write_text(output: str, text: str, force: bool | None = False, encoding: str = "ascii") -> None:
    """Write ``text`` to ``output`` as the module docstring says; ``force``
    None: the command has no --force (a read-only file is always refused)."""
    dest, st = check(output, force)
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            try:
                with open(dest, "w", encoding=encoding) as f:
                    f.write(text)
            except OSError as e:
                raise _fail(output, e) from None
            return
    folder, base = os.path.split(os.path.abspath(dest))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise _fail(output, e) from None
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            if st is not None:
                _keep_owner(f.fileno(), st)
                os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
            else:
                os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, dest)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _fail(output, e) from None


def _keep_owner(fd: int, st: os.stat_result) -> None:
    # Owner and group first (chown clears set-id bits; fchmod after restores them).
    for uid, gid in ((st.st_uid, st.st_gid), (-1, st.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
