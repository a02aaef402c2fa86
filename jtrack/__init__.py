"""jtrack: analyse exported website journey-tracking events.

The public library API. Importing jtrack never imports typer or rich and never prints;
heavy modules (Polars) are imported on first use so that `jtrack --help` starts fast.
The sessionizer lives in `jtrack.core.sessionize` (module and function share the name, so import
it as `from jtrack.core.sessionize import sessionize`); it counts an event delivered more
than once once, as `jtrack sessionize` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EventSchema",
    "ReadResult",
    "SessionizeOptions",
    "Store",
    "__version__",
    "read_events",
]

_LAZY = {
    "read_events": "jtrack.read",
    "ReadResult": "jtrack.read",
    "SessionizeOptions": "jtrack.core.sessionize",
    "Store": "jtrack.store",
    "EventSchema": "jtrack.schema",
}

if TYPE_CHECKING:  # pragma: no cover
    from jtrack.options import SessionizeOptions
    from jtrack.read import ReadResult, read_events
    from jtrack.schema import EventSchema
    from jtrack.store import Store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jtrack' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
