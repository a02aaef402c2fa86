"""Roles, permissions and personal-data protection: one filtered view of the store, and one
guard where data leaves jtrack.

Every reading command reads through `StoreView`, which applies the active role (hidden custom
sessions, custom events, segments, outcomes) and masks personal content (contact details,
traits, attributes named like personal data, configured URL query parameters) as it reads.
What is computed after reading (contacts resolved against a file, visitor ids that are emails
or phones, names under `--redact`) is protected where it leaves: `protect_output` on every
frame a command prints or writes, `protect_tree` on cards and journeys, and the contacts
warnings on stderr. Identity is resolved on the unmasked store (`identity_events`) before
anything is masked, so who is known never depends on the role. Masking is idempotent: a value
already masked or hashed is left as it is. Imports Polars only.

Config (the `jtrack.toml` of `jtrack.config`, checked there: roles fail closed):

    default_role = "agent"
    [roles.agent]
    permissions = ["journey:session:view", "journey:event:view", "journey:segment:view"]
    [redact]
    key = "a long secret"          # or $JTRACK_REDACT_KEY; --redact refuses to run without
    query_params = ["email", "token"]
    attributes = ["loyaltyNumber"] # besides the built-in email/phone/name attribute names
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash namespace)

from jtrack.checks import env_value
from jtrack.config import PERMISSIONS as _CONFIG_PERMISSIONS
from jtrack.config import load_config
from jtrack.core.contacts import PHONE_TRAITS
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
assert PERMISSIONS == _CONFIG_PERMISSIONS

#: Session types every role with session permission sees; others are custom session types.
STANDARD_SESSION_TYPES = ("web", "app")

#: Columns holding contact details (masked without contact permission, hashed with --redact).
PERSONAL_COLUMNS = (
    "ip_address",
    "traits",
    "contact_emails",
    "contact_phones",
    "emails",
    "phones",
    "unverified_traits",
    "unverified_emails",
    "unverified_phones",
    "email",
    "phone",
    "matched_value",
    "external_ids",
)
#: Columns holding people's names: hashed with --redact (a role without contact permission
#: still sees names, as in Genesys); "Unknown" stays "Unknown".
NAME_COLUMNS = ("contact_name", "unverified_name", "first_name", "last_name")
#: Columns holding visitor ids: personal data when the id is an email or a phone number
#: (customer_id_type email/phone, or a value that is one), protected where data leaves.
ID_COLUMNS = ("customer_id",)
ID_LIST_COLUMNS = ("cookie_ids", "customer_ids")
#: Free text where a visitor may have typed an email address, or a site put one (a search,
#: a page title, a URL path): each address and phone number is masked in place, the rest
#: of the text kept.
TEXT_COLUMNS = (
    "search_query",
    "search_terms",
    "page_title",
    "first_page_title",
    "last_page_title",
    "page_pathname",
    "page_fragment",
    "page_keywords",
    "referrer_pathname",
    "referrer_name",
    # campaign parameters, a user agent, a session id and event names are text a visitor
    # or a site may have put an address in, like the others
    "mkt_campaign_source",
    "mkt_campaign_medium",
    "mkt_campaign_name",
    "mkt_campaign_term",
    "mkt_campaign_content",
    "user_agent_string",
    "source_session_id",
    "event_name",
    "last_event_name",
)
#: Columns holding URLs whose query parameters may carry personal data.
URL_COLUMNS = (
    "page_url",
    "referrer_url",
    "first_page_url",
    "last_page_url",
    "page_query_string",
    "referrer_query_string",
    "url",
)
#: Attribute names (compared lower-case, letters and digits only) that hold personal data.
PERSONAL_ATTRIBUTES = (
    "email",
    "emailaddress",
    "mail",
    *PHONE_TRAITS,  # (any name matched as a phone trait is personal)
    "tel",
    "givenname",
    "firstname",
    "familyname",
    "lastname",
    "surname",
    "fullname",
    "ipaddress",
    "address",
    "streetaddress",
    "homeaddress",
    "postcode",
    "postalcode",
    "zipcode",
    "zip",
    "dateofbirth",
    "birthdate",
    "birthday",
    "dob",
)
#: ... and endings that make a name personal (customerEmail, billing_phone_number,
#: contactFirstName); a name that only holds one (phoneModel, emailOptIn) is not.
PERSONAL_ENDINGS = (
    "email",
    "emailaddress",
    "phone",
    "phonenumber",
    "firstname",
    "lastname",
    "surname",
    "fullname",
    "givenname",
    "familyname",
    "ipaddress",
    "address",
    "postcode",
    "postalcode",
    "zipcode",
    "dateofbirth",
    "birthdate",
    "birthday",
    "addressline",  # (addressLine1, address_line_2)
)
#: A domain's label: letters of any script, digits, `-`, and percent-encoded bytes of
#: letters beyond ASCII and hyphens (an internationalised domain in a URL: `ex%C3%A4mple`;
#: bytes 80-FF and `%2D`,
#: never `%20`, `%2F`, `%40`, nor `%2E`, a dot: a byte both a label's and a dot's would
#: make the match backtrack exponentially); its last label (the top-level domain) is
#: letters of any script (`рф`, `ελ`), percent-encoded ones, or punycode (`xn--p1ai`).
_HIGH_BYTE = r"%(?:[89A-Fa-f][0-9A-Fa-f]|2[Dd])"  # (and `%2D`, a label's hyphen)
_LABEL = rf"(?:[\w-]|{_HIGH_BYTE})+"
_TLD = rf"(?:[Xx][Nn]--[\w-]+|(?:[^\W\d_]|{_HIGH_BYTE}){{2,}})"
#: An attribute value that is an email address is personal whatever the attribute's name
#: (the whole value: a local part, `@`, a domain ending in letters).
_EMAIL_VALUE = rf"^\s*[\w.%+'-]+@{_LABEL}(?:\.{_LABEL})*\.{_TLD}\s*$"
#: ... and one inside text (`@` and the domain's dots also percent-encoded, as in a URL path).
_DOT = r"(?:\.|%2[Ee])"
_EMAIL_IN_TEXT = rf"[\w.%+'-]+(?:@|%40){_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}"
#: A phone number inside text: `+` and 8 to 15 digits grouped by spaces, dots, dashes or
#: brackets (`+44 7700 900123`, `+1 (202) 555-0197`, `+44 (0)20 7946 0001`), `00` and a
#: country code (`0049 30 1234567`), or a national number as phones are written: British
#: (`07700 900123`, `07700 900 123`, `0161 496 0000`, `020 7946 0001`, `(020) 7946 0958`),
#: German (`030 1234567`: an area code, a space, 6 to 8 digits), French (`06 12 34 56 78`),
#: North American (`202-555-0197`, `(202)555-0197`, `1-800-555-0199`); an extension (`x123`,
#: `Ext. 12`) with it. Shorter groups (opening hours `0900-1730`, product codes, postcodes),
#: digits run together (an order number) but for an 11-digit `0...`, and groups inside a
#: longer token (`0123-4567-89ab`, `202-555-0197-red`) are not taken for one: a number starts
#: the text or follows a space or one of `(:,;/=?&"'<[`, and ends it or comes before anything
#: but a letter, digit or `_` (a dash before a letter counts as one: _TOKEN_DASH). Group 1:
#: the character before (kept).
#: (Digits of any script are digits: a `+`, a 0, a 1 and the others written in full width or
#: in Arabic-Indic, Persian, Devanagari or Bengali digits are these too: `＋44 7700 900123`,
#: `٠٧٧٠٠ ٩٠٠١٢٣`, as the contacts code reads them.)
_PLUS = "[+\uff0b]"
_ZERO = "[0\u0660\u06f0\u0966\u09e6\uff10]"
_ONE = "[1\u0661\u06f1\u0967\u09e7\uff11]"
_NONZERO = "[1-9\u0661-\u0669\u06f1-\u06f9\u0967-\u096f\u09e7-\u09ef\uff11-\uff19]"


def _phone_pattern(encoded: bool) -> str:
    """_PHONE_IN_TEXT; `encoded`: also as a URL writes one, a space as `+` or `%20`, a sign,
    bracket, dash or dot percent-encoded (`?q=call+me+07700+900123`, `%2B447700900123`,
    `%28555%29%20123-4567`), after an encoded separator (`tel%3A07700900123`)."""
    if encoded:
        space, sep, sep_b = r"(?:[ +]|%20)", r"(?:[ .\-+]|%2[0DdEe])", r"(?:[ .()\-+]|%2[0DdEe89])"
        left, right, plus = r"(?:\(|%28)", r"(?:\)|%29)", rf"(?:{_PLUS}|%2[Bb])"
        before = r"""(^|[\s(:,;/=?&"'<\[+]|%2[0289CcFf]|%3[AaBbDdFf]|%22|%27|%3[Cc]|%5[Bb])"""
    else:
        space, sep, sep_b = " ", r"[ .\-]", r"[ .()\-]"
        left, right, plus = r"\(", r"\)", _PLUS
        before = r"""(^|[\s(:,;/=?&"'<\[])"""
    return (
        rf"{before}(?:"
        rf"{plus}\d(?:{sep_b}{{0,2}}\d){{7,14}}"
        rf"|{_ZERO}{_ZERO}{_NONZERO}\d{{0,2}}{sep}\d(?:{sep}?\d){{6,11}}"
        rf"|{_ZERO}\d{{4}}{sep}?\d{{6}}|{_ZERO}\d{{4}}{sep}\d{{3}}{sep}\d{{3}}"
        rf"|{_ZERO}\d{{3}}{sep}?\d{{3}}{sep}?\d{{4}}|{_ZERO}\d{{2}}{sep}?\d{{4}}{sep}?\d{{4}}"
        rf"|{left}{_ZERO}\d{{2,4}}{right}{sep}?\d{{3,4}}{sep}?\d{{3,4}}"
        rf"|{_ZERO}\d{{2,4}}{space}\d{{6,8}}"
        rf"|{_ZERO}{_NONZERO}(?:{sep}\d{{2}}){{4}}"
        rf"|(?:{_ONE}{sep})?(?:{left}\d{{3}}{right}{sep}?|\d{{3}}{sep})\d{{3}}{sep}\d{{4}}"
        rf")(?:{space}?(?i:x|ext\.?){space}?\d{{1,5}})?\b"
    )


_PHONE_IN_TEXT = _phone_pattern(encoded=True)

#: A dash between a digit and a letter (`202-555-0197-red`, `800-555-1234-XL`) is this
#: character while phone numbers are looked for: a letter (a rare CJK one: a text that holds
#: it is looked at as it is), so a number cannot end there.
_TOKEN_DASH = "\U0002a6d6"
#: An image for screens of 2, 3 or 1.5 times the pixels (`hero@2x.png`): no email address.
#: An image's extension, at the end of the name (`bob@2x.example.org` is an address); the
#: character after it is the second group, kept as it is.
_DENSITY = (
    r"@(\d(?:\.\d)?x\.(?i:png|jpe?g|gif|webp|svg|avif|bmp|ico|tiff?|heic))"
    r"($|[^\w.\-@]|\.(?:$|[^\w\-@]))"  # (a sentence may end after it)
)
_DENSITY_MARK = "\uf8ff\uf8fe"  # (two private-use characters: no text holds them)
MASK = "•••"
#: What a configured query parameter's value becomes.
PARAM_MASK = "REDACTED"
UNKNOWN = "Unknown"
TEMP_PREFIX = "tmp-"

#: Used only when a library caller asks for redaction without a key: random per process, so
#: hashes cannot be reversed with a key anyone can read (the CLI refuses --redact without a
#: configured key instead).
_PROCESS_KEY = secrets.token_hex(32)

_HASHED = r"^h:[0-9a-f]{16}$"
#: A visitor id that is an email address or a phone number (with or without `+`).
_EMAIL_LIKE = r"@|%40"
_PHONE_LIKE = r"^\+?\(?[0-9][0-9 ().\-]{5,}[0-9]$"


def attribute_key(name: str) -> str:
    """An attribute or trait name as compared: lower-case letters and digits only."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def personal_attribute(name: str, value: Any, names: frozenset[str]) -> bool:
    """Whether an attribute holds personal data: its name (as attribute_key) is one of
    `names` or ends as PERSONAL_ENDINGS do, or its value is an email address."""
    full = attribute_key(name)
    key = full.rstrip("0123456789")  # (phone2: a second phone)
    return (
        full in names
        or key in names
        or key.endswith(PERSONAL_ENDINGS)
        or (
            isinstance(value, str)
            and re.match(_EMAIL_VALUE, value) is not None
            and re.search(_DENSITY, value) is None
        )
    )


@dataclass(frozen=True)
class Policy:
    """What the active role may see, and whether personal data is redacted."""

    role: str | None = None
    permissions: frozenset[str] = frozenset(PERMISSIONS)
    redact: bool = False
    #: None: a random key of this process (see _PROCESS_KEY); never a key written in the source
    redact_key: str | None = None
    query_params: tuple[str, ...] = ()
    #: attribute names holding personal data besides PERSONAL_ATTRIBUTES
    attributes: tuple[str, ...] = ()

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

    @functools.cached_property  # (asked for every key of every card a journey walks)
    def masks(self) -> bool:
        """Whether contact details are masked or hashed under this policy."""
        return self.redact or not self.sees_contacts

    @property
    def key(self) -> str:
        return self.redact_key or _PROCESS_KEY

    @functools.cached_property
    def personal_attributes(self) -> frozenset[str]:
        return frozenset(PERSONAL_ATTRIBUTES) | {attribute_key(a) for a in self.attributes}

    @property
    def hidden_rule_kinds(self) -> dict[str, str]:
        """Rule kinds whose results the role may not see ("segment", "outcome") and the
        permission each needs."""
        kinds = {"segment": SEGMENT_VIEW, "outcome": OUTCOME_VIEW}
        return {k: p for k, p in kinds.items() if not self.allows(p)}

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
    configured a role is always in force, and an unknown role is a config error (exit 2). The
    config itself is checked by jtrack.config (an empty [roles], `[role.x]`, a default_role
    naming no role: errors, never "everyone sees everything"). `--redact` needs a secret key
    ([redact] key or $JTRACK_REDACT_KEY): without one it is a config error, never a public key.
    """
    data, path = load_config(config)
    roles = data.get("roles") or {}
    redact_cfg = data.get("redact") or {}
    # (a blank key is none: `" "` would hash every value under a key anyone can guess; one
    # set blank in the environment is refused by --redact, not passed over for the
    # config's; a command that does not redact reads no key: a deployment's template that
    # sets it for one redacting job stops no other)
    env_key = (
        env_value(REDACT_KEY_ENV, "the secret key", "the config's [redact] key")
        if redact
        else os.environ.get(REDACT_KEY_ENV)
    )
    key = next((k for k in (env_key, redact_cfg.get("key")) if k and k.strip()), None)
    if redact and not key:
        raise ConfigError(
            "--redact needs a secret key, and none is configured",
            hint=f"set key in the [redact] table of {path or 'jtrack.toml'} or "
            f"${REDACT_KEY_ENV} (e.g. `export {REDACT_KEY_ENV}=$(openssl rand -hex 32)`); keep "
            "it secret: anyone holding it can test guesses against redacted values",
        )
    params = tuple(str(p) for p in redact_cfg.get("query_params", ()))
    attributes = tuple(str(a) for a in redact_cfg.get("attributes", ()))
    if role is not None and not role.strip():  # (`--role "$ROLE"` unset: not the default)
        raise ConfigError(
            f"--role {role!r} names no role", hint="pass --role NAME, or leave it out"
        )
    env_role = None if role is not None else env_value(ROLE_ENV, "a role's name", "default_role")
    chosen = role or env_role or data.get("default_role")
    common: dict[str, Any] = {
        "redact": redact,
        "redact_key": key,
        "query_params": params,
        "attributes": attributes,
    }
    if not roles:
        if chosen:
            where = "--role" if role else f"${ROLE_ENV}" if env_role else path
            # (a config with other tables gets the role; an empty one, /dev/null, or none
            # read: a config file with roles is what is missing)
            hint = f"add [roles.{chosen}] to {path}"
            if path is None or not data:
                what = f"the config {path} is empty" if path is not None else "no config was read"
                hint = (
                    f"{what}: add a [roles.{chosen}] table with its permissions to a config "
                    "file, jtrack.toml or one --config names"
                )
            raise ConfigError(
                f"{where}: role {chosen!r} is asked for but no roles are configured", hint=hint
            )
        return Policy(**common)
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
    return Policy(role=str(chosen), permissions=frozenset(perms), **common)


# ---------------------------------------------------------------------------- masking values


@functools.cache
def _calling_codes() -> tuple[list[str], list[str]]:
    """(every country calling code, those whose national prefix is a plain leading 0), from
    the contacts code's table (phonenumbers' metadata)."""
    from jtrack.core.contacts import _country_table

    table = _country_table()
    return sorted(table), sorted(cc for cc, meta in table.items() if meta["zero"])


def hash_basis(expr: pl.Expr) -> pl.Expr:
    """The text a value is hashed as: an email address (`%40` for its `@` too) trimmed and
    lower-cased, a plain international phone number (`+44 (0)20 7946 0958`, `0044 20 7946
    0958`) in E.164 (as the contacts code normalises them), so that the same person hashes
    alike wherever they appear; anything else as it is. A national number (no country
    code) is kept as written: its country is unknown. Polars expressions only, each input
    referred to once or twice (an expression used twice is computed twice: the country code
    found by prefix, used four times, made this 15 times slower than the hash itself)."""
    from jtrack.core.contacts import _PLAIN_INTL, _SEPARATORS, normalize_email

    text = expr.cast(pl.String)
    trimmed = text.str.strip_chars()
    intl = (
        pl.when(trimmed.str.starts_with("00"))
        .then(pl.lit("+") + trimmed.str.slice(2).str.strip_chars_start())
        .otherwise(trimmed)
    )
    codes, zero = _phone_patterns()
    digits = intl.str.replace_all(_SEPARATORS, "")  # `+` and the digits
    # (calling codes are prefix-free: at most one of them starts the number)
    phone = intl.str.contains(_PLAIN_INTL) & digits.str.contains(codes)
    # (an address written with %40 for its @, and %2D, %2E for a hyphen and a dot, as a
    # visitor id or a URL may be: the same person)
    decoded = text.str.replace_all("%40", "@", literal=True)
    for code, char in (("%2D", "-"), ("%2d", "-"), ("%2E", "."), ("%2e", ".")):
        decoded = decoded.str.replace_all(code, char, literal=True)
    return (
        pl.when(decoded.str.contains(_EMAIL_VALUE))
        .then(normalize_email(decoded, compose=False))  # (NFC over every row: too dear)
        .when(phone)
        .then(digits.str.replace(zero, "+${1}${2}"))  # the national prefix 0 dropped
        .otherwise(text)
    )


@functools.cache
def _phone_patterns() -> tuple[str, str]:
    """Regexes of a `+` number's digits: one that starts with a calling code; one that starts
    with a code whose national prefix is a plain 0, then that 0 and at least five digits
    (the code and the rest captured)."""
    codes, zero = _calling_codes()
    return (
        r"^\+(?:" + "|".join(codes) + r")[0-9]*$",
        r"^\+(" + "|".join(zero) + r")0([0-9]{5,})$",
    )


def keyed_hash(expr: pl.Expr, key: str) -> pl.Expr:
    """A stable keyed hash (HMAC-SHA256, 16 hex characters) of a text expression, taken of
    its hash_basis (an email in any case, a phone in any notation: one hash); a value
    already hashed or masked is left as it is (protection may run twice)."""
    text = expr.cast(pl.String)
    h = hash_basis(text).chash.hmac_sha256(key=key)  # type: ignore[attr-defined]
    done = text.str.contains(_HASHED) | (text == MASK)
    return (
        pl.when(text.is_null())
        .then(None)
        .when(done)
        .then(text)
        .otherwise(pl.lit("h:") + h.str.slice(0, 16))
    )


def _masked(expr: pl.Expr, policy: Policy) -> pl.Expr:
    """`expr` (text) masked (`•••`) or, with --redact, hashed; null stays null."""
    if policy.redact:
        return keyed_hash(expr, policy.key)
    return pl.when(expr.is_null()).then(None).otherwise(pl.lit(MASK))


def _masked_where(name: str, cond: pl.Expr, policy: Policy) -> pl.Expr:
    """Column `name` masked (or hashed) where `cond` holds, else as it is."""
    col = pl.col(name)
    return pl.when(cond).then(_masked(col, policy)).otherwise(col).alias(name)


def _kv_masked(col: pl.Expr, policy: Policy, names: frozenset[str] | None) -> pl.Expr:
    """A list of {name, ..., value}: every value masked, or only those whose name (compared as
    attribute_key) is in `names`."""
    value = pl.element().struct.field("value")
    masked = _masked(value, policy)
    if names is not None:  # (as personal_attribute)
        full = (  # (as attribute_key)
            pl.element().struct.field("name").str.to_lowercase().str.replace_all(r"[\W_]", "")
        )
        key = full.str.replace(r"[0-9]+$", "")  # (phone2: a second phone)
        personal = (
            full.is_in(sorted(names))
            | key.is_in(sorted(names))
            | key.str.contains("(?:" + "|".join(PERSONAL_ENDINGS) + ")$")
            | (
                value.cast(pl.String).str.contains(_EMAIL_VALUE)
                & ~value.cast(pl.String).str.contains(_DENSITY)
            )
        ).fill_null(False)
        # (any other value is free text: an address in it is masked in place)
        text = _emails_masked(value.cast(pl.String))
        masked = pl.when(personal).then(masked).otherwise(text)
    return col.list.eval(pl.element().struct.with_fields(masked.alias("value")))


def _mask_column(name: str, dtype: pl.DataType, policy: Policy) -> pl.Expr:
    col = pl.col(name)
    if dtype == KV_LIST:
        return _kv_masked(col, policy, None).alias(name)
    if isinstance(dtype, pl.List) and dtype.inner == pl.String:
        return col.list.eval(_masked(pl.element(), policy)).alias(name)
    if dtype == pl.String:
        return _masked(col, policy).alias(name)
    return col


def _name_regex(name: str) -> str:
    """A query parameter name as a regex matching it the way a URL parser reads names:
    any case, any character percent-encoded (either case of hex), `+` or %20 for a space."""
    parts = []
    for ch in name:
        if ch == " ":
            parts.append(r"(?: |\+|%20)")
            continue
        forms = {re.escape(ch)}
        for c in {ch.lower(), ch.upper()}:
            forms.add("".join(f"%{b:02x}" for b in c.encode("utf-8")))
        parts.append("(?:" + "|".join(sorted(forms)) + ")")
    return "".join(parts)


def param_pattern(names: Sequence[str]) -> str | None:
    """The regex (case-insensitive) of `name=value` pairs of these parameters in a URL, a query
    string or a fragment: after `?`, `&`, `;` or `#` (or at the start of a bare query string),
    the name optionally followed by `[...]`, then `=`. Groups: 1 the separator and name with
    `=`, 2 the value (up to the next `&`, `;` or `#`)."""
    names = [n for n in names if n]
    if not names:
        return None
    alt = "|".join(_name_regex(n) for n in names)
    return rf"(?i)((?:^|[?&;#])(?:{alt})(?:\[[^\]=&;#]*\]|%5b[^=&;#]*?%5d)*(?:=|%3d))([^&;#]*)"


def _emails_masked(col: pl.Expr) -> pl.Expr:
    """Text with every email address and phone number in it masked (the rest kept; not
    `hero@2x.png`; see _PHONE_IN_TEXT for the numbers taken to be phones)."""
    kept = col.str.replace_all(_DENSITY, _DENSITY_MARK + "${1}${2}")
    kept = kept.str.replace_all(_EMAIL_IN_TEXT, MASK).str.replace_all(
        _DENSITY_MARK, "@", literal=True
    )
    # (a text that holds the marker itself is looked at as it is)
    has = kept.str.contains(_TOKEN_DASH, literal=True).fill_null(False)
    swapped = kept.str.replace_all(r"(\d)-([^\W\d_])", "${1}" + _TOKEN_DASH + "${2}")
    masked = (
        pl.when(has).then(kept).otherwise(swapped).str.replace_all(_PHONE_IN_TEXT, "${1}" + MASK)
    )
    return (
        pl.when(has).then(masked).otherwise(masked.str.replace_all(_TOKEN_DASH, "-", literal=True))
    )


def _redact_params(col: pl.Expr, pattern: str) -> pl.Expr:
    return col.str.replace_all(pattern, "${1}" + PARAM_MASK, literal=False)


def personal_id(col: pl.Expr, id_type: pl.Expr | None = None, typed: Any = None) -> pl.Expr:
    """Whether a visitor id is personal data: its type is email or phone, it is one of the
    `typed` ids, or it looks like an email address or a phone number."""
    cond = col.str.contains(_EMAIL_LIKE) | col.str.contains(_PHONE_LIKE)
    if id_type is not None:
        cond = cond | id_type.is_in(["email", "phone"]).fill_null(False)
    if typed is not None:
        cond = cond | col.is_in(pl.lit(pl.Series(list(typed), dtype=pl.String)).implode())
    return cond.fill_null(False)


def shown_ids(schema: pl.Schema, policy: Policy, typed: Any = None) -> dict[str, pl.Expr]:
    """The visitor and contact id columns of `schema` as the policy shows them (column ->
    expression, aliased to the column): personal ids masked or hashed, a temporary
    contact's `tmp-<visitor id>` likewise; nothing when the policy masks nothing. Filters
    and sorts of a masked role apply to these, so that they tell nothing of what it may not
    see (`--where customer_id~ali` must not spell out an email a letter at a time)."""
    if not policy.masks:
        return {}
    out: dict[str, pl.Expr] = {}
    id_type = pl.col("customer_id_type") if "customer_id_type" in schema else None
    for c in ID_COLUMNS:
        if c in schema and schema[c] == pl.String:
            col = pl.col(c)
            out[c] = (
                pl.when(personal_id(col, id_type, typed))
                .then(_masked(col, policy))
                .otherwise(col)
                .alias(c)
            )
    if "contact_id" in schema and schema["contact_id"] == pl.String:
        cid = pl.col("contact_id")  # a temporary contact's id is tmp-<visitor id>
        rest = cid.str.strip_prefix(TEMP_PREFIX)
        temp = cid.str.starts_with(TEMP_PREFIX).fill_null(False)
        out["contact_id"] = (
            pl.when(temp & personal_id(rest, id_type, typed))
            .then(pl.lit(TEMP_PREFIX) + _masked(rest, policy))
            # (a saved contact whose id is or holds an email or a phone number, as free text
            # is read: digits run together, a CRM key, are not taken for one)
            .when(~temp & _holds_details(cid))
            .then(_masked(cid, policy))
            .otherwise(cid)
            .alias("contact_id")
        )
    return out


def _protect_exprs(
    schema: pl.Schema, policy: Policy, *, output: bool, typed: Any = None
) -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    if policy.masks:
        exprs += [_mask_column(c, schema[c], policy) for c in PERSONAL_COLUMNS if c in schema]
        if "attributes" in schema and schema["attributes"] == KV_LIST:
            exprs.append(
                _kv_masked(pl.col("attributes"), policy, policy.personal_attributes).alias(
                    "attributes"
                )
            )
        pattern = param_pattern(policy.query_params)
        for c in (*TEXT_COLUMNS, *URL_COLUMNS):
            if c not in schema:
                continue
            if schema[c] == pl.List(pl.String):
                exprs.append(pl.col(c).list.eval(_emails_masked(pl.element())).alias(c))
            elif schema[c] == pl.String:
                text = pl.col(c)
                if pattern is not None and c in URL_COLUMNS:
                    text = _redact_params(text, pattern)
                exprs.append(_emails_masked(text).alias(c))
        if output:
            exprs += list(shown_ids(schema, policy, typed).values())
            for c in ID_LIST_COLUMNS:
                if c in schema and schema[c] == pl.List(pl.String):
                    el = pl.element()
                    exprs.append(
                        pl.col(c)
                        .list.eval(
                            pl.when(personal_id(el, None, typed))
                            .then(_masked(el, policy))
                            .otherwise(el)
                        )
                        .alias(c)
                    )
    if policy.redact:
        for c in NAME_COLUMNS:
            if c in schema and schema[c] == pl.String:
                name = pl.col(c)
                exprs.append(
                    pl.when(name.is_in([UNKNOWN]) | name.is_null())
                    .then(name)
                    .otherwise(keyed_hash(name, policy.key))
                    .alias(c)
                )
    elif policy.masks:  # a name that is an email or a phone (a contact saved without a name)
        for c in NAME_COLUMNS:
            if c in schema and schema[c] == pl.String:
                exprs.append(_masked_where(c, _holds_details(pl.col(c)), policy))
    return exprs


def protect(frame: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    """Mask personal content the policy may not see (or redacts) in a frame read from the
    store: contact details, traits, personal attributes, configured query parameters, names
    under --redact. Visitor ids are keys and stay as they are here (see protect_output)."""
    exprs = _protect_exprs(frame.collect_schema(), policy, output=False)
    return frame.with_columns(exprs) if exprs else frame


def protect_output(
    frame: pl.DataFrame | pl.LazyFrame, policy: Policy | None = None, typed_ids: Any = None
) -> Any:
    """A frame as it may leave jtrack under `policy` (default: the active output policy, see
    set_output_policy; none: unchanged): what protect does, plus visitor ids that are emails
    or phones (customer_id, cookie_ids, tmp-<id> contact ids; `typed_ids` lists ids known to
    be of type email or phone when the frame has no customer_id_type). Idempotent."""
    policy = policy if policy is not None else _OUTPUT_POLICY.get()
    if policy is None or not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        return frame
    schema = frame.collect_schema()
    exprs = _protect_exprs(schema, policy, output=True, typed=typed_ids)
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
        super().__init__(store.root, shown=store.shown)
        self.policy = policy or Policy()

    def another(self) -> StoreView:
        """The same view read through another object (a version of its own), for another
        thread."""
        return StoreView(Store(self.root, shown=self.shown), self.policy)

    def unfiltered(self) -> Store:
        """The plain store (to tell "not permitted" from "not found", and for billing),
        reading the same version as this view."""
        plain = Store(self.root, shown=self.shown)
        plain._pin(self.pinned())
        return plain

    def hidden_sessions(self, customer_id: str | None = None) -> pl.LazyFrame | None:
        """The sessions the role may not see (custom sessions, without
        journey:sessiontype:view), read from the plain store, for counts that say what is
        left out; None when the role sees every session."""
        if self.policy.sees_custom_sessions:
            return None
        lf = self.unfiltered().scan_sessions(customer_id=customer_id)
        return lf.filter(~pl.col("type").is_in(list(STANDARD_SESSION_TYPES)))

    def scan_sessions(self, customer_id: str | None = None) -> pl.LazyFrame:
        self.policy.require(SESSION_VIEW, "sessions")
        lf = super().scan_sessions(customer_id=customer_id)
        if not self.policy.sees_custom_sessions:
            lf = lf.filter(pl.col("type").is_in(list(STANDARD_SESSION_TYPES)))
        return protect(lf, self.policy)

    def sessions_with_prefix(
        self, prefixes: Sequence[str], columns: Sequence[str] = (), limit: int | None = None
    ) -> pl.DataFrame:
        self.policy.require(SESSION_VIEW, "sessions")
        if self.policy.sees_custom_sessions:
            found = super().sessions_with_prefix(prefixes, columns, limit)
        else:
            cols = [*columns, *(["type"] if "type" not in columns else [])]
            found = super().sessions_with_prefix(prefixes, cols)
            found = found.filter(pl.col("type").is_in(list(STANDARD_SESSION_TYPES)))
            found = found.head(limit) if limit is not None else found
            found = found.select("id", *[c for c in columns if c != "id"])
        return protect(found.lazy(), self.policy).collect()

    def scan_events(
        self, customer_id: str | None = None, columns: list[str] | None = None
    ) -> pl.LazyFrame:
        self.policy.require(SESSION_VIEW, "sessions")
        self.policy.require(EVENT_VIEW, "journey events")
        if columns is None:
            return self.restrict_events(super().scan_events(customer_id=customer_id))
        # the columns the role filter reads come along, and go once it has run
        need = [c for c in ("kind", "session_type") if c not in columns]
        lf = super().scan_events(customer_id=customer_id, columns=[*columns, *need])
        return self.restrict_events(lf).drop(need)

    def restrict_events(self, events: pl.LazyFrame) -> pl.LazyFrame:
        """Stored events (read from the plain store) as the policy may see them: what
        scan_events does to the store's events, for readers that pick the rows themselves."""
        self.policy.require(SESSION_VIEW, "sessions")
        self.policy.require(EVENT_VIEW, "journey events")
        return protect(events.filter(visible_events(self.policy)), self.policy)

    def hidden_events(self, session_id: str, customer_id: str | None = None) -> int:
        """How many events of a session the role may not see (for an honest note)."""
        return self.hidden_event_counts([session_id], customer_id).get(session_id, 0)

    def hidden_event_counts(
        self, session_ids: Sequence[str], customer_id: str | None = None
    ) -> dict[str, int]:
        """How many events of each of these sessions the role may not see, by session id
        (none: not there), read from the index alone, in one query."""
        p = self.policy
        sees_all = p.sees_custom_events and p.sees_custom_sessions
        if sees_all and p.allows(SEGMENT_VIEW) and p.allows(OUTCOME_VIEW):
            return {}  # visible_events keeps every event: nothing to count
        lf = super().scan_events(customer_id, columns=["session_id", "kind", "session_type"])
        hidden = lf.filter(
            pl.col("session_id").is_in(list(session_ids)) & ~visible_events(self.policy)
        )
        return dict(hidden.group_by("session_id").len().collect().iter_rows())

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

    def restrict_card(
        self,
        data: dict[str, Any],
        customer_id: str | None,
        hidden: int | None = None,
        protect: bool = True,
    ) -> dict[str, Any]:
        """Apply the role to a built card: hidden sections and an honest count of hidden
        events (the events themselves never reached the card: scan_events filtered them;
        `hidden`: their count, when the caller has it from hidden_event_counts); `protect`
        False: the caller protects it (protect_cards, with others)."""
        notes = data.setdefault("notes", [])
        if not self.policy.allows(SEGMENT_VIEW):  # (nor how many are left out for agents)
            from jtrack.core.rules.model import SHOWN_TO_AGENTS_NOTE

            notes[:] = [n for n in notes if not n.endswith(SHOWN_TO_AGENTS_NOTE)]
        for key, perm, what in (
            ("segments", SEGMENT_VIEW, "segments"),
            ("outcomes", OUTCOME_VIEW, "outcomes"),
        ):
            if not self.policy.allows(perm) and key in data:
                data[key] = []
                data.setdefault("hidden_sections", []).append(key)  # left out, not "none"
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
        n = (
            self.hidden_events(str(data["session"]["id"]), customer_id)
            if hidden is None
            else hidden
        )
        data["hidden_events"] = n
        if n:
            notes.append(f"{n} event{'s' if n != 1 else ''} hidden by your role")
        # what was resolved after reading (the contact's name, a visitor id that is an email)
        if protect:
            self.protect_cards([data])
        return data

    def protect_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        """Protect built cards in place (protect_cards, under this view's policy)."""
        for data, protected in zip(cards, protect_cards(cards, self.policy), strict=True):
            if protected is not data:
                data.clear()
                data.update(protected)


def open_view(
    store: str | os.PathLike[str] | None = None,
    role: str | None = None,
    redact: bool = False,
    config: str | os.PathLike[str] | None = None,
) -> StoreView:
    """The store at `store` (or the default) seen through the active role."""
    return StoreView(Store.open(store), load_policy(role, redact=redact, config=config))


def identity_events(
    store: Store, customer_id: str | None = None, columns: list[str] | None = None
) -> pl.LazyFrame:
    """The events identity is resolved from (traits, typed visitor ids), unmasked and
    unfiltered: resolve first, mask after, so who is known never depends on the role. The
    result is for resolution only; what it yields leaves through protect_output."""
    plain = store
    if isinstance(store, StoreView):
        store.policy.require(SESSION_VIEW, "sessions")
        plain = store.unfiltered()
    if columns is None:
        return plain.scan_events(customer_id=customer_id)
    return plain.scan_events(customer_id=customer_id, columns=columns)


# ------------------------------------------------------------------------- the output guard

#: The policy outputs are protected with in this command (set by the CLI when it opens the
#: store; each command runs in its own context, so it never leaks into the next one).
_OUTPUT_POLICY: ContextVar[Policy | None] = ContextVar("jtrack_output_policy", default=None)


def set_output_policy(policy: Policy | None) -> None:
    """Protect every output of the running command with `policy` (see protect_output)."""
    _OUTPUT_POLICY.set(policy)


def output_policy() -> Policy | None:
    return _OUTPUT_POLICY.get()


#: The hashes of a tree's values, worked out in one Polars call (see protect_tree); while a
#: tree is first walked, the set its values to hash are gathered in.
_TREE_HASHES: ContextVar[dict[str, str] | None] = ContextVar("jtrack_tree_hashes", default=None)
_TREE_GATHER: ContextVar[set[str] | None] = ContextVar("jtrack_tree_gather", default=None)
#: protect_tree's texts to mask, while its first walk gathers them, and then what they are
#: masked to (see _emails_masked_text).
_TREE_TEXTS: ContextVar[set[str] | None] = ContextVar("jtrack_tree_texts", default=None)
_TREE_MASKED: ContextVar[dict[str, str] | None] = ContextVar("jtrack_tree_masked", default=None)


def _mask_text(value: str, policy: Policy) -> str:
    if not policy.redact:
        return MASK
    hashes, gather = _TREE_HASHES.get(), _TREE_GATHER.get()
    if hashes is not None and value in hashes:
        return hashes[value]
    if gather is not None:
        gather.add(value)
        return value
    # (the frames' keyed_hash, so that a value hashes alike everywhere)
    return _hashed([value], policy.key)[value]


def _hashed(values: Sequence[str], key: str) -> dict[str, str]:
    """keyed_hash of each value, in one Polars call (a call costs about 15 ms)."""
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String})
    hashed = frame.select(keyed_hash(pl.col("v"), key)).to_series().to_list()
    return dict(zip(values, hashed, strict=True))


def _holds_details(col: pl.Expr) -> pl.Expr:
    """Whether a name or a saved contact's id is or holds an email address or a phone
    number, as free text is read (digits run together, a CRM key, a date are not taken for
    one): a contact saved without a name is named by its id or its email."""
    return (_emails_masked(col) != col).fill_null(False)


def _details_in(value: str) -> bool:
    """_holds_details of one string (for trees)."""
    return _emails_masked_text(value) != value


def _looks_personal(value: str) -> bool:
    return re.search(_EMAIL_LIKE, value) is not None or re.match(_PHONE_LIKE, value) is not None


_TREE_PERSONAL = frozenset(PERSONAL_COLUMNS)
_TREE_URLS = frozenset(URL_COLUMNS)


def protect_tree(obj: Any, policy: Policy | None = None) -> Any:
    """A JSON-like value (a card, a journey) as it may leave jtrack under `policy` (default:
    the active output policy; none: unchanged), by key: contact details, personal
    attributes, configured query parameters in URLs, visitor ids that are emails or phones,
    and with --redact the contact's name (and the card title that starts with it)."""
    policy = policy if policy is not None else _OUTPUT_POLICY.get()
    if policy is None or not (policy.masks or policy.redact):
        return obj
    pattern = param_pattern(policy.query_params)
    rx = re.compile(pattern) if pattern else None
    # the texts to look for addresses and numbers in are gathered by a first walk and
    # masked together (one Polars call per text made a card of 3,000 events ten times
    # slower); with --redact, the values to hash likewise (a journey of 600 sessions)
    texts: set[str] = set()
    gathering = _TREE_TEXTS.set(texts)
    scratch = _TREE_GATHER.set(set())  # (no value hashed on this walk: the third hashes)
    try:
        _walk(obj, policy, rx, None)
    finally:
        _TREE_GATHER.reset(scratch)
        _TREE_TEXTS.reset(gathering)
    masking = _TREE_MASKED.set(_masked_texts(texts))
    try:
        if not policy.redact:
            return _walk(obj, policy, rx, None)
        values: set[str] = set()
        gathering = _TREE_GATHER.set(values)
        try:
            _walk(obj, policy, rx, None)
        finally:
            _TREE_GATHER.reset(gathering)
        hashing = _TREE_HASHES.set(_hashed(sorted(values), policy.key) if values else {})
        try:
            return _walk(obj, policy, rx, None)
        finally:
            _TREE_HASHES.reset(hashing)
    finally:
        _TREE_MASKED.reset(masking)


def _masked_texts(texts: set[str]) -> dict[str, str]:
    """_emails_masked of each text, in one Polars call."""
    if not texts:
        return {}
    values = sorted(texts)
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    masked = frame.select(_emails_masked(pl.col("v"))).to_series().to_list()
    return {v: (v if m is None else m) for v, m in zip(values, masked, strict=True)}


def _emails_masked_text(value: str) -> str:
    """_emails_masked on one string (for trees): every address and phone number in the
    text masked. Through Polars' regex engine, which takes time linear in the text, as the
    columns are: Python's backtracks (a hostile 9 KB title took a second, a 100 KB one
    minutes, to mask in a card)."""
    if "@" not in value and "%40" not in value and not any(ch.isdigit() for ch in value):
        return value  # (no address and no number: most texts, and no call into Polars)
    done, gather = _TREE_MASKED.get(), _TREE_TEXTS.get()
    if done is not None and value in done:
        return done[value]
    if gather is not None:  # (protect_tree's first walk: masked together after it)
        gather.add(value)
        return value
    out = pl.select(_emails_masked(pl.lit(value, pl.String))).item()
    return value if out is None else str(out)


_TREE_TEXT = frozenset(TEXT_COLUMNS)


def _mask_any(value: Any, policy: Policy) -> Any:
    if isinstance(value, str):
        return _mask_text(value, policy)
    if isinstance(value, list):
        return [_mask_any(v, policy) for v in value]
    if isinstance(value, dict) and "value" in value:
        return {**value, "value": _mask_any(value["value"], policy)}
    return value


def _is_id_key(key: str, obj: dict[str, Any]) -> bool:
    """A visitor id: customer_id, or a journey's query (the id it was asked for), unless
    that is a contact id (_is_contact_key)."""
    return key == "customer_id" or (
        key == "query" and "matched_by" in obj and not _is_contact_key(key, obj)
    )


def _is_contact_key(key: str, obj: dict[str, Any]) -> bool:
    """A contact id: contact_id, or a journey's query when it was asked by one."""
    return key == "contact_id" or (key == "query" and obj.get("matched_by") == "contact_id")


def _walk(obj: Any, policy: Policy, rx: re.Pattern[str] | None, key: str | None) -> Any:
    if isinstance(obj, list):
        if key == "attributes" and policy.masks:
            names = policy.personal_attributes
            return [
                _mask_any(a, policy)
                if isinstance(a, dict)
                and personal_attribute(str(a.get("name") or ""), a.get("value"), names)
                else {**a, "value": _emails_masked_text(a["value"])}
                if isinstance(a, dict) and isinstance(a.get("value"), str)
                else a
                for a in obj
            ]
        if key in ID_LIST_COLUMNS and policy.masks:
            return [
                _mask_text(v, policy) if isinstance(v, str) and _looks_personal(v) else v
                for v in obj
            ]
        return [_walk(v, policy, rx, key) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    typed = str(obj.get("customer_id_type") or "") in ("email", "phone")
    for k, v in obj.items():
        if v is None:
            out[k] = v
        elif policy.masks and k in _TREE_PERSONAL:
            out[k] = _mask_any(v, policy)
        elif policy.masks and isinstance(v, str) and _is_id_key(k, obj):
            out[k] = _mask_text(v, policy) if typed or _looks_personal(v) else v
        elif policy.masks and isinstance(v, str) and _is_contact_key(k, obj):
            rest = v.removeprefix(TEMP_PREFIX)
            if v.startswith(TEMP_PREFIX) and (typed or _looks_personal(rest)):
                out[k] = TEMP_PREFIX + _mask_text(rest, policy)
            else:  # (a saved contact whose id is or holds an email or a phone number)
                out[k] = _mask_text(v, policy) if _details_in(v) else v
        elif policy.masks and k in _TREE_URLS and isinstance(v, str):
            out[k] = _emails_masked_text(rx.sub(r"\g<1>" + PARAM_MASK, v) if rx else v)
        elif policy.masks and k in _TREE_TEXT and isinstance(v, str):
            out[k] = _emails_masked_text(v)
        elif policy.redact and k in NAME_COLUMNS and isinstance(v, str) and v != UNKNOWN:
            out[k] = _mask_text(v, policy)
        elif policy.masks and k in NAME_COLUMNS and isinstance(v, str) and _details_in(v):
            out[k] = _mask_text(v, policy)  # (a contact saved without a name: its email)
        else:
            out[k] = _walk(v, policy, rx, k)
    name = out.get("name")
    # the contact's name: hashed under --redact; masked when it is an email or a phone (a
    # contact saved without a name)
    hidden = isinstance(name, str) and (policy.redact or _details_in(name))
    if key == "contact" and hidden and name != UNKNOWN and (policy.redact or policy.masks):
        out["name"] = _mask_text(str(name), policy)
    return out


def protect_card(data: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A card (Card.data) protected by protect_tree, its title following its contact name."""
    return protect_cards([data], policy)[0]


def protect_cards(cards: Sequence[dict[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """Cards protected as protect_card does each, their texts masked (and values hashed)
    together: one Polars call for a journey's cards, not one a card."""
    befores = [(data.get("contact") or {}).get("name") for data in cards]
    outs = protect_tree(list(cards), policy)
    for before, out in zip(befores, outs, strict=True):
        after = (out.get("contact") or {}).get("name")
        title = out.get("title")
        changed = isinstance(before, str) and after != before
        if changed and isinstance(title, str) and title.startswith(str(before)):
            out["title"] = str(after) + title[len(str(before)) :]
    return list(outs)


def mask_invalid_entries(invalid: pl.DataFrame, policy: Policy | None = None) -> pl.DataFrame:
    """Invalid entries of a contacts file (INVALID_SCHEMA) as they may be shown under
    `policy` (default: the active output policy): the values of email, phone and external
    id entries masked or hashed (listings, and the warnings on stderr)."""
    policy = policy if policy is not None else _OUTPUT_POLICY.get()
    if policy is None or not policy.masks or "value" not in invalid.columns:
        return invalid
    value = pl.col("value")  # (a contact id's entry as the contact_id column: one test)
    personal = (
        pl.when(pl.col("field") == "contact_id")
        .then(_holds_details(value))
        .otherwise(pl.col("field").is_in(["email", "phone", "external_id"]) | personal_id(value))
    )
    out = invalid.with_columns(_masked_where("value", personal, policy))
    if "contact_id" in out.columns:  # a contact whose id is an email or a phone number
        cid = _holds_details(pl.col("contact_id"))
        out = out.with_columns(_masked_where("contact_id", cid, policy))
    if "reason" in out.columns:  # (`also on contact +34611393744: not used for matching`)
        reason = pl.col("reason")
        # the contact ids it names as the contact_id column shows them (hashed under
        # --redact, so that one warning can be matched with another); other text masked
        ids = reason.str.extract(_ALSO_ON, 1)
        each = pl.element()
        shown_ids = ids.str.split(", ").list.eval(
            pl.when(_holds_details(each)).then(_masked(each, policy)).otherwise(each)
        )
        out = out.with_columns(
            pl.when(ids.is_not_null())
            .then(pl.lit("also on contact ") + shown_ids.list.join(", ") + pl.lit(_NOT_USED))
            .otherwise(_emails_masked(reason))
            .alias("reason")
        )
    return out


#: The reason a contacts file's identifier is not used: `also on contact A, B: ...`.
_NOT_USED = ": not used for matching"
_ALSO_ON = rf"^also on contact (.*?){re.escape(_NOT_USED)}$"
