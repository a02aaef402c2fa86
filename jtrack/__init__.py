"""jtrack: analyse exported website journey-tracking events.

The public library API (README, "Library"), importable from here or from its module:

- `run_sessionize(sources, store, ...)`: exports (files, folders, globs, a Polars DataFrame)
  into a store (`jtrack.engine`); `RunOptions`, `SessionizeOptions` (`jtrack.options`)
- `Store` (`jtrack.store`): `Store.open(folder)`, `snapshot()`, `scan_sessions()`...
- `read_events`, `ReadResult` (`jtrack.read`), `deduplicate` (`jtrack.core.dedupe`),
  `sessionize` (`jtrack.core.sessionize`: a frame held in memory, deduplicated as the CLI
  does; module and function share the name, so import it as `from jtrack import sessionize`
  or `from jtrack.core.sessionize import sessionize`), `EventSchema` (`jtrack.schema`)
- reading a store (`jtrack.usecases`): `list_sessions`, `SessionQuery`, `build_card`,
  `build_journey`, `report_from_store`, `report_from_sources`, `ReportOptions`,
  `compute_usage`, `UsageInput`, `UsageOptions`, `evaluate_store`, `explain_store`,
  `load_rules`, `live_frame`, `LiveOptions`
- `errors`: the classes every call raises (`jtrack.errors`: a message and a hint)

Importing jtrack never imports typer or rich and never prints; each name is imported on
first use (with Polars), so that `jtrack --help` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module it lives in (imported on first use: __getattr__)
_LAZY = {
    "run_sessionize": "jtrack.engine",
    "RunOptions": "jtrack.options",
    "SessionizeOptions": "jtrack.options",
    "Store": "jtrack.store",
    "read_events": "jtrack.read",
    "ReadResult": "jtrack.read",
    "deduplicate": "jtrack.core.dedupe",
    "sessionize": "jtrack.core.sessionize",
    "EventSchema": "jtrack.schema",
    "list_sessions": "jtrack.usecases.sessions",
    "SessionQuery": "jtrack.usecases.sessions",
    "build_card": "jtrack.usecases.card",
    "build_journey": "jtrack.usecases.card",
    "report_from_store": "jtrack.usecases.report",
    "report_from_sources": "jtrack.usecases.report",
    "ReportOptions": "jtrack.usecases.report",
    "compute_usage": "jtrack.usecases.usage",
    "UsageInput": "jtrack.usecases.usage",
    "UsageOptions": "jtrack.usecases.usage",
    "evaluate_store": "jtrack.usecases.rules",
    "explain_store": "jtrack.usecases.rules",
    "load_rules": "jtrack.core.rules",
    "live_frame": "jtrack.usecases.live",
    "LiveOptions": "jtrack.usecases.live",
}

__all__ = [
    "EventSchema",
    "LiveOptions",
    "ReadResult",
    "ReportOptions",
    "RunOptions",
    "SessionQuery",
    "SessionizeOptions",
    "Store",
    "UsageInput",
    "UsageOptions",
    "__version__",
    "build_card",
    "build_journey",
    "compute_usage",
    "deduplicate",
    "errors",
    "evaluate_store",
    "explain_store",
    "list_sessions",
    "live_frame",
    "load_rules",
    "read_events",
    "report_from_sources",
    "report_from_store",
    "run_sessionize",
    "sessionize",
]

if TYPE_CHECKING:  # pragma: no cover
    from jtrack import errors
    from jtrack.core.dedupe import deduplicate
    from jtrack.core.rules import load_rules
    from jtrack.core.sessionize import sessionize
    from jtrack.engine import run_sessionize
    from jtrack.options import RunOptions, SessionizeOptions
    from jtrack.read import ReadResult, read_events
    from jtrack.schema import EventSchema
    from jtrack.store import Store
    from jtrack.usecases.card import build_card, build_journey
    from jtrack.usecases.live import LiveOptions, live_frame
    from jtrack.usecases.report import ReportOptions, report_from_sources, report_from_store
    from jtrack.usecases.rules import evaluate_store, explain_store
    from jtrack.usecases.sessions import SessionQuery, list_sessions
    from jtrack.usecases.usage import UsageInput, UsageOptions, compute_usage


def __getattr__(name: str) -> Any:
    import importlib

    if name == "errors":
        return importlib.import_module("jtrack.errors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jtrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # (looked up once)
    return value


def __dir__() -> list[str]:
    """The public names too (imported on first use), without importing them."""
    return sorted({*globals(), *__all__})
