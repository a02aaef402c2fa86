"""Fields Genesys derives from a URL, derived the same way where an export left them out.

Genesys' tracker fills `referrer.hostname`, `domain`, `pathname` and `queryString` from the
referrer's URL, and `mktCampaign` from the landing page's `utm_*` parameters. An export of
another tracker (or a hand-made one) may give the URL alone: a referrer counted as no
referrer, a campaign as none. derive_url_fields fills them in, never over a value the export
gives: the referrer's parts where it has a URL and no host name, the campaign where an
event has none of its fields at all. Polars expressions over the few narrow columns
involved, for the rows that lack them only. Imports Polars only.
"""

from __future__ import annotations

import polars as pl

#: A URL as a URL parser splits it: scheme://[user@]host[:port]path[?query][#fragment]
#: (a URL without `scheme://` or `//` has no host: none is guessed; the host follows the
#: authority's last `@`, as WHATWG's parser reads `https://user@shop.test@evil.com/`).
_URL = (
    r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//(?:[^/?#]*@)?"
    r"(?P<host>\[[^\]/?#]*\]|[^:/?#\s]*)(?::\d*)?"
    r"(?P<path>[^?#\s]*)(?:\?(?P<query>[^#\s]*))?"
)

#: The second-level labels under a country's top-level domain that a registrable domain
#: sits below (`bbc.co.uk`, `example.com.au`): the usual ones, not the whole public-suffix
#: list (not bundled), so a rarer one (`city.kawasaki.jp`) gives its last two labels.
_SECOND_LEVEL = "co|com|net|org|gov|edu|ac|ne|or|go|gob|gouv|mil|nic|ltd|plc|sch|nhs|nom|info"
_DOMAIN = rf"(?i)([^.]+\.(?:(?:{_SECOND_LEVEL})\.[a-z]{{2}}|[^.]+))\.?$"
_IP = r"^(?:\[.*\]|\d+\.\d+\.\d+\.\d+)$"

#: UTM parameters -> campaign fields, and the click ids of the ad networks.
UTM_FIELDS = {
    "utm_source": "mkt_campaign_source",
    "utm_medium": "mkt_campaign_medium",
    "utm_campaign": "mkt_campaign_name",
    "utm_term": "mkt_campaign_term",
    "utm_content": "mkt_campaign_content",
}
CLICK_IDS = ("gclid", "fbclid", "msclkid")
CAMPAIGN_FIELDS = (
    *UTM_FIELDS.values(),
    "mkt_campaign_click_id",
    "mkt_campaign_network",
)
REFERRER_PARTS = (
    "referrer_hostname",
    "referrer_domain",
    "referrer_pathname",
    "referrer_query_string",
)
#: The columns derive_url_fields reads and may fill.
URL_COLUMNS = ("referrer_url", *REFERRER_PARTS, "page_url", *CAMPAIGN_FIELDS)

#: Percent escapes that are UTF-8 (a character's bytes, whole): decoded; any other `%` is
#: kept as written (a browser would show U+FFFD).
_CONT = "%[89AB][0-9A-F]"
_UTF8 = (
    f"(?:%[0-7][0-9A-F]|%(?:C[2-9A-F]|D[0-9A-F]){_CONT}|%E0%[AB][0-9A-F]{_CONT}"
    f"|%E[1-9A-CEF]{_CONT}{_CONT}|%ED%[89][0-9A-F]{_CONT}"
    f"|%F0%(?:9[0-9A-F]|[AB][0-9A-F]){_CONT}{_CONT}|%F[1-3]{_CONT}{_CONT}{_CONT}"
    f"|%F4%8[0-9A-F]{_CONT}{_CONT})"
)
_TOKENS = f"(?i){_UTF8}+|[^%]+|%"


def _blank(text: pl.Expr) -> pl.Expr:
    return text.is_null() | text.str.contains(r"^\s*$")


def form_decoded(text: pl.Expr) -> pl.Expr:
    """A query's value as a URL parser reads it: `+` is a space, `%XX` escapes are bytes of
    UTF-8 text (one that is not is kept as written)."""
    spaced = text.str.replace_all("+", " ", literal=True)
    element = pl.element()
    escaped = element.str.starts_with("%") & (element.str.len_bytes() > 1)
    hexed = (
        spaced.str.extract_all(_TOKENS)
        .list.eval(
            pl.when(escaped)
            .then(element.str.replace_all("%", "", literal=True))
            .otherwise(element.str.encode("hex"))
        )
        .list.join("")
    )
    decoded = hexed.str.decode("hex").cast(pl.String)
    return pl.when(spaced.str.contains("%", literal=True)).then(decoded).otherwise(spaced)


def query_value(url: pl.Expr, key: str) -> pl.Expr:
    """The first value of `key` (any case) in a URL's query, decoded; null when absent or
    empty."""
    # (the earliest: `*?` and `??`; a query HTML-escaped, `&amp;`, separated as `&`)
    raw = url.str.extract(rf"(?i)^[^?#]*\?(?:[^#]*?&(?:amp;)?)??{key}=([^&#]*)", 1)
    return form_decoded(raw).replace("", None)


def referrer_parts(url: pl.Expr) -> dict[str, pl.Expr]:
    """A referrer URL's host name (lower case, no port), registrable domain, path (`/` for
    none) and query string (without `?`), as Genesys fills them."""
    parts = url.str.extract_groups(_URL)
    host = parts.struct.field("host").str.to_lowercase().replace("", None)
    path = parts.struct.field("path")
    domain = (
        pl.when(host.str.contains(_IP))
        .then(host)
        .otherwise(pl.coalesce(host.str.extract(_DOMAIN, 1), host.str.strip_suffix(".")))
    )
    return {
        "referrer_hostname": host,
        "referrer_domain": domain,
        "referrer_pathname": pl.when(host.is_not_null()).then(
            pl.when(path == "").then(pl.lit("/")).otherwise(path)
        ),
        "referrer_query_string": pl.when(host.is_not_null()).then(
            parts.struct.field("query").replace("", None)
        ),
    }


def campaign_parts(url: pl.Expr) -> dict[str, pl.Expr]:
    """A landing page URL's campaign: its utm_* parameters, and its click id (gclid, fbclid
    or msclkid, the first there)."""
    out = {field: query_value(url, key) for key, field in UTM_FIELDS.items()}
    out["mkt_campaign_click_id"] = pl.coalesce([query_value(url, k) for k in CLICK_IDS])
    return out


def _needs(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    ref = ~_blank(pl.col("referrer_url")) & _blank(pl.col("referrer_hostname"))
    none = pl.all_horizontal([_blank(pl.col(c)) for c in CAMPAIGN_FIELDS])
    tagged = pl.col("page_url").str.contains(
        r"(?i)\?(?:[^#]*&(?:amp;)?)?(?:utm_(?:source|medium|campaign|term|content)|gclid|fbclid|msclkid)="
    )
    return ref, none & tagged.fill_null(False)


def derive_url_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (canonical event columns) with the referrer's parts derived from its URL where
    it has no host name, and the campaign from the page URL's utm_* parameters where it has
    no campaign field at all; a value the export gives (not blank) is never replaced. Only
    the rows that lack them are worked on; a frame without such rows is returned as is."""
    if frame.height == 0 or not set(URL_COLUMNS) <= set(frame.columns):
        return frame
    ref_need, camp_need = _needs(frame)
    flags = frame.select(ref_need.alias("r"), camp_need.alias("c"))
    r, c = flags.get_column("r"), flags.get_column("c")
    wanted = r | c
    if not wanted.any():
        return frame
    idx = wanted.arg_true()
    rows = frame.select(*URL_COLUMNS).gather(idx).with_columns(r.gather(idx), c.gather(idx))
    ref = referrer_parts(pl.col("referrer_url"))
    camp = campaign_parts(pl.col("page_url"))
    fills = {
        # (a blank the export gave stays blank where nothing is derived: not made null)
        name: pl.when(pl.col("r") & _blank(pl.col(name)) & expr.is_not_null())
        .then(expr)
        .otherwise(pl.col(name))
        for name, expr in ref.items()
    }
    fills |= {
        name: pl.when(pl.col("c")).then(pl.coalesce(expr, pl.col(name))).otherwise(pl.col(name))
        for name, expr in camp.items()
    }
    got = rows.select(**fills)
    return frame.with_columns(
        frame.get_column(name).clone().scatter(idx, got.get_column(name)) for name in fills
    )
