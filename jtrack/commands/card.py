"""`jtrack card`: one session's card in the terminal, as JSON, or as a self-contained HTML page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jtrack.commands._common import (
    Format,
    OutputOpt,
    QuietOpt,
    RedactOpt,
    RoleOpt,
    StoreOpt,
    format_option,
    handle_errors,
    named_file,
    open_store,
    resolve_format,
    rules_and_config,
    stdout_console,
    write_text,
)
from jtrack.commands.contacts import (
    ContactsOpt,
    RegionOpt,
    check_region_option,
    note_erased,
    warn_invalid,
)

FORMATS = (Format.table, Format.json, Format.html)

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The clock: a session is active when its last event is less than the gap before "
        "it; also the clock for contact expiry (ISO-8601, UTC if no offset; default: now).",
        show_default=False,
        metavar="<time>",
    ),
]
GapOpt = Annotated[
    str | None,
    typer.Option(
        help="Inactivity that ends a session, e.g. 20m [default: the gap the store was built "
        "with].",
        show_default=False,
        metavar="<duration>",
    ),
]
AsciiOpt = Annotated[
    bool,
    typer.Option(
        "--ascii",
        help="Plain ASCII: text icons instead of emoji (automatic when the output encoding is "
        "not UTF-8).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        "--config",
        help="Rules and config file: its [[segment]] and [[outcome]] rules are evaluated for "
        "the card (next to the export's own segment and outcome events) and its [card.colors] "
        "table (event-name glob = positive|neutral|negative) colours the journey map "
        "[default: $JTRACK_CONFIG, else ./jtrack.toml].",
        show_default=False,
        readable=False,
        parser=named_file,
        metavar="<file>",
    ),
]
NoRulesOpt = Annotated[
    bool,
    typer.Option(
        "--no-rules",
        help="Do not evaluate jtrack rules: show only the export's own segments and outcomes.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("card")(card_cmd)


def text_width() -> int:
    """Width for text written to a file: $JTRACK_WIDTH, else 100."""
    from jtrack.commands._common import text_width as width

    return width(100)


def card_options(
    as_of: str | None, gap: str | None, config: Path | None, no_rules: bool
) -> dict[str, Any]:
    """The build_card / build_journey keyword arguments shared by `card` and `journey`."""
    from jtrack.config import load_config
    from jtrack.options import parse_duration
    from jtrack.usecases.card import tone_rules_from_config
    from jtrack.usecases.sessions import parse_when

    data, path = load_config(config, "rules")  # (--rules, also named --config)
    rules = None
    if path is not None and not no_rules:
        from jtrack.core.rules import load_rules  # only when there is a file to read

        rules = load_rules(path)
    return {
        "as_of": parse_when(as_of, "--as-of"),
        "gap": parse_duration(gap, "--gap") if gap is not None else None,
        "colors": tone_rules_from_config(data, path),
        "rules": rules,
    }


def use_ascii(flag: bool, output: Path | None) -> bool:
    """--ascii, or automatically when stdout is not UTF-8 (where data characters the
    encoding cannot show become ? instead of failing)."""
    from jtrack.render.card import wants_ascii

    auto = output is None and wants_ascii(sys.stdout)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if auto and reconfigure is not None:
        reconfigure(errors="replace")
    return flag or auto


@handle_errors
def card_cmd(
    session_id: Annotated[
        str,
        typer.Argument(
            help="Session id, or a unique prefix of it (see `jtrack sessions`).",
            show_default=False,
            metavar="SESSION_ID",
        ),
    ],
    store: StoreOpt = None,
    role: RoleOpt = None,
    redact: RedactOpt = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details",
            help="Expand every journey-map event: time, name, page title and URL, search "
            "query, attributes.",
        ),
    ] = False,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every event in the journey map and its list (a card shows the first and "
            "last 50 of a longer journey; -f json has them all).",
        ),
    ] = False,
    as_of: AsOfOpt = None,
    gap: GapOpt = None,
    contacts: ContactsOpt = None,
    default_region: RegionOpt = None,
    config: ConfigOpt = None,
    no_rules: NoRulesOpt = False,
    ascii_: AsciiOpt = False,
    fmt: Annotated[Format | None, format_option(FORMATS)] = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,  # (nothing of theirs on stderr is silenced: warnings stay)
) -> None:
    """Show one session's card: who (contact or Unknown), duration, current page, session
    information, the journey map (one line per event; green with +, blue, or red with - for
    positive, neutral or negative events: the sign says it without colour), searches,
    segments matched and outcomes achieved.

    A journey of more than 100 events shows its first and last 50 (a line between says how
    many are not shown; --all shows every one); the counts are always every event's.
    --format json prints the card as a JSON object (the same as the library's build_card),
    every event;
    --format html -o card.html writes a self-contained page whose journey map shows each
    event's details on hover, keyboard focus or press (Esc hides them). Exit 1 when the id
    is unknown or ambiguous.
    """
    from jtrack.usecases.card import build_card

    out_fmt = resolve_format(fmt, output, FORMATS, "card")
    from jtrack.render.text import CARD_EVENTS

    events = None if every else CARD_EVENTS  # (journey-map events shown; JSON: every one)
    check_region_option(contacts, default_region)
    opts = card_options(as_of, gap, config, no_rules)
    if contacts is not None:
        warn_invalid(contacts, default_region, role, redact, config)
    st = open_store(store, role, redact, **rules_and_config(config))
    if contacts is not None:
        note_erased(st, contacts, default_region)
    card = build_card(
        st,
        session_id,
        contacts=contacts,
        default_region=default_region,
        **opts,
    ).to_dict()
    if out_fmt == Format.json:
        from jtrack.serialize import to_json

        write_text(to_json(card), output)
    elif out_fmt == Format.html:
        from jtrack.render.html import card_html
        from jtrack.render.report_html import store_source

        write_text(card_html(card, store_source(st), events=events), output)
    else:
        from jtrack.render.card import card_renderable, render_card_text

        ascii = use_ascii(ascii_, output)
        if output is not None:
            write_text(
                render_card_text(
                    card, width=text_width(), ascii=ascii, details=details, events=events
                ),
                output,
            )
            return
        console = stdout_console()
        if not console.is_terminal:  # piped: plain text, no colour, no trailing padding
            write_text(
                render_card_text(
                    card, width=console.width, ascii=ascii, details=details, events=events
                ),
                None,
                terminal=True,
            )
            return
        console.print(
            card_renderable(card, ascii=ascii, details=details, boxed=not ascii, events=events)
        )
