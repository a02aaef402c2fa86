"""Who was on the site: saved contacts, identity traits, "Unknown" and temporary contacts.

Reads a contacts file (CSV, JSON/JSONL, Parquet) into normalised identifiers (E.164 phones,
case-folded emails), resolves every visitor cookie to a saved contact (cookie listing, then the
most recent email/phone/external-id trait seen on any of its events) or to a temporary contact
that expires `ttl` after the visitor's last activity, and lists contacts and conflicts.
All of it is Polars expressions and joins; only phone strings that are not already plain
international numbers go through `phonenumbers`, once per distinct value. Imports Polars and
phonenumbers only; never prints.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from jtrack.errors import ConfigError, DataError, FileAccessError, UsageError

DEFAULT_TTL = timedelta(days=60)
UNKNOWN = "Unknown"
TEMP_PREFIX = "tmp-"

STATE_KNOWN = "known"
STATE_TEMPORARY = "temporary"
STATE_EXPIRED = "expired"
STATES = (STATE_KNOWN, STATE_TEMPORARY, STATE_EXPIRED)

#: Match methods, strongest first. The order breaks ties between traits seen at the same instant.
METHODS = ("cookie", "email", "phone", "external_id")
_RANK = {m: i for i, m in enumerate(METHODS)}

#: The four columns resolution adds to the session table (after customer_id_type).
CONTACT_COLUMNS = pl.Schema(
    {
        "contact_id": pl.String(),
        "contact_name": pl.String(),
        "contact_state": pl.String(),
        "match_method": pl.String(),
    }
)

_LIST = pl.List(pl.String())

#: The normalised contacts frame returned by load_contacts.
CONTACTS_SCHEMA = pl.Schema(
    {
        "contact_id": pl.String(),
        "contact_name": pl.String(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "emails": _LIST,
        "phones": _LIST,
        "cookie_ids": _LIST,
        "external_ids": _LIST,
        "row": pl.UInt32(),
    }
)

#: One row per problem found in a contacts file.
INVALID_SCHEMA = pl.Schema(
    {
        "file": pl.String(),
        "row": pl.UInt32(),
        "contact_id": pl.String(),
        "field": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
    }
)

#: Identifier list columns of the contacts frame and the match method each one feeds.
_ID_FIELDS = {
    "cookie_ids": "cookie",
    "emails": "email",
    "phones": "phone",
    "external_ids": "external_id",
}

#: Names of a phone trait on events (compared as _key gives them), `phone` first; also
#: personal attribute names (jtrack.access masks them).
PHONE_TRAITS = (
    "phone",
    "phonenumber",
    "cellphone",
    "mobilephone",
    "mobile",
    "mobilenumber",
    "homephone",
    "workphone",
    "telephone",
)
# Accepted column names in a contacts file, compared lower-case without `_`, `-` or spaces.
_ALIASES: dict[str, tuple[str, ...]] = {
    "contact_id": ("contactid", "id", "externalcontactid"),
    "first_name": ("firstname", "givenname", "first"),
    "last_name": ("lastname", "familyname", "surname", "last"),
    "name": ("name", "displayname", "fullname"),
    "emails": ("emails", "email", "emailaddresses", "emailaddress", "mail", "workemail"),
    # (every name an event's phone trait may have, so that a book and its events agree)
    "phones": ("phones", "phone", "phonenumbers", *PHONE_TRAITS[1:], "tel"),
    "cookie_ids": ("cookieids", "cookieid", "cookies", "cookie", "customerids", "customerid"),
    "external_ids": ("externalids", "externalid"),
}
_LIST_FIELDS = ("emails", "phones", "cookie_ids", "external_ids")
#: Columns of an events export (either shape), compared as _key gives them: a file with a
#: time and a type of event is an export passed as contacts by mistake.
_EVENT_TIME = frozenset({"createddate"})
_EVENT_KIND = frozenset({"eventtype", "kind", "eventname"})
_SINGULAR = {"emails": "email", "phones": "phone", "cookie_ids": "cookie_id"} | {
    "external_ids": "external_id"
}

#: Separator between several values in one text cell (`a@x.org;b@y.org`).
VALUE_SEPARATOR = ";"

# Identity trait names on events (compared lower-case without `_`, `-`, spaces) -> kind.
_TRAIT_KINDS = {
    **dict.fromkeys(("email", "emailaddress", "mail"), "email"),
    **dict.fromkeys(PHONE_TRAITS, "phone"),
    **dict.fromkeys(("externalid", "externalcontactid"), "external_id"),
    **dict.fromkeys(("givenname", "firstname"), "given_name"),
    **dict.fromkeys(("familyname", "lastname", "surname"), "family_name"),
    **dict.fromkeys(("name", "fullname", "displayname"), "full_name"),
}

#: An email address as a visitor's trait sends one: no `mailto:`, angle brackets, quotes or
#: a dot at its end (a contact's entry written so can never match).
_EMAIL_OK = (
    r"^[^@\s<>\"():;,\[\]`\u2018\u2019\u201c\u201d]+@[^@\s<>\"'():;,\[\]`\u2018\u2019\u201c\u201d]+"
    r"\.[^@\s<>\"'():;,\[\].`\u2018\u2019\u201c\u201d]+$"
)
#: The address inside such an entry (`mailto:a@b.org`, `<a@b.org>`): what to write instead.
_EMAIL_INSIDE = r"[\w.%+-][\w.%+'-]*@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"


# ------------------------------------------------------------------------------------ phones

# A plain international number: `+`, digits and the separators people type.
_PLAIN_INTL = r"^\+[1-9][0-9 .()\-]*[0-9]$"
_SEPARATORS = r"[ .()\-]"


@functools.cache
def _country_table() -> dict[str, dict[str, Any]]:
    """Per country calling code, from the metadata of its main region: possible and local-only
    national lengths, the national-prefix pattern, whether that prefix is a plain leading `0`
    (so that stripping it can be decided here), and the general national-number pattern:
    exactly what phonenumbers.parse and is_possible_number look at for `+CC...` input."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    table: dict[str, dict[str, Any]] = {}
    for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        md = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        if md is None:  # pragma: no cover - every listed code has metadata
            continue
        desc = md.general_desc
        if desc is None:  # pragma: no cover - every region has a general description
            continue
        prefix = md.national_prefix_for_parsing or None
        alts = prefix.split("|") if prefix else []
        zero = (
            not md.national_prefix_transform_rule
            and "0" in alts
            and all(x.isdigit() and (x == "0" or not x.startswith("0")) for x in alts)
        )
        table[str(cc)] = {
            "possible": sorted(n for n in desc.possible_length if n > 0),
            "local": sorted(n for n in desc.possible_length_local_only if n > 0),
            "prefix": prefix,
            "zero": zero,
            "general": desc.national_number_pattern or None,
        }
    return table


def _cc_expr(digits: pl.Expr, codes: list[str]) -> pl.Expr:
    """The country calling code at the start of `digits` (codes are prefix-free)."""
    out: pl.Expr = pl.lit(None, pl.String)
    for n in (3, 2, 1):
        head = digits.str.slice(0, n)
        out = pl.when(head.is_in([c for c in codes if len(c) == n])).then(head).otherwise(out)
    return out


def _national_ok(meta: dict[str, Any]) -> list[pl.Expr]:
    """For one country's `+CC` numbers: `_fast` (decidable here), `_nsn` (the national
    significant number as phonenumbers.parse gets it) and `_n_ok` (a possible length).

    A national-prefix match sends the number to phonenumbers, except a plain leading `0`
    (`+44 (0)20...`), which is stripped as parse does it: unless the number fits the country's
    pattern with the 0 and not without it, or the rest is too short, local-only or of an
    impossible length in between (a longer rest is stripped, then fails the length check).
    """
    nat = pl.col("_nat")
    possible: list[int] = meta["possible"]
    local: list[int] = meta["local"]
    prefix: str | None = meta["prefix"]
    general: str | None = meta["general"]
    hit = nat.str.contains("^(?:" + prefix + ")") if prefix else pl.lit(False)
    zero = nat.str.starts_with("0") if meta["zero"] else pl.lit(False)
    rest = nat.str.slice(1)

    def fits(number: pl.Expr) -> pl.Expr:
        return number.str.contains("^(?:" + general + ")$") if general else pl.lit(False)

    n_rest = rest.str.len_chars()
    long_enough = ~n_rest.is_in(local) & (
        n_rest.is_in(possible) | (n_rest > (max(possible) if possible else 0))
    )
    strip = zero & ~(fits(nat) & ~fits(rest)) & long_enough
    nsn = pl.when(strip).then(rest).otherwise(nat)
    return [
        (zero | ~hit).alias("_fast"),
        nsn.alias("_nsn"),
        # (a local-only length is no E.164 number: its area code is missing, and the same
        # digits are someone else's in every other area)
        nsn.str.len_chars().is_in(possible).alias("_n_ok"),
        nsn.str.len_chars().is_in([n for n in local if n not in possible]).alias("_local"),
    ]


def check_region(default_region: str | None) -> str | None:
    """Upper-case a default region, or raise a UsageError naming what is expected."""
    if default_region is None:
        return None
    import phonenumbers

    region = default_region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(
            f"--default-region {default_region!r} is not a region phonenumbers knows",
            hint="give an ISO 3166 alpha-2 code such as GB, US or DE",
        )
    return region


#: Why a number dialled only within its area (`12345`, `7946 0958` in London) is no phone
#: number here: E.164 has its area code, and the same digits are others' elsewhere.
LOCAL_ONLY = "a local number without its area code: give it whole (+44 20 7946 0958)"


def normalize_phones(values: pl.Series, default_region: str | None = None) -> pl.DataFrame:
    """E.164 for each distinct phone string: columns `value`, `e164` (null when invalid) and
    `reason` (why not, else null).

    Valid means: parseable, with a country code (or `default_region`), and a possible length for
    that country (phonenumbers.is_possible_number). Whether the number is allocated is not
    checked: fictional ranges such as +44 7700 900xxx are common in test data. Plain
    international numbers (`+`, digits, spaces, dots, dashes, brackets) are checked with
    Polars against phonenumbers' own metadata; the rest go through phonenumbers.parse.
    """
    region = check_region(default_region)
    vals = pl.DataFrame({"value": values.cast(pl.String)}).drop_nulls().unique(maintain_order=True)
    out_schema = {"value": pl.String, "e164": pl.String, "reason": pl.String}
    if vals.height == 0:
        return pl.DataFrame(schema=out_schema)
    table = _country_table()
    s = pl.col("value").str.strip_chars()
    digits = s.str.replace_all(_SEPARATORS, "").str.slice(1)
    work = vals.with_columns(
        _plain=s.str.contains(_PLAIN_INTL), _digits=digits, _cc=_cc_expr(digits, list(table))
    ).with_columns(_nat=pl.col("_digits").str.slice(pl.col("_cc").str.len_chars()))
    candidates = work.filter(
        pl.col("_plain")
        & pl.col("_cc").is_not_null()
        & pl.col("_nat").str.len_chars().is_between(2, 17)
    )
    # One pass per country code present (patterns differ by country), never per row.
    by_cc = candidates.partition_by("_cc", as_dict=True, maintain_order=True)
    quick_parts = []
    for (cc,), part in sorted(by_cc.items(), key=lambda kv: str(kv[0][0])):
        quick_parts.append(part.with_columns(_national_ok(table[str(cc)])))
    quick_all = (
        pl.concat(quick_parts, how="vertical")
        if quick_parts
        else candidates.with_columns(
            _fast=pl.lit(False), _nsn=pl.col("_nat"), _n_ok=pl.lit(True), _local=pl.lit(False)
        )
    )
    work = work.join(
        quick_all.select("value", "_fast", "_nsn", "_n_ok", "_local"), on="value", how="left"
    ).with_columns(_fast=pl.col("_fast").fill_null(False))
    quick = work.filter(pl.col("_fast")).select(
        "value",
        e164=pl.when(pl.col("_n_ok")).then(pl.lit("+") + pl.col("_cc") + pl.col("_nsn")),
        reason=pl.when(pl.col("_n_ok"))
        .then(None)
        .when(pl.col("_local"))
        .then(pl.lit(LOCAL_ONLY))
        .otherwise(pl.lit("not a possible length for +") + pl.col("_cc") + pl.lit(" numbers")),
    )
    slow_values = work.filter(~pl.col("_fast"))["value"].to_list()
    slow = pl.DataFrame(
        [_parse_phone(v, region) for v in slow_values], schema=out_schema, orient="row"
    )
    found = pl.concat([quick, slow], how="vertical")
    return vals.join(found, on="value", how="left", maintain_order="left")


def _parse_phone(value: str, region: str | None) -> tuple[str, str | None, str | None]:
    """One phone string through phonenumbers: (value, e164 or None, reason or None)."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

    text = value.strip()
    if not text:
        return value, None, "empty"
    if region is None and text.startswith("00"):  # 00 is + where dialled (ITU's prefix);
        text = "+" + text[2:]  # with a region given, that region's own prefix is read
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        kind = exc.error_type
        if kind == NumberParseException.INVALID_COUNTRY_CODE:
            if text.startswith("+"):
                return value, None, "unknown country code"
            return value, None, "no country code: write it as +CC... or give a default region"
        if kind == NumberParseException.TOO_LONG:
            return value, None, "too long for a phone number"
        if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
            return value, None, "too short for a phone number"
        return value, None, "not a phone number"
    verdict = phonenumbers.is_possible_number_with_reason(num)
    if verdict == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return value, None, LOCAL_ONLY
    if verdict != ValidationResult.IS_POSSIBLE:
        return value, None, f"not a possible length for +{num.country_code} numbers"
    return value, phonenumbers.format_number(num, PhoneNumberFormat.E164), None


def normalize_email(expr: pl.Expr, compose: bool = True) -> pl.Expr:
    """Trimmed and lower-cased (Unicode) email text, in Unicode's composed form (NFC) with
    `compose`: `jose\u0301@` (an accent sent as a combining mark) is `josé@` (the cost of
    NFC is the caller's: over distinct values, where the rows are many)."""
    text = expr.str.strip_chars()
    return (text.str.normalize("NFC") if compose else text).str.to_lowercase()


# ----------------------------------------------------------------------------- contacts file


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _read_table(path: Path, shown: str | None = None) -> pl.DataFrame:
    """The contacts file as a frame, all values as read (CSV: all text); `shown`: its name
    in errors, as the user wrote it (every other message names it so)."""
    name = shown if shown is not None else str(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".csv.gz"):
            return pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
        if suffix == ".json":
            return _read_json(path)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path, glob=False)
    except PermissionError as exc:  # a file that cannot be read: exit 1
        raise FileAccessError(
            f"{name}: cannot read the contacts file ({exc.strerror or exc})",
            hint="check the file's permissions",
        ) from exc
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:  # (a file: exit 1)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = {
            "json": "in JSON, write every value of a field the same way (a list, or text)",
            "csv": "check that the file is whole, its quotes paired and every row as long "
            "as the header",
            "parquet": "check that the file is whole (not cut short or empty)",
            "utf8": "save it as UTF-8 (it holds bytes of another encoding)",
            "empty": "the file is empty: export the contacts again",
        }
        kind = "json" if "json" in suffix else "parquet" if suffix in (".parquet", ".pq") else "csv"
        kind = _unreadable_kind(path) or kind  # (told by the bytes, never the message's words)
        raise DataError(
            f"{name}: cannot read the contacts file ({first})",
            hint="contacts are a CSV with a header row, a JSON array of objects, JSONL or "
            "Parquet; " + what[kind],
        ) from exc
    raise ConfigError(
        f"{name}: unknown contacts file type {path.suffix!r}",
        hint="use .csv, .json, .jsonl or .parquet",
    )


def _unreadable_kind(path: Path) -> str | None:
    """Why a contacts file that could not be read may be so, from its first bytes: "empty"
    (nothing but blanks), "utf8" (text, not UTF-8), else None. Compressed or Parquet files:
    None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b" or head[:4] == b"PAR1":
        return None
    if not head.strip():
        return "empty"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < 1 << 16 or exc.start < len(head) - 3:  # (not cut by the read)
            return "utf8"
    return None


def _read_json(path: Path) -> pl.DataFrame:
    head = path.read_bytes()[:4096].lstrip()
    if head.startswith(b"{"):
        frame = pl.read_json(path)
        for key in ("contacts", "entities"):
            if key in frame.columns:
                return frame.select(pl.col(key).explode()).unnest(key)
        # one object per line saved with a .json name
        return pl.read_ndjson(path)
    return pl.read_json(path)


def _refuse_mixed_lists(raw: pl.DataFrame, cols: dict[str, list[str]], fname: str) -> None:
    """A JSON contacts file whose field holds a list on some records and text on others:
    the JSON reader takes the column's type from its first records and turns the others'
    lists into text (`["a@b.c"]`), which matches nothing. Refused, never used so."""
    for field in _LIST_FIELDS:
        for c in cols[field]:
            if raw.schema[c] != pl.String:
                continue
            bad = raw.with_row_index("_row").filter(
                pl.col(c).str.strip_chars().str.starts_with("[").fill_null(False)
            )
            if bad.height:
                row = int(bad.get_column("_row")[0]) + 1
                raise ConfigError(
                    f"{fname}: record {row}: {c} is a list where earlier records give text "
                    "(or the other way round)",
                    hint=f"write every {c} the same way: a list, or text with values "
                    f"separated by {VALUE_SEPARATOR}",
                )


def _as_list(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A cell of one or several values (`a;b` text, or a list) as a list of strings."""
    if isinstance(dtype, pl.List | pl.Array):
        return col.cast(_LIST)
    return col.cast(pl.String).str.split(VALUE_SEPARATOR)


def _columns_for(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The file's columns feeding each canonical field, in priority order."""
    by_key: dict[str, str] = {}
    for c in frame.columns:
        by_key.setdefault(_key(c), c)
    found: dict[str, list[str]] = {}
    for field, aliases in _ALIASES.items():
        found[field] = [by_key[a] for a in aliases if a in by_key]
    return found


def load_contacts(
    path: str | os.PathLike[str], default_region: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a contacts file into (contacts, invalid entries); see _load_contacts.

    The result is cached per (file, size, modification time, region), so a command that
    warns about invalid entries and then resolves reads the file once.
    """
    p = Path(path)
    if not p.is_file():
        _no_contacts_file(p)
    st = p.stat()
    return _load_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, default_region, str(p))


@functools.lru_cache(maxsize=4)
def _load_cached(
    resolved: str, size: int, mtime_ns: int, default_region: str | None, shown: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _load_contacts(Path(resolved), default_region, shown)


def _load_contacts(
    p: Path, default_region: str | None, fname: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a contacts file into (contacts, invalid entries).

    contacts: one row per saved contact (CONTACTS_SCHEMA): contact_id, contact_name (display
    name: name, else first + last, else the first email, else the id), first/last name, and
    lists of emails (trimmed, lower-cased), phones (E.164), cookie ids and external ids.
    invalid (INVALID_SCHEMA): every entry not used, with file, row (1 = first record after any
    header), contact id, field, value and reason. A row without an id or repeating an earlier
    id is left out as a whole; a bad email or phone is left out of its contact; an identifier
    on two contacts stays listed on both but is not used for matching.
    """
    region = check_region(default_region)
    raw = _read_table(p, fname)
    cols = _columns_for(raw)
    keys = {_key(c) for c in raw.columns}
    if keys & _EVENT_TIME and keys & _EVENT_KIND:  # (`id` and `customerId` would pass)
        raise ConfigError(
            f"{fname}: an events export, not a contacts file (it has event columns: "
            f"{', '.join(c for c in raw.columns if _key(c) in _EVENT_TIME | _EVENT_KIND)})",
            hint="events go in as SOURCES; --contacts takes your saved contacts (contact_id, "
            "name, emails, phones, cookie_ids: see `jtrack contacts --help`)",
        )
    if not cols["contact_id"]:
        sep = next((c for c in (";", "\t", "|") if any(c in n for n in raw.columns)), None)
        raise ConfigError(
            f"{fname}: no contact id column (columns: {', '.join(raw.columns) or 'none'})",
            hint=(
                f"the header looks separated by {sep!r}: jtrack reads comma-separated CSV, "
                "with ; only between the values of one cell"
                if sep is not None and len(raw.columns) == 1
                else "name one column contact_id (or id); see `jtrack contacts --help`"
            ),
        )
    if p.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        _refuse_mixed_lists(raw, cols, fname)

    def text(field: str) -> pl.Expr:
        names = cols[field]
        if not names:
            return pl.lit(None, pl.String).alias(field)
        return pl.col(names[0]).cast(pl.String).str.strip_chars().replace("", None).alias(field)

    def listed(field: str) -> pl.Expr:
        parts = [_as_list(pl.col(c), raw.schema[c]) for c in cols[field]]
        if not parts:
            return pl.lit([], _LIST).alias(field)
        joined = pl.concat_list([x.fill_null(pl.lit([], _LIST)) for x in parts])
        return (
            joined.list.eval(pl.element().str.strip_chars())  # (then the blanks left out:
            .list.eval(pl.element().filter(pl.element() != ""))  # "a@b.org; " is one email)
            .fill_null(pl.lit([], _LIST))
            .alias(field)
        )

    base = raw.with_row_index("row", offset=1).select(
        pl.col("row").cast(pl.UInt32),
        text("contact_id"),
        text("first_name"),
        text("last_name"),
        text("name"),
        *[listed(f) for f in _LIST_FIELDS],
    )
    problems: list[pl.DataFrame] = []

    def problem(frame: pl.DataFrame, field: pl.Expr, value: pl.Expr, reason: pl.Expr) -> None:
        if frame.height:
            problems.append(
                frame.select(
                    file=pl.lit(fname),
                    row=pl.col("row"),
                    contact_id=pl.col("contact_id"),
                    field=field,
                    value=value.cast(pl.String),
                    reason=reason,
                )
            )

    problem(
        base.filter(pl.col("contact_id").is_null()),
        pl.lit("contact_id"),
        pl.lit(None, pl.String),
        pl.lit("missing contact id: row not used"),
    )
    base = base.filter(pl.col("contact_id").is_not_null()).with_columns(
        _first=pl.col("row").min().over("contact_id")
    )
    problem(
        base.filter(pl.col("row") != pl.col("_first")),
        pl.lit("contact_id"),
        pl.col("contact_id"),
        pl.lit("contact id already used on row ")
        + pl.col("_first").cast(pl.String)
        + pl.lit(": row not used"),
    )
    base = base.filter(pl.col("row") == pl.col("_first")).drop("_first")

    long = pl.concat(
        [
            base.select("row", "contact_id", pl.lit(f).alias("field"), pl.col(f).alias("value"))
            .explode("value", empty_as_null=False)
            .with_row_index("_pos")
            for f in _LIST_FIELDS
        ],
        how="vertical",
    ).filter(pl.col("value").is_not_null())
    emails = long.filter(pl.col("field") == "emails").with_columns(
        norm=normalize_email(pl.col("value"))
    )
    inside = pl.col("norm").str.extract(f"({_EMAIL_INSIDE})", 1)
    several = pl.col("norm").str.extract_all(_EMAIL_INSIDE).list.n_unique() > 1
    emails = emails.with_columns(
        reason=pl.when(pl.col("norm").str.contains(_EMAIL_OK))
        .then(None)
        .when(several)
        .then(pl.lit("several addresses in one entry: one address an entry (in a cell: ; between)"))
        .when(inside.is_not_null())
        .then(pl.format("not an email address as visitors send one: write {}", inside))
        .otherwise(pl.lit("not an email address"))
    )
    phones = long.filter(pl.col("field") == "phones")
    phone_map = normalize_phones(phones["value"], region)
    phones = phones.join(phone_map, on="value", how="left", maintain_order="left").rename(
        {"e164": "norm"}
    )
    others = long.filter(pl.col("field").is_in(["cookie_ids", "external_ids"])).with_columns(
        norm=pl.col("value"), reason=pl.lit(None, pl.String)
    )
    cols_out = ["row", "contact_id", "field", "_pos", "value", "norm", "reason"]
    ids = pl.concat([x.select(cols_out) for x in (emails, phones, others)], how="vertical")
    singular = pl.col("field").replace_strict(_SINGULAR, return_dtype=pl.String)
    problem(
        ids.filter(pl.col("reason").is_not_null()),
        singular,
        pl.col("value"),
        pl.col("reason"),
    )
    good = (
        ids.filter(pl.col("reason").is_null())
        .sort("field", "row", "_pos")
        .unique(["contact_id", "field", "norm"], keep="first", maintain_order=True)
    )
    shared = _shared_identifiers(good.select("contact_id", "field", value="norm"))
    if shared.height:
        clash = good.join(shared.rename({"value": "norm"}), on=["field", "norm"], how="inner")
        problem(
            clash,
            singular,
            pl.col("norm"),
            pl.lit("also on contact ")
            + pl.col("contact_ids")
            .list.set_difference(pl.concat_list("contact_id"))
            .list.sort()
            .list.join(", ")
            + pl.lit(": not used for matching"),
        )
    contacts = base.select("row", "contact_id", "first_name", "last_name", "name")
    for f in _LIST_FIELDS:
        lists = (
            good.filter(pl.col("field") == f)
            .sort("_pos")
            .group_by("contact_id", maintain_order=True)
            .agg(pl.col("norm").alias(f))
        )
        contacts = contacts.join(lists, on="contact_id", how="left", maintain_order="left")
    full = pl.concat_str(
        [pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True
    ).replace("", None)
    contacts = contacts.with_columns(
        [pl.col(f).fill_null(pl.lit([], _LIST)) for f in _LIST_FIELDS]
    ).with_columns(
        contact_name=pl.coalesce(
            pl.col("name"), full, pl.col("emails").list.first(), pl.col("contact_id")
        )
    )
    contacts = contacts.select(list(CONTACTS_SCHEMA)).cast(CONTACTS_SCHEMA).sort("row")
    problem(  # kept (a contact of the book), but said: nothing can ever match it (one
        # whose identifiers were all refused has their reasons said already)
        contacts.filter(
            ~pl.col("contact_id").is_in(long.get_column("contact_id").implode())
            & pl.col("contact_id").is_not_null()
        ),
        pl.lit("contact_id"),
        pl.col("contact_id"),
        pl.lit("no email, phone, cookie id or external id: nothing can match it"),
    )
    invalid = (
        pl.concat(problems, how="vertical").cast(INVALID_SCHEMA).sort("row", "field")
        if problems
        else pl.DataFrame(schema=INVALID_SCHEMA)
    )
    return contacts, invalid


def _shared_identifiers(ids: pl.DataFrame) -> pl.DataFrame:
    """(field, value, contact_ids) for identifiers listed on more than one contact. `ids` has
    each (contact_id, field, value) once; only the few repeated values are grouped."""
    repeated = ids.filter(pl.struct("field", "value").is_duplicated())
    return (
        repeated.group_by("field", "value")
        .agg(pl.col("contact_id").unique().sort().alias("contact_ids"))
        .filter(pl.col("contact_ids").list.len() > 1)
        .sort("field", "value")
    )


def invalid_messages(invalid: pl.DataFrame) -> list[str]:
    """One line per invalid entry: `FILE row N (contact C): FIELD 'VALUE': REASON`."""
    lines = invalid.select(
        pl.concat_str(
            [
                pl.col("file"),
                pl.lit(" row "),
                pl.col("row").cast(pl.String),
                pl.when(pl.col("contact_id").is_not_null())
                .then(pl.lit(" (contact ") + pl.col("contact_id") + pl.lit(")"))
                .otherwise(pl.lit("")),
                pl.lit(": "),
                pl.col("field"),
                pl.when(pl.col("value").is_not_null())
                .then(pl.lit(" '") + pl.col("value") + pl.lit("'"))
                .otherwise(pl.lit("")),
                pl.lit(": "),
                pl.col("reason"),
            ]
        ).alias("line")
    )
    return [str(x) for x in lines["line"].to_list()]


def _no_contacts_file(p: Path) -> NoReturn:
    """FileAccessError for a contacts path that is no file: a folder, or nothing."""
    if p.is_dir():
        raise FileAccessError(
            f"{p}: is a folder, not a contacts file", hint="name the CSV or JSON file in it"
        ) from None
    raise FileAccessError(f"{p}: no such contacts file", hint="check the path") from None


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (recorded in the store's manifest); FileAccessError when it cannot
    be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except (FileNotFoundError, IsADirectoryError):
        _no_contacts_file(Path(path))
    except OSError as exc:
        raise FileAccessError(
            f"{path}: cannot read the contacts file ({exc.strerror or exc})",
            hint="check the path and its permissions",
        ) from None
    return h.hexdigest()


def empty_contacts() -> pl.DataFrame:
    return pl.DataFrame(schema=CONTACTS_SCHEMA)


# ------------------------------------------------------------------------ identity evidence


def identity_traits(
    events: pl.DataFrame | pl.LazyFrame,
    default_region: str | None = None,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Identity data seen on events, one row per (event, trait): customer_id, created_date,
    event_id, kind (email, phone, external_id, given_name, family_name, full_name), value
    (normalised: emails lower-cased, phones E.164 or null when not a valid number) and raw.

    Traits are recognised by name (`email`, `cellPhone`, `phone`, `externalId`, `givenName`,
    ...); an event whose customerIdType is email or phone also counts as that trait.
    `customers` (a frame with customer_id) limits the result to those visitors.
    """
    lf = events.lazy()
    names = lf.collect_schema().names()
    have_type = "customer_id_type" in names
    cols = ["customer_id", "created_date", "event_id", "traits"]
    if have_type:
        cols.append("customer_id_type")
    typed_id = pl.col("customer_id_type").is_in(["email", "phone"]) if have_type else pl.lit(False)
    lf = lf.select(cols).filter((pl.col("traits").list.len() > 0) | typed_id)
    if customers is not None:
        lf = lf.join(customers.lazy().select("customer_id"), on="customer_id", how="semi")
    got = lf.collect(engine="in-memory")
    exploded = (
        got.filter(pl.col("traits").list.len() > 0)
        .select("customer_id", "created_date", "event_id", "traits")
        .explode("traits")
        .select(
            "customer_id",
            "created_date",
            "event_id",
            name=pl.col("traits").struct.field("name"),
            raw=pl.col("traits").struct.field("value"),
        )
    )
    # trait names are a small vocabulary: classify each distinct name once
    kinds = {
        n: _TRAIT_KINDS.get(_key(n))
        for n in exploded["name"].drop_nulls().unique().to_list()
        if _TRAIT_KINDS.get(_key(n))
    }
    from_traits = (
        exploded.filter(pl.col("name").is_in(list(kinds)) & pl.col("raw").is_not_null())
        .with_columns(kind=pl.col("name").replace_strict(kinds, return_dtype=pl.String))
        .drop("name")
    )
    parts = [from_traits.select("customer_id", "created_date", "event_id", "kind", "raw")]
    if have_type:
        parts.append(
            got.filter(typed_id).select(
                "customer_id",
                "created_date",
                "event_id",
                kind=pl.col("customer_id_type"),
                raw=pl.col("customer_id"),
            )
        )
    ev = pl.concat(parts, how="vertical").with_columns(raw=pl.col("raw").str.strip_chars())
    ev = ev.filter(pl.col("raw") != "")
    phone_map = normalize_phones(ev.filter(pl.col("kind") == "phone")["raw"], default_region)
    email_map = (  # (once per distinct address: NFC costs more than the rest)
        ev.filter(pl.col("kind") == "email")
        .select("raw")
        .unique()
        .with_columns(_email=normalize_email(pl.col("raw")))
    )
    ev = ev.join(
        phone_map.select(raw="value", _e164="e164"), on="raw", how="left", maintain_order="left"
    ).join(email_map, on="raw", how="left", maintain_order="left")
    value = (
        pl.when(pl.col("kind") == "email")
        .then(pl.col("_email"))
        .when(pl.col("kind") == "phone")
        .then(pl.col("_e164"))
        .otherwise(pl.col("raw"))
    )
    return ev.with_columns(value=value).select(
        "customer_id", "created_date", "event_id", "kind", "value", "raw"
    )


def _identifier_index(contacts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(index, shared): usable identifiers (method, value, contact_id) and the identifiers
    listed on several contacts (method, value, contact_ids), which are not used."""
    long = pl.concat(
        [
            contacts.select(
                "contact_id", method=pl.lit(m), value=pl.col(f).fill_null(pl.lit([], _LIST))
            ).explode("value", empty_as_null=False)
            for f, m in _ID_FIELDS.items()
        ],
        how="vertical",
    ).filter(pl.col("value").is_not_null())
    repeated = pl.struct("method", "value").is_duplicated()
    # only the few repeated values are grouped: the same contact twice is not a conflict
    grouped = (
        long.filter(repeated)
        .group_by("method", "value")
        .agg(pl.col("contact_id").unique().sort().alias("contact_ids"))
        .sort("method", "value")
    )
    once = grouped.filter(pl.col("contact_ids").list.len() == 1).select(
        "method", "value", contact_id=pl.col("contact_ids").list.first()
    )
    index = pl.concat([long.filter(~repeated).select("method", "value", "contact_id"), once])
    shared = grouped.filter(pl.col("contact_ids").list.len() > 1)
    return index, shared


# ------------------------------------------------------------------------------- resolution

_VISITOR_SCHEMA = pl.Schema(
    {
        "customer_id": pl.String(),
        "contact_id": pl.String(),
        "contact_name": pl.String(),
        "contact_state": pl.String(),
        "match_method": pl.String(),
        "matched_value": pl.String(),
        "sessions": pl.UInt32(),
        "first_seen": pl.Datetime("us", "UTC"),
        "last_seen": pl.Datetime("us", "UTC"),
        "expires": pl.Datetime("us", "UTC"),
        "unverified_name": pl.String(),
        "unverified_emails": _LIST,
        "unverified_phones": _LIST,
    }
)

CONFLICT_SCHEMA = pl.Schema(
    {
        "customer_id": pl.String(),
        "contact_id": pl.String(),
        "contact_name": pl.String(),
        "match_method": pl.String(),
        "value": pl.String(),
        "first_seen": pl.Datetime("us", "UTC"),
        "last_seen": pl.Datetime("us", "UTC"),
        "event_id": pl.String(),
        "chosen": pl.Boolean(),
        "rule": pl.String(),
    }
)


@dataclass
class Resolution:
    """Every visitor cookie resolved to a contact, and the cookies whose evidence disagreed.

    visitors: one row per cookie (customer_id, contact_id, contact_name, contact_state,
    match_method, matched_value, sessions, first_seen, last_seen, expires, unverified_*).
    conflicts: one row per (cookie, candidate contact, method) for cookies whose identifiers
    point to more than one contact, with the one chosen and the rule that chose it.
    """

    visitors: pl.DataFrame
    conflicts: pl.DataFrame
    contacts: pl.DataFrame
    as_of: datetime | None  # None: no clock (temporary contacts are not expired by it)
    ttl: timedelta


def _as_utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def state_expr(
    as_of: datetime | None, ttl: timedelta, known: pl.Expr, last_seen: pl.Expr
) -> pl.Expr:
    """known / temporary / expired: a temporary contact expires at exactly last activity + ttl
    (at as_of == last_seen + ttl it is expired). Without a clock: known or temporary."""
    if as_of is None:
        return pl.when(known).then(pl.lit(STATE_KNOWN)).otherwise(pl.lit(STATE_TEMPORARY))
    return (
        pl.when(known)
        .then(pl.lit(STATE_KNOWN))
        .when(pl.lit(_as_utc(as_of)) >= last_seen + ttl)
        .then(pl.lit(STATE_EXPIRED))
        .otherwise(pl.lit(STATE_TEMPORARY))
    )


def resolve_visitors(
    sessions: pl.DataFrame | pl.LazyFrame,
    events: pl.DataFrame | pl.LazyFrame,
    contacts: pl.DataFrame | None = None,
    *,
    default_region: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    as_of: datetime | None = None,
    cut: bool = False,
) -> Resolution:
    """Resolve each visitor cookie of `sessions` to a contact.

    Per cookie, retroactively over all its sessions: (1) a cookie listed on exactly one contact
    belongs to it; (2) otherwise identity traits seen on any of its events (email, phone,
    external id) that match one contact's identifiers decide, the most recent trait winning
    (at the same instant: email, then phone, then external id; then the smaller contact id);
    (3) otherwise the cookie is a temporary contact, shown as "Unknown", which expires at its
    last activity + ttl. `as_of` is the clock for expiry; without one (the store) a state is
    known or temporary, and each visitor's expiry follows from its own last activity, so no
    visitor's clock (a device dated 2099) can move anyone else's state.
    """
    sess = sessions.lazy().collect(engine="in-memory")
    book = contacts if contacts is not None else empty_contacts()
    when = _as_utc(as_of) if as_of is not None else None
    # the session table is normally sorted by visitor already; grouping sorted keys in order
    # is several times faster than hashing 36-character cookie ids
    # a visitor's last activity by the clock (sessions begun by then, up to it): activity
    # after it does not keep a contact alive before it happened; with `cut` (an --as-of
    # given), their sessions and first visit are counted by then too. Every visitor keeps
    # its row (one not seen by then is resolved all the same, its activity none).
    begun = pl.col("created_date") <= when if when is not None else pl.lit(True)
    last = last_activity(when) if when is not None else pl.col("ended_date").max()
    by_clock = cut and when is not None
    seen = (
        sess.select("customer_id", "created_date", "ended_date")
        .sort("customer_id")
        .group_by("customer_id", maintain_order=True)
        .agg(
            sessions=(begun.sum() if by_clock else pl.len()).cast(pl.UInt32),
            first_seen=(
                pl.col("created_date").filter(begun) if by_clock else pl.col("created_date")
            ).min(),
            last_seen=last,
        )
    )
    cookies = seen.select("customer_id")
    if by_clock:  # (as of `when`: identified by the traits sent by then, as the card is)
        events = events.lazy().filter(pl.col("created_date") <= pl.lit(when))
    traits = identity_traits(events, default_region, customers=cookies)
    index, shared = _identifier_index(book)

    listed = (
        index.filter(pl.col("method") == "cookie")
        .select(customer_id="value", contact_id="contact_id", method="method", value="value")
        .join(cookies, on="customer_id", how="semi")
        .with_columns(usable=pl.lit(True))
    )
    listed_twice = (
        shared.filter(pl.col("method") == "cookie")
        .join(cookies.rename({"customer_id": "value"}), on="value", how="semi")
        .explode("contact_ids")
        .select(customer_id="value", contact_id="contact_ids", method="method", value="value")
        .with_columns(usable=pl.lit(False))
    )

    def trait_candidates(ids: pl.DataFrame, usable: bool) -> pl.DataFrame:
        return (
            traits.filter(pl.col("value").is_not_null())
            .join(
                ids.filter(pl.col("method") != "cookie").rename({"method": "kind"}),
                on=["kind", "value"],
                how="inner",
            )
            .sort("customer_id", "created_date", "event_id")
            .group_by("customer_id", "contact_id", "kind", maintain_order=True)
            .agg(
                first_seen=pl.col("created_date").min(),
                last_seen=pl.col("created_date").max(),
                event_id=pl.col("event_id").last(),
                value=pl.col("value").last(),
            )
            .rename({"kind": "method"})
            .with_columns(usable=pl.lit(usable))
        )

    matched = trait_candidates(index, True)
    # an email, phone or external id on several contacts matches none of them, but the
    # visitor that sent it is a conflict to list (as a cookie listed twice is)
    traits_shared = trait_candidates(
        shared.explode("contact_ids").select("method", "value", contact_id="contact_ids"), False
    )
    ts = pl.Datetime("us", "UTC")
    cand_cols = pl.Schema(
        {
            "customer_id": pl.String(),
            "contact_id": pl.String(),
            "method": pl.String(),
            "value": pl.String(),
            "first_seen": ts,
            "last_seen": ts,
            "event_id": pl.String(),
            "usable": pl.Boolean(),
        }
    )
    candidates = pl.concat(
        [
            f.with_columns(
                [pl.lit(None, t).alias(c) for c, t in cand_cols.items() if c not in f.columns]
            )
            .select(list(cand_cols))
            .cast(cand_cols)
            for f in (listed, listed_twice, matched, traits_shared)
        ],
        how="vertical",
    ).with_columns(
        _rank=pl.col("method").replace_strict(_RANK, return_dtype=pl.UInt8),
        _listed=(pl.col("method") == "cookie") & pl.col("usable"),
    )
    ranked = candidates.filter(pl.col("usable")).sort(
        ["customer_id", "_listed", "last_seen", "_rank", "contact_id"],
        descending=[False, True, True, False, False],
        nulls_last=True,
        maintain_order=True,
    )
    # two contacts at the top by the same kind of evidence at the same instant (two emails
    # in one event): nothing decides, and the visitor stays unresolved (never the lower id)
    key = [pl.col(c).first() for c in ("_listed", "last_seen", "_rank")]
    top = ranked.group_by("customer_id", maintain_order=True).agg(
        _tie=pl.col("contact_id")
        .filter(
            (pl.col("_listed") == key[0])
            & (pl.col("last_seen") == key[1]).fill_null(True)
            & (pl.col("_rank") == key[2])
        )
        .n_unique()
        > 1
    )
    undecided = top.filter(pl.col("_tie")).select("customer_id")
    winners = (
        ranked.join(undecided, on="customer_id", how="anti", maintain_order="left")
        .unique("customer_id", keep="first", maintain_order=True)
        .select(
            "customer_id",
            "contact_id",
            match_method="method",
            matched_value="value",
        )
    )
    names = book.select("contact_id", "contact_name")
    known = pl.col("contact_id").is_not_null()
    visitors = (
        seen.join(winners, on="customer_id", how="left", maintain_order="left")
        .join(names, on="contact_id", how="left", maintain_order="left")
        .with_columns(contact_state=state_expr(when, ttl, known, pl.col("last_seen")))
        .with_columns(
            expires=pl.when(~known).then(pl.col("last_seen") + ttl),
            contact_name=pl.when(known)
            .then(pl.col("contact_name").fill_null(pl.col("contact_id")))
            .otherwise(pl.lit(UNKNOWN)),
            contact_id=pl.when(known)
            .then(pl.col("contact_id"))
            .otherwise(pl.lit(TEMP_PREFIX) + pl.col("customer_id")),
        )
    )
    visitors = _with_unverified(visitors, traits).select(list(_VISITOR_SCHEMA))
    visitors = visitors.cast(_VISITOR_SCHEMA).sort("customer_id")
    conflicts = _conflicts(candidates, winners, names)
    return Resolution(visitors, conflicts, book, when, ttl)


def _with_unverified(visitors: pl.DataFrame, traits: pl.DataFrame) -> pl.DataFrame:
    """Names, emails and phones seen on events of cookies that stay unknown: shown as
    unverified details, never as the contact's name."""
    unknown = visitors.filter(pl.col("contact_state") != STATE_KNOWN).select("customer_id")
    t = traits.join(unknown, on="customer_id", how="semi").sort(
        "customer_id", "created_date", "event_id"
    )
    t = t.with_columns(shown=pl.coalesce(pl.col("value"), pl.col("raw")))
    # one plain group_by per detail (filtered aggregations per group are much slower)
    names = (
        t.filter(pl.col("kind").is_in(["full_name", "given_name", "family_name"]))
        .group_by("customer_id", "kind", maintain_order=True)
        .agg(pl.col("shown").last())
        .pivot(on="kind", index="customer_id", values="shown")
    )
    for k in ("full_name", "given_name", "family_name"):
        if k not in names.columns:
            names = names.with_columns(pl.lit(None, pl.String).alias(k))
    names = names.select(
        "customer_id",
        unverified_name=pl.coalesce(
            pl.col("full_name"),
            pl.concat_str(
                [pl.col("given_name"), pl.col("family_name")], separator=" ", ignore_nulls=True
            ).replace("", None),
        ),
    )

    def values(kind: str, name: str) -> pl.DataFrame:
        return (
            t.filter(pl.col("kind") == kind)
            .unique(["customer_id", "shown"], keep="first", maintain_order=True)
            .group_by("customer_id", maintain_order=True)
            .agg(pl.col("shown").alias(name))
        )

    per = names.join(
        values("email", "unverified_emails"), on="customer_id", how="full", coalesce=True
    )
    per = per.join(
        values("phone", "unverified_phones"), on="customer_id", how="full", coalesce=True
    )
    out = visitors.join(per, on="customer_id", how="left", maintain_order="left")
    return out.with_columns(
        [pl.col(c).fill_null(pl.lit([], _LIST)) for c in ("unverified_emails", "unverified_phones")]
    )


def unverified_details(
    events: pl.DataFrame | pl.LazyFrame,
    customer_ids: Sequence[str],
    default_region: str | None = None,
) -> pl.DataFrame:
    """What the visitors `customer_ids` typed about themselves (traits on their `events`),
    as `jtrack contacts --visitors` shows it for an unknown visitor: customer_id,
    unverified_name (the latest full name, else given and family name), unverified_emails
    and unverified_phones (each in the order first seen). One row per visitor."""
    ids = pl.DataFrame({"customer_id": list(customer_ids)}, schema={"customer_id": pl.String})
    traits = identity_traits(events, default_region, customers=ids)
    visitors = ids.with_columns(contact_state=pl.lit(STATE_TEMPORARY))
    return _with_unverified(visitors, traits).select(
        "customer_id", "unverified_name", "unverified_emails", "unverified_phones"
    )


def _conflicts(
    candidates: pl.DataFrame, winners: pl.DataFrame, names: pl.DataFrame
) -> pl.DataFrame:
    disputed = (
        candidates.group_by("customer_id")
        .agg(pl.col("contact_id").n_unique().alias("_n"))
        .filter(pl.col("_n") > 1)
        .select("customer_id")
    )
    rows = candidates.join(disputed, on="customer_id", how="semi").join(
        winners.select("customer_id", _won="contact_id", _won_by="match_method"),
        on="customer_id",
        how="left",
    )
    # a trait decided: the most recent, or at the same instant the kind (email, phone, id)
    won = pl.col("contact_id") == pl.col("_won")
    won_at = pl.col("last_seen").filter(won).max().over("customer_id")
    tied = ((pl.col("last_seen") == won_at) & ~won).fill_null(False).any().over("customer_id")
    alone = pl.col("contact_id").filter(pl.col("usable")).n_unique().over("customer_id") == 1
    # (no winner: the candidates at the top, the most recent and of the best kind, tie)
    usable = pl.col("usable")
    best_seen = pl.col("last_seen").filter(usable).max().over("customer_id")
    at_best = usable & (pl.col("last_seen") == best_seen).fill_null(True)
    best_rank = pl.col("_rank").filter(at_best).min().over("customer_id")
    rows = rows.with_columns(
        _tied=tied, _alone=alone, _top=(at_best & (pl.col("_rank") == best_rank)).fill_null(False)
    )
    rule = (
        pl.when(pl.col("_won_by") == "cookie")
        .then(pl.lit("cookie listing wins"))
        .when(pl.col("_won").is_not_null() & pl.col("_alone"))
        .then(pl.lit("the only match not listed on several contacts"))
        .when(pl.col("_won").is_not_null() & pl.col("_tied"))
        .then(pl.lit("same instant: email beats phone beats external id"))
        .when(pl.col("_won").is_not_null())
        .then(pl.lit("most recent trait wins"))
        .when(pl.col("usable") & pl.col("_top"))  # (no winner, yet in the running: a tie)
        .then(pl.format("another contact's {} at the same instant: unresolved", pl.col("method")))
        .when(pl.col("usable"))  # (older, or of a weaker kind at that instant)
        .then(pl.lit("outranked by a tie of two other contacts: unresolved"))
        .otherwise(
            pl.format(
                "{} listed on several contacts and no trait decides: unresolved", pl.col("method")
            )
        )
    )
    # a candidate whose identifier is on several contacts was never in the running
    rule = (
        pl.when(~pl.col("usable") & pl.col("_won").is_not_null())
        .then(pl.format("{} listed on several contacts: not used", pl.col("method")))
        .otherwise(rule)
    )
    out = rows.join(names, on="contact_id", how="left").with_columns(
        # (the chosen contact's rows that were in the running: not its identifier on
        # several contacts, whose rule says "not used")
        chosen=((pl.col("contact_id") == pl.col("_won")) & pl.col("usable")).fill_null(False),
        rule=rule,
        match_method=pl.col("method"),  # (as the session table names it)
    )
    return (
        out.sort(
            ["customer_id", "chosen", "last_seen", "_rank", "contact_id"],
            descending=[False, True, True, False, False],
            nulls_last=True,
        )
        .select(list(CONFLICT_SCHEMA))
        .cast(CONFLICT_SCHEMA)
    )


def _insert_contact_columns(sessions: pl.DataFrame, resolved: pl.DataFrame) -> pl.DataFrame:
    """Sessions with the four contact columns (replacing any), placed after customer_id_type."""
    base = sessions.drop([c for c in CONTACT_COLUMNS if c in sessions.columns])
    out = base.join(resolved, on="customer_id", how="left", maintain_order="left")
    order = [c for c in base.columns]
    anchor = "customer_id_type" if "customer_id_type" in order else "customer_id"
    at = order.index(anchor) + 1 if anchor in order else len(order)
    order[at:at] = list(CONTACT_COLUMNS)
    return out.select(order).cast(CONTACT_COLUMNS)


def sessions_with_contacts(sessions: pl.DataFrame, resolution: Resolution) -> pl.DataFrame:
    """The session table with contact_id, contact_name, contact_state and match_method."""
    resolved = resolution.visitors.select("customer_id", *CONTACT_COLUMNS)
    return _insert_contact_columns(sessions, resolved)


def resolve_contacts(
    sessions: pl.DataFrame,
    events: pl.DataFrame | pl.LazyFrame,
    contacts: pl.DataFrame | None = None,
    *,
    default_region: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    as_of: datetime | None = None,
    cut: bool = False,
) -> pl.DataFrame:
    """Sessions with contact_id, contact_name ("Unknown" when unresolved), contact_state and
    match_method; see resolve_visitors for the rules."""
    res = resolve_visitors(
        sessions, events, contacts, default_region=default_region, ttl=ttl, as_of=as_of, cut=cut
    )
    return sessions_with_contacts(sessions, res)


def last_activity(at: datetime) -> pl.Expr:
    """A visitor's last activity by `at` (an aggregation over its sessions): the sessions
    begun by then, up to it, so that activity after the clock keeps no contact alive before
    it happened; a visitor with none by then at all (only sessions a skewed clock dated
    later) is judged by those, as before, not left without an expiry."""
    ended = pl.col("ended_date")
    by_clock = pl.when(pl.col("created_date") <= at).then(pl.min_horizontal(ended, pl.lit(at)))
    return pl.coalesce(by_clock.max(), ended.max())


def refresh_contact_state(
    sessions: pl.DataFrame | pl.LazyFrame, as_of: datetime, ttl: timedelta = DEFAULT_TTL
) -> pl.LazyFrame:
    """Re-evaluate temporary/expired states of stored sessions at `as_of` (known stays known):
    a visitor's last activity is what they did by then (a session dated after it, by a
    skewed clock too, does not keep a contact alive before it happened). Sessions without
    contact columns (older stores) get temporary contacts."""
    lf = sessions.lazy()
    names = lf.collect_schema().names()
    if "contact_id" not in names:
        lf = lf.with_columns(
            contact_id=pl.lit(TEMP_PREFIX) + pl.col("customer_id"),
            contact_name=pl.lit(UNKNOWN),
            contact_state=pl.lit(STATE_TEMPORARY),
            match_method=pl.lit(None, pl.String),
        )
    last = last_activity(_as_utc(as_of)).over("customer_id")
    return lf.with_columns(
        contact_state=state_expr(as_of, ttl, pl.col("contact_state") == STATE_KNOWN, last)
    )


def apply_contacts(
    store_sessions: pl.DataFrame | pl.LazyFrame,
    store_events: pl.DataFrame | pl.LazyFrame,
    contacts_path: str | os.PathLike[str] | pl.DataFrame | None,
    default_region: str | None = None,
    as_of: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> pl.DataFrame:
    """Sessions read from the store, with their contact columns as of `as_of` (default now).

    With a contacts file (or the book load_contacts read from one), every session is
    resolved again against it (all events of the
    sessions' cookies are read for traits: pass the unfiltered events of those cookies).
    Without one, the stored resolution is kept and only expiry is re-evaluated.
    For `jtrack card --contacts` and `jtrack sessions --contacts`.
    """
    when = _as_utc(as_of) if as_of is not None else datetime.now(UTC)
    cut = as_of is not None  # (a clock given: the sessions begun by then are counted)
    if contacts_path is None:
        return refresh_contact_state(store_sessions, when, ttl).collect(engine="in-memory")
    book = (
        contacts_path
        if isinstance(contacts_path, pl.DataFrame)
        else load_contacts(contacts_path, default_region)[0]
    )
    sessions = store_sessions.lazy().collect(engine="in-memory")
    return resolve_contacts(
        sessions, store_events, book, default_region=default_region, ttl=ttl, as_of=when, cut=cut
    )


# --------------------------------------------------------------------------------- listings

LISTING_SCHEMA = pl.Schema(
    {
        "contact_id": pl.String(),
        "contact_name": pl.String(),
        "contact_state": pl.String(),
        "cookie_ids": _LIST,
        "match_methods": _LIST,
        "sessions": pl.UInt32(),
        "first_seen": pl.Datetime("us", "UTC"),
        "last_seen": pl.Datetime("us", "UTC"),
        "expires": pl.Datetime("us", "UTC"),
        "emails": _LIST,
        "phones": _LIST,
        "external_ids": _LIST,
        "unverified_name": pl.String(),
        "unverified_emails": _LIST,
        "unverified_phones": _LIST,
    }
)


def check_states(states: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Validate `--state` values (comma-separated or repeated)."""
    out: list[str] = []
    for item in states or ():
        if not item.strip(" ,"):  # (`--state "$STATE"` unset: not every state)
            raise UsageError(
                f"--state {item!r} names no state", hint="use known, temporary or expired"
            )
        for s in item.split(","):
            s = s.strip().lower()
            if not s:
                continue
            if s not in STATES:
                raise UsageError(
                    f"--state {s!r} is not a contact state",
                    hint="use known, temporary or expired",
                )
            out.append(s)
    return tuple(dict.fromkeys(out))


def list_contacts(
    visitors: pl.DataFrame,
    contacts: pl.DataFrame | None = None,
    states: tuple[str, ...] = (),
) -> pl.DataFrame:
    """One row per contact (LISTING_SCHEMA): saved contacts (with or without visits) and one
    temporary contact per unresolved cookie, with state, cookies, how they were matched,
    session counts, first/last seen and expiry. Sorted by state (known, temporary, expired)
    then contact id."""
    book = contacts if contacts is not None else empty_contacts()
    rank = {m: i for i, m in enumerate(METHODS)}
    v = visitors.sort("customer_id")
    known_v = (
        v.filter(pl.col("contact_state") == STATE_KNOWN)
        .group_by("contact_id", maintain_order=True)
        .agg(
            _name=pl.col("contact_name").first(),
            cookie_ids=pl.col("customer_id"),
            match_methods=pl.col("match_method").drop_nulls().unique(),
            sessions=pl.col("sessions").sum().cast(pl.UInt32),
            first_seen=pl.col("first_seen").min(),
            last_seen=pl.col("last_seen").max(),
        )
        .with_columns(
            match_methods=pl.col("match_methods").list.eval(
                pl.element().sort_by(pl.element().replace_strict(rank, return_dtype=pl.UInt8))
            )
        )
    )
    saved = book.select("contact_id", "contact_name", "emails", "phones", "external_ids")
    known = (
        saved.join(known_v, on="contact_id", how="full", coalesce=True, maintain_order="left")
        .with_columns(
            contact_name=pl.coalesce("contact_name", "_name"),
            contact_state=pl.lit(STATE_KNOWN),
            sessions=pl.col("sessions").fill_null(0),
            cookie_ids=pl.col("cookie_ids").fill_null(pl.lit([], _LIST)),
            match_methods=pl.col("match_methods").fill_null(pl.lit([], _LIST)),
            expires=pl.lit(None, pl.Datetime("us", "UTC")),
            unverified_name=pl.lit(None, pl.String),
            unverified_emails=pl.lit([], _LIST),
            unverified_phones=pl.lit([], _LIST),
        )
        .drop("_name")
    )
    temp = v.filter(pl.col("contact_state") != STATE_KNOWN).select(
        "contact_id",
        "contact_name",
        "contact_state",
        cookie_ids=pl.concat_list(pl.col("customer_id")),
        match_methods=pl.lit([], _LIST),
        sessions="sessions",
        first_seen="first_seen",
        last_seen="last_seen",
        expires="expires",
        emails=pl.lit([], _LIST),
        phones=pl.lit([], _LIST),
        external_ids=pl.lit([], _LIST),
        unverified_name="unverified_name",
        unverified_emails="unverified_emails",
        unverified_phones="unverified_phones",
    )
    parts = [
        f.with_columns(
            [pl.lit(None, t).alias(c) for c, t in LISTING_SCHEMA.items() if c not in f.columns]
        )
        .select(list(LISTING_SCHEMA))
        .cast(LISTING_SCHEMA)
        for f in (known, temp)
    ]
    out = pl.concat(parts, how="vertical").with_columns(
        [pl.col(c).fill_null(pl.lit([], _LIST)) for c, t in LISTING_SCHEMA.items() if t == _LIST]
    )
    if states:
        out = out.filter(pl.col("contact_state").is_in(list(states)))
    state_rank = pl.col("contact_state").replace_strict({s: i for i, s in enumerate(STATES)})
    return out.sort(state_rank, "contact_id")


def visitors_from_sessions(
    sessions: pl.DataFrame | pl.LazyFrame,
    events: pl.DataFrame | pl.LazyFrame,
    *,
    as_of: datetime,
    ttl: timedelta = DEFAULT_TTL,
    cut: bool = True,
) -> pl.DataFrame:
    """The per-cookie view from a stored session table's own contact columns (no contacts
    file): states re-evaluated at `as_of`, unverified details from the events' traits. With
    `cut` (an `--as-of` given), as of then: the sessions begun by it, up to it."""
    lf = sessions.lazy()
    needed = ["id", "customer_id", "created_date", "ended_date", *CONTACT_COLUMNS]
    # (only the columns this view needs: a store's sessions have fifty)
    lf = lf.select([c for c in needed if c in lf.collect_schema().names()])
    if cut:  # (as of an --as-of given: the sessions begun by then)
        lf = lf.filter(pl.col("created_date") <= pl.lit(_as_utc(as_of)))
    sess = refresh_contact_state(lf, as_of, ttl).collect(engine="in-memory")
    per = (
        sess.sort("customer_id", "created_date", "id")
        .group_by("customer_id", maintain_order=True)
        .agg(
            contact_id=pl.col("contact_id").last(),
            contact_name=pl.col("contact_name").last(),
            contact_state=pl.col("contact_state").last(),
            match_method=pl.col("match_method").last(),
            sessions=pl.len().cast(pl.UInt32),
            first_seen=pl.col("created_date").min(),
            last_seen=last_activity(_as_utc(as_of)),  # (as the state is judged)
        )
        .with_columns(
            matched_value=pl.lit(None, pl.String),
            expires=pl.when(pl.col("contact_state") != STATE_KNOWN).then(pl.col("last_seen") + ttl),
        )
    )
    traits = identity_traits(events, customers=per.select("customer_id"))
    out = _with_unverified(per, traits)
    return out.select(list(_VISITOR_SCHEMA)).cast(_VISITOR_SCHEMA).sort("customer_id")


def visitor_listing(visitors: pl.DataFrame, states: tuple[str, ...] = ()) -> pl.DataFrame:
    """One row per visitor cookie (the `--visitors` view), filtered by state."""
    out = visitors
    if states:
        out = out.filter(pl.col("contact_state").is_in(list(states)))
    return out.sort("customer_id")


__all__ = [
    "CONFLICT_SCHEMA",
    "CONTACTS_SCHEMA",
    "CONTACT_COLUMNS",
    "DEFAULT_TTL",
    "INVALID_SCHEMA",
    "LISTING_SCHEMA",
    "METHODS",
    "STATES",
    "UNKNOWN",
    "Resolution",
    "apply_contacts",
    "check_region",
    "check_states",
    "file_digest",
    "identity_traits",
    "invalid_messages",
    "list_contacts",
    "load_contacts",
    "normalize_email",
    "normalize_phones",
    "refresh_contact_state",
    "resolve_contacts",
    "resolve_visitors",
    "sessions_with_contacts",
    "state_expr",
    "unverified_details",
    "visitor_listing",
    "visitors_from_sessions",
]
