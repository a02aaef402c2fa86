"""Exceptions and exit codes shared by the library and the CLI.

Library code raises a JtrackError subclass; only the CLI turns it into a message and an
exit code. This module imports nothing heavy.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Every exit code jtrack uses, in one place."""

    OK = 0
    DATA = 1  # the data failed a check: rejected rows, unknown session id, ...
    USAGE = 2  # the invocation or the config is wrong
    OVER_ALLOWANCE = 3  # `jtrack usage --fail-over-allowance` and usage is above the allowance
    NOT_PERMITTED = 4  # the active role may not see what was asked for
    INTERRUPTED = 130


class JtrackError(Exception):
    """A problem jtrack can explain: one line of message plus a hint how to fix it."""

    exit_code: ExitCode = ExitCode.DATA

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class DataError(JtrackError):
    """The input data failed a check (exit 1)."""

    exit_code = ExitCode.DATA


class RejectedRowError(DataError):
    """A row of input was rejected and the run was not asked to skip rejects."""

    def __init__(
        self, file: str, line: int, field: str, reason: str, detail: str, hint: str | None = None
    ) -> None:
        where = f"{file}:{line}" if line > 0 else file
        super().__init__(
            f"{where}: field {field!r}: {detail} [{reason}]",
            hint=hint
            or "fix the row, or pass --on-error skip to write rejects to a file and go on",
        )
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
        #: the hint is the row's own (events nested under another key), not "fix or skip":
        #: a reading command keeps it
        self.own_hint = False


class FileAccessError(DataError):
    """A file that cannot be read or written: missing, a directory, no permission (exit 1)."""


class UnreadableSourceError(FileAccessError):
    """A source that holds something, but nothing jtrack can read: a folder it may not
    read, a folder or glob of files of no events (`jtrack watch` says it, not waits)."""


class NotFoundError(DataError):
    """A session, customer or contact asked for is not in the store."""


class AmbiguousIdError(DataError):
    """A session-id prefix matches more than one session."""

    def __init__(self, prefix: str, candidates: list[str], total: int | None = None) -> None:
        """`candidates`: the first matching ids in order; `total`: how many match in all
        (default: as many as the candidates)."""
        n = len(candidates) if total is None else total
        shown = ", ".join(candidates[:10]) + (" ..." if n > 10 else "")
        super().__init__(
            f"session id prefix {prefix!r} matches {n:,} sessions: {shown}",
            hint="type more characters of the id",
        )
        self.candidates = candidates


class UsageError(JtrackError):
    """The invocation is wrong: a bad option value, a missing argument (exit 2). An input
    file or folder that is missing or holds nothing to read is a FileAccessError (exit 1)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A config, rules or contacts file is invalid (exit 2)."""


class StoreError(JtrackError):
    """The store is missing, locked or unreadable."""

    exit_code = ExitCode.DATA


class StoreLockedError(StoreError):
    """Another jtrack run holds the store's lock."""


class NotPermittedError(JtrackError):
    """The active role may not see what was asked for (exit 4)."""

    exit_code = ExitCode.NOT_PERMITTED
