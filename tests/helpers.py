"""Small builders for test events in the flat and Genesys shapes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from jtrack.schema import EVENT_SCHEMA

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


def flat_event(event_id: str, customer: str, at: datetime, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in EVENT_SCHEMA}
    row.update(
        event_id=event_id,
        customer_id=customer,
        created_date=at,
        event_type="WebEvent",
        event_name="page_viewed",
        kind="page_view",
        customer_id_type="cookie",
        source_session_type="web",
        page_url=f"https://shop.example/{event_id}",
        page_title=f"Page {event_id}",
        attributes=[],
        traits=[],
    )
    row.update(extra)
    return row


def flat_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def genesys_line(event_id: str, customer: str, at: datetime | str | int, **web: Any) -> str:
    created = (
        at if not isinstance(at, datetime) else (at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    )
    ev: dict[str, Any] = {
        "id": event_id,
        "customerId": customer,
        "customerIdType": "cookie",
        "session": {"id": "s-" + customer, "type": "web"},
        "eventType": "com.genesys.journey.WebEvent",
        "createdDate": created,
        "webEvent": {
            "eventName": "page_viewed",
            "page": {"url": f"https://shop.example/{event_id}", "title": f"Page {event_id}"},
            **web,
        },
    }
    return json.dumps(ev)


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def as_an_earlier_jtrack_wrote(root: Path, field: str, folder: str) -> set[str]:
    """Make the current version of the store at `root` look as an earlier jtrack wrote it:
    its parts without the manifest `field` (`ids`, `keys`) and without `folder` (the
    `session-ids/`, `event-keys/` a later jtrack writes beside them). The manifest is
    written as a new file (its cache is keyed by the file). Returns the names of the parts
    that had the field."""
    version = root / "versions" / (root / "CURRENT").read_text().strip()
    path = version / "manifest.json"
    manifest = json.loads(path.read_text())
    had = {p["file"] for p in manifest["parts"] if p.pop(field, None)}
    path.unlink()
    path.write_text(json.dumps(manifest))
    shutil.rmtree(version / folder)
    return had


def views(prefix: str, visitors: range, start: datetime, n: int = 3, **extra: Any) -> list:
    """`n` page views two minutes apart from `start` by each of `visitors` (`visitor-V`),
    with ids `PREFIX-V-I`."""
    return [
        flat_event(f"{prefix}-{v}-{i}", f"visitor-{v}", start + minutes(2 * i), **extra)
        for v in visitors
        for i in range(n)
    ]


def as_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` (flat events) written to `path` as Parquet."""
    flat_frame(rows).write_parquet(path)
    return path


def role_world(tmp: Path, rows: list[dict[str, Any]], config: str, book: str) -> dict[str, Path]:
    """A store of `rows` (flat Parquet, sessionized by the CLI) in `tmp`, with `config` as its
    jtrack.toml and `book` as contacts.csv beside it: what the role and privacy tests read."""
    from typer.testing import CliRunner

    from jtrack.cli import app

    events = tmp / "events.parquet"
    flat_frame(rows).write_parquet(events)
    store = tmp / "store"
    res = CliRunner().invoke(app, ["sessionize", str(events), "--store", str(store), "-q"])
    assert res.exit_code == 0, res.stderr
    (tmp / "jtrack.toml").write_text(config)
    (tmp / "contacts.csv").write_text(book)
    return {"tmp": tmp, "store": store, "book": tmp / "contacts.csv", "events": events}


def spy_on_evaluate(monkeypatch: Any) -> list[pl.DataFrame]:
    """The events every call of the rules' `evaluate` (as jtrack.usecases.rules calls it)
    is given, collected, in a list that fills as the calls come."""
    import jtrack.usecases.rules as use

    seen: list[pl.DataFrame] = []
    real = use.evaluate

    def spy(events: Any, sessions: Any, rules: Any, *args: Any, **kw: Any) -> Any:
        seen.append(events.lazy().collect())
        return real(events, sessions, rules, *args, **kw)

    monkeypatch.setattr(use, "evaluate", spy)
    return seen


# --------------------------------------------------------------------- as another account

#: jtrack's command line as another user: this checkout's jtrack, under the umask given.
_AS_USER = (
    "import os, sys; os.umask({umask}); sys.path.insert(0, {root!r}); "
    "from jtrack._entry import main; sys.argv[0] = 'jtrack'; main()"
)


def can_setpriv() -> bool:
    """Whether tests may run jtrack as other accounts (root, with util-linux's setpriv)."""
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def jtrack_as(
    uid: int, gid: int, *args: str, cwd: Path, umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    """Run jtrack as account `uid` (group `gid`, no other groups) under `umask`."""
    root = Path(__file__).resolve().parent.parent
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", sys.executable]
    cmd += ["-c", _AS_USER.format(umask=oct(umask), root=str(root)), *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def open_folder() -> Path:
    """A folder other accounts can reach (pytest's tmp_path is root's alone); the caller
    removes it."""
    folder = Path(tempfile.mkdtemp(prefix="jtrack-acct-"))
    os.chmod(folder, 0o755)
    return folder
