"""`jtrack report` and jtrack.usecases.report: the journey summary over a period."""

from __future__ import annotations

import html
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from jtrack.cli import app
from jtrack.core.dedupe import deduplicate
from jtrack.core.sessionize import sessionize
from jtrack.usecases.report import TABLES, JourneyReport, ReportOptions, journey_report
from tests.helpers import T0, flat_event, flat_frame

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILES = [
    "tests/data/examples/genesys-events.jsonl",
    "tests/data/examples/genesys-events-page.json",
]
runner = CliRunner()


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def build(rows: list[dict[str, Any]], **opts: Any) -> JourneyReport:
    result = sessionize(deduplicate(flat_frame(rows)).events)
    return journey_report(result.sessions, result.events, ReportOptions(**opts))


def _site() -> list[dict[str, Any]]:
    """Four visitors: a bounce, a long visit with a search and an outcome, a mobile visit
    from a campaign, and a short two-page visit on the next day."""
    google = {"referrer_hostname": "www.google.com", "referrer_medium": "search"}
    return [
        # v1: one page view, from Google: a bounce, not engaged
        flat_event(
            "a1",
            "v1",
            T0,
            page_url="https://shop.example/?utm=x",
            page_title="Home",
            device_category="desktop",
            browser_family="Chrome",
            geolocation_country="GB",
            geolocation_country_name="United Kingdom",
            **google,
        ),
        # v2: three page views (one a search), an outcome, 5 minutes
        flat_event(
            "b1",
            "v2",
            T0,
            page_url="https://shop.example/",
            page_title="Home",
            device_category="desktop",
            browser_family="Firefox",
            geolocation_country="DE",
            geolocation_country_name="Germany",
        ),
        flat_event(
            "b2",
            "v2",
            T0 + s(60),
            page_url="https://shop.example/search?q=Boots",
            page_title="Search",
            search_query="  Boots ",
            kind="search",
        ),
        flat_event(
            "b3", "v2", T0 + s(120), page_url="https://shop.example/boots#top", page_title="Boots"
        ),
        flat_event(
            "b4",
            "v2",
            T0 + s(300),
            event_type="OutcomeAchievedEvent",
            event_name=None,
            kind="outcome_achieved",
            outcome_id="o-buy",
            outcome_display_name="Made a purchase",
        ),
        flat_event(
            "b5",
            "v2",
            T0 + s(30),
            event_type="SegmentAssignmentEvent",
            event_name=None,
            kind="segment_assigned",
            segment_id="seg-vip",
        ),
        flat_event("b6", "v2", T0 + s(300), event_name="product_added", kind="custom"),
        # v3: one page view and a custom event 30 s later: a bounce but engaged (30 s)
        flat_event(
            "c1",
            "v3",
            T0 + s(3600),
            page_url="https://shop.example/boots",
            page_title="Boots",
            device_category="mobile",
            browser_family="Safari",
            mkt_campaign_source="newsletter",
            mkt_campaign_medium="email",
            mkt_campaign_name="october",
            geolocation_country="GB",
            geolocation_country_name="United Kingdom",
        ),
        flat_event("c2", "v3", T0 + s(3630), event_name="video_played", kind="custom"),
        flat_event(
            "c3",
            "v3",
            T0 + s(3640),
            search_query="BOOTS",
            kind="search",
            page_url="https://shop.example/search?q=BOOTS",
            page_title="Search",
        ),
        # v4 on the next day: two page views 5 s apart (engaged by page count)
        flat_event(
            "d1",
            "v4",
            T0 + timedelta(days=1),
            page_url="https://shop.example/",
            page_title="Home",
            device_category="tablet",
            geolocation_country="GB",
        ),
        flat_event(
            "d2",
            "v4",
            T0 + timedelta(days=1, seconds=5),
            page_url="https://shop.example/tents",
            page_title="Tents",
        ),
    ]


def test_the_overview_counts_sessions_duration_bounce_and_engagement() -> None:
    o = build(_site()).overview
    assert (o["sessions"], o["web_sessions"], o["visitors"]) == (4, 4, 4)
    assert o["page_views"] == 8  # search result pages are page views
    assert o["searches"] == 2
    # durations 0, 300, 40 and 5 seconds
    assert o["median_duration_seconds"] == 22.5
    assert o["p90_duration_seconds"] == pytest.approx(222.0)
    assert o["bounces"] == 1 and o["bounce_rate"] == 0.25  # only v1 has one page view
    assert o["engaged_sessions"] == 3 and o["engagement_rate"] == 0.75
    assert o["known_sessions"] is None  # no contact columns


def test_a_session_with_one_page_view_and_an_outcome_is_engaged() -> None:
    rows = [
        flat_event("a", "v", T0),
        flat_event(
            "b",
            "v",
            T0 + s(1),
            event_type="OutcomeAchievedEvent",
            event_name=None,
            kind="outcome_achieved",
            outcome_id="o1",
        ),
    ]
    o = build(rows).overview
    assert (o["bounces"], o["engaged_sessions"]) == (1, 1)


def test_a_pages_host_in_another_case_is_the_same_page() -> None:
    """Host names are in any case: two views of `https://www.shop.test/a` and
    `https://WWW.SHOP.TEST/a` were two Top pages rows (and the table fell back to full
    URLs, while Entry and Exit pages showed paths); a path's case still tells pages apart."""
    rows = [
        flat_event("a", "v1", T0, page_url="https://www.shop.test/a"),
        flat_event("b", "v2", T0, page_url="HTTPS://WWW.SHOP.TEST/a?x=1"),
        flat_event("c", "v3", T0, page_url="https://www.shop.test/A"),
    ]
    top = build(rows).tables["top_pages"]
    assert sorted(zip(top["page"], top["page_views"], strict=True)) == [
        ("https://www.shop.test/A", 1),
        ("https://www.shop.test/a", 2),
    ]
    entry = build(rows).tables["entry_pages"]
    assert sorted(entry["page"]) == ["https://www.shop.test/A", "https://www.shop.test/a"]


def test_the_exports_web_actions_are_counted_by_action_map_and_state() -> None:
    """The export's web actions (offers) were summarised nowhere but on the cards: an admin
    could not compare offers and acceptances with Genesys's action map figures."""

    def action(event_id: str, who: str, at: Any, state: str, amap: str = "am-1") -> dict:
        return flat_event(
            event_id, who, at, kind="web_action", event_type="WebActionEvent",
            event_name=None, action_id=f"act-{who}", action_state=state, action_map_id=amap,
            action_map_display_name="Chat offer" if amap == "am-1" else None,
        )  # fmt: skip

    rows = [
        flat_event("p1", "v1", T0),
        action("a1", "v1", T0 + s(5), "offered"),
        action("a2", "v1", T0 + s(9), "Accepted"),  # (a state in any case)
        flat_event("p2", "v2", T0),
        action("a3", "v2", T0 + s(5), "offered"),
        action("a4", "v2", T0 + s(60), "ignored"),
        flat_event("p3", "v3", T0),
        action("a5", "v3", T0 + s(5), "qualified", amap="am-2"),
    ]
    table = build(rows).tables["web_actions"]
    assert table.columns == [
        "action_map_id", "sessions", "offered", "accepted", "acceptance_rate", "qualified",
        "rejected", "ignored", "timedout", "events", "display_name",
    ]  # fmt: skip
    assert table.rows() == [
        ("am-1", 2, 2, 1, 0.5, 0, 0, 1, 0, 4, "Chat offer"),
        ("am-2", 1, 0, 0, None, 1, 0, 0, 0, 1, None),
    ]


def test_sessions_and_visitors_per_local_day_with_empty_days_filled() -> None:
    rows = [
        flat_event("a", "v1", datetime.fromisoformat("2026-10-03T22:30:00+00:00")),
        flat_event("b", "v2", datetime.fromisoformat("2026-10-03T21:30:00+00:00")),
        flat_event("c", "v1", datetime.fromisoformat("2026-10-06T10:00:00+00:00")),
    ]
    utc = build(rows)
    assert utc.daily.to_dicts()[0] == {
        "day": "2026-10-03",
        "sessions": 2,
        "visitors": 2,
        "page_views": 2,
        "known_sessions": None,
    }
    assert utc.daily["day"].to_list() == ["2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06"]
    paris = build(rows, tz="Europe/Paris")  # 00:30 on the 4th for the first event
    assert paris.daily.select("day", "sessions").rows()[:2] == [
        ("2026-10-03", 1),
        ("2026-10-04", 1),
    ]


def _months_of_visits() -> list[dict[str, Any]]:
    """Visitors coming back over five months: v1 every 9 days, v2 every 20, v3 once; in
    Paris v4's visit at 23:30 UTC on a month's last day is on the next month's first."""
    start = datetime.fromisoformat("2026-06-01T10:00:00+00:00")
    rows = [flat_event(f"a{i}", "v1", start + timedelta(days=9 * i)) for i in range(17)]
    rows += [flat_event(f"b{i}", "v2", start + timedelta(days=20 * i, hours=2)) for i in range(8)]
    rows.append(flat_event("c", "v3", datetime.fromisoformat("2026-08-17T08:00:00+00:00")))
    rows.append(flat_event("d", "v4", datetime.fromisoformat("2026-07-31T23:30:00+00:00")))
    return rows


def test_the_series_by_week_and_month_counts_each_visitor_once_a_unit() -> None:
    """--by week or month: the sessions of each unit (weeks from Monday, named by it),
    every unit of the period (none left out for having no session), visitors counted once
    in each unit (not summed over its days), the daily series kept whole in JSON."""
    rows = _months_of_visits()
    for tz in ("UTC", "Europe/Paris"):
        sessions = (
            pl.DataFrame(
                {"v": [r["customer_id"] for r in rows], "t": [r["created_date"] for r in rows]}
            )
            .with_columns(day=pl.col("t").dt.convert_time_zone(tz).dt.date())
            .filter(pl.col("day") < date(2026, 10, 1))
        )
        for by, every, fmt in (("week", "1w", "%Y-%m-%d"), ("month", "1mo", "%Y-%m")):
            report = build(rows, tz=tz, since="2026-06-03", until="2026-10-01", by=by)
            assert report.by == by
            expected = (
                sessions.filter(pl.col("day") >= date(2026, 6, 3))
                .group_by(unit=pl.col("day").dt.truncate(every).dt.strftime(fmt))
                .agg(sessions=pl.len(), visitors=pl.col("v").n_unique())
            )
            got = report.to_dict()[f"{by}ly"]
            assert report.to_dict()["by"] == by
            assert got[0][by] == ("2026-06-01" if by == "week" else "2026-06")
            assert got[-1][by] == ("2026-09-28" if by == "week" else "2026-09")
            seen = {r[by]: (r["sessions"], r["visitors"]) for r in got if r["sessions"]}
            assert seen == {u: (n, v) for u, n, v in expected.iter_rows()}
            assert len(got) == (18 if by == "week" else 4)  # (empty weeks kept, zeros)
            assert sum(r["sessions"] for r in got) == sum(
                r["sessions"] for r in report.to_dict()["daily"]
            )
            if by == "month":  # (v1 comes three or four times a month: once a unit)
                assert all(r["visitors"] < r["sessions"] for r in got)
            assert len(report.to_dict()["daily"]) == 120  # (every day, as ever)
    # (v4's visit, in July in UTC, is on August's first day in Paris)
    paris = {
        r["month"]: r["sessions"]
        for r in build(rows, tz="Europe/Paris", by="month").to_dict()["monthly"]
    }
    utc = {r["month"]: r["sessions"] for r in build(rows, by="month").to_dict()["monthly"]}
    assert (paris["2026-07"], paris["2026-08"]) == (utc["2026-07"] - 1, utc["2026-08"] + 1)


def test_the_series_unit_follows_the_periods_length_unless_given() -> None:
    """auto: days up to two months (62 days), weeks up to half a year, months beyond;
    `daily` in JSON whatever the unit, and no second copy of it by day."""
    rows = _months_of_visits()
    assert build(rows, since="2026-06-01", until="2026-08-02").by == "day"
    assert build(rows, since="2026-06-01", until="2026-08-03").by == "week"
    assert build(rows, since="2026-06-01", until="2026-12-01").by == "week"
    assert build(rows, since="2026-06-01", until="2026-12-02").by == "month"
    assert build(rows).by == "week"  # (its sessions' span: 2026-06-01 .. 2026-10-20)
    daily = build(rows, by="day").to_dict()
    assert daily["by"] == "day" and "weekly" not in daily and "monthly" not in daily
    with pytest.raises(Exception, match="did you mean 'week'"):
        ReportOptions(by="weak")


def test_the_period_is_by_session_start_and_events_follow_their_session() -> None:
    report = build(_site(), since=date(2026, 10, 4), until=date(2026, 10, 5))
    assert report.overview["sessions"] == 1
    assert report.period == {"from": "2026-10-04", "to": "2026-10-04"}
    pages = report.tables["top_pages"]["page"].to_list()
    assert pages == ["https://shop.example/", "https://shop.example/tents"]
    assert report.tables["segments"].height == 0


def test_ranked_tables_strip_query_strings_and_sort_deterministically() -> None:
    t = build(_site()).tables
    assert list(t) == list(TABLES)
    top = t["top_pages"].to_dicts()
    assert top[0] == {
        "page": "https://shop.example/",
        "title": "Home",
        "page_views": 3,
        "sessions": 3,
        "visitors": 3,
    }
    assert [r["page"] for r in top[1:]] == [
        "https://shop.example/boots",
        "https://shop.example/search",
        "https://shop.example/tents",
    ]
    assert t["entry_pages"].to_dicts()[0] == {
        "page": "https://shop.example/",
        "sessions": 3,
        "bounces": 1,
        "bounce_rate": 0.3333,
    }
    # one exit each: ties are ordered by page
    assert t["exit_pages"].rows() == [
        ("https://shop.example/", 1),
        ("https://shop.example/boots", 1),
        ("https://shop.example/search", 1),
        ("https://shop.example/tents", 1),
    ]
    assert t["top_searches"].to_dicts() == [{"search": "boots", "searches": 2, "sessions": 2}]
    assert t["referrers"].to_dicts()[0] == {
        "referrer": None,
        "medium": None,
        "sessions": 3,
        "visitors": 3,
    }
    assert t["campaigns"].to_dicts() == [
        {"source": "newsletter", "medium": "email", "name": "october", "sessions": 1, "visitors": 1}
    ]
    assert t["devices"].to_dicts()[0] == {
        "device": "desktop",
        "sessions": 2,
        "share_of_sessions": 0.5,
    }
    assert t["countries"].to_dicts()[0] == {
        "country": "GB",
        "country_name": "United Kingdom",
        "sessions": 3,
        "visitors": 3,
        "share_of_sessions": 0.75,
    }
    assert t["segments"].to_dicts() == [{"segment_id": "seg-vip", "sessions": 1, "visitors": 1}]
    assert t["outcomes"].to_dicts() == [
        {
            "outcome_id": "o-buy",
            "display_name": "Made a purchase",
            "sessions": 1,
            "visitors": 1,
            "conversion_rate": 0.25,
        }
    ]
    assert build(list(reversed(_site()))).to_dict() == build(_site()).to_dict()


def test_referrers_campaigns_and_labels_count_what_a_visit_came_with() -> None:
    """An analyst's slide had: a campaign with a UTM medium alone left out of Campaigns;
    an export's "" beside its missing value as two rows that look alike (and a blank row of
    a campaign of blanks); WWW.Google.COM (or " www.google.com ") apart from
    www.google.com; and a visit with a
    referrer medium but no host counted among the direct ones, their row saying `email`
    for all four."""
    at = T0
    visits = [
        {"mkt_campaign_medium": "email"},
        {
            "geolocation_country": "",
            "referrer_hostname": "",
            "referrer_medium": " ",
            "mkt_campaign_source": "",
            "mkt_campaign_medium": "",
            "mkt_campaign_name": "",
        },
        {"mkt_campaign_source": "newsletter"},
        {"mkt_campaign_source": "newsletter", "mkt_campaign_name": ""},
        {"referrer_hostname": "www.google.com", "referrer_medium": "search"},
        {"referrer_hostname": "WWW.Google.COM", "referrer_medium": "search"},
        {"referrer_medium": "email"},
        {"referrer_hostname": " www.google.com ", "referrer_medium": "paid"},
    ]
    rows = [
        flat_event(f"e{i}", f"v{i}", at + s(60 * i), **{"geolocation_country": "GB", **extra})
        for i, extra in enumerate(visits)
    ]
    t = build(rows).tables
    assert t["referrers"].rows() == [
        (None, None, 4, 4),
        ("www.google.com", "search", 2, 2),
        ("www.google.com", "paid", 1, 1),  # (ties by host, then medium; none last)
        (None, "email", 1, 1),
    ]
    assert t["campaigns"].rows() == [
        ("newsletter", None, None, 2, 2),
        (None, "email", None, 1, 1),
    ]
    assert t["countries"].select("country", "sessions").rows() == [("GB", 7), (None, 1)]


def test_referrers_count_web_sessions_only() -> None:
    """An order system's delivery session came from no page: it was counted as a direct
    visit in Referrers (4 of the sample data's 243 "(direct)")."""
    rows = [
        flat_event("w1", "v1", T0, referrer_hostname="www.google.com", referrer_medium="search"),
        flat_event("w2", "v2", T0 + s(60)),
        *(
            flat_event(
                f"d{i}",
                "v3",
                T0 + s(120 + i),
                page_url=None,
                page_title=None,
                source_session_type="delivery",
                source_session_id="order-1",
                event_name="order_dispatched",
                kind="custom",
            )
            for i in range(2)
        ),
    ]
    r = build(rows)
    assert sorted(r.tables["session_types"].get_column("type").to_list()) == ["delivery", "web"]
    assert r.tables["referrers"].rows() == [
        ("www.google.com", "search", 1, 1),
        (None, None, 1, 1),
    ]


def test_a_referrer_in_punycode_is_one_row_with_its_unicode_name() -> None:
    """An internationalised domain name sent in punycode (`xn--r8jz45g.jp`) and as Unicode
    (`例え.jp`) were two referrers; they are one site, shown as its Unicode name."""
    refs = ["xn--r8jz45g.jp", "例え.jp", "XN--R8JZ45G.JP", "www.google.com"]
    rows = [
        flat_event(f"e{i}", f"v{i}", T0 + s(60 * i), referrer_hostname=ref)
        for i, ref in enumerate(refs)
    ]
    assert build(rows).tables["referrers"].rows() == [
        ("例え.jp", None, 3, 3),
        ("www.google.com", None, 1, 1),
    ]


def _channels_of(visits: list[dict[str, Any]]) -> dict[str, int]:
    rows = [
        flat_event(f"e{i}", f"v{i}", T0 + s(60 * i), page_url="https://www.shop.test/a", **v)
        for i, v in enumerate(visits)
    ]
    return dict(build(rows).tables["channels"].select("channel", "sessions").rows())


def test_channels_tell_paid_from_organic_and_campaigns_from_direct_visits() -> None:
    """An analyst's audit: `www.google.com search` held the google/cpc sessions (organic
    search overstated ~46%), `(direct)` held sessions that carried a UTM campaign and no
    referrer, and there was no channel view. Each rule of the README's channels, in order."""
    google = {"referrer_hostname": "www.google.com", "referrer_medium": "search"}
    utm = ("mkt_campaign_source", "mkt_campaign_medium", "mkt_campaign_name")

    def camp(source: str | None, medium: str | None, name: str | None = "x") -> dict[str, Any]:
        return {k: v for k, v in zip(utm, (source, medium, name), strict=True) if v}

    visits = [
        {**google, **camp("google", "cpc")},  # Paid search (the referrer is Google too)
        camp("Google ", "CPC"),  # Paid search: any case, trimmed
        {"referrer_hostname": "www.bing.com", "referrer_medium": "paid"},  # Paid search
        camp("facebook", "paid_social"),  # Paid social
        camp("partner", "banner"),  # Display
        camp("partner", "cpv"),  # Paid other (holds `cp`; no search engine or network)
        camp("instagram", "social"),  # Organic social
        {"referrer_hostname": "l.instagram.com"},  # Organic social: a known host
        google,  # Organic search
        {"referrer_hostname": "duckduckgo.com", "referrer_medium": "unknown"},  # by host
        {"referrer_medium": "search"},  # Organic search: the medium says so
        camp("blog", "referral"),  # Referral
        camp("newsletter", "email"),  # Email
        {"referrer_hostname": "mail.google.com", "referrer_medium": "email"},  # Email
        camp("partner", "affiliate"),  # Affiliates
        {"referrer_hostname": "www.shop.test", "referrer_medium": "internal"},  # Internal
        {"referrer_hostname": "SHOP.test"},  # Internal: the first page's site
        {"referrer_hostname": "www.outdoor-blog.example"},  # Referral
        {},  # Direct
        camp(None, None, "spring"),  # Unassigned: a campaign that fits no rule
        camp("newsletter", None),  # Unassigned
    ]
    assert _channels_of(visits) == {
        "Paid search": 3,
        "Organic search": 3,
        "Email": 2,
        "Internal": 2,
        "Organic social": 2,
        "Referral": 2,
        "Unassigned": 2,
        "Affiliates": 1,
        "Direct": 1,
        "Display": 1,
        "Paid other": 1,
        "Paid social": 1,
    }


def test_channels_of_a_site_in_punycode_and_of_the_google_search_app() -> None:
    """Review: a site whose first page is in Unicode and referrer in punycode (or the other
    way round) was Referral (the report made its referrer hosts Unicode first: one way was
    Internal, the other not); `android-app://...googlequicksearchbox` was Referral (GA4:
    Organic search)."""
    from jtrack.core.channels import with_channels

    rows = [
        ("https://bücher.test/", "xn--bcher-kva.test"),
        ("https://xn--bcher-kva.test/a", "bücher.test"),
        ("https://WWW.Bücher.test/", "bücher.test"),
        ("https://shop.test/", "com.google.android.googlequicksearchbox"),
    ]
    text = ["referrer_medium", "mkt_campaign_source", "mkt_campaign_medium", "mkt_campaign_name"]
    frame = pl.DataFrame(
        {
            "first_page_url": [r[0] for r in rows],
            "referrer_hostname": [r[1] for r in rows],
            **{c: [None] * len(rows) for c in text},
        },
        schema_overrides=dict.fromkeys(text, pl.String),
    )
    assert with_channels(frame).get_column("channel").to_list() == [
        "Internal",
        "Internal",
        "Internal",
        "Organic search",
    ]


def test_channels_count_web_sessions_with_their_share_known_share_and_outcomes() -> None:
    t = build(_site()).tables
    assert t["channels"].to_dicts() == [
        {
            "channel": "Direct",
            "sessions": 2,
            "visitors": 2,
            "share_of_sessions": 0.5,
            "known_share": None,  # (no contacts resolved)
            "outcome_sessions": 1,
        },
        {
            "channel": "Email",
            "sessions": 1,
            "visitors": 1,
            "share_of_sessions": 0.25,
            "known_share": None,
            "outcome_sessions": 0,
        },
        {
            "channel": "Organic search",
            "sessions": 1,
            "visitors": 1,
            "share_of_sessions": 0.25,
            "known_share": None,
            "outcome_sessions": 0,
        },
    ]


def test_referrers_leave_out_the_site_itself() -> None:
    """A session that started (after a gap) from the site's own page, with the medium
    `internal` or none, was listed as an external referrer (`www.shop.test internal 1`,
    `shop.test 1`); the channels table counts them as Internal."""
    visits = [
        {"referrer_hostname": "www.shop.test", "referrer_medium": "internal"},
        {"referrer_hostname": "shop.test"},
        {"referrer_hostname": "www.google.com", "referrer_medium": "search"},
        {"referrer_hostname": "blog.shop.test"},  # (another site)
    ]
    rows = [
        flat_event(f"e{i}", f"v{i}", T0 + s(60 * i), page_url="https://WWW.Shop.Test/a", **v)
        for i, v in enumerate(visits)
    ]
    t = build(rows).tables
    assert t["referrers"].select("referrer", "sessions").rows() == [
        ("blog.shop.test", 1),
        ("www.google.com", 1),
    ]
    assert dict(t["channels"].select("channel", "sessions").rows())["Internal"] == 2


def test_top_limits_every_table() -> None:
    """Every ranked table; the channels table is the whole of the web sessions, each
    channel a row (a dozen at most)."""
    t = build(_site(), top=1).tables
    assert all(df.height <= 1 for name, df in t.items() if name != "channels")
    assert t["channels"].get_column("sessions").sum() == 4


def _with_contacts(report_rows: list[dict[str, Any]], columns: dict[str, Any]) -> JourneyReport:
    result = sessionize(deduplicate(flat_frame(report_rows)).events)
    sessions = result.sessions.with_columns(**columns)
    return journey_report(sessions, result.events)


def test_known_versus_unknown_uses_the_contact_state() -> None:
    state = (
        pl.when(pl.col("customer_id").is_in(["v1", "v2"]))
        .then(pl.lit("known"))
        .otherwise(pl.lit("temporary"))
    )
    name = pl.when(state == "known").then(pl.lit("Ada")).otherwise(pl.lit("Unknown"))
    report = _with_contacts(_site(), {"contact_state": state, "contact_name": name})
    o = report.overview
    assert (o["known_sessions"], o["unknown_sessions"], o["known_visitors"]) == (2, 2, 2)
    assert report.tables["contacts"].to_dicts() == [
        {"contact": "Unknown", "state": "temporary", "sessions": 2, "visitors": 2},
        {"contact": "known", "state": "known", "sessions": 2, "visitors": 2},
    ]
    assert report.daily["known_sessions"].to_list() == [2, 0]
    assert not report.notes


def test_known_versus_unknown_falls_back_to_the_contact_name() -> None:
    name = pl.when(pl.col("customer_id") == "v3").then(pl.lit("Grace")).otherwise(pl.lit("Unknown"))
    o = _with_contacts(_site(), {"contact_name": name}).overview
    assert (o["known_sessions"], o["unknown_sessions"]) == (1, 3)


def test_without_contacts_the_report_says_how_to_get_them() -> None:
    report = build(_site())
    assert report.tables["contacts"].height == 0
    assert any("--contacts" in n for n in report.notes)


def test_an_empty_input_gives_an_empty_report() -> None:
    report = build([])
    assert report.overview["sessions"] == 0
    assert report.overview["bounce_rate"] is None
    assert report.daily.height == 0
    json.dumps(report.to_dict())


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Path:
    files = [str(ROOT / f) for f in EXAMPLE_FILES]
    st = tmp_path / "st"
    res = runner.invoke(app, ["sessionize", *files, "--store", str(st), "-q", "-f", "json"])
    assert res.exit_code == 0, res.stderr
    return st


def test_an_empty_month_warns_naming_the_months_that_hold_sessions(store: Path) -> None:
    """A job that runs early on the 1st reports the new month: said on stderr even with -q
    (as `jtrack usage` does), and not blamed on missing contacts."""
    res = runner.invoke(app, ["report", "--store", str(store), "--month", "2031-01", "-q"])
    assert res.exit_code == 0
    assert res.stderr.startswith("warning: no sessions in 2031-01; the input")
    assert res.stderr.count("\n") == 1 and "needs resolved contacts" not in res.stdout
    out = runner.invoke(app, ["report", "--store", str(store), "--month", "2031-01", "-f", "json"])
    notes = json.loads(out.stdout)["notes"]
    assert len(notes) == 1 and notes[0].startswith("no sessions in 2031-01;")


def test_report_json_from_the_store_equals_the_files_and_the_library(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jtrack.store import Store
    from jtrack.usecases.report import report_from_store

    monkeypatch.chdir(ROOT)
    a = json.loads(runner.invoke(app, ["report", "--store", str(store), "-f", "json"]).stdout)
    b = json.loads(runner.invoke(app, ["report", *EXAMPLE_FILES, "-f", "json"]).stdout)
    lib = report_from_store(Store.open(store)).to_dict()
    assert a == json.loads(json.dumps(lib))
    a.pop("source"), b.pop("source")
    # the store resolved contacts (all Unknown); the files were not
    a["overview"] = {k: v for k, v in a["overview"].items() if "known" not in k}
    b["overview"] = {k: v for k, v in b["overview"].items() if "known" not in k}
    for d in (a, b):
        d["tables"].pop("contacts")
        d.pop("notes")
        for row in d["daily"]:
            row.pop("known_sessions")
    assert a == b
    assert a["overview"]["sessions"] == 3


def test_a_report_of_files_resolves_contacts_as_sessionize_does(tmp_path: Path) -> None:
    """`report FILES` counted every visitor Unknown (known 0) with nothing said, where the
    store made of the same files with the same contacts knows 36: `--contacts FILE` resolves
    them, and without one (files, or a store that follows no contacts file) a note says why
    all are Unknown. A store's report takes no --contacts (it is resolved as the store is)."""
    events, contacts = ROOT / "sample_data/events.jsonl", ROOT / "sample_data/contacts.csv"

    def overview(*args: str) -> tuple[dict[str, Any], list[str]]:
        res = runner.invoke(app, ["report", *args, "-f", "json", "-q"])
        assert res.exit_code == 0, res.stderr
        doc = json.loads(res.stdout)
        return doc["overview"], doc["notes"]

    with_book, without = tmp_path / "with", tmp_path / "without"
    for st, extra in ((with_book, ["--contacts", str(contacts)]), (without, [])):
        res = runner.invoke(app, ["sessionize", str(events), "--store", str(st), "-q", *extra])
        assert res.exit_code == 0, res.stderr
    files, notes = overview(str(events), "--contacts", str(contacts))
    stored, stored_notes = overview("--store", str(with_book))
    assert files == stored and stored["known_visitors"] == 36
    assert not [n for n in notes + stored_notes if "Unknown" in n]
    bare, notes = overview(str(events))
    assert bare["known_visitors"] == 0
    assert any(n.startswith("no contacts file: every visitor is counted Unknown") for n in notes)
    _, notes = overview("--store", str(without))
    assert any(n.startswith("the store follows no contacts file") for n in notes)
    res = runner.invoke(app, ["report", "--store", str(with_book), "--contacts", str(contacts)])
    assert res.exit_code == 2 and "--contacts resolves the visitors of export files" in res.stderr


def test_an_open_period_spans_every_class_the_traffic_section_counts(tmp_path: Path) -> None:
    """People only, a report with no --since/--until said its period ran from the first to
    the last person's visit, while its traffic section counted a crawler's visits after it."""
    rows = [
        flat_event("h1", "person", T0, user_agent_string="Mozilla/5.0 (X11; Linux x86_64) "
                   "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"),
        flat_event("c1", "bot", T0 + timedelta(days=2), user_agent_string="curl/8.5.0"),
    ]  # fmt: skip
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    res = runner.invoke(app, ["report", str(src), "-f", "json", "-q"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    day = T0.date()
    assert doc["period"] == {"from": str(day), "to": str(day + timedelta(days=2))}
    assert [d["sessions"] for d in doc["daily"]] == [1, 0, 0]
    assert doc["overview"]["sessions"] == 1
    assert sum(r["sessions"] for r in doc["tables"]["traffic"]) == 2


def test_the_table_has_a_bar_chart_and_shows_data_literally(tmp_path: Path) -> None:
    rows = [
        flat_event("a", "v1", T0, page_title="[bold red]Sale[/] \x1b[31m"),
        flat_event("b", "v2", T0 + timedelta(days=2)),
        flat_event("c", "v3", T0 + timedelta(days=2)),
    ]
    src = tmp_path / "e.parquet"
    flat_frame(rows).write_parquet(src)
    res = runner.invoke(app, ["report", str(src)], env={"JTRACK_WIDTH": "120"})
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert "Sessions per day" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip().startswith("2026-10-0")}
    assert lines["2026-10-05"].count("█") == 40  # the busiest day has the full bar
    assert lines["2026-10-03"].count("█") == 20
    assert "█" not in lines["2026-10-04"]
    assert "[bold red]Sale[/]" in out and "\x1b" not in out


def test_markdown_has_every_section(store: Path) -> None:
    res = runner.invoke(app, ["report", "--store", str(store), "-f", "md"])
    assert res.exit_code == 0
    for title in ("# Journey summary", "## Sessions per day", "## Top pages", "## Referrers"):
        assert title in res.stdout
    # missing values are named as the table names them, not left as empty cells
    table = runner.invoke(app, ["report", "--store", str(store)]).stdout
    for label in ("(direct)", "(none)"):
        assert (label in table) == (f"| {label} |" in res.stdout), label
    assert "| (direct) |" in res.stdout and "\n|  |" not in res.stdout


def test_markdown_shows_rates_as_the_terminal_does_and_says_what_they_count(
    store: Path,
) -> None:
    """The Markdown report showed rates as fractions (1.0, 0.2703) where the terminal shows
    percentages; JSON keeps the fractions. Every output says what bounce and engaged are
    (they overlap), and names the tables the period left empty."""
    md = runner.invoke(app, ["report", "--store", str(store), "-f", "md"]).stdout
    doc = json.loads(runner.invoke(app, ["report", "--store", str(store), "-f", "json"]).stdout)
    for figure in ("bounce_rate", "engagement_rate"):
        rate = doc["overview"][figure]
        assert f"| {figure} | {rate * 100:.1f}% |" in md
    share = doc["tables"]["session_types"][0]["share_of_sessions"]
    assert f"| {share * 100:.1f}% |" in md
    empty = [n for n, rows in doc["tables"].items() if not rows]
    assert empty
    table = runner.invoke(app, ["report", "--store", str(store)]).stdout
    page = runner.invoke(app, ["report", "--store", str(store), "-f", "html"]).stdout
    for out in (md, table, html.unescape(page)):
        assert "bounce: a web session of one page view" in out.lower() or (
            "web sessions of one page view" in out
        )
        assert "bounce can be engaged" in out
    from jtrack.render.theme import report_title

    said = "none in the period: " + ", ".join(report_title(n) for n in empty)
    assert said in table.replace("\n", " ") or said in " ".join(table.split())
    assert said[:1].upper() + said[1:] in md


def test_report_files_are_byte_identical_and_locked(store: Path, tmp_path: Path) -> None:
    from jtrack.usecases.usage import output_lock

    for suffix in ("json", "md", "html", "txt"):
        out = tmp_path / f"r.{suffix}"
        args = ["report", "--store", str(store), "-o", str(out), "-q"]
        assert runner.invoke(app, args).exit_code == 0
        first = out.read_bytes()
        assert runner.invoke(app, args).exit_code == 0
        assert out.read_bytes() == first
    with output_lock(tmp_path / "r.html"):
        res = runner.invoke(app, ["report", "--store", str(store), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 1 and "another jtrack run is writing" in res.stderr


def test_report_option_errors_are_exit_2(store: Path) -> None:
    for extra in (
        ["--month", "2026-10", "--since", "2026-10-01"],
        ["--tz", "Nowhere"],
        ["--top", "0"],
        ["-f", "csv"],
        ["--since", "2026-13-01"],
        ["--by", "quarter"],
    ):
        res = runner.invoke(app, ["report", "--store", str(store), *extra])
        assert res.exit_code == 2, extra


def test_report_month_filters_the_period(store: Path) -> None:
    res = runner.invoke(app, ["report", "--store", str(store), "--month", "2026-09", "-f", "json"])
    data = json.loads(res.stdout)
    assert data["overview"]["sessions"] == 0
    assert data["period"] == {"from": "2026-09-01", "to": "2026-09-30"}
    assert len(data["daily"]) == 30


def test_reports_count_days_in_the_zone_usage_counts_them_in(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config with `[usage] tz` made `jtrack usage` count New York days while `jtrack
    report` and `jtrack rules report` counted UTC days: the same month, other figures."""
    config = tmp_path / "jtrack.toml"
    config.write_text(
        '[usage]\ntz = "America/New_York"\n'
        + (ROOT / "sample_data" / "jtrack.toml").read_text(encoding="utf-8")
    )
    monkeypatch.setenv("JTRACK_CONFIG", str(config))
    month = ["--store", str(store), "--month", "2026-10", "-f", "json"]
    usage = json.loads(runner.invoke(app, ["usage", *month]).stdout)
    report = json.loads(runner.invoke(app, ["report", *month]).stdout)
    rules = json.loads(
        runner.invoke(app, ["rules", "report", "--rules", str(config), *month]).stdout
    )
    assert usage["tz"] == report["tz"] == rules["tz"] == "America/New_York"
    # a rules file that is not the config (none of its own [usage]) leaves the zone to it
    apart = ["rules", "report", "--rules", str(ROOT / "sample_data" / "jtrack.toml"), *month]
    assert json.loads(runner.invoke(app, apart).stdout)["tz"] == "America/New_York"
    monkeypatch.delenv("JTRACK_CONFIG")
    assert json.loads(runner.invoke(app, ["report", *month]).stdout)["tz"] == "UTC"
    monkeypatch.setenv("JTRACK_CONFIG", str(config))
    given = json.loads(runner.invoke(app, ["report", *month, "--tz", "Europe/Paris"]).stdout)
    assert given["tz"] == "Europe/Paris"  # (--tz wins over the config)


def test_rule_ids_in_a_narrow_report_are_never_cut(tmp_path: Path) -> None:
    """At 60 columns the report's segment and outcome tables keep their ids whole (the
    README: rule ids are never cut) and cut the names beside them."""
    st = tmp_path / "st"
    sample = ROOT / "sample_data" / "events.jsonl"
    res = runner.invoke(app, ["sessionize", str(sample), "--store", str(st), "-q"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(
        runner.invoke(app, ["report", "--store", str(st), "-f", "json", "--top", "20"]).stdout
    )
    ids = [r["outcome_id"] for r in data["tables"]["outcomes"]]
    ids += [r["segment_id"] for r in data["tables"]["segments"]]
    assert any(len(i) > 16 for i in ids)
    narrow = runner.invoke(
        app, ["report", "--store", str(st), "--top", "20"], env={"COLUMNS": "60"}
    ).stdout
    for rule_id in ids:
        assert rule_id in narrow, rule_id


def test_a_query_string_holding_a_line_break_is_stripped_too() -> None:
    """A page URL whose query holds a raw tab or line break is counted without it, as any
    other query string (the pattern stopped at the line break and kept the whole URL)."""
    from jtrack.usecases.report import strip_url

    urls = pl.Series("u", ["https://shop.example/a?q=x\ny", "https://shop.example/b#f\tg", "c"])
    got = pl.select(strip_url(pl.lit(urls))).to_series().to_list()
    assert got == ["https://shop.example/a", "https://shop.example/b", "c"]


def test_a_report_of_files_stops_at_a_rejected_row_unless_skipped(tmp_path: Path) -> None:
    """Rejected rows were skipped with exit 0 and nothing on stderr under -q; an empty
    export said nothing either."""
    src = tmp_path / "e.jsonl"
    rows = [flat_event(f"e{i}", "v1", T0 + timedelta(minutes=i)) for i in range(3)]
    flat_frame(rows).write_ndjson(src)
    with src.open("a") as fh:
        fh.write("{not json\n")
    (tmp_path / "empty.jsonl").write_text("")
    res = runner.invoke(app, ["report", str(src), "-q", "-f", "json"])
    assert res.exit_code == 1 and res.stdout == "" and "e.jsonl:4:" in res.stderr
    res = runner.invoke(
        app,
        [
            "report",
            str(src),
            str(tmp_path / "empty.jsonl"),
            "-q",
            "-f",
            "json",
            "--on-error",
            "skip",
        ],
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["overview"]["events"] == 3
    assert res.stderr.splitlines() == [
        "warning: 1 rejected row is left out (--on-error skip; `jtrack sessionize FILES "
        "--on-error skip --rejects FILE` lists why)",
        f"warning: {tmp_path / 'empty.jsonl'}: the file holds no events (it is empty)",
    ]


def test_month_words_count_from_as_of(tmp_path: Path) -> None:
    """`--month previous` took the clock of the moment: a report run at a month's boundary
    could not be pinned or replayed."""
    src = tmp_path / "e.parquet"
    flat_frame(
        [flat_event("a", "v", T0), flat_event("b", "v", T0 + timedelta(days=40))]
    ).write_parquet(src)
    res = runner.invoke(
        app,
        [
            "report",
            str(src),
            "--month",
            "previous",
            "--as-of",
            "2026-11-01T00:15",
            "-f",
            "json",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["period"]["from"] == "2026-10-01" and out["overview"]["sessions"] == 1


def test_markdown_cells_keep_a_tab_inside_their_cell() -> None:
    from jtrack.serialize import to_markdown

    md = to_markdown(pl.DataFrame({"search": ["a\tb|c"], "n": [1]}))
    assert md.splitlines()[2] == "| a b\\|c | 1 |"


def test_an_empty_period_of_a_store_counts_zero_and_its_hint_fits_the_options(
    tmp_path: Path,
) -> None:
    src = tmp_path / "e.parquet"
    flat_frame([flat_event("a", "v1", T0)]).write_parquet(src)
    st = str(tmp_path / "s")
    assert runner.invoke(app, ["sessionize", str(src), "--store", st, "-q"]).exit_code == 0
    res = runner.invoke(
        app,
        ["report", "--store", st, "--since", "2026-09-01", "--until", "2026-09-02", "-f", "json"],
    )
    assert res.exit_code == 0, res.stderr
    overview = json.loads(res.stdout)["overview"]
    assert (overview["known_sessions"], overview["unknown_sessions"]) == (0, 0)
    assert "(hint: pass --since/--until within those months)" in res.stderr


def test_a_file_of_only_broken_lines_names_the_reject_as_usage_does(tmp_path: Path) -> None:
    """report named a malformed line's field '' where usage and sessionize say '(line)'."""
    src = tmp_path / "broken.jsonl"
    src.write_text('{"id": broken\n')
    said = []
    for command in ("report", "usage"):
        res = runner.invoke(app, [command, str(src)])
        assert res.exit_code == 1, res.stderr
        said.append(res.stderr.split(" [malformed_json]")[0])
    assert said[0] == said[1] and "field '(line)'" in said[0], said


def test_a_report_of_no_events_says_so_in_its_title(tmp_path: Path) -> None:
    """A store of an empty export was reported as `Journey summary  - .. - (UTC)`, and its
    HTML page's title read `None .. None`."""
    (tmp_path / "empty.jsonl").write_text("")
    st = str(tmp_path / "st")
    res = runner.invoke(app, ["sessionize", str(tmp_path / "empty.jsonl"), "--store", st, "-q"])
    assert res.exit_code == 0, res.stderr
    table = runner.invoke(app, ["report", "--store", st])
    assert table.stdout.splitlines()[0] == "Journey summary  no events (UTC)", table.stdout
    md = runner.invoke(app, ["report", "--store", st, "-f", "md"])
    assert md.stdout.splitlines()[0] == "# Journey summary no events (UTC)"
    page = tmp_path / "r.html"
    assert runner.invoke(app, ["report", "--store", st, "-o", str(page)]).exit_code == 0
    text = page.read_text()
    assert "<title>Journey summary no events</title>" in text and "None" not in text


def test_a_search_of_invisible_characters_is_no_search(tmp_path: Path) -> None:
    """A query of a zero-width space, a byte-order mark, a HANGUL FILLER, a braille blank or
    a control character counted as a search and showed as a blank (or `�`) row of the top
    searches. Blank is nothing but spaces, control and invisible characters: no search in
    the sessions' counts, the report or usage, which agree."""
    blanks = [" ", "\u3000", "\u200b", "\ufeff", "\u3164", "\u2800", "\x1c", "\u200b \u2060"]
    e = '"event_type":"WebEvent","event_name":"page_viewed","page_url":"https://shop.example/"'
    lines = [
        json.dumps({"event_id": f"q{i}", "customer_id": f"v{i}", "search_query": q})[:-1]
        + f',"created_date":"2026-10-06T1{i}:00:00Z",{e}}}'
        for i, q in enumerate([*blanks, "tent"])
    ]
    src = tmp_path / "ev.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    st = str(tmp_path / "st")
    assert runner.invoke(app, ["sessionize", str(src), "--store", st, "-q"]).exit_code == 0
    res = runner.invoke(
        app, ["sessions", "--store", st, "-f", "json", "--columns", "id,search_count"]
    )
    assert sum(r["search_count"] for r in json.loads(res.stdout)) == 1, res.stdout
    res = runner.invoke(app, ["report", "--store", st, "-f", "json"])
    assert json.loads(res.stdout)["tables"]["top_searches"] == [
        {"search": "tent", "searches": 1, "sessions": 1}
    ]
    res = runner.invoke(app, ["usage", str(src), "--month", "2026-10", "-f", "json"])
    totals = json.loads(res.stdout)["totals"]
    assert (totals["search"], totals["page_view"]) == (1, len(blanks)), totals


def test_a_period_of_a_store_reads_its_sessions_events_by_id_with_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day or a month of a store reads its sessions' events through the index by their
    ids, and the segments only at their segment and outcome events (a day of a year's store
    joined every event to the day's sessions: 3 s and 750 MB); its report is the one the
    join gives, for every role and traffic choice."""
    from jtrack.access import (
        EVENT_VIEW,
        OUTCOME_VIEW,
        PERMISSIONS,
        SEGMENT_VIEW,
        SESSION_VIEW,
        StoreView,
        load_policy,
    )
    from jtrack.store import Store
    from jtrack.store.snapshot import Snapshot
    from jtrack.usecases import report as report_module

    st = tmp_path / "st"
    files = [str(ROOT / "sample_data" / f) for f in ("events.jsonl",)]
    contacts = str(ROOT / "sample_data" / "contacts.csv")
    res = runner.invoke(app, ["sessionize", *files, "--contacts", contacts, "--store", str(st)])
    assert res.exit_code == 0, res.stderr
    cfg = tmp_path / "jtrack.toml"
    everything = ", ".join(f'"{p}"' for p in PERMISSIONS)
    cfg.write_text(
        f'[roles.agent]\npermissions = ["{SESSION_VIEW}", "{EVENT_VIEW}", "{SEGMENT_VIEW}"]\n'
        f'[roles.analyst]\npermissions = ["{SESSION_VIEW}", "{EVENT_VIEW}", "{OUTCOME_VIEW}"]\n'
        f'[roles.admin]\npermissions = [{everything}]\n[redact]\nkey = "k"\n'
    )
    cases = [
        (None, ReportOptions(since=date(2026, 10, 3), until=date(2026, 10, 4))),
        (None, ReportOptions(since=date(2026, 10, 5), until=date(2026, 10, 7), traffic="all")),
        ("agent", ReportOptions(since=date(2026, 10, 8), until=date(2026, 10, 9))),
        ("analyst", ReportOptions("Asia/Tokyo", date(2026, 10, 2), date(2026, 10, 3))),
        ("admin", ReportOptions(since=date(2026, 10, 13), traffic="all")),
    ]

    def report(role: str | None, opts: ReportOptions) -> dict[str, Any]:
        store: Any = Store.open(st)
        if role is not None:
            store = StoreView(store, load_policy(role, redact=role == "admin", config=cfg))
        return report_module.report_from_store(store, opts).to_dict()

    segments_lazy = Snapshot._segments_lazy

    def scanned(df: pl.DataFrame) -> pl.DataFrame:
        raise AssertionError("a period's report scanned every segment row")

    def no_segment_scan(self: Snapshot, columns: list[str]) -> pl.LazyFrame:
        return segments_lazy(self, columns).map_batches(scanned)  # (fails if collected)

    with monkeypatch.context() as m:
        m.setattr(Snapshot, "_segments_lazy", no_segment_scan)
        by_id = [report(role, opts) for role, opts in cases]
    with monkeypatch.context() as m:
        m.setattr(report_module, "_BY_IDS_SHARE", 0.0)  # every event read and joined
        joined = [report(role, opts) for role, opts in cases]
    assert by_id == joined
    tables = [d["tables"] for d in by_id]
    assert all(t["top_pages"] for t in tables)
    assert any(t["segments"] for t in tables) and any(t["outcomes"] for t in tables)
    assert not by_id[2]["tables"]["outcomes"] and not by_id[3]["tables"]["segments"]


def test_markdown_cells_show_emphasis_marks_as_typed() -> None:
    """A page title `Tents | Poles *star*` was written `*star*`, which GitHub shows in
    italics with the asterisks gone: `*`, `_` (but inside a word) and `~` are escaped as
    pipes and brackets are (every Markdown jtrack writes has its tables from to_markdown)."""
    from jtrack.serialize import to_markdown

    md = to_markdown(
        pl.DataFrame(
            {
                "page_title": ["Tents | Poles *star*", "__bold__ ~~gone~~", "as_of _x"],
                "n": [1, 2, 3],
            }
        )
    )
    assert md.splitlines()[2:] == [
        "| Tents \\| Poles \\*star\\* | 1 |",
        "| \\_\\_bold\\_\\_ \\~\\~gone\\~\\~ | 2 |",
        "| as_of \\_x | 3 |",  # (an `_` inside a word emphasises nothing)
    ]
    assert md.splitlines()[0] == "| page_title | n |"  # (field names, never data)


def test_every_shared_output_says_its_store_days_and_when_it_was_made(store: Path) -> None:
    """A report, rules report, card or journey shared with someone who never saw the
    command said its period, zone and traffic, but not the store it was read from (and its
    version: JSON has `source`) nor when it was made (the footer said `jtrack 0.1.0`), and
    the rules report's headline (`3 sessions, 2 visitors`) named no days. The time made is
    now, or what $JTRACK_NOW pins (conftest pins it)."""
    st = str(store)
    made = f"store {st} (v000001) · made 2026-12-07 00:00:00 UTC by jtrack 0.1.0"
    rules = str(ROOT / "sample_data" / "jtrack.toml")
    sid = runner.invoke(
        app, ["sessions", "--store", st, "-f", "csv", "--columns", "id,customer_id"]
    )
    first = sid.stdout.splitlines()[1].split(",")
    runs = {
        "report": ["report", "--store", st],
        "rules": ["rules", "report", "--store", st, "--rules", rules],
        "card": ["card", first[0], "--store", st, "--as-of", "2027-01-01"],
        "journey": ["journey", first[1], "--store", st, "--as-of", "2027-01-01"],
    }
    days = runner.invoke(app, [*runs["report"], "-f", "json"])
    period = json.loads(days.stdout)["period"]
    assert period["from"] == period["to"]  # (the examples are of one day)
    span = {"report": f"{period['from']} .. {period['to']} (UTC)"}
    span["rules"] = f"3 sessions started on {period['from']} (UTC), 2 visitors"
    for name, args in runs.items():
        for fmt in ("md", "html") if name in ("report", "rules") else ("html",):
            res = runner.invoke(app, [*args, "-f", fmt, "-q"])
            assert res.exit_code == 0, (name, fmt, res.stderr)
            text = html.unescape(res.stdout) if fmt == "html" else res.stdout
            assert made in text, (name, fmt)
            if name in span:
                assert span[name] in text, (name, fmt)
    # the rules report's JSON keeps its period null (no period was asked for)
    res = runner.invoke(app, [*runs["rules"], "-f", "json"])
    assert json.loads(res.stdout)["period"] is None


def test_every_format_shows_the_series_by_the_unit_asked(store: Path) -> None:
    """The terminal, Markdown and HTML show the series by --by's unit, under its name;
    JSON has it beside the daily series."""
    got = json.loads(
        runner.invoke(app, ["report", "--store", str(store), "-f", "json", "--by", "month"]).stdout
    )
    months = [r["month"] for r in got["monthly"]]
    assert got["by"] == "month" and months and all(len(m) == 7 for m in months)
    assert sum(r["sessions"] for r in got["monthly"]) == got["overview"]["sessions"]
    for fmt, title in (("table", "Sessions per month"), ("md", "## Sessions per month")):
        res = runner.invoke(app, ["report", "--store", str(store), "-f", fmt, "--by", "month"])
        assert res.exit_code == 0, res.stderr
        assert title in res.stdout and months[0] in res.stdout
        assert "Sessions per day" not in res.stdout
    page = runner.invoke(app, ["report", "--store", str(store), "-f", "html", "--by", "month"])
    assert "Sessions and visitors per month</h2>" in page.stdout
    assert f'data-day="{months[0]}"' in page.stdout


def test_a_killed_report_of_files_leaves_no_copy_of_the_exports_for_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report FILES` sessionizes into a temporary store in $TMPDIR; one killed with SIGKILL
    (or for memory) left it, a copy of the exports' events, for ever. The next one removes
    those whose `.alive` lock no process holds; a running one's stays (whatever process
    namespace it runs in: its id says nothing there), and a folder that is not jtrack's."""
    import fcntl
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "jtrack-files-1-abc123"
    live = tmp_path / "jtrack-files-999999999-def456"  # (an id no process here has)
    mine = tmp_path / "jtrack-files-999999-notes"  # (no .alive: not jtrack's)
    for d in (dead, live, mine):
        (d / "store").mkdir(parents=True)
        (d / "store" / "events.parquet").write_bytes(b"PAR1")
    (dead / ".alive").touch()
    (live / ".alive").touch()
    holder = os.open(live / ".alive", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # (as its running process holds it)
    try:
        sample = Path(__file__).resolve().parent.parent / "sample_data" / "events.jsonl"
        res = CliRunner().invoke(app, ["report", str(sample), "-f", "json"])
        assert res.exit_code == 0, res.stderr
    finally:
        os.close(holder)
    assert not dead.exists() and live.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, mine.name])
