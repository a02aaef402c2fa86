"""Checks of what a library caller passes, shared by the options, the entry points and the
CLI: a UsageError (exit 2) naming the argument and what it takes, never a bare TypeError,
AttributeError or Polars error deep inside.

Imports the standard library only.
"""

from __future__ import annotations

import numbers
import os
from datetime import UTC, datetime
from pathlib import Path

from jtrack.errors import FileAccessError, UsageError

#: Said of a blank name: in a shell, `"$VAR"` of an unset variable.
UNSET_HINT = "a variable in the command line may be unset"


def is_blank_name(value: object) -> bool:
    """Whether a file or folder name is empty or blank: as a path, an empty one is the
    current folder (where a run would make its store), a blank one a file named with
    spaces. A Path is never blank (`Path("")` is already `.`)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)  # (`Path(" ")`: a name of a space; `Path("")` is ".")
    return isinstance(value, str | bytes) and not value.strip()


def env_value(name: str, what: str, default: str) -> str | None:
    """Environment variable `name`'s value; None when it is unset. Set but empty or blank
    (`JTRACK_STORE=` in a crontab, `JTRACK_STORE="$DIR"` with $DIR unset) it is a
    UsageError (exit 2), never read as unset: jtrack would fall back to its default (the
    store in ./.jtrack, ./jtrack.toml, the default role) when the caller meant to name
    something. The hint says to set it to `what`, or unset it for `default`. The one rule
    of every JTRACK_* variable that holds a value (README: Environment variables)."""
    value = os.environ.get(name)
    if value is None:
        return None
    if not value.strip():
        said = "empty" if not value else f"blank ({value!r})"
        raise UsageError(f"${name} is {said}", hint=f"set it to {what}, or unset it for {default}")
    return value


def local_path(path: str | os.PathLike[str]) -> Path:
    """A file or folder a caller named, as the absolute local path jtrack opens: `~` (and
    `~user`) expanded as a shell expands it, relative to the current folder as it is now
    (a later os.chdir leaves it the same file). pyarrow takes a relative name whose first
    part holds a colon (`events-2026-12-07T10:00:00.parquet`, `gap:30m/...`) for a URI; an
    absolute path it never does. Only the path is made: nothing is resolved or opened, and
    `..` is left for the system to follow (after a link: `lnk/../x` is beside the link's
    target, which os.path.abspath's text would not say)."""
    text = os.fspath(path)
    return Path(_absolute(_home_expanded(text) if text[:1] == "~" else text))


def _home_expanded(text: str) -> str:
    """`~` and `~/...` as a shell expands them, refused where there is no home to expand to
    ($HOME unset and no password entry: a uid a container runs as; $HOME empty): the name
    was kept as typed, a folder `./~` made in the working folder (a store lost with the
    pod), or `~/x` read as `/x`. (`~user` is left as Python reads it.)"""
    expanded = os.path.expanduser(text)
    home_like = text == "~" or text.startswith("~/")
    if home_like and (expanded == text or os.environ.get("HOME") == ""):
        said = "empty" if os.environ.get("HOME") == "" else "unset, and this account has no home"
        raise UsageError(
            f"{text}: `~` cannot be expanded ($HOME is {said})",
            hint="give an absolute path: a shell expands `~`, but a value set in a crontab, "
            "a service file or a Kubernetes env: is taken as written",
        )
    return expanded


def arrow_path(source: object) -> object:
    """What jtrack hands pyarrow for a file: a path made absolute (as text), which pyarrow
    never takes for a URI (it does a relative one whose first part holds a colon:
    `events-2026-12-07T10:00:00.parquet`); a file object as it is."""
    if isinstance(source, str | os.PathLike):
        return _absolute(os.fspath(source))
    return source


def _absolute(path: str) -> str:
    """`path` from the current folder when it is relative, its `..` kept (as the system
    follows them: after a link, not by the text)."""
    return path if os.path.isabs(path) else os.path.join(current_folder(), path)


def current_folder() -> str:
    """os.getcwd(), or a FileAccessError saying the current folder is gone (deleted or moved
    since the shell entered it: a bare "No such file or directory" otherwise, from every
    command whose store, output or input is named from it, ./.jtrack the first)."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise FileAccessError(
            "the current folder no longer exists (deleted or moved since the shell entered it)",
            hint="`cd` to a folder that exists and run the command again",
        ) from None


def refuse_blank_name(value: object, name: str, hint: str = "name a file") -> None:
    """UsageError for a blank file or folder name given as `name` (the CLI refuses the
    same name of its option, exit 2, saying a shell variable may be unset: UNSET_HINT)."""
    if is_blank_name(value):
        shown = os.fspath(value) if isinstance(value, os.PathLike) else value
        raise UsageError(f"{name} {shown!r}: an empty name", hint=hint)


def must_be(
    value: object,
    name: str,
    kinds: type | tuple[type, ...],
    what: str,
    *,
    none: bool = False,
) -> None:
    """UsageError `{name} {value!r} is not {what}` unless `value` is of `kinds` (or None,
    with `none`). A bool is no number here (`True` is an int to Python)."""
    if value is None and none:
        return
    types = kinds if isinstance(kinds, tuple) else (kinds,)
    if int in types:  # (a whole number of any kind: NumPy's int64 too)
        types = (*types, numbers.Integral)
    number = isinstance(value, bool) and bool not in types
    if number or not isinstance(value, types):
        raise UsageError(
            f"{name} {value!r} is not {what}",
            hint=f"{name} takes {what}" + (", or None" if none else ""),
        )


def utc_time(value: datetime, name: str) -> datetime:
    """An aware time in UTC, in whatever zone it was given (a ZoneInfo's, a fixed offset):
    what the store's UTC columns are compared with; a naive one is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # (an offset at the calendar's edge: out of Python's range)
        raise UsageError(
            f"{name} {value.isoformat()}: out of range (in UTC it falls outside the years "
            "1 to 9999)",
            hint="check the year",
        ) from None


def is_path(value: object) -> bool:
    """A file or folder name as a caller gives it: text or an os.PathLike."""
    return isinstance(value, str | os.PathLike)


__all__ = ["UNSET_HINT", "is_blank_name", "is_path", "must_be", "refuse_blank_name", "utc_time"]
