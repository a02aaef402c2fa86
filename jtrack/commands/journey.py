"""`jtrack journey`: every session of one visitor or contact, newest first, as compact cards."""

from __future__ import annotations

from typing import Annotated

import typer

from jtrack.commands._common import (
    MAX_COUNT,
    Format,
    OutputOpt,
    QuietOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    TrafficOpt,
    format_option,
    handle_errors,
    open_store,
    resolve_format,
    rules_and_config,
    stdout_console,
    traffic_classes,
    write_text,
)
from jtrack.commands.card import (
    AsciiOpt,
    AsOfOpt,
    ConfigOpt,
    GapOpt,
    NoRulesOpt,
    card_options,
    text_width,
    use_ascii,
)
from jtrack.commands.contacts import (
    ContactsOpt,
    RegionOpt,
    check_region_option,
    note_erased,
    warn_invalid,
)
from jtrack.errors import UsageError

FORMATS = (Format.table, Format.json, Format.md, Format.html)


#: Cards a journey shows in a table on standard output unless --limit says otherwise (a
#: bot's journey holds thousands of sessions: minutes of cards no one reads).
JOURNEY_CARDS = 100


def register(app: typer.Typer) -> None:
    app.command("journey")(journey_cmd)


@handle_errors
def journey_cmd(
    who: Annotated[
        str,
        typer.Argument(
            metavar="CUSTOMER_OR_CONTACT",
            help="A customer id (the visitor cookie), a contact id (see `jtrack contacts`), "
            "or a saved contact's email or phone number (+44 7700 900123; a national number "
            "with the contacts' default region).",
            show_default=False,
        ),
    ],
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Show only the newest N sessions (the totals count all of them; 0: the "
            f"totals alone) [default: {JOURNEY_CARDS}, in every format; --all: every one].",
            show_default=False,
            min=0,
            max=MAX_COUNT,
            metavar="<n>",
        ),
    ] = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"Every session (a journey shows the newest {JOURNEY_CARDS} unless told: a "
            "bot's holds thousands, each a card).",
        ),
    ] = False,
    as_of: AsOfOpt = None,
    gap: GapOpt = None,
    contacts: ContactsOpt = None,
    default_region: RegionOpt = None,
    config: ConfigOpt = None,
    no_rules: NoRulesOpt = False,
    ascii_: AsciiOpt = False,
    traffic: TrafficOpt = None,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,  # (nothing of theirs on stderr is silenced: warnings stay)
) -> None:
    """Show the customer journey: all sessions of one visitor (customer id) or contact
    (contact id, all its cookies), newest first, as compact cards with totals (each with
    how it arrived: device, referrer, campaign, and its first and last page).

    Every format shows the newest 100 sessions unless --limit or --all says otherwise
    (the totals count them all; a note says how many are not shown).
    --format json prints {query, matched_by, contact, customer_ids, totals, sessions, notes}
    where each session is a full card object (as `jtrack card --format json`);
    --format md prints the totals and a table of the sessions (how each arrived: device,
    referrer, campaign; first and last page);
    --format html -o profile.html writes a self-contained visitor profile (first and last
    visit, devices, top pages, searches, segments, outcomes, each session in brief).
    People only unless --traffic says otherwise (said under the totals; a `traffic` field
    in JSON); a visitor whose sessions are all of other classes is exit 1 with a hint.
    Exit 1 when nobody matches.
    """
    from jtrack.usecases.card import build_journey

    classes = traffic_classes(traffic)
    out_fmt = resolve_format(fmt, output, FORMATS, "journey")
    check_region_option(contacts, default_region)
    opts = card_options(as_of, gap, config, no_rules)
    if every and limit is not None:
        raise UsageError(
            "--all and --limit both say how many sessions to show",
            hint="give one: --limit N shows the newest N, --all every one",
        )
    capped = limit is None and not every
    if capped:  # (every format: the newest JOURNEY_CARDS, said under the totals)
        limit = JOURNEY_CARDS
    if contacts is not None:
        warn_invalid(contacts, default_region, role, redact, config)
    st = open_store(store, role, redact, **rules_and_config(config))
    if contacts is not None:
        note_erased(st, contacts, default_region)
    journey = build_journey(
        st,
        who,
        contacts=contacts,
        default_region=default_region,
        limit=limit,
        traffic=classes,
        **opts,
    ).to_dict()
    from jtrack.access import protect_tree

    journey = protect_tree(journey)  # the ids it was asked for and found, as the role may see
    if capped and len(journey["sessions"]) < journey["totals"]["sessions"]:
        journey["notes"] = [
            f"{n}: --limit N shows N, --all every one" if n.startswith("showing the newest") else n
            for n in journey["notes"]
        ]
    if out_fmt == Format.json:
        from jtrack.serialize import to_json

        write_text(to_json(journey), output)
        return
    if out_fmt == Format.md:
        from jtrack.render.card import journey_markdown
        from jtrack.render.report_html import store_source

        write_text(journey_markdown(journey, store_source(st)), output)
        return
    if out_fmt == Format.html:
        from jtrack.render.html import journey_html
        from jtrack.render.report_html import store_source

        write_text(journey_html(journey, store_source(st)), output)
        return
    from jtrack.render.card import journey_renderable, render_journey_text

    ascii = use_ascii(ascii_, output)
    if output is not None:
        write_text(render_journey_text(journey, width=text_width(), ascii=ascii), output)
        return
    console = stdout_console()
    if not console.is_terminal:  # piped: plain text, no colour, no trailing padding
        text = render_journey_text(journey, width=console.width, ascii=ascii)
        write_text(text, None, terminal=True)
        return
    console.print(journey_renderable(journey, ascii=ascii, boxed=not ascii))
