"""Roles, permissions and personal-data masking: one filtered view of the store.

Every reading command reads through `StoreView`, which applies the active role (hidden custom
sessions, custom events, segments, outcomes; masked contact details) and `--redact` (personal
data replaced by a stable keyed hash) before anything reaches a renderer. Renderers never
check permissions themselves. Imports Polars only.

Config (the `jtrack.toml` of `jtrack.config`):

    default_role = "agent"
    [roles.agent]
    permissions = ["journey:session:view", "journey:event:view", "journey:segment:view"]
    [redact]
    key = "a long secret"          # or $JTRACK_REDACT_KEY
    query_params = ["email", "token"]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash namespace)

from jtrack.config import load_config, unknown_key_error
from jtrack.errors import ConfigError, NotPermittedError
from jtrack.schema import KIND_CUSTOM, KIND_OUTCOME, KIND_SEGMENT, KV_LIST
from jtrack.store import Store

ROLE_ENV = "JTRACK_ROLE"
REDACT_KEY_ENV = "JTRACK_REDACT_KEY"

SESSION_VIEW = "journey:session:view"
EVENT_VIEW = "journey:event:view"
SESSIONTYPE_VIEW = "journey:sessiontype:view"
EVENTTYPE_VIEW = "journey:eventtype:view"
SEGMENT_VIEW = "journey:segment:view"
OUTCOME_VIEW = "journey:outcome:view"
CONTACT_VIEW = "externalContacts:contact:view"
PERMISSIONS = (
    SESSION_VIEW,
    EVENT_VIEW,
    SESSIONTYPE_VIEW,
    EVENTTYPE_VIEW,
    SEGMENT_VIEW,
    OUTCOME_VIEW,
    CONTACT_VIEW,
)

#: Session types every role with session permission sees; others are custom session types.
STANDARD_SESSION_TYPES = ("web", "app")

#: Columns holding personal data (masked without contact permission, hashed with --redact).
PERSONAL_COLUMNS = (
    "ip_address",
    "traits",
    "contact_emails",
    "contact_phones",
    "emails",
    "phones",
    "unverified_traits",
    "email",
    "phone",
)
#: Columns holding URLs whose query parameters may carry personal data.
URL_COLUMNS = (
    "page_url",
    "referrer_url",
    "first_page_url",
    "last_page_url",
    "page_query_string",
    "referrer_query_string",
)
MASK = "•••"
_DEFAULT_KEY = "jtrack-default-redaction-key"


@dataclass(frozen=True)
class Policy:
    """What the active role may see, and whether personal data is redacted."""

    role: str | None = None
    permissions: frozenset[str] = frozenset(PERMISSIONS)
    redact: bool = False
    redact_key: str = _DEFAULT_KEY
    query_params: tuple[str, ...] = ()

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def sees_custom_sessions(self) -> bool:
        return self.allows(SESSIONTYPE_VIEW)

    @property
    def sees_custom_events(self) -> bool:
        return self.allows(EVENTTYPE_VIEW)

    @property
    def sees_contacts(self) -> bool:
        return self.allows(CONTACT_VIEW)

    def require(self, permission: str, what: str) -> None:
        if not self.allows(permission):
            raise NotPermittedError(
                f"role {self.role!r} may not see {what} (needs {permission})",
                hint="ask for a role with that permission, or pass --role",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "permissions": sorted(self.permissions), "redact": self.redact}


def load_policy(
    role: str | None = None, *, redact: bool = False, config: str | os.PathLike[str] | None = None
) -> Policy:
    """The policy for `--role`/$JTRACK_ROLE (or the config's default_role), and `--redact`.

    With no roles configured everything is visible (the analyst owns the data); with roles
    configured a role is always in force, and an unknown role is a config error (exit 2).
    """
    data, path = load_config(config)
    roles = data.get("roles") or {}
    redact_cfg = data.get("redact") or {}
    if not isinstance(roles, dict) or not isinstance(redact_cfg, dict):
        raise ConfigError(
            f"{path}: [roles] and [redact] must be tables",
            hint="see README, Roles and personal data",
        )
    for key in redact_cfg:
        if key not in ("key", "query_params"):
            raise unknown_key_error(path, "[redact]", key, ["key", "query_params"])
    key = os.environ.get(REDACT_KEY_ENV) or str(redact_cfg.get("key") or _DEFAULT_KEY)
    params = tuple(str(p) for p in redact_cfg.get("query_params", ()))
    chosen = role or os.environ.get(ROLE_ENV) or data.get("default_role")
    if not roles:
        if role:
            raise ConfigError(
                f"--role {role}: no roles are configured",
                hint=f"add [roles.{role}] to {path or 'jtrack.toml'}",
            )
        return Policy(redact=redact, redact_key=key, query_params=params)
    if not chosen:
        raise ConfigError(
            f"{path}: roles are configured but no role is chosen",
            hint="set default_role, pass --role NAME or set $JTRACK_ROLE",
        )
    if chosen not in roles:
        import difflib

        near = difflib.get_close_matches(str(chosen), list(roles), n=1)
        raise ConfigError(
            f"{path}: unknown role {chosen!r}",
            hint=(f"did you mean {near[0]!r}? " if near else "")
            + "roles: "
            + ", ".join(sorted(roles)),
        )
    spec = roles[chosen]
    perms = spec.get("permissions", []) if isinstance(spec, dict) else spec
    if not isinstance(perms, list):
        raise ConfigError(
            f"{path}: [roles.{chosen}] permissions must be a list",
            hint='e.g. permissions = ["journey:session:view"]',
        )
    for p in perms:
        if p not in PERMISSIONS:
            raise unknown_key_error(
                path, f"[roles.{chosen}] permissions", str(p), list(PERMISSIONS)
            )
    return Policy(
        role=str(chosen),
        permissions=frozenset(perms),
        redact=redact,
        redact_key=key,
        query_params=params,
    )


def keyed_hash(expr: pl.Expr, key: str) -> pl.Expr:
    """A stable keyed hash (HMAC-SHA256, 16 hex characters) of a text expression."""
    h = expr.cast(pl.String).chash.hmac_sha256(key=key)  # type: ignore[attr-defined]
    return pl.when(expr.is_null()).then(None).otherwise(pl.lit("h:") + h.str.slice(0, 16))


def _mask_column(name: str, dtype: pl.DataType, policy: Policy) -> pl.Expr:
    col = pl.col(name)
    if dtype == KV_LIST:
        value = pl.element().struct.field("value")
        masked = keyed_hash(value, policy.redact_key) if policy.redact else pl.lit(MASK)
        return col.list.eval(pl.element().struct.with_fields(masked.alias("value"))).alias(name)
    if isinstance(dtype, pl.List):
        inner = keyed_hash(pl.element(), policy.redact_key) if policy.redact else pl.lit(MASK)
        return col.list.eval(inner).alias(name)
    if dtype == pl.String:
        masked = keyed_hash(col, policy.redact_key) if policy.redact else pl.lit(MASK)
        return pl.when(col.is_null()).then(None).otherwise(masked).alias(name)
    return col


def _redact_params(name: str, params: Sequence[str], key: str) -> pl.Expr:
    col = pl.col(name)
    for p in params:
        pattern = rf"([?&]{p}=)([^&#]*)"
        col = col.str.replace_all(pattern, "${1}REDACTED", literal=False)
    return col.alias(name)


def protect(frame: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    """Mask personal data the policy may not see (or redacts) in any frame of the store."""
    schema = frame.collect_schema()
    exprs: list[pl.Expr] = []
    if policy.redact or not policy.sees_contacts:
        exprs += [_mask_column(c, schema[c], policy) for c in PERSONAL_COLUMNS if c in schema]
    if policy.redact and policy.query_params:
        exprs += [
            _redact_params(c, policy.query_params, policy.redact_key)
            for c in URL_COLUMNS
            if c in schema and schema[c] == pl.String
        ]
    if policy.redact and "contact_name" in schema:
        name = pl.col("contact_name")
        exprs.append(
            pl.when(name.is_in(["Unknown"]) | name.is_null())
            .then(name)
            .otherwise(keyed_hash(name, policy.redact_key))
            .alias("contact_name")
        )
    return frame.with_columns(exprs) if exprs else frame


def visible_events(policy: Policy) -> pl.Expr:
    """Which stored events the policy may see."""
    keep = pl.lit(True)
    if not policy.sees_custom_events:
        keep = keep & (pl.col("kind") != KIND_CUSTOM)
    if not policy.sees_custom_sessions:
        keep = keep & pl.col("session_type").is_in(list(STANDARD_SESSION_TYPES)).fill_null(True)
    if not policy.allows(SEGMENT_VIEW):
        keep = keep & (pl.col("kind") != KIND_SEGMENT)
    if not policy.allows(OUTCOME_VIEW):
        keep = keep & (pl.col("kind") != KIND_OUTCOME)
    return keep


class StoreView(Store):
    """The store as the active role may see it: use it wherever a Store is read."""

    def __init__(self, store: Store, policy: Policy | None = None) -> None:
        super().__init__(store.root)
        self.policy = policy or Policy()

    def unfiltered(self) -> Store:
        """The plain store (to tell "not permitted" from "not found", and for billing)."""
        return Store(self.root)

    def scan_sessions(self, customer_id: str | None = None) -> pl.LazyFrame:
        self.policy.require(SESSION_VIEW, "sessions")
        lf = super().scan_sessions(customer_id=customer_id)
        if not self.policy.sees_custom_sessions:
            lf = lf.filter(pl.col("type").is_in(list(STANDARD_SESSION_TYPES)))
        return protect(lf, self.policy)

    def scan_events(self, customer_id: str | None = None) -> pl.LazyFrame:
        self.policy.require(SESSION_VIEW, "sessions")
        self.policy.require(EVENT_VIEW, "journey events")
        return self.restrict_events(super().scan_events(customer_id=customer_id))

    def restrict_events(self, events: pl.LazyFrame) -> pl.LazyFrame:
        """Stored events (read from the plain store) as the policy may see them: what
        scan_events does to the store's events, for readers that pick the rows themselves."""
        self.policy.require(SESSION_VIEW, "sessions")
        self.policy.require(EVENT_VIEW, "journey events")
        return protect(events.filter(visible_events(self.policy)), self.policy)

    def hidden_events(self, session_id: str, customer_id: str | None = None) -> int:
        """How many events of a session the role may not see (for an honest note)."""
        p = self.policy
        sees_all = p.sees_custom_events and p.sees_custom_sessions
        if sees_all and p.allows(SEGMENT_VIEW) and p.allows(OUTCOME_VIEW):
            return 0  # visible_events keeps every event: nothing to count
        lf = super().scan_events(customer_id=customer_id).filter(pl.col("session_id") == session_id)
        return int(lf.filter(~visible_events(self.policy)).select(pl.len()).collect().item())

    def check_session(self, session_id: str, session_type: str | None = None) -> None:
        """NotPermittedError when the session exists but the role may not see its type
        (`session_type`: the session's type when the caller has read it already)."""
        self.policy.require(SESSION_VIEW, "sessions")
        if self.policy.sees_custom_sessions:
            return
        if session_type is None:
            typ = (
                super().scan_sessions().filter(pl.col("id") == session_id).select("type").collect()
            )
            if not typ.height:
                return
            session_type = typ.item()
        if session_type not in STANDARD_SESSION_TYPES:
            raise NotPermittedError(
                f"session {session_id} is a custom session ({session_type}); role "
                f"{self.policy.role!r} may not see custom sessions (needs {SESSIONTYPE_VIEW})",
                hint="ask for a role with that permission, or pass --role",
            )

    def restrict_card(self, data: dict[str, Any], customer_id: str | None) -> dict[str, Any]:
        """Apply the role to a built card: hidden sections and an honest count of hidden
        events (the events themselves never reached the card: scan_events filtered them)."""
        notes = data.setdefault("notes", [])
        for key, perm, what in (
            ("segments", SEGMENT_VIEW, "segments"),
            ("outcomes", OUTCOME_VIEW, "outcomes"),
        ):
            if not self.policy.allows(perm) and key in data:
                data[key] = []
                notes.append(f"{what} are hidden by your role (needs {perm})")
        if not self.policy.allows(SEGMENT_VIEW) or not self.policy.allows(OUTCOME_VIEW):
            hidden_kinds = {
                k
                for k, p in (("segment_assigned", SEGMENT_VIEW), ("outcome_achieved", OUTCOME_VIEW))
                if not self.policy.allows(p)
            }
            data["journey"] = [
                e for e in data.get("journey", []) if e.get("kind") not in hidden_kinds
            ]
        n = self.hidden_events(str(data["session"]["id"]), customer_id)
        data["hidden_events"] = n
        if n:
            notes.append(f"{n} event{'s' if n != 1 else ''} hidden by your role")
        return data


def open_view(
    store: str | os.PathLike[str] | None = None,
    role: str | None = None,
    redact: bool = False,
    config: str | os.PathLike[str] | None = None,
) -> StoreView:
    """The store at `store` (or the default) seen through the active role."""
    return StoreView(Store.open(store), load_policy(role, redact=redact, config=config))
