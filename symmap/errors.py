"""The one error hierarchy of symmap; each class carries its CLI exit code.

Kept free of click and of every other symmap module so any layer can raise
these.  Exit codes (README "Exit codes"): 0 ok, 1 findings, 2 bad target or
input, 3 permission denied, 4 the process vanished.
"""
from __future__ import annotations

__all__ = [
    "SymmapError", "BadTarget", "NoSuchProcess", "CorruptInput",
    "AccessDenied", "ProcessVanished", "EXIT_OK", "EXIT_FOUND",
    "EXIT_BAD_INPUT", "EXIT_DENIED", "EXIT_VANISHED",
]

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_BAD_INPUT = 2
EXIT_DENIED = 3
EXIT_VANISHED = 4


class SymmapError(Exception):
    """Base of every error symmap reports to a user (one line, no traceback)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, msg: str = "") -> None:
        super().__init__(msg)
        self.msg = msg

    def __str__(self) -> str:
        # One line always: a message built from target data must not span rows.
        return " ".join(self.msg.split("\n"))


class BadTarget(SymmapError):
    """The TARGET argument names nothing usable (ambiguous name, unknown file)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, msg: str, candidates: list[str] | None = None) -> None:
        super().__init__(msg)
        self.candidates = candidates or []


class NoSuchProcess(SymmapError):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, pid: int | None, msg: str | None = None) -> None:
        super().__init__(msg or f"no such process: {pid}")
        self.pid = pid


class ProcessVanished(NoSuchProcess):
    """The process existed when we started and exited during the walk."""

    exit_code = EXIT_VANISHED

    def __init__(self, pid: int | None, msg: str | None = None) -> None:
        super().__init__(pid, msg or f"process {pid} exited while it was being read")


class AccessDenied(SymmapError):
    exit_code = EXIT_DENIED

    def __init__(self, pid: int | None = None, msg: str | None = None) -> None:
        super().__init__(msg or f"permission denied reading process {pid}")
        self.pid = pid


class CorruptInput(SymmapError):
    """A file or memory image that does not parse.  `what` names the format
    (e.g. "cache", "Mach-O"), so messages read `corrupt cache: ...`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, what: str, reason: str, path: str | None = None,
                 offset: int | None = None) -> None:
        where = ""
        if path:
            where += f" in {path}"
        if offset is not None:
            where += f" at offset {offset:#x}"
        super().__init__(f"corrupt {what}: {reason}{where}")
        self.what = what
        self.reason = reason
        self.path = path
        self.offset = offset
