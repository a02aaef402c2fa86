"""Find the line of every key, table and array element in TOML text.

tomllib reports no positions, so the validator asks this scanner where a value came from.
Paths are tuples of keys and 0-based array indices, e.g. ("segment", 2, "context", 0,
"operator"). The scanner assumes the text already parsed with tomllib; on anything it does
not understand it stops and keeps what it found. Imports the standard library only.
"""

from __future__ import annotations

import contextlib

Path_ = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Stop(Exception):
    pass


class KeyLocator:
    """Line numbers (1-based) of paths in one TOML document."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: dict[Path_, int] = {}
        self._pos = 0
        self._line = 1
        self._aot: dict[Path_, int] = {}  # array-of-tables path -> elements seen
        with contextlib.suppress(_Stop, IndexError):
            self._document()

    def line(self, path: Path_) -> int | None:
        """The line of `path`, or of its longest known prefix."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    # ------------------------------------------------------------------ scanning helpers

    def _peek(self, k: int = 0) -> str:
        i = self._pos + k
        return self.text[i] if i < len(self.text) else ""

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self._pos < len(self.text):
                if self.text[self._pos] == "\n":
                    self._line += 1
                self._pos += 1

    def _skip_ws(self, newlines: bool) -> None:
        while self._pos < len(self.text):
            c = self.text[self._pos]
            if c in " \t\r" or (newlines and c == "\n"):
                self._advance()
            elif c == "#":
                while self._pos < len(self.text) and self.text[self._pos] != "\n":
                    self._pos += 1
            else:
                return

    def _record(self, path: Path_) -> None:
        self.lines.setdefault(path, self._line)

    # ------------------------------------------------------------------ grammar

    def _document(self) -> None:
        table: Path_ = ()
        while True:
            self._skip_ws(newlines=True)
            if self._pos >= len(self.text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _header(self) -> Path_:
        array = self._peek(1) == "["
        self._advance(2 if array else 1)
        keys = self._key()
        self._skip_ws(newlines=False)
        self._advance(2 if array else 1)
        path: Path_ = ()
        for i, k in enumerate(keys):
            path = (*path, k)
            last = i == len(keys) - 1
            if last and array:
                n = self._aot.get(path, 0)
                self._aot[path] = n + 1
                self._record(path)
                path = (*path, n)
            elif path in self._aot:
                path = (*path, self._aot[path] - 1)
        self._record(path)
        return path

    def _key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip_ws(newlines=False)
            c = self._peek()
            if c in "\"'":
                keys.append(self._string())
            else:
                start = self._pos
                while self._peek() in _BARE and self._peek() != "":
                    self._advance()
                if self._pos == start:
                    raise _Stop
                keys.append(self.text[start : self._pos])
            self._skip_ws(newlines=False)
            if self._peek() == ".":
                self._advance()
                continue
            return keys

    def _keyval(self, table: Path_) -> None:
        path = (*table, *self._key())
        self._record(path)
        self._skip_ws(newlines=False)
        if self._peek() != "=":
            raise _Stop
        self._advance()
        self._skip_ws(newlines=False)
        self._value(path)

    def _value(self, path: Path_) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._advance()
            i = 0
            while True:
                self._skip_ws(newlines=True)
                if self._peek() == "]":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                if self._peek() == "":
                    raise _Stop
                self._record((*path, i))
                self._value((*path, i))
                i += 1
        elif c == "{":
            self._advance()
            while True:
                self._skip_ws(newlines=True)
                if self._peek() == "}":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                if self._peek() == "":
                    raise _Stop
                self._keyval(path)
        else:
            while self._peek() not in ("", ",", "]", "}", "\n", "#"):
                self._advance()

    def _string(self) -> str:
        q = self._peek()
        if self.text.startswith(q * 3, self._pos):
            self._advance(3)
            end = self.text.find(q * 3, self._pos)
            if end < 0:
                raise _Stop
            # a closing delimiter may be followed by up to two more quotes
            while self.text.startswith(q, end + 3):
                end += 1
            value = self.text[self._pos : end]
            self._advance(end + 3 - self._pos)
            return value
        self._advance()
        out: list[str] = []
        while True:
            c = self._peek()
            if c in ("", "\n"):
                raise _Stop
            if c == q:
                self._advance()
                return "".join(out)
            if c == "\\" and q == '"':
                out.append(self.text[self._pos : self._pos + 2])
                self._advance(2)
                continue
            out.append(c)
            self._advance()
