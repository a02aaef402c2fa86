"""The read side: what the commands show, as a library (no printing, no Typer or Rich).

- `sessions`: list_sessions(store, SessionQuery(...)), resolve_session_id;
- `card`: build_card(store, SESSION_ID_OR_PREFIX), build_journey(store, WHO);
- `report`: report_from_store(store, ReportOptions(...)), report_from_sources(files);
- `usage`: compute_usage(UsageInput.from_store(store) or .from_sources(files),
  UsageOptions(as_of=..., month=...));
- `rules`: evaluate_store(store, rules), explain_store(store, rules, SESSION_ID);
- `live`: live_frame(store, LiveOptions(...));
- `traffic`: the traffic classes and their filters.
- `access`: access_export(store, visitors, contacts): everything the store holds about a
  person (`jtrack store access`).

`store` is a jtrack.store.Store (or a role's view of one, jtrack.access) or the store's
folder; errors are the classes of jtrack.errors.
"""
