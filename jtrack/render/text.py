"""Small wording helpers shared by every renderer: counts with the right plural."""

from __future__ import annotations

from typing import Any


def plural(n: Any, one: str, many: str | None = None) -> str:
    """`1 session`, `2 sessions`, `1,204 searches` (with many="searches")."""
    k = int(n or 0)
    return f"{k:,} {one if k == 1 else (many or one + 's')}"


__all__ = ["plural"]
